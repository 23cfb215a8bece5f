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
  // A poll morphs the results into the new ones (idiomorph): whether a comment list is open is the room's
  // choice, so the server's "open" (on contested topics) never closes or opens one that is already there.
  if (window.Idiomorph) {
    Idiomorph.defaults.callbacks.beforeAttributeUpdated = function (name, node) {
      return !(name === "open" && node.tagName === "DETAILS");
    };
  }
  // One key to the notes and action plan ("N"), as the link at the top does with one tap.
  document.addEventListener("keydown", function (e) {
    if (e.key !== "n" && e.key !== "N") return;
    if (e.ctrlKey || e.metaKey || e.altKey || e.target.closest("input, textarea, select, [contenteditable]")) return;
    var title = document.getElementById("plan-title");
    if (!title) return;
    e.preventDefault();
    title.scrollIntoView();
    title.focus();
  });
})();
// Personal links page: a "Copy the message" button per member (shown only where the clipboard works; without
// JavaScript the message is selected by hand from its box).
(function () {
  if (!navigator.clipboard) return;
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("button.copy[data-copy]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var box = document.getElementById(button.dataset.copy);
        navigator.clipboard.writeText(box.value).then(function () {
          button.setAttribute("aria-pressed", "true");
        });
      });
    });
  });
})();
