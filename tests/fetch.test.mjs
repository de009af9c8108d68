// Files the engine worker fetches (a widget's `model=` URL, the digits) are read as a stream
// and stopped at a size limit, and a server that never answers is given up on: each with a
// message that names the file and what happened, instead of gigabytes of memory or an engine
// restarted in a loop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { serve } from './server.mjs';
import { launch, open, addWidget, widgetError } from './browser.mjs';

const DIST = process.env.DIST || new URL('../dist', import.meta.url).pathname;
let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('a model URL that streams forever is stopped at the limit; one that never answers is given up on', async () => {
  let sent = 0;
  const chunk = Buffer.alloc(1 << 20, 7);
  const routes = {
    // 1 MB chunks until the client goes away, 1 GiB at the most (bounded: this is a test)
    '/forever.safetensors': (req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      const more = () => {
        while (sent < 2 ** 30 && !res.destroyed) {
          sent += chunk.length;
          if (!res.write(chunk)) { res.once('drain', more); return; }
        }
        res.end();
      };
      res.on('close', () => {});
      more();
    },
    // headers never come
    '/silent.safetensors': () => {},
  };
  const srv = await serve({ root: DIST, routes });
  try {
    const { page, errors } = await open(browser, `${srv.url}style.css`, {
      setup: (context) => context.route('**/favicon.ico', (route) => route.fulfill({ status: 204 })),
    });
    const start = (modelUrl) => page.evaluate(async (url) => {
      const { EngineClient } = await import('/js/engine-client.js');
      const t = performance.now();
      try {
        const e = await EngineClient.start({ modelUrl: url, build: 'simd' });
        e.terminate();
        return { ok: true };
      } catch (err) {
        return { ok: false, message: String(err.message || err), secs: (performance.now() - t) / 1000 };
      }
    }, modelUrl);

    const forever = await start('/forever.safetensors');
    assert.equal(forever.ok, false);
    assert.match(forever.message, /could not load the pretrained model \(.*forever\.safetensors\): the server sent more than the 80 MB a file may have here, so the download was stopped/);
    assert.ok(sent < 200 * 2 ** 20, `the server sent ${sent >> 20} MB before the page stopped reading`);

    const silent = await start('/silent.safetensors');
    assert.equal(silent.ok, false);
    assert.match(silent.message, /could not load the pretrained model \(.*silent\.safetensors\): the server sent nothing for 30 s; reload the page to try again/);
    assert.ok(silent.secs < 59, `given up on after ${silent.secs} s, before the engine watchdog's 60 s`);
    assert.deepEqual(errors.filter((e) => !/forever|silent|Failed to load resource/.test(e)), []);
  } finally {
    await srv.close();
  }
});

test('a widget whose model did not load offers to try again, and a second try that works shows the model', async () => {
  let asked = 0;
  const model = readFileSync(new URL('../models/resnet8-mnist.safetensors', import.meta.url));
  const routes = {
    // down the first time, up the second
    '/flaky.safetensors': (req, res) => {
      asked += 1;
      if (asked === 1) { res.writeHead(503, { 'Content-Type': 'text/plain' }); res.end('busy'); return; }
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': model.length });
      res.end(model);
    },
  };
  const srv = await serve({ root: DIST, routes });
  try {
    const { page, errors } = await open(browser, `${srv.url}embed.html`);
    await addWidget(page, 'flaky', { view: 'featuremaps', model: '/flaky.safetensors' });
    const msg = await widgetError(page, 'flaky');
    assert.match(msg, /could not load the pretrained model .*flaky\.safetensors.*503/);
    await page.locator('#flaky button:has-text("Try again")').click();
    await page.waitForFunction(() => document.getElementById('flaky').shadowRoot.querySelectorAll('canvas[data-channel]').length > 0, null, { timeout: 60_000 });
    assert.equal(asked, 2);
    assert.deepEqual(errors.filter((e) => !/flaky|503|Failed to load resource/.test(e)), []);
  } finally {
    await srv.close();
  }
});

// The page fetches the digits gzipped (1.6 MB instead of 7.85): the file is exactly the
// engine's digits file gzipped; the worker un-gzips it — also when a server sends it with
// Content-Encoding: gzip (the browser has un-gzipped it then) — and a corrupt one is refused
// with the reason.
test('the gzipped digits decode to exactly the engine\'s digits, however they are served; a corrupt file is refused', async () => {
  const { gunzipSync } = await import('node:zlib');
  const bin = readFileSync(new URL('../data/mnist-10k.bin', import.meta.url));
  const gz = readFileSync(new URL('../data/mnist-10k.bin.gz', import.meta.url));
  assert.ok(gunzipSync(gz).equals(bin), 'data/mnist-10k.bin.gz is data/mnist-10k.bin gzipped (node tools/convert-mnist.mjs writes both)');
  assert.ok(gz.length < 2e6, `${gz.length} bytes`);
  const corrupt = Buffer.from(gz);
  corrupt.fill(0, 5000, 9000);
  const routes = {
    '/encoded.bin': (req, res) => res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Encoding': 'gzip', 'Content-Length': gz.length }).end(gz),
    '/corrupt.bin.gz': (req, res) => res.writeHead(200, { 'Content-Type': 'application/gzip', 'Content-Length': corrupt.length }).end(corrupt),
  };
  const srv = await serve({ root: DIST, routes });
  try {
    const { page, errors } = await open(browser, `${srv.url}style.css`);
    // every label of the held-out digits, and the pretrained model's held-out accuracy (all
    // 2,000 digits' pixels), read from the data each way
    const read = (dataUrl) => page.evaluate(async (url) => {
      const { EngineClient } = await import('/js/engine-client.js');
      try {
        const e = await EngineClient.start({ modelUrl: '/models/resnet8-mnist.safetensors', dataUrl: url, build: 'simd' });
        const labels = Array.from(await e.call('labels', Uint32Array.from({ length: 2000 }, (_, i) => 8000 + i)));
        const { accuracy } = await e.call('evaluate', 'test', 0);
        e.terminate();
        return { labels, accuracy };
      } catch (err) { return { error: String(err.message || err) }; }
    }, dataUrl);
    const want = Array.from(bin.subarray(24 + 8000, 24 + 10000));
    for (const url of ['/data/mnist-10k.bin.gz', '/encoded.bin']) {
      const got = await read(url);
      assert.deepEqual(got.labels, want, url);
      assert.equal(got.accuracy.toFixed(4), '0.9855', url);
    }
    const bad = await read('/corrupt.bin.gz');
    assert.match(bad.error, /could not load the MNIST digits \(.*corrupt\.bin\.gz\): it is not a valid gzip file/);
    assert.deepEqual(errors.filter((e) => !/corrupt|Failed to load resource/.test(e)), []);
  } finally {
    await srv.close();
  }
});
