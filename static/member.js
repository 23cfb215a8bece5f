// Saved / not saved state of autosaved answers. The form works without this file (plain posts);
// htmx already saves each field and puts the server's answer ("Saved" or why not) in its status line.
(function () {
  function statusOf(event) {
    var target = event.detail && event.detail.target;
    return target && target.classList && target.classList.contains("field-status") ? target : null;
  }
  function say(event, key, isError) {
    var status = statusOf(event);
    var form = status && status.closest("form");
    if (!status || !form) return;
    status.textContent = "";
    var span = document.createElement("span");
    if (isError) span.className = "error";
    span.textContent = form.dataset[key];
    status.appendChild(span);
  }
  document.addEventListener("htmx:beforeRequest", function (e) { say(e, "saving", false); });
  document.addEventListener("htmx:sendError", function (e) { say(e, "unsaved", true); });
  document.addEventListener("htmx:responseError", function (e) { say(e, "unsaved", true); });
})();
