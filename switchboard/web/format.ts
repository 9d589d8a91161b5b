// How times, durations and sizes read on the pages. All times are shown in UTC, so a page and
// the lines the live console adds later agree whatever the viewer's time zone.

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** "2026-05-01 12:03:04 UTC" */
export function formatDateTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`;
}

/** "12:03:04.567" (UTC) */
export function formatClock(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}`;
}

/** "+1:02.345", "-0:00.100", "+1:00:00.000": a time relative to a job's start. */
export function formatOffset(ms: number): string {
  const sign = ms < 0 ? '-' : '+';
  let t = Math.abs(Math.round(ms));
  const millis = t % 1000;
  t = Math.floor(t / 1000);
  const s = t % 60;
  t = Math.floor(t / 60);
  const m = t % 60;
  const h = Math.floor(t / 60);
  return h > 0 ? `${sign}${h}:${pad(m)}:${pad(s)}.${pad(millis, 3)}` : `${sign}${m}:${pad(s)}.${pad(millis, 3)}`;
}

/** "850 ms", "12.3 s", "4 min 5 s", "2 h 3 min", "3 d 4 h" */
export function formatDuration(ms: number): string {
  const t = Math.max(0, ms);
  if (t < 1000) return `${Math.round(t)} ms`;
  if (t < 60_000) return `${(t / 1000).toFixed(1)} s`;
  const s = Math.floor(t / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

/** "512 B", "1.5 KiB", "100.0 MiB" */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}
