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

// The page fetches the digits gzipped and in two files: the held-out digits (all the first view
// needs) and the training digits after them. Together they are exactly the engine's digits
// file; the worker un-gzips them — also when a server sends them with Content-Encoding: gzip
// (the browser has un-gzipped them then) — calls that need the training digits wait for them,
// a failed fetch of them is said by the call that needed them and tried again by the next, and
// a corrupt file is refused with the reason.
test('the gzipped digits decode to exactly the engine\'s digits, however they are served; training waits for its digits; bad files are refused', async () => {
  const { gunzipSync } = await import('node:zlib');
  const bin = readFileSync(new URL('../data/mnist-10k.bin', import.meta.url));
  const heldGz = readFileSync(new URL('../data/mnist-heldout.bin.gz', import.meta.url));
  const trainGz = readFileSync(new URL('../data/mnist-train.bin.gz', import.meta.url));
  // the two files are the whole file's splits: its header with their own counts, their
  // labels, their pixels (node tools/convert-mnist.mjs writes all three)
  const [held, train] = [gunzipSync(heldGz), gunzipSync(trainGz)];
  const u32 = (b, o) => b.readUInt32LE(o);
  assert.deepEqual([held.subarray(0, 4).toString(), u32(held, 8), u32(held, 12), u32(train, 8), u32(train, 12)], ['RPMN', 2000, 0, 8000, 8000]);
  assert.ok(Buffer.concat([train.subarray(24, 24 + 8000), held.subarray(24, 24 + 2000)]).equals(bin.subarray(24, 24 + 10000)), 'labels');
  assert.ok(Buffer.concat([train.subarray(24 + 8000), held.subarray(24 + 2000)]).equals(bin.subarray(24 + 10000)), 'pixels');
  assert.ok(heldGz.length < 0.4e6 && heldGz.length + trainGz.length < 2e6, `${heldGz.length} + ${trainGz.length} bytes`);
  const corrupt = Buffer.from(heldGz);
  corrupt.fill(0, 5000, 9000);
  let slowTrain = null, released = false, flakyFixed = false;
  const routes = {
    '/encoded.bin': (req, res) => res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Encoding': 'gzip', 'Content-Length': heldGz.length }).end(heldGz),
    '/corrupt.bin.gz': (req, res) => res.writeHead(200, { 'Content-Type': 'application/gzip', 'Content-Length': corrupt.length }).end(corrupt),
    // the training digits only once the page has fetched /release
    '/slow-train.bin.gz': (req, res) => {
      slowTrain = () => res.writeHead(200, { 'Content-Type': 'application/gzip' }).end(trainGz);
      if (released) slowTrain();
    },
    '/release': (req, res) => { released = true; slowTrain?.(); res.writeHead(204).end(); },
    // not there until the page has fetched /fix-flaky
    '/flaky-train.bin.gz': (req, res) => (flakyFixed ? res.writeHead(200).end(trainGz) : res.writeHead(503).end()),
    '/fix-flaky': (req, res) => { flakyFixed = true; res.writeHead(204).end(); },
  };
  const srv = await serve({ root: DIST, routes });
  try {
    const { page, errors } = await open(browser, `${srv.url}style.css`);
    // every label of the held-out digits (asked by their index after the 8,000 training
    // digits, so the call waits for those), and the pretrained model's held-out accuracy
    const read = (dataUrl, trainUrl) => page.evaluate(async ([dataUrl, trainUrl]) => {
      const { EngineClient } = await import('/js/engine-client.js');
      try {
        const e = await EngineClient.start({ modelUrl: '/models/resnet8-mnist.safetensors', dataUrl, trainUrl, build: 'simd' });
        const { accuracy } = await e.call('evaluate', 'test', 0);
        const labels = Array.from(await e.call('labels', Uint32Array.from({ length: 2000 }, (_, i) => 8000 + i)));
        const trainLabels = Array.from(await e.call('labels', Uint32Array.from({ length: 8000 }, (_, i) => i)));
        e.terminate();
        return { labels, trainLabels, accuracy };
      } catch (err) { return { error: String(err.message || err) }; }
    }, [dataUrl, trainUrl]);
    const want = Array.from(bin.subarray(24 + 8000, 24 + 10000));
    const wantTrain = Array.from(bin.subarray(24, 24 + 8000));
    for (const url of ['/data/mnist-heldout.bin.gz', '/encoded.bin']) {
      const got = await read(url, '/data/mnist-train.bin.gz');
      assert.deepEqual(got.labels, want, url);
      assert.deepEqual(got.trainLabels, wantTrain, url);
      assert.equal(got.accuracy.toFixed(4), '0.9855', url);
    }
    // the held-out digits are enough for the first view; a training step waits for its digits
    const waited = await page.evaluate(async () => {
      const { EngineClient } = await import('/js/engine-client.js');
      const e = await EngineClient.start({ modelUrl: '/models/resnet8-mnist.safetensors', dataUrl: '/data/mnist-heldout.bin.gz', trainUrl: '/slow-train.bin.gz', build: 'simd' });
      const view = await e.inspect({ heldOut: 3, layer: 'conv1', target: null });
      let ended = false;
      const run = e.train(5).then((r) => { ended = true; return r; });
      await new Promise((ok) => setTimeout(ok, 300));
      const before = ended;
      e.cancel(); // (Stop reaches a run that waits for its digits)
      await fetch('/release');
      const stopped = await run;
      const act = await e.tensor('act.conv1'); // the view's pass is still on the tape
      const r = await e.train(1);
      e.terminate();
      return { label: view.label, before, stopped, act: act.length, step: r.step };
    }).catch((e) => ({ error: String(e) }));
    assert.equal(waited.error, undefined);
    assert.equal(waited.before, false, 'the run waited for the training digits');
    assert.deepEqual([waited.stopped.cancelled, waited.stopped.step, waited.stopped.done], [true, 0, 0]);
    assert.equal(waited.act, 16 * 28 * 28);
    assert.equal(waited.step, 1);
    assert.equal(waited.label, want[3]);
    // a failed fetch of the training digits is said, and the next call tries again
    const flaky = await page.evaluate(async () => {
      const { EngineClient } = await import('/js/engine-client.js');
      const e = await EngineClient.start({ modelUrl: '/models/resnet8-mnist.safetensors', dataUrl: '/data/mnist-heldout.bin.gz', trainUrl: '/flaky-train.bin.gz', build: 'simd' });
      const first = await e.train(1).then(() => 'trained', (err) => String(err.message || err));
      await fetch('/fix-flaky');
      const second = await e.train(1).then((r) => r.step, (err) => String(err.message || err));
      e.terminate();
      return { first, second };
    });
    assert.match(flaky.first, /could not load the training digits \(.*flaky-train\.bin\.gz\).*503/);
    assert.equal(flaky.second, 1);
    const bad = await read('/corrupt.bin.gz');
    assert.match(bad.error, /could not load the MNIST digits \(.*corrupt\.bin\.gz\): it is not a valid gzip file/);
    assert.deepEqual(errors.filter((e) => !/corrupt|flaky|Failed to load resource/.test(e)), []);
  } finally {
    await srv.close();
  }
});
