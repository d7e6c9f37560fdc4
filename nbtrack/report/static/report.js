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

  // What the metric charts are drawn against, smoothing and log y: the controls of every view
  // (nbtrackDrawing.chartTools: labextension/src/charttools.ts) and the live panel's drawing
  // (drawing.ts, reportpage.ts), inlined before this script. A metric chart is drawn again
  // from the spec and rows it was built with (against the step; rows carry their times).
  var drawing = { smoothing: 0, log: false, x: "" };
  var along = {}; // metric -> its points, where no chart of it holds them (#chart-along)

  function base(box) {
    if (box.nbtrackBase) return box.nbtrackBase;
    var payload = JSON.parse(document.getElementById(box.getAttribute("data-spec")).textContent);
    var tools = window.nbtrackDrawing, all = [];
    var b = { spec: payload.spec, rows: {}, drawable: false, movable: false, timed: false, x: "step",
              label: box.getAttribute("aria-label") };
    Object.keys(payload.datasets).forEach(function (name) {
      b.rows[name] = rows(payload.datasets[name]);
      all = all.concat(b.rows[name]);
    });
    b.drawable = !!tools && tools.drawable(b.spec);
    if (b.drawable) {
      b.x = tools.xField(b.spec);
      // A metric chart drawn along the step (not a define_metric step metric) moves along x.
      b.movable = box.hasAttribute("data-metric") && b.x === "step";
      b.timed = tools.timed(all);
      box.setAttribute("data-drawable", "true");
    }
    b.points = all.filter(function (row) { return !row.crosshair; });
    box.nbtrackBase = b;
    return b;
  }

  // The x this chart is drawn along: the choice where it can follow it, else its own.
  function xOf(b) {
    if (!b.movable || !drawing.x || drawing.x === "step") return "";
    if ((drawing.x === "relative" || drawing.x === "wall") && !b.timed) return "";
    return drawing.x;
  }

  // A metric's points, from its chart or the embedded ones.
  function pointsOf(key) {
    if (along[key]) return along[key];
    var boxes = document.querySelectorAll(".chart[data-metric]");
    for (var i = 0; i < boxes.length; i++) {
      if (boxes[i].getAttribute("data-metric") === key) return base(boxes[i]).points;
    }
    return [];
  }

  function drawn(box) {
    var b = base(box), tools = window.nbtrackDrawing;
    if (!b.drawable) {
      var plain = JSON.parse(JSON.stringify(b.spec));
      plain.datasets = b.rows;
      return plain;
    }
    var x = xOf(b), choice = { smoothing: drawing.smoothing, log: drawing.log, x: x || "step" };
    var metric = tools.alongMetric(choice), spec = tools.drawSpec(b.spec, choice);
    spec.datasets = {};
    Object.keys(b.rows).forEach(function (name) {
      spec.datasets[name] = tools.redrawn(b.rows[name], choice, metric ? pointsOf(metric) : [], b.x);
    });
    return spec;
  }

  function renderChart(box) {
    var b = base(box);
    if (box.nbtrackView) box.nbtrackView.finalize();
    box.nbtrackView = null;
    var spec = drawn(box), embeds = box.nbtrackEmbeds = (box.nbtrackEmbeds || 0) + 1;
    var x = b.drawable ? xOf(b) || b.x : "";
    // Box zoom as in JupyterLab (nbtrackZoom: labextension/src/zoom.ts, inlined before this
    // script): drag across a chart to zoom x, double-click to reset, shift+drag to pan.
    var options = { actions: false, renderer: "svg" };
    if (window.nbtrackZoom) options.patch = window.nbtrackZoom.boxZoom;
    return window.vegaEmbed(box, spec, options).then(function (result) {
      if (embeds !== box.nbtrackEmbeds) { result.finalize(); return; } // a newer drawing is on its way
      box.nbtrackView = result.view; // for scripts and tests: the Vega view drawn here
      // vega-embed labels its element "Vega visualization": the chart's own title again.
      if (b.label) box.setAttribute("aria-label", b.label);
      box.setAttribute("data-rendered", "true");
      box.setAttribute("data-drawing", drawing.smoothing + ":" + drawing.log);
      if (x) box.setAttribute("data-x", x);
    });
  }

  function renderCharts() {
    var boxes = Array.prototype.slice.call(document.querySelectorAll(".chart[data-spec]"));
    if (typeof window.vegaEmbed !== "function") {
      boxes.forEach(function (box) { box.textContent = "Vega failed to load: charts cannot be drawn."; });
      return;
    }
    var broken = boxes.map(function (box) {
      try { base(box); return null; } catch (err) { return err; }
    });
    drawingTools(); // before the first drawing: it sets the x the report was exported with
    var jobs = boxes.map(function (box, i) {
      return (broken[i] ? Promise.reject(broken[i]) : renderChart(box)).catch(function (err) {
        var p = document.createElement("p");
        p.className = "chart-error";
        p.textContent = "This chart could not be drawn: " + err;
        box.textContent = "";
        box.appendChild(p);
        console.error(err);
      });
    });
    Promise.all(jobs).then(function () { document.body.setAttribute("data-charts", "done"); });
  }

  // The controls (shown only where the charts can be redrawn), one row above the charts.
  function drawingTools() {
    var holder = document.getElementById("chart-tools"), tools = window.nbtrackDrawing;
    if (!holder || !tools || !tools.chartTools || !document.querySelector(".chart[data-drawable]")) return;
    var embedded = document.getElementById("chart-along");
    Object.entries(embedded ? JSON.parse(embedded.textContent) : {}).forEach(function (pair) {
      along[pair[0]] = rows(pair[1]);
    });
    var chooser = tools.chartTools("nbtrack-report", tools.X_CHOICES, redraw);
    var metrics = Array.prototype.map.call(document.querySelectorAll(".chart[data-metric]"), function (box) {
      return box.getAttribute("data-metric");
    });
    chooser.offerMetrics(metrics.concat(Object.keys(along).filter(function (key) {
      return metrics.indexOf(key) < 0;
    })));
    chooser.show({ x: holder.getAttribute("data-x") || "" });
    drawing = chooser.choice();
    holder.appendChild(chooser.node);
    holder.hidden = false;
    function redraw() {
      drawing = chooser.choice();
      document.querySelectorAll(".chart[data-drawable]").forEach(function (box) {
        renderChart(box).catch(function (err) { console.error(err); });
      });
    }
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
