// tobira console: the only script, vendored here and served from the console itself (CSP script-src 'self').
// It adds comfort, never function: every page works without it.
"use strict";
(function () {
  // An act asks for the actor's finger at the reader: say so while the daemon waits, and send it once.
  // An enrolment says each capture as it happens: its steps come from the console's server-sent events
  // while the form's answer is awaited, each a line of the list (the proof's prompt among them).
  function follow(f) {
    var box = document.getElementById("captures-live");
    var list = document.getElementById("captures");
    if (!box || !list || typeof EventSource === "undefined") { return false; }
    box.hidden = false;
    var es = new EventSource(f.getAttribute("data-progress"));
    es.addEventListener("step", function (m) {
      var s;
      try { s = JSON.parse(m.data); } catch (e) { return; }
      if (typeof s.text !== "string") { return; }
      var li = document.createElement("li");
      li.textContent = s.text;
      if (typeof s["class"] === "string") { li.setAttribute("data-state", s["class"]); }
      list.appendChild(li);
    });
    es.addEventListener("done", function () { es.close(); });
    return true;
  }
  document.querySelectorAll("form[data-proof]").forEach(function (f) {
    f.addEventListener("submit", function () {
      var p = document.getElementById("proving");
      if (f.hasAttribute("data-progress") && follow(f)) {
        p = null;
      }
      if (p) {
        p.hidden = false;
        // Count the seconds the daemon still waits for the finger down, as the CLI's prompt says them.
        var left = document.getElementById("proving-left");
        if (left) {
          var n = parseInt(left.getAttribute("data-seconds"), 10);
          var t = setInterval(function () {
            n = n - 1;
            if (n <= 0) { n = 0; clearInterval(t); }
            left.textContent = String(n);
          }, 1000);
        }
      }
      f.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
    });
  });
  document.querySelectorAll("[data-print]").forEach(function (b) {
    b.addEventListener("click", function () { window.print(); });
  });
  // Home: doors, readers and counts without reloading, as the console's server-sent events say.
  var live = document.getElementById("live");
  if (!live || typeof EventSource === "undefined") { return; }
  function set(sel, v) {
    var e = document.querySelector(sel);
    if (!e || !v || typeof v.text !== "string") { return; }
    if (e.textContent !== v.text) { e.textContent = v.text; }
    if (typeof v.state === "string" && e.getAttribute("data-state") !== v.state) { e.setAttribute("data-state", v.state); }
  }
  function count(sel, n) {
    var e = document.querySelector(sel);
    if (e && typeof n === "number" && e.textContent !== String(n)) { e.textContent = String(n); }
  }
  var es = new EventSource(live.getAttribute("data-events"));
  es.addEventListener("state", function (m) {
    var s;
    try { s = JSON.parse(m.data); } catch (e) { return; }
    var lost = document.getElementById("lost");
    if (lost) { lost.hidden = !!s.daemon; }
    if (!s.daemon) { return; }
    Object.keys(s.doors).forEach(function (k) { set('[data-door="' + CSS.escape(k) + '"]', s.doors[k]); });
    Object.keys(s.readers).forEach(function (k) { set('[data-reader="' + CSS.escape(k) + '"]', s.readers[k]); });
    count("#pending", s.pending);
    count("#open-alarms", s.open_alarms);
  });
  // The session ended (idle): reload, and the sign-in page says why.
  es.addEventListener("signedout", function () { es.close(); window.location.reload(); });
  // The console itself is gone (the browser retries by itself meanwhile).
  es.addEventListener("error", function () {
    var lost = document.getElementById("lost");
    if (lost && es.readyState !== EventSource.OPEN) { lost.hidden = false; }
  });
  es.addEventListener("open", function () {
    var lost = document.getElementById("lost");
    if (lost) { lost.hidden = true; }
  });
})();
