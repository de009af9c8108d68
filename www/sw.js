// resnet-playground's service worker, opt-in: threads and offline on any static host.
//
// Copy this file (dist/sw.js) to the root of your site and add one script tag to its pages
// (mdBook: `additional-js = ["sw.js"]` in book.toml):
//
//   <script src="/sw.js"></script>                      threads + offline
//   <script src="/sw.js" data-offline-only></script>    offline only (no isolation, no reload)
//
// Hosts such as GitHub Pages cannot send the cross-origin isolation headers that threads
// (SharedArrayBuffer) need. This worker serves the site's own responses with them
// (Cross-Origin-Embedder-Policy: credentialless, Cross-Origin-Opener-Policy: same-origin),
// so after one reload — done once, by this script — the page is cross-origin isolated and the
// widgets run the threaded build. And it keeps a copy of every file of the site it serves
// (network first; the copy when the network is gone), so after one visit the playground and
// the widgets work offline. The copies belong to one build: the build stamps VERSION below
// (tools/sw-manifest.mjs), so a new build installs a new worker, which drops the old copies.
// Without this file nothing changes: the single-threaded build, online.
//
// Trade-offs: `credentialless` loads other sites' images and scripts without cookies (a
// cross-origin resource that needs them, or one that forbids it, stops loading); popups
// opened from the page lose their link to it (same-origin COOP); the first visit reloads once;
// a browser without `credentialless` (Safari, Firefox before 119) stays single-threaded (the
// reload is not repeated); the cache holds what the site served, up to the browser's quota.

const VERSION = 'dev'; // (stamped at build)
const CACHE = `resnet-playground-${VERSION}`;

if (typeof window !== 'undefined') {
  // ---- in the page: register, and reload once to become isolated -------------------------
  const script = document.currentScript;
  const isolate = !script?.hasAttribute('data-offline-only');
  const KEY = 'resnet-playground-sw-reloaded';
  if ('serviceWorker' in navigator && window.isSecureContext && script) {
    const url = new URL(script.src);
    if (isolate) url.searchParams.set('isolate', '1');
    navigator.serviceWorker.register(url.href).then(() => {
      if (!isolate || window.crossOriginIsolated) { sessionStorage.removeItem(KEY); return; }
      if (sessionStorage.getItem(KEY)) return; // reloaded once already: this browser does not isolate this way
      const reload = () => { sessionStorage.setItem(KEY, '1'); location.reload(); };
      if (navigator.serviceWorker.controller) reload();
      else navigator.serviceWorker.addEventListener('controllerchange', reload, { once: true });
    }, (e) => console.warn(`resnet-playground: the service worker did not register (${e.message}); the page works online, single-threaded`));
  }
} else {
  // ---- the worker ---------------------------------------------------------------------------
  const ISOLATE = new URL(self.location.href).searchParams.has('isolate');
  // this build's cache, opened once: when a newer build's worker deletes it, what this one
  // still puts goes into the deleted cache, not into a new one of the old name
  let opened = null;
  const cache = () => (opened ??= caches.open(CACHE));

  // the build's file list (sw-files.json beside this file, when it is there: dist/ has one)
  // is copied at install, so the first visit is enough even for files it did not load
  const precache = async () => {
    await cache();
    try {
      const res = await fetch(new URL('sw-files.json', self.location.href), { cache: 'no-store' });
      if (!res.ok) return;
      const { files } = await res.json();
      const c = await cache();
      await Promise.all(files.map((f) => c.add(new URL(f, self.registration.scope)).catch(() => {})));
    } catch { /* nothing to copy ahead: files are kept as they are served */ }
  };
  self.addEventListener('install', (e) => { self.skipWaiting(); e.waitUntil(precache()); });
  self.addEventListener('activate', (e) => e.waitUntil((async () => {
    for (const k of await caches.keys()) if (k.startsWith('resnet-playground-') && k !== CACHE) await caches.delete(k);
    await self.clients.claim();
  })()));

  // the site's answers, with the isolation headers when isolating (data-offline-only: as served)
  const withHeaders = (res) => {
    if (res.type === 'opaque' || res.type === 'opaqueredirect' || res.status === 0) return res;
    const h = new Headers(res.headers);
    if (ISOLATE) {
      h.set('Cross-Origin-Embedder-Policy', 'credentialless');
      h.set('Cross-Origin-Opener-Policy', 'same-origin');
    }
    h.delete('Content-Encoding'); // (the body is decoded already)
    h.delete('Content-Length');
    return new Response(res.body, { status: res.status, statusText: res.statusText, headers: h });
  };

  const respond = async (req) => {
    try {
      const res = await fetch(req);
      if (res.status === 200 && res.type === 'basic' && !req.headers.has('range')) {
        const copy = res.clone();
        cache().then((c) => c.put(req, copy)).catch(() => {});
      }
      return withHeaders(res);
    } catch (err) {
      // offline: the copy (a page under any query string: ?layer=… is the same file)
      const nav = req.mode === 'navigate';
      const kept = await caches.match(req, { ignoreSearch: nav })
        ?? (nav && req.url.split('?')[0].endsWith('/') ? await caches.match(new URL('index.html', req.url)) : undefined);
      if (kept) return withHeaders(kept);
      throw err;
    }
  };

  self.addEventListener('fetch', (e) => {
    const req = e.request;
    if (req.method !== 'GET' || new URL(req.url).origin !== self.location.origin) return;
    e.respondWith(respond(req));
  });
}
