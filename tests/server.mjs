// A static file server for the browser tests: serves a folder on 127.0.0.1, with or without
// the cross-origin isolation headers (COOP/COEP), and optional extra headers.
//
//   const srv = await serve({ root: 'dist', isolated: true });   srv.url, await srv.close()
//   routes: { '/path': (req, res) => … } answers those paths itself
//   throttle: { bitsPerSec, latencyMs } paces every response through one shared link (a
//     first byte after the latency, then the bytes at that rate, all responses together) and
//     `onsent({path, bytes, at})` hears of each finished one (bench/first-load.mjs)
//   node tests/server.mjs dist 8080 [--isolated]                 (by hand)
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve } from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.wasm': 'application/wasm', '.json': 'application/json',
  '.png': 'image/png', '.svg': 'image/svg+xml', '.woff2': 'font/woff2', '.bin': 'application/octet-stream', '.gz': 'application/gzip',
  '.safetensors': 'application/octet-stream', '.ico': 'image/x-icon',
};

export async function serve({ root, isolated = false, port = 0, headers = {}, routes = {}, throttle = null, onsent = null }) {
  const base = resolve(root);
  let linkFree = 0; // when the shared link can carry the next chunk (ms, performance.now)
  const send = async (path, res, body) => {
    if (throttle) {
      await new Promise((ok) => setTimeout(ok, throttle.latencyMs));
      const perMs = throttle.bitsPerSec / 8 / 1000;
      for (let at = 0; at < body.length; at += 16384) {
        const chunk = body.subarray(at, at + 16384);
        const start = Math.max(performance.now(), linkFree);
        linkFree = start + chunk.length / perMs;
        await new Promise((ok) => setTimeout(ok, Math.max(0, linkFree - performance.now())));
        if (!res.write(chunk)) await new Promise((ok) => res.once('drain', ok));
      }
      res.end();
    } else res.end(body);
    onsent?.({ path, bytes: body.length, at: performance.now() });
  };
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    if (routes[path]) { routes[path](req, res); return; } // a test's own answer for this path
    let file = normalize(join(base, path));
    if (!file.startsWith(base)) { res.writeHead(403).end(); return; }
    try {
      if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
      const body = await readFile(file);
      const h = { 'Content-Type': TYPES[extname(file)] || 'application/octet-stream', 'Content-Length': body.length, 'Cache-Control': 'no-store', ...headers };
      if (isolated) {
        h['Cross-Origin-Opener-Policy'] = 'same-origin';
        h['Cross-Origin-Embedder-Policy'] = 'require-corp';
      }
      res.writeHead(200, h);
      await send(path, res, body);
    } catch {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
    }
  });
  await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
  return { url: `http://127.0.0.1:${server.address().port}/`, close: () => { server.closeAllConnections(); return new Promise((ok) => server.close(ok)); } };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [root = 'dist', port = '8080'] = process.argv.slice(2);
  const srv = await serve({ root, port: Number(port), isolated: process.argv.includes('--isolated') });
  console.log(`serving ${root} at ${srv.url}${process.argv.includes('--isolated') ? ' (cross-origin isolated)' : ''}`);
}
