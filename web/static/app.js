// FlowLens UI behaviour: charts (uPlot) from JSON blocks, select-all
// checkboxes, query history and Ctrl+Enter in the query editor. No inline
// scripts, so the page's Content-Security-Policy can forbid them.
(function () {
  "use strict";
  var palette = ["#0b5cad", "#d9473d", "#2e8b47", "#8e44ad", "#d19a00", "#16a3b6", "#6d4c41", "#e91e63", "#455a64", "#7cb342", "#ff7043", "#5c6bc0"];

  function fmtValue(unit, v) {
    if (v == null) return "–";
    var a = Math.abs(v);
    if (unit === "bytes") {
      var u = ["B", "kB", "MB", "GB", "TB"], i = 0;
      while (a >= 1000 && i < u.length - 1) { v /= 1000; a /= 1000; i++; }
      return (i ? v.toFixed(1) : v.toFixed(0)) + " " + u[i];
    }
    if (unit === "us") return (v / 1000).toFixed(1) + " ms";
    if (unit === "ratio") return (v * 100).toFixed(2) + "%";
    if (a >= 1e6) return (v / 1e6).toFixed(2) + "M";
    if (a >= 1e4) return (v / 1e3).toFixed(1) + "k";
    return Number.isInteger(v) ? String(v) : v.toFixed(2);
  }

  // FlowLens.chart(el, data) draws one chart; exposed so the browser test
  // can measure a 10,000-point chart with the same code.
  function chart(el, d) {
    if (!window.uPlot || !d || !d.x || !d.x.length) {
      el.textContent = "No data in this range.";
      el.classList.add("empty");
      return null;
    }
    var data = [d.x];
    var series = [{}];
    d.series.forEach(function (s, i) {
      data.push(s.values);
      var c = palette[i % palette.length];
      var spec = { label: s.label, stroke: c, width: 1.5, spanGaps: false,
        value: function (u, v) { return fmtValue(d.unit, v); } };
      if (d.bars) { spec.fill = c + "55"; spec.paths = uPlot.paths.bars({ size: [0.7, 40] }); spec.points = { show: false }; }
      series.push(spec);
    });
    var width = Math.max(200, el.clientWidth || 600);
    var height = el.classList.contains("small") ? 140 : 260;
    var opts = {
      width: width, height: height, series: series,
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
      axes: [{}, { label: d.y_label, size: 70, values: function (u, vals) { return vals.map(function (v) { return fmtValue(d.unit, v); }); } }],
      scales: { x: { time: true } }
    };
    var lo = d.x[0], hi = d.x[d.x.length - 1];
    if (d.x_min && d.x_max) { lo = Math.min(lo, d.x_min); hi = Math.max(hi, d.x_max); }
    if (hi - lo < 60) { lo -= 300; hi += 300; }
    // The whole range asked for, unless the user drag-zoomed (a double
    // click goes back to the whole range).
    var zoomed = false;
    opts.scales.x.range = function (u, min, max) { return zoomed ? [min, max] : [lo, hi]; };
    opts.hooks = {
      setSelect: [function (u) { if (u.select.width > 0) zoomed = true; }],
      ready: [function (u) { u.over.addEventListener("dblclick", function () { zoomed = false; }, true); }]
    };
    el.textContent = "";
    var plot = new uPlot(opts, data, el);
    if (window.ResizeObserver) {
      var ro = new ResizeObserver(function () {
        var w = Math.max(200, el.clientWidth);
        if (Math.abs(w - plot.width) > 2) plot.setSize({ width: w, height: height });
      });
      ro.observe(el);
    }
    el._plot = plot;
    return plot;
  }

  function initCharts(root) {
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el._plot || el.classList.contains("empty")) return;
      var src = document.getElementById(el.getAttribute("data-chart"));
      if (!src) return;
      try { chart(el, JSON.parse(src.textContent)); } catch (e) { el.textContent = "Chart failed: " + e.message; }
    });
  }

  function initSelectAll(root) {
    root.querySelectorAll("input.select-all").forEach(function (box) {
      if (box._bound) return;
      box._bound = true;
      box.addEventListener("change", function () {
        var table = box.closest("table");
        table.querySelectorAll("tbody input[type=checkbox]").forEach(function (c) { c.checked = box.checked; });
      });
    });
  }

  function initEditor(root) {
    var q = document.getElementById("q");
    if (!q || q._bound) return;
    q._bound = true;
    q.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        var f = q.form;
        if (f.requestSubmit) f.requestSubmit(); else f.submit();
      }
    });
  }

  // History entries fill the editor instead of navigating (the link still
  // works without JavaScript).
  document.addEventListener("click", function (e) {
    var a = e.target.closest && e.target.closest("a.history-item");
    if (!a) return;
    var q = document.getElementById("q");
    if (!q) return;
    e.preventDefault();
    q.value = a.getAttribute("data-query");
    var g = document.getElementById("group"), s = document.getElementById("since");
    if (g) g.value = a.getAttribute("data-group");
    if (s) s.value = a.getAttribute("data-since");
    q.focus();
  });

  // Forms that destroy something ask first.
  document.addEventListener("submit", function (e) {
    var f = e.target;
    if (f.getAttribute && f.getAttribute("data-confirm") && !window.confirm(f.getAttribute("data-confirm"))) e.preventDefault();
  }, true);

  function init(root) { initCharts(root); initSelectAll(root); initEditor(root); }
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSettle", function (e) { init(e.target || document); });
  window.FlowLens = { chart: chart, fmtValue: fmtValue };
})();
