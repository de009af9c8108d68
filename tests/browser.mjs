// Launches Debian's headless Chromium through playwright-core with the flags this machine
// needs (no background networking: the network is closed), and opens pages that collect
// console errors. Every `open` gets a fresh browser context: its own storage (IndexedDB), so
// a session one test saves does not leak into the next.
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-default-apps', ...(process.env.CHROMIUM_FLAGS ? process.env.CHROMIUM_FLAGS.split(' ') : [])],
  });
}

/** Opens `url` in a new page of a new context (or of `context`); `errors` collects console
 *  errors, page errors, failed requests and requests that leave 127.0.0.1. */
export async function open(browser, url, { context = null, setup = null } = {}) {
  context ??= await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  if (setup) await setup(context);
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('request', (r) => { if (!r.url().startsWith('http://127.0.0.1') && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) errors.push(`third-party request: ${r.url()}`); });
  await page.goto(url);
  return { page, errors, context };
}

/** Adds a <resnet-playground id=id> with these attributes to the page's body. */
export function addWidget(page, id, attrs) {
  return page.evaluate(({ id, attrs }) => {
    const w = document.createElement('resnet-playground');
    w.id = id;
    for (const [k, v] of Object.entries(attrs)) w.setAttribute(k, v);
    document.body.append(w);
  }, { id, attrs });
}

/** The text of widget `id`'s error status, once it has one. */
export function widgetError(page, id, timeout = 60_000) {
  return page.waitForFunction((i) => document.getElementById(i).shadowRoot.querySelector('.status.error')?.textContent, id, { timeout }).then((h) => h.jsonValue());
}

/** Picks `files` in file input `selector` as a person can: once the control is enabled. (The
 *  page disables its operation controls while one operation finishes — a file set on a
 *  disabled input would be refused with "wait", which a person never sees.) */
export async function chooseFile(page, selector, files, timeout = 60_000) {
  await page.waitForFunction((s) => !document.querySelector(s).disabled, selector, { timeout });
  await page.setInputFiles(selector, files);
}
