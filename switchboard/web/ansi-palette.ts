// The stylesheet for the classes console-render.ts emits: the xterm 256-colour palette as
// foreground (f0..f255) and background (b0..b255) classes, and the text attributes. Served as a
// file, so console colours need no inline styles.

/** The 16 basic colours, tuned for the dark console background of style.css. */
const BASIC = [
  '#3b3b3b',
  '#e5534b',
  '#57ab5a',
  '#c69026',
  '#539bf5',
  '#b083f0',
  '#39c5cf',
  '#d1d7e0',
  '#768390',
  '#ff7b72',
  '#7ee787',
  '#f2cc60',
  '#79c0ff',
  '#d2a8ff',
  '#56d4dd',
  '#ffffff',
];

const hex = (v: number) => v.toString(16).padStart(2, '0');

/** The colour of xterm palette index `n` (0-255) as #rrggbb. */
export function paletteColour(n: number): string {
  if (n < 16) return BASIC[n]!;
  if (n < 232) {
    const i = n - 16;
    const level = (l: number) => (l === 0 ? 0 : 55 + l * 40);
    return `#${hex(level(Math.floor(i / 36)))}${hex(level(Math.floor(i / 6) % 6))}${hex(level(i % 6))}`;
  }
  const g = 8 + (n - 232) * 10;
  return `#${hex(g)}${hex(g)}${hex(g)}`;
}

export function ansiStylesheet(): string {
  const rules: string[] = [];
  for (let n = 0; n < 256; n++) {
    const c = paletteColour(n);
    rules.push(`.f${n}{color:${c}}`, `.b${n}{background-color:${c}}`);
  }
  rules.push(
    '.fr{color:var(--console-bg)}',
    '.br{background-color:var(--console-fg)}',
    '.sb{font-weight:bold}',
    '.sd{opacity:.7}',
    '.si{font-style:italic}',
    '.su{text-decoration:underline}',
    '.ss{text-decoration:line-through}',
    '.su.ss{text-decoration:underline line-through}',
  );
  return `${rules.join('\n')}\n`;
}
