// The desk's service worker: keeps the page and its assets so that the desk reloads offline.
// The page is answered from the cache at once and refreshed from the network behind it; the API
// is never cached (the package keeps the data). The build writes the version of the assets.
const VERSION = "1873148b6db51c54";
const CACHE = `desk-${VERSION}`;
const ASSETS = ["/desk", "/desk/desk.js", "/desk/desk.css"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(ASSETS)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith("desk-") && n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  const asset = url.pathname === "/desk" || url.pathname === "/desk/" ? "/desk" : url.pathname;
  if (event.request.method !== "GET" || url.origin !== location.origin || !ASSETS.includes(asset)) return;
  event.respondWith(
    caches.open(CACHE).then(async (cache) => {
      const held = await cache.match(asset);
      const fresh = fetch(event.request)
        .then((answer) => {
          if (answer.ok) cache.put(asset, answer.clone());
          return answer;
        })
        .catch(() => null);
      return held ?? (await fresh) ?? Response.error();
    }),
  );
});
