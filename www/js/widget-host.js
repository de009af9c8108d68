// What the <resnet-playground> widgets of one page share: one engine per model URL (a queue
// of calls, with the widget whose pass is on the tape), the style sheets, KaTeX's fonts.
import { EngineClient, MNIST } from './engine-client.js';

export const SITE = new URL('../', import.meta.url); // the folder with index.html, data/, models/

/** One engine, its calls queued; `owner` is the widget whose pass is on the tape. */
class SharedEngine {
  /** `source`: a weights URL, or `arch:<id>` for a fresh network of the family. */
  constructor(source) {
    const [modelUrl, arch] = source.startsWith('arch:') ? [null, source.slice(5)] : [source, undefined];
    this.client = EngineClient.start({ modelUrl, arch, ...MNIST, build: 'auto' });
    this.queue = Promise.resolve();
    this.owner = null; // the widget whose pass is on the tape
  }

  /** Runs fn(engine) after the queued calls; `owner.pass(engine)` first if the tape is not its. */
  run(owner, fn) {
    const job = this.queue.then(async () => {
      const e = await this.client;
      if (owner && this.owner !== owner) {
        await owner.pass(e);
        this.owner = owner;
      }
      return fn(e);
    });
    this.queue = job.catch(() => {});
    return job;
  }
}
const engines = new Map();
/** The engine of `source` that the page's widgets share (`own`: a widget's own). */
export function engineFor(source, own) {
  if (own) return new SharedEngine(source);
  if (!engines.has(source)) engines.set(source, new SharedEngine(source));
  return engines.get(source);
}
/** Forgets a shared engine that failed (the next widget of `source` starts another). */
export const forgetEngine = (source) => engines.delete(source);

// The site's style sheet and the widget's, as constructed sheets shared by every widget. The
// site's sizes are in rem, which inside a shadow root still follow the host's root font size
// (mdBook sets it to 10px): they are turned into px of a 16-px rem here, so the widget looks
// the same on every host.
let sheets = null;
export function widgetSheets() {
  sheets ??= Promise.all(['style.css', 'js/widget.css'].map(async (f) => {
    const res = await fetch(new URL(f, SITE));
    if (!res.ok) throw new Error(`could not load ${f}: HTTP ${res.status}`);
    const css = (await res.text()).replace(/(\d*\.?\d+)rem\b/g, (_, v) => `${Number(v) * 16}px`);
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    return sheet;
  }));
  return sheets;
}

// KaTeX's @font-face rules only work in the document, not in a shadow root: add them once.
export function documentFonts() {
  if (document.querySelector('link[data-resnet-playground-fonts]')) return;
  const l = document.createElement('link');
  l.rel = 'stylesheet';
  l.href = new URL('vendor/katex/katex.min.css', SITE).href;
  l.dataset.resnetPlaygroundFonts = '';
  document.head.append(l);
}
