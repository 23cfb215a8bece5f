// Keeps the member form's pages and static files on the phone, so the form opens with no connection.
// Pages: network first (always the latest answers when online), the kept copy when offline.
// Static files: their URLs carry a content hash, so a kept copy is never stale.
var CACHE = "clusterscore-member-v1";

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

// The form page tells the worker which pages to keep: every step, the review, the thank-you page.
self.addEventListener("message", function (event) {
  var pages = (event.data && event.data.keep) || [];
  event.waitUntil(caches.open(CACHE).then(function (cache) {
    return Promise.all(pages.map(function (url) {
      return fetch(url, { credentials: "same-origin" }).then(function (reply) {
        if (reply.ok && !reply.redirected) return cache.put(url, reply);
      }).catch(function () {});
    }));
  }));
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.indexOf("/static/") === 0) {
    event.respondWith(caches.match(request).then(function (kept) {
      return kept || fetch(request).then(function (reply) {
        var copy = reply.clone();
        if (reply.ok) caches.open(CACHE).then(function (cache) { cache.put(request, copy); });
        return reply;
      });
    }));
  } else if (request.mode === "navigate" && url.pathname.indexOf("/rounds/") === 0) {
    event.respondWith(fetch(request).then(function (reply) {
      var copy = reply.clone();
      if (reply.ok && !reply.redirected) caches.open(CACHE).then(function (cache) { cache.put(request, copy); });
      return reply;
    }).catch(function () {
      return caches.match(request, { ignoreSearch: true }).then(function (kept) { return kept || Response.error(); });
    }));
  }
});
