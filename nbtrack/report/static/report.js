// nbtrack report: render the charts, sort the run table, filter the config diff.
// Data reaches the page only as JSON in <script type="application/json"> blocks and as text
// nodes; nothing here builds HTML from data (textContent only).
(function () {
  "use strict";

  // Undo specs.columnar(): {n, columns: [[name, packed column], ...]} -> records.
  function bytes(base64) {
    var text = atob(base64), out = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
    return new DataView(out.buffer);
  }

  function unpack(col, n) {
    var out = new Array(n), i, view;
    if (Array.isArray(col)) return col;
    if ("c" in col) { for (i = 0; i < n; i++) out[i] = col.c; return out; }
    if ("i32" in col) {
      view = bytes(col.i32);
      for (i = 0; i < n; i++) out[i] = view.getInt32(4 * i, true);
      return out;
    }
    if ("f32" in col) {
      view = bytes(col.f32);
      for (i = 0; i < n; i++) {
        var v = view.getFloat32(4 * i, true);
        out[i] = isFinite(v) ? parseFloat(v.toPrecision(7)) : null;
      }
      return out;
    }
    var codes = col.i;
    if (col.r) {
      codes = [];
      for (i = 0; i < col.r.length; i += 2) for (var k = 0; k < col.r[i + 1]; k++) codes.push(col.r[i]);
    }
    for (i = 0; i < n; i++) out[i] = codes[i] < 0 ? null : col.d[codes[i]];
    return out;
  }

  function rows(packed) {
    var out = [], r;
    for (r = 0; r < packed.n; r++) out.push({});
    packed.columns.forEach(function (pair) {
      var values = unpack(pair[1], packed.n);
      for (r = 0; r < packed.n; r++) out[r][pair[0]] = values[r];
    });
    return out;
  }

  // Smoothing and log y (nbtrackDrawing: labextension/src/drawing.ts, the live panel's, inlined
  // before this script): a metric chart is drawn again from the spec and rows it was built with.
  var drawing = { smoothing: 0, log: false };

  function drawn(box) {
    var base = box.nbtrackBase, tools = window.nbtrackDrawing;
    var spec = tools && base.drawable ? tools.drawSpec(base.spec, drawing) : JSON.parse(JSON.stringify(base.spec));
    spec.datasets = {};
    Object.keys(base.rows).forEach(function (name) {
      var list = base.rows[name];
      spec.datasets[name] = tools && base.drawable && drawing.smoothing
        ? tools.withSmoothed(list, drawing.smoothing, tools.xField(base.spec)) : list;
    });
    return spec;
  }

  function renderChart(box) {
    if (!box.nbtrackBase) {
      var payload = JSON.parse(document.getElementById(box.getAttribute("data-spec")).textContent);
      var base = { spec: payload.spec, rows: {}, drawable: false, label: box.getAttribute("aria-label") };
      Object.keys(payload.datasets).forEach(function (name) { base.rows[name] = rows(payload.datasets[name]); });
      base.drawable = !!window.nbtrackDrawing && window.nbtrackDrawing.drawable(base.spec);
      box.nbtrackBase = base;
      if (base.drawable) box.setAttribute("data-drawable", "true");
    }
    if (box.nbtrackView) box.nbtrackView.finalize();
    box.nbtrackView = null;
    var spec = drawn(box), embeds = box.nbtrackEmbeds = (box.nbtrackEmbeds || 0) + 1;
    // Box zoom as in JupyterLab (nbtrackZoom: labextension/src/zoom.ts, inlined before this
    // script): drag across a chart to zoom x, double-click to reset, shift+drag to pan.
    var options = { actions: false, renderer: "svg" };
    if (window.nbtrackZoom) options.patch = window.nbtrackZoom.boxZoom;
    return window.vegaEmbed(box, spec, options).then(function (result) {
      if (embeds !== box.nbtrackEmbeds) { result.finalize(); return; } // a newer drawing is on its way
      box.nbtrackView = result.view; // for scripts and tests: the Vega view drawn here
      // vega-embed labels its element "Vega visualization": the chart's own title again.
      if (box.nbtrackBase.label) box.setAttribute("aria-label", box.nbtrackBase.label);
      box.setAttribute("data-rendered", "true");
      box.setAttribute("data-drawing", drawing.smoothing + ":" + drawing.log);
    });
  }

  function renderCharts() {
    var boxes = Array.prototype.slice.call(document.querySelectorAll(".chart[data-spec]"));
    if (typeof window.vegaEmbed !== "function") {
      boxes.forEach(function (box) { box.textContent = "Vega failed to load: charts cannot be drawn."; });
      return;
    }
    var jobs = boxes.map(function (box) {
      return renderChart(box).catch(function (err) {
        var p = document.createElement("p");
        p.className = "chart-error";
        p.textContent = "This chart could not be drawn: " + err;
        box.textContent = "";
        box.appendChild(p);
        console.error(err);
      });
    });
    Promise.all(jobs).then(function () { document.body.setAttribute("data-charts", "done"); });
    drawingTools();
  }

  // The smoothing slider and the log y box (shown only where the charts can be redrawn).
  function drawingTools() {
    var tools = document.getElementById("chart-tools");
    var slider = document.getElementById("smoothing"), shown = document.getElementById("smoothing-value");
    var log = document.getElementById("log-y");
    if (!tools || !window.nbtrackDrawing || !document.querySelector(".chart[data-drawable]")) return;
    tools.hidden = false;
    function redraw() {
      drawing = { smoothing: parseFloat(slider.value) || 0, log: log.checked };
      shown.textContent = String(drawing.smoothing);
      document.querySelectorAll(".chart[data-drawable]").forEach(function (box) {
        renderChart(box).catch(function (err) { console.error(err); });
      });
    }
    slider.addEventListener("input", function () { shown.textContent = slider.value; });
    slider.addEventListener("change", redraw);
    log.addEventListener("change", redraw);
  }

  function sortValue(row, index) {
    var cell = row.cells[index];
    var v = cell ? cell.getAttribute("data-v") : null;
    return v !== null && v !== "" ? parseFloat(v) : (cell ? cell.textContent.trim() : "");
  }

  function compare(a, b) {
    var an = typeof a === "number", bn = typeof b === "number";
    if (an && bn) return a - b;
    if (an !== bn) return an ? -1 : 1; // numbers first, empty cells last
    if (a === "" || b === "") return a === "" ? (b === "" ? 0 : 1) : -1;
    return a.localeCompare(b, undefined, { numeric: true });
  }

  function makeSortable(table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, index) {
      var button = th.querySelector("button");
      if (!button) return;
      button.addEventListener("click", function () {
        var dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", dir);
        var body = table.tBodies[0];
        var list = Array.prototype.slice.call(body.rows);
        list.sort(function (x, y) {
          var c = compare(sortValue(x, index), sortValue(y, index));
          return dir === "ascending" ? c : -c;
        });
        list.forEach(function (row) { body.appendChild(row); });
      });
    });
  }

  function diffToggle() {
    var box = document.getElementById("only-differing");
    var table = document.getElementById("config-diff");
    if (!box || !table) return;
    box.addEventListener("change", function () { table.classList.toggle("only-differing", box.checked); });
  }

  document.querySelectorAll("table.sortable").forEach(makeSortable);
  diffToggle();
  renderCharts();
})();
