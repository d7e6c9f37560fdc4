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

  function renderChart(box) {
    var block = document.getElementById(box.getAttribute("data-spec"));
    var payload = JSON.parse(block.textContent);
    var spec = payload.spec;
    spec.datasets = {};
    Object.keys(payload.datasets).forEach(function (name) {
      spec.datasets[name] = rows(payload.datasets[name]);
    });
    // Box zoom as in JupyterLab (nbtrackZoom: labextension/src/zoom.ts, inlined before this
    // script): drag across a chart to zoom x, double-click to reset, shift+drag to pan.
    var options = { actions: false, renderer: "svg" };
    if (window.nbtrackZoom) options.patch = window.nbtrackZoom.boxZoom;
    return window.vegaEmbed(box, spec, options).then(function (result) {
      box.nbtrackView = result.view; // for scripts and tests: the Vega view drawn here
      box.setAttribute("data-rendered", "true");
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
