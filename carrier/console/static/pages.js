// The console's only script: refresh elements marked data-refresh="URL" every
// data-every ms (default 2000) with the HTML fragment the URL answers. The request
// says it is background polling, so it does not keep an idle session alive.
"use strict";
(function () {
  function refresh(el) {
    var url = el.getAttribute("data-refresh");
    var every = parseInt(el.getAttribute("data-every") || "2000", 10);
    function tick() {
      var active = document.activeElement;
      if (active && active !== document.body && el.contains(active)) {
        // the operator is typing into this part (a transfer target): leave it alone
        window.setTimeout(tick, every);
        return;
      }
      fetch(url, { credentials: "same-origin", headers: { "X-Carrier-Background": "1" } })
        .then(function (r) {
          if (r.status === 401 || r.redirected) { window.location = "/login"; return null; }
          return r.ok ? r.text() : null;
        })
        .then(function (html) {
          if (html !== null) { el.innerHTML = html; el.setAttribute("data-updated", Date.now()); }
        })
        .catch(function () { /* the next tick tries again */ })
        .then(function () { window.setTimeout(tick, every); });
    }
    window.setTimeout(tick, every);
  }
  document.querySelectorAll("[data-refresh]").forEach(refresh);
})();
