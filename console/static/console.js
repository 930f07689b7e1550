// tobira console: the only script, vendored here and served from the console itself (CSP script-src 'self').
// It adds comfort, never function: every page works without it.
"use strict";
(function () {
  // An act asks for the actor's finger at the reader: say so while the daemon waits, and send it once.
  document.querySelectorAll("form[data-proof]").forEach(function (f) {
    f.addEventListener("submit", function () {
      var p = document.getElementById("proving");
      if (p) { p.hidden = false; }
      f.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
    });
  });
  document.querySelectorAll("[data-print]").forEach(function (b) {
    b.addEventListener("click", function () { window.print(); });
  });
  // Home: doors, readers and counts without reloading.
  if (!document.getElementById("doors")) { return; }
  function set(sel, text) {
    var e = document.querySelector(sel);
    if (e && typeof text === "string" && e.textContent !== text) { e.textContent = text; }
  }
  function tick() {
    fetch("/live", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        // The session ended (idle): reload, and the console says why on the sign-in page.
        if (r.status === 401) { window.location.reload(); return { daemon: true, doors: {}, readers: {} }; }
        return r.ok ? r.json() : { daemon: false };
      })
      .then(function (s) {
        var lost = document.getElementById("lost");
        if (lost) { lost.hidden = !!s.daemon; }
        if (!s.daemon) { return; }
        Object.keys(s.doors).forEach(function (k) { set('[data-door="' + CSS.escape(k) + '"]', s.doors[k]); });
        Object.keys(s.readers).forEach(function (k) { set('[data-reader="' + CSS.escape(k) + '"]', s.readers[k]); });
        if (typeof s.pending === "number") { set("#pending", String(s.pending)); }
        if (typeof s.open_alarms === "number") { set("#open-alarms", String(s.open_alarms)); }
      })
      .catch(function () {
        var lost = document.getElementById("lost");
        if (lost) { lost.hidden = false; }
      });
  }
  setInterval(tick, 3000);
})();
