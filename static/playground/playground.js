/* The playground's small script: simulated-time displays, pipeline edges and
 * moving dots, copy buttons, attribute rows. Everything else is htmx. */
(function () {
  "use strict";

  // Browser clock minus server clock, so simulated time matches the server's.
  var skew = 0;

  function wallNow() { return Date.now() / 1000 - skew; }

  function simNow() {
    var c = document.getElementById("clock");
    if (!c) return wallNow();
    var anchor = parseFloat(c.dataset.simAnchor);
    if (c.dataset.paused === "true") return anchor;
    return anchor + (wallNow() - parseFloat(c.dataset.realAnchor)) * parseFloat(c.dataset.speed);
  }

  function pad(n, w) { n = String(n); while (n.length < w) n = "0" + n; return n; }

  function formatTime(t) {
    var d = new Date(t * 1000);
    return pad(d.getUTCHours(), 2) + ":" + pad(d.getUTCMinutes(), 2) + ":" +
      pad(d.getUTCSeconds(), 2) + "." + Math.floor(d.getUTCMilliseconds() / 100);
  }

  function tick() {
    var now = simNow();
    document.querySelectorAll("[data-clock-display]").forEach(function (el) {
      el.textContent = formatTime(now);
    });
    document.querySelectorAll(".countdown[data-visible-at]").forEach(function (el) {
      var left = parseFloat(el.dataset.visibleAt) - now;
      el.textContent = Math.max(0, left).toFixed(1) + " s";
      el.classList.toggle("due", left <= 0);
    });
    document.querySelectorAll("progress[data-ends-at]").forEach(function (el) {
      var start = parseFloat(el.dataset.startedAt), end = parseFloat(el.dataset.endsAt);
      el.value = end > start ? Math.min(1, Math.max(0, (now - start) / (end - start))) : 1;
    });
  }

  // --- pipeline edges -------------------------------------------------------------

  function anchorPoint(el, box, side) {
    var r = el.getBoundingClientRect();
    return { x: (side === "right" ? r.right : r.left) - box.left, y: r.top + r.height / 2 - box.top };
  }

  function drawEdges() {
    var pipeline = document.getElementById("pipeline");
    if (!pipeline) return;
    var svg = pipeline.querySelector("svg.edges");
    var box = pipeline.getBoundingClientRect();
    svg.setAttribute("width", box.width);
    svg.setAttribute("height", box.height);
    svg.setAttribute("viewBox", "0 0 " + box.width + " " + box.height);
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    svg.insertAdjacentHTML("afterbegin", "<defs>" + ["send", "trigger", "redrive", "subscription", "writes"].map(function (k) {
      return '<marker id="arrow-' + k + '" class="arrow-' + k + '" viewBox="0 0 10 10" refX="9" refY="5" ' +
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker>';
    }).join("") + "</defs>");
    pipeline.querySelectorAll(".edge-list li").forEach(function (li) {
      var from = document.getElementById(li.dataset.from), to = document.getElementById(li.dataset.to);
      if (!from || !to) return;
      var path = document.createElementNS("http://www.w3.org/2000/svg", "path");
      if (li.dataset.kind === "redrive") {
        // Queue → DLQ passes under the functions lane: bottom to bottom.
        var fr = from.getBoundingClientRect(), tr = to.getBoundingClientRect();
        var ax = fr.left + fr.width / 2 - box.left, ay = fr.bottom - box.top;
        var bx = tr.left + tr.width / 2 - box.left, by = tr.bottom - box.top;
        var low = Math.max(ay, by) + 36;
        path.setAttribute("d", "M" + ax + "," + ay + " C" + ax + "," + low + " " + bx + "," + low +
          " " + bx + "," + by);
      } else {
        var a = anchorPoint(from, box, "right"), b = anchorPoint(to, box, "left");
        if (b.x < a.x) { a = anchorPoint(from, box, "left"); b = anchorPoint(to, box, "right"); }
        var dx = Math.max(40, Math.abs(b.x - a.x) / 2);
        path.setAttribute("d", "M" + a.x + "," + a.y + " C" + (a.x + dx) + "," + a.y + " " +
          (b.x - dx) + "," + b.y + " " + b.x + "," + b.y);
      }
      path.setAttribute("class", "edge edge-" + li.dataset.kind + (li.dataset.enabled === "false" ? " disabled" : ""));
      path.setAttribute("marker-end", "url(#arrow-" + li.dataset.kind + ")");
      path.dataset.from = li.dataset.from;
      path.dataset.to = li.dataset.to;
      svg.appendChild(path);
    });
  }

  // A copy that does not arrive (filtered out, or a failed attempt waiting for its retry)
  // sets off along its subscription, stops halfway and says why there for a while.
  var STOPS = { filtered: true, retry: true };

  function showLabel(svg, point, text) {
    var label = document.createElementNS("http://www.w3.org/2000/svg", "text");
    label.setAttribute("x", point.x + 12);
    label.setAttribute("y", point.y - 10);
    label.setAttribute("class", "edge-label");
    label.textContent = text;
    svg.appendChild(label);
    setTimeout(function () { label.remove(); }, 4000);
  }

  function animateDot(path, kind, delay, label) {
    var svg = path.ownerSVGElement;
    var length = path.getTotalLength() * (STOPS[kind] ? 0.5 : 1);
    var dot = document.createElementNS("http://www.w3.org/2000/svg", "circle");
    dot.setAttribute("r", 9);
    dot.setAttribute("class", "dot dot-" + kind);
    var duration = 900, start = null;
    setTimeout(function () {
      svg.appendChild(dot);
      function frame(ts) {
        if (start === null) start = ts;
        var t = Math.min(1, (ts - start) / duration);
        if (!dot.isConnected || !path.isConnected) { dot.remove(); return; }
        var p = path.getPointAtLength(length * t);
        dot.setAttribute("cx", p.x);
        dot.setAttribute("cy", p.y);
        if (t < 1) requestAnimationFrame(frame);
        else {
          dot.remove();
          if (label) showLabel(svg, p, label);
        }
      }
      requestAnimationFrame(frame);
    }, delay);
  }

  function pulse(pulses) {
    pulses.forEach(function (p) {
      var path = document.querySelector('#pipeline path.edge[data-from="' + p.from + '"][data-to="' + p.to + '"]');
      if (!path) return;
      var kind = p.kind || (path.getAttribute("class").match(/edge-(\w+)/) || [])[1] || "send";
      for (var i = 0; i < p.n; i++) animateDot(path, kind, i * 140, i === p.n - 1 ? p.label : "");
      var target = document.getElementById(p.to);
      if (target && !STOPS[kind]) {
        target.classList.remove("flash");
        void target.offsetWidth;  // restart the CSS animation
        target.classList.add("flash");
      }
    });
  }

  // --- live socket ----------------------------------------------------------------

  // Pushed <select>s get new options; keep what the user had chosen.
  var chosen = {};

  document.addEventListener("htmx:wsBeforeMessage", function (evt) {
    var text = evt.detail.message;
    if (typeof text === "string" && text.charAt(0) === "{") {
      evt.preventDefault();  // JSON frames are animations, not HTML
      try { pulse(JSON.parse(text).pulses || []); } catch (e) { /* ignore a bad frame */ }
      return;
    }
    chosen = {};
    document.querySelectorAll("select[id]").forEach(function (s) { chosen[s.id] = s.value; });
  });

  // A page's snapshot is current up to an event id read before it was rendered, so an
  // event committed meanwhile can be in the snapshot and in the next push too: appended
  // rows (timeline, API feed, log lines) are applied once, by their ids.
  function dropRepeatedRows() {
    var seen = {};
    document.querySelectorAll("li[id]").forEach(function (row) {
      if (seen[row.id]) row.remove(); else seen[row.id] = true;
    });
  }

  document.addEventListener("htmx:wsAfterMessage", function () {
    dropRepeatedRows();
    Object.keys(chosen).forEach(function (id) {
      var s = document.getElementById(id);
      if (s && s.value !== chosen[id] && s.querySelector('option[value="' + CSS.escape(chosen[id]) + '"]')) {
        s.value = chosen[id];
      }
    });
    var feed = document.getElementById("api-feed");
    if (feed) {
      // Keep as many rows as the server renders (data-limit), newest first.
      var rows = feed.querySelectorAll("li.api-call");
      var limit = parseInt(feed.dataset.limit, 10) || rows.length;
      for (var i = limit; i < rows.length; i++) rows[i].remove();
    }
    // A log stream follows its newest line, like `aws logs tail --follow`.
    document.querySelectorAll("ol.log").forEach(function (log) { log.scrollTop = log.scrollHeight; });
    drawEdges();
    tick();
  });

  function setLive(text, cls) {
    var el = document.getElementById("live-status");
    if (!el) return;
    el.textContent = text;
    el.className = "live-status " + cls;
  }
  document.addEventListener("htmx:wsOpen", function () { setLive("● live", "on"); });
  document.addEventListener("htmx:wsClose", function () { setLive("○ reconnecting…", "off"); });

  document.addEventListener("htmx:afterSettle", function () { drawEdges(); tick(); });
  window.addEventListener("resize", drawEdges);

  // --- copy buttons, attribute rows -------------------------------------------------

  function copyText(text, button) {
    function done() {
      var old = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = old; }, 1200);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done);
      return;
    }
    var area = document.createElement("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    area.remove();
    done();
  }

  document.addEventListener("click", function (evt) {
    var copy = evt.target.closest("[data-copy]");
    if (copy) {
      var source = document.querySelector(copy.dataset.copy);
      if (source) copyText(source.textContent, copy);
      return;
    }
    var add = evt.target.closest("[data-add-attribute]");
    if (add) {
      var rows = add.parentElement.querySelectorAll(".attribute-row");
      var clone = rows[rows.length - 1].cloneNode(true);
      clone.querySelectorAll("input").forEach(function (i) { i.value = ""; });
      add.parentElement.insertBefore(clone, add);
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var server = parseFloat(document.body.dataset.serverNow);
    if (server) skew = Date.now() / 1000 - server;
    if (Math.abs(skew) < 1) skew = 0;  // same machine: keep sub-second precision honest
    document.querySelectorAll("ol.log").forEach(function (log) { log.scrollTop = log.scrollHeight; });
    drawEdges();
    tick();
    setInterval(tick, 100);
  });
})();
