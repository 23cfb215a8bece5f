// The member form on a phone with a bad connection. The form works without this file (plain posts);
// htmx saves each answer as it is given. This adds: the saved / not saved state of each answer, and
// answers kept on the phone (IndexedDB) while offline, sent in order when the connection returns.
// Every change carries an id and the phone's time, so a change sent twice is saved once and the
// last edit wins. A service worker (/sw.js) keeps the form's pages so they open offline.
(function () {
  "use strict";
  var STORE = "changes";
  var form = document.querySelector("form.member-form, form.member-submit");
  if (!form) return;
  var csrf = form.querySelector("input[name=csrf_token]").value;
  var text = form.dataset;
  var sending = false;

  function newId() {
    return (crypto.randomUUID ? crypto.randomUUID() : Date.now() + "-" + Math.random()).replace(/[^\w-]/g, "");
  }

  function store(mode, work) {
    return new Promise(function (done, fail) {
      var open = indexedDB.open("clusterscore", 1);
      open.onupgradeneeded = function () { open.result.createObjectStore(STORE, { keyPath: "seq", autoIncrement: true }); };
      open.onerror = function () { fail(open.error); };
      open.onsuccess = function () {
        var tx = open.result.transaction(STORE, mode);
        var request = work(tx.objectStore(STORE));
        tx.oncomplete = function () { done(request && request.result); open.result.close(); };
        tx.onerror = function () { fail(tx.error); };
      };
    });
  }
  function queued() { return store("readonly", function (s) { return s.getAll(); }); }
  function enqueue(change) { return store("readwrite", function (s) { s.add(change); }).then(refresh); }
  function dequeue(seq) { return store("readwrite", function (s) { s.delete(seq); }); }

  function statusLine(name) { return document.getElementById("st-" + name.replace(/\./g, "-")); }
  function say(name, message, isError) {
    var line = statusLine(name);
    if (!line) return;
    line.textContent = "";
    var span = document.createElement("span");
    if (isError) span.className = "error";
    span.textContent = message;
    line.appendChild(span);
  }

  // What is still on the phone: a count, a button to send now, and the answers shown in their fields.
  function refresh() {
    return queued().then(function (changes) {
      var box = document.getElementById("pending");
      box.hidden = changes.length === 0;
      box.querySelector("span").textContent = text.pending.replace("%(count)s", changes.length);
      changes.forEach(function (change) {
        Object.keys(change.fields).forEach(function (name) {
          show(name, change.fields[name]);
          say(name, text.queued, false);
        });
      });
    });
  }
  function show(name, value) {
    var inputs = form.querySelectorAll('[name="' + name + '"]');
    inputs.forEach(function (input) {
      if (input.type === "radio") input.checked = input.value === value;
      else input.value = value;
    });
  }

  // Send what waits, oldest first; stop at the first failure and keep the rest for later.
  function flush() {
    if (sending) return Promise.resolve();
    sending = true;
    return queued().then(function next(changes) {
      if (!changes.length) return;
      var change = changes[0];
      var body = new URLSearchParams(change.fields);
      body.set("client_id", change.id);
      body.set("client_at", String(change.at));
      return fetch(change.url, {
        method: "POST", body: body, credentials: "same-origin",
        headers: { "X-CSRF-Token": csrf, "HX-Request": "true" }
      }).then(function (reply) {
        if (reply.status >= 500 || reply.status === 401 || reply.status === 403) throw new Error(reply.status);
        return reply.text().then(function (answer) {
          Object.keys(change.fields).forEach(function (name) {
            var line = statusLine(name);
            if (line && reply.ok && change.kind === "answer") line.innerHTML = answer;
          });
          if (change.kind === "submit" && reply.ok) window.location.assign(reply.headers.get("HX-Redirect") || reply.url);
          return dequeue(change.seq).then(function () { return changes.slice(1); }).then(next);
        });
      });
    }).catch(function () { /* still offline: the changes stay queued */ }).then(function () {
      sending = false;
      return refresh();
    });
  }

  // Each htmx autosave carries an id and the phone's time; if it cannot be sent, it is queued.
  document.addEventListener("htmx:configRequest", function (e) {
    e.detail.parameters.client_id = newId();
    e.detail.parameters.client_at = String(Date.now());
  });
  document.addEventListener("htmx:beforeRequest", function (e) {
    var line = e.detail.target;
    if (line && line.classList.contains("field-status")) line.textContent = text.saving;
  });
  document.addEventListener("htmx:sendError", function (e) {
    var fields = {};
    var params = e.detail.requestConfig.parameters;
    Object.keys(params).forEach(function (name) {
      if (name !== "client_id" && name !== "client_at") fields[name] = params[name];
    });
    enqueue({ kind: "answer", url: e.detail.requestConfig.path, fields: fields, id: params.client_id, at: Number(params.client_at) });
  });
  document.addEventListener("htmx:responseError", function (e) {
    var line = e.detail.target;
    if (line && line.classList.contains("field-status")) say(line.id.slice(3).replace("-", "."), text.unsaved, true);
  });

  // Offline, "Save and continue" and "Submit" keep everything on the phone and go on; it is sent later.
  form.addEventListener("submit", function (e) {
    if (navigator.onLine) return;
    e.preventDefault();
    var button = e.submitter;
    var fields = {};
    new FormData(form).forEach(function (value, name) {
      if (!/^[rck]\./.test(name)) return;
      // A field left as empty as it came is no answer; one the member emptied is, and is kept.
      var field = form.elements[name];
      if (value === "" && field && field.defaultValue === "") return;
      fields[name] = String(value);
    });
    var at = Date.now();
    var work = form.classList.contains("member-submit")
      ? enqueue({ kind: "submit", url: form.action, fields: {}, id: newId(), at: at })
      : enqueue({ kind: "answer", url: form.dataset.autosave, fields: fields, id: newId(), at: at });
    work.then(function () {
      if (button && button.dataset.href) window.location.assign(button.dataset.href);
    });
  });

  document.getElementById("send-now").addEventListener("click", flush);
  window.addEventListener("online", flush);
  // "online" is not always told (captive Wi-Fi, some phones): also try every few seconds while waiting.
  setInterval(function () { if (!document.hidden && navigator.onLine) flush(); }, 5000);
  refresh().then(function () { if (navigator.onLine) flush(); });

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js").then(function () { return navigator.serviceWorker.ready; }).then(function (registration) {
      registration.active.postMessage({ keep: JSON.parse(form.dataset.offlinePages || "[]") });
    });
  }
})();
