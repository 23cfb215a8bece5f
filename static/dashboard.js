// Live results on the reflection session screen. The page works without this file (a Refresh link);
// with it, each htmx poll sends the ETag of what is shown, and a 304 (nothing new) swaps nothing.
(function () {
  document.addEventListener("htmx:configRequest", function (e) {
    var etag = e.detail.elt && e.detail.elt.dataset ? e.detail.elt.dataset.etag : null;
    if (etag && e.detail.verb === "get") e.detail.headers["If-None-Match"] = etag;
  });
  document.addEventListener("htmx:beforeSwap", function (e) {
    if (e.detail.xhr.status === 304) e.detail.shouldSwap = false;
  });
})();
