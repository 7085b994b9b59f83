// The service worker: keeps the app shell (every file of /app/) and the questionnaire
// definitions it has fetched, so the app opens and works with no network. The shell is served
// from the cache at once and refreshed in the background when online; API calls other than
// questionnaire definitions go to the network untouched (sync needs the server's real answer,
// and nothing that carries a token is cached).

const VERSION = 'sipas-app-v2';
const SHELL = [
  './',
  './app.css',
  './app.js',
  './form.js',
  './rules.js',
  './store.js',
  './sync.js',
  './hash.js',
  './i18n.js',
  './manifest.webmanifest',
  './icon.svg',
  './icon-180.png',
  './icon-192.png',
  './icon-512.png',
];
const REFERENCE = 'sipas-reference-v1';

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(VERSION)
      .then((c) => c.addAll(SHELL))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== VERSION && k !== REFERENCE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.startsWith('/app/')) {
    event.respondWith(shell(req, event));
    return;
  }
  if (/^\/api\/v1\/questionnaires\/[^/]+\/versions\/\d+$/.test(url.pathname)) {
    event.respondWith(reference(req));
  }
});

/** Cache first (the app opens offline at once), revalidated in the background. */
async function shell(req, event) {
  const cache = await caches.open(VERSION);
  const key = new URL(req.url).pathname === '/app/index.html' ? './' : req;
  const hit = await cache.match(key, { ignoreSearch: true });
  const fresh = fetch(req)
    .then((resp) => {
      if (resp.ok) cache.put(key, resp.clone());
      return resp;
    })
    .catch(() => null);
  if (hit) {
    event.waitUntil(fresh);
    return hit;
  }
  const resp = await fresh;
  return resp || new Response('offline', { status: 503, headers: { 'content-type': 'text/plain' } });
}

/** A published questionnaire version never changes: network first, the cached copy offline. */
async function reference(req) {
  const cache = await caches.open(REFERENCE);
  try {
    const resp = await fetch(req);
    if (resp.ok) cache.put(req, resp.clone());
    return resp;
  } catch {
    const hit = await cache.match(req);
    if (hit) return hit;
    throw new Error('offline');
  }
}
