// The web console in a real browser: Debian's chromium driven by playwright-core. On failure a
// screenshot of the page is kept under dist/test-artifacts/web/.

import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { program, testWith } from '../../helpers/tools.js';
import { FakeSupervisor, storedJobRequest } from '../harness.js';
import { renderAll } from '../../../switchboard/web/console-render.js';
import { PASSWORD, enqueued, startWeb, type WebHarness } from './web-harness.js';

const test = testWith(program('chromium', 'chromium'));
const ARTIFACTS = join('dist', 'test-artifacts', 'web');
const SECRET = 'browser-secret-7781';

let h: WebHarness;
let ctx: BrowserContext;
let profile: string;
let n = 0;

test.before(async () => {
  h = await startWeb({}, true);
  profile = mkdtempSync(join(tmpdir(), 'tml-chromium-'));
  ctx = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
    viewport: { width: 1300, height: 900 },
    acceptDownloads: true,
  });
  ctx.setDefaultTimeout(10_000);
});

test.after(async () => {
  await ctx?.close();
  await h?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

interface Running {
  page: Page;
  sup: FakeSupervisor;
  job: string;
}

/** A logged-in page and a job of alice's running on its own fake supervisor. */
async function running(console = ''): Promise<Running> {
  const tag = `board:b${n++}`;
  const s = await h.addSupervisor(`sup-${n}`, tag);
  const sup = await FakeSupervisor.connect(h.url, s.id, s.token);
  const job = enqueued(
    await h.sb.scheduler.enqueue(
      h.ids.alice,
      storedJobRequest({ tag_config: tag, parameters: { key: { value: SECRET, secret: true } } }),
    ),
  );
  await sup.next('start_job');
  sup.transition(job, { state: 'initializing', stage: 'booting' });
  sup.transition(job, { state: 'ready' });
  if (console) sendConsole(sup, job, console);
  await h.waitJob(job, (j) => j.state === 'ready' && j.log_end === Buffer.byteLength(console));
  const page = await ctx.newPage();
  current = page;
  await login(page);
  return { page, sup, job };
}

function sendConsole(sup: FakeSupervisor, job: string, text: string): void {
  const bytes = Buffer.from(text);
  for (let o = 0; o < bytes.length; o += 16 * 1024)
    sup.console(job, bytes.subarray(o, o + 16 * 1024).toString('latin1'));
}

/** Logs in through the form unless the browser's session cookie already does. */
async function login(page: Page): Promise<void> {
  await page.goto(`${h.url}/login`);
  if (page.url() === `${h.url}/jobs`) return;
  await page.fill('input[name=user]', 'alice');
  await page.fill('input[name=password]', PASSWORD);
  await Promise.all([page.waitForURL(`${h.url}/jobs`), page.click('button[type=submit]')]);
}

// The tests run one at a time, so the hook knows the page of the test that just ran.
let current: Page | null = null;
test.afterEach(async (t) => {
  const page = current;
  current = null;
  if (!page) return;
  if (!t.passed) {
    mkdirSync(ARTIFACTS, { recursive: true });
    const file = join(
      ARTIFACTS,
      `${t.title
        .replace(/^afterEach.* for /, '')
        .replace(/[^a-z0-9]+/gi, '-')
        .slice(0, 80)}.png`,
    );
    await page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
    t.log(`screenshot of the failing page: ${file}`);
  }
  await page.close();
});

const lines = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => `boot line ${String(from + i).padStart(5, '0')} \x1b[36mcyan\x1b[0m\n`).join(
    '',
  );

test.serial('logging in through the form shows the job list', async (t) => {
  const page = await ctx.newPage();
  current = page;
  await page.goto(`${h.url}/jobs`);
  t.regex(page.url(), /\/login\?next=%2Fjobs$/);
  await page.fill('input[name=user]', 'alice');
  await page.fill('input[name=password]', 'wrong');
  await page.click('button[type=submit]');
  await page.getByText('Wrong user name or password.').waitFor();
  await page.fill('input[name=password]', PASSWORD);
  await Promise.all([page.waitForURL(`${h.url}/jobs`), page.click('button[type=submit]')]);
  t.is(await page.locator('h1').first().innerText(), 'Jobs yours');
  t.is(await page.locator('.who .user').innerText(), 'alice');
});

test.serial('console lines of a running job arrive live, in colour, with the secret masked', async (t) => {
  const { page, sup, job } = await running(lines(0, 5));
  await page.goto(`${h.url}/jobs/${job}`);
  await page.locator('#console-status[data-state=live]').waitFor();
  sup.console(job, `\x1b[31mlive red line\x1b[0m and the key ${SECRET}\nprompt# `);
  const red = page.locator('#lines .ln .f1', { hasText: 'live red line' });
  await red.waitFor();
  t.regex(await page.locator('#lines .ln').filter({ hasText: 'live red line' }).innerText(), /and the key \*\*\*/);
  await page.locator('#lines .ln.partial', { hasText: 'prompt#' }).waitFor();
  sup.console(job, 'uname\n');
  await page.locator('#lines .ln:not(.partial)', { hasText: 'prompt# uname' }).waitFor();
  t.is(
    await page.locator('#lines .ln', { hasText: 'prompt#' }).count(),
    1,
    'the partial line was replaced, not repeated',
  );
  t.false((await page.content()).includes(SECRET));
  sup.transition(job, { state: 'terminated' });
  await page.locator('#console-status[data-state=ended]').waitFor();
});

test.serial('follow pauses when the reader scrolls up and resumes with the toggle', async (t) => {
  const { page, sup, job } = await running(lines(0, 300));
  await page.goto(`${h.url}/jobs/${job}`);
  const follow = page.locator('#follow');
  await page.locator('#console-status[data-state=live]').waitFor();
  t.true(await follow.isChecked());
  const scroller = page.locator('#console-lines');
  const atBottom = () => scroller.evaluate((e) => e.scrollHeight - e.scrollTop - e.clientHeight < 8);
  t.true(await atBottom());
  await scroller.evaluate((e) => e.scrollTo(0, 0));
  await page.locator('#console-status[data-state=paused]').waitFor();
  t.false(await follow.isChecked());
  sup.console(job, lines(300, 50));
  await page.locator('#L' + Buffer.byteLength(lines(0, 349))).waitFor({ state: 'attached' });
  t.is(await scroller.evaluate((e) => e.scrollTop), 0, 'paused: the view stays where the reader is');
  await follow.check();
  t.true(await atBottom());
  sup.console(job, lines(350, 50));
  await page.locator('#L' + Buffer.byteLength(lines(0, 399))).waitFor({ state: 'attached' });
  // Polled from here: a string for waitForFunction is evaluated in the page, which the CSP forbids.
  while (!(await atBottom())) await new Promise((r) => setTimeout(r, 20));
  t.true(await follow.isChecked());
  sup.transition(job, { state: 'terminated' });
});

test.serial('search finds a line that is not on the page and jumps to it; anchor links open it too', async (t) => {
  const text = lines(0, 6000);
  const { page, sup, job } = await running(text);
  const target = renderAll(Buffer.from(text))[42]!;
  await page.goto(`${h.url}/jobs/${job}`);
  t.is(await page.locator(`#L${target.start}`).count(), 0, 'the early line is not on the page at first');
  await page.fill('#search-q', 'boot line 00042 cyan');
  await page.press('#search-q', 'Enter');
  const line = page.locator(`#L${target.start}`);
  await line.waitFor();
  t.true(await line.evaluate((e) => e.classList.contains('target')));
  t.true(await line.isVisible());
  t.regex(await page.locator('#search-results').innerText(), /1 of 1/);
  t.regex(page.url(), new RegExp(`\\?at=${target.start}#L${target.start}$`));
  // The line's anchor, opened as a link in a fresh page, shows and marks the same line.
  const href = await line.locator('a.la').getAttribute('href');
  const other = await ctx.newPage();
  try {
    await other.goto(new URL(href!, page.url()).href);
    const l = other.locator(`#L${target.start}`);
    await l.waitFor();
    t.true(await l.isVisible());
    t.true(await l.evaluate((e) => e.matches(':target') || e.classList.contains('target')));
    // A bare #L link (no ?at=) is resolved by the script.
    await other.goto(`${h.url}/jobs/${job}#L${renderAll(Buffer.from(text))[7]!.start}`);
    await other.locator(`#L${renderAll(Buffer.from(text))[7]!.start}.target`).waitFor();
  } finally {
    await other.close();
  }
  sup.transition(job, { state: 'terminated' });
});

test.serial('earlier output is loaded on demand above the tail', async (t) => {
  const text = lines(0, 4000);
  const { page, sup, job } = await running(text);
  await page.goto(`${h.url}/jobs/${job}`);
  const before = await page.locator('#lines .ln').count();
  const first = await page.locator('#lines .ln').first().getAttribute('id');
  await page.click('a.earlier');
  await page.locator('#lines .ln').nth(before).waitFor({ state: 'attached' });
  const ids = await page.locator('#lines .ln').evaluateAll((els) => els.map((e) => Number(e.id.slice(1))));
  t.deepEqual(
    [...ids].sort((a, b) => a - b),
    ids,
    'lines stay in order',
  );
  t.is(new Set(ids).size, ids.length, 'no line twice');
  t.true(ids.includes(Number(first!.slice(1))));
  sup.transition(job, { state: 'terminated' });
});

test.serial('cancelling the job from its page ends it, and the raw log downloads', async (t) => {
  const text = `${lines(0, 20)}the key is ${SECRET}\n`;
  const { page, sup, job } = await running(text);
  await page.goto(`${h.url}/jobs/${job}`);
  await page.locator('#console-status[data-state=live]').waitFor();
  await Promise.all([page.waitForURL(/done=canceled/), page.click('text=Cancel job')]);
  await sup.next('stop_job', (m) => m.message.job_id === job);
  sup.transition(job, { state: 'terminating' });
  sup.transition(job, { state: 'terminated' });
  await page.locator('#console-status[data-state=ended]').waitFor();
  await page.locator('.job-status [data-role=state]', { hasText: 'terminated' }).waitFor();
  t.is(await page.locator('.job-status [data-role=exit]').innerText(), 'job_canceled');
  t.is(await page.getByText('Cancel job').count(), 0);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('text=Download raw log')]);
  t.is(download.suggestedFilename(), `job-${job}.log`);
  const saved = join(profile, 'download.log');
  await download.saveAs(saved);
  t.is(readFileSync(saved, 'utf8'), text.replace(SECRET, '***'));
});
