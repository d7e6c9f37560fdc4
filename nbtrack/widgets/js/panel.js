// nbtrack live panel: an anywidget ES module (no imports, no CDN).
//
// Python (nbtrack/widgets/panel.py) keeps the run's status in synced traits and puts,
// per metric, the Vega-Lite spec built by nbtrack.charts (with its data left out) in
// the `charts` trait. New points arrive in "update" messages and are streamed into the
// charts with Vega's changeset API, never by re-rendering. Vega itself arrives once per
// panel as a gzipped ES module in a "library" message; the page imports it once and
// every panel shares it. Logged media arrive in "media" messages (image bytes as
// buffers, shown through blob URLs; histogram specs; latest text and table per key).
// Text from the run is always set with textContent.

// LIBRARIES, deferred() and importLibrary() come from library.js, prepended by _bundle.py;
// so does nbtrackKit (static/kit.js): the sidebar's typed formatting and DOM helpers
// (labextension/src/widgetkit.ts), the one way numbers and durations are written.
const { el: element, formatDuration, formatValue } = nbtrackKit;
const STORES = new Map(); // panel id -> points received so far, shared by its views

function storeFor(model) {
  const id = model.get("panel_id");
  let store = STORES.get(id);
  if (!store) {
    store = { series: new Map(), listeners: new Set(), library: deferred(), updates: 0,
      media: new Map(), mediaListeners: new Set(), hiddenMedia: 0 };
    const known = LIBRARIES.get(model.get("library"));
    if (known) known.then(store.library.resolve, store.library.reject);
    STORES.set(id, store);
  }
  return store;
}

function rowsOf(part, run) {
  const rows = [];
  const { n, step, value, min, max } = part;
  for (let i = 0; i < step.length; i++) {
    rows.push({
      run,
      step: step[i],
      value: value[i],
      min: min ? min[i] : value[i],
      max: max ? max[i] : value[i],
      n,
    });
  }
  return rows;
}

function pick(a, b, choose) {
  if (a === null) return b;
  if (b === null) return a;
  return choose(a, b);
}

// The same pairwise merge as Series._double in nbtrack/widgets/_stream.py.
function mergePairs(rows) {
  const merged = [];
  const pairs = rows.length - (rows.length % 2);
  for (let i = 0; i < pairs; i += 2) {
    const a = rows[i];
    const b = rows[i + 1];
    merged.push({
      run: a.run,
      step: a.step,
      value: pick(a.value, b.value, (x, y) => (x * a.n + y * b.n) / (a.n + b.n)),
      min: pick(a.min, b.min, Math.min),
      max: pick(a.max, b.max, Math.max),
      n: a.n + b.n,
    });
  }
  if (pairs < rows.length) merged.push(rows[pairs]);
  return merged;
}

function applyUpdate(model, store, msg) {
  store.updates += 1;
  const run = model.get("run_name");
  for (const [key, part] of Object.entries(msg.series ?? {})) {
    let series = store.series.get(key);
    if (!series) {
      series = { rows: [], tail: null };
      store.series.set(key, series);
    }
    let merged = false;
    let fresh = [];
    for (const [kind, body] of part.ops) {
      if (kind === "merge") {
        series.rows = mergePairs(series.rows);
        merged = true;
        fresh = [];
      } else {
        const rows = rowsOf(body, run);
        for (const row of rows) series.rows.push(row);
        fresh = fresh.concat(rows);
      }
    }
    const t = part.tail;
    series.tail = t ? { run, step: t[0], value: t[1], min: t[2], max: t[3], n: 0 } : null;
    // After a merge every view redraws its copy from the store (no data travels for it).
    for (const listener of store.listeners) {
      listener(key, merged, merged ? series.rows : fresh, series.tail);
    }
  }
}

// media: "kind:key" -> { kind, key, ...part }; images keep blob URLs of their bytes.
function applyMedia(store, msg, buffers) {
  const changed = [];
  const put = (kind, key, part) => {
    const id = `${kind}:${key}`;
    const old = store.media.get(id);
    if (old && old.urls) for (const url of old.urls) URL.revokeObjectURL(url);
    store.media.set(id, { kind, key, ...part });
    changed.push(id);
  };
  for (const [key, part] of Object.entries(msg.images ?? {})) {
    const urls = part.items.map((item) =>
      URL.createObjectURL(new Blob([buffers[item.buffer]], { type: item.mime })));
    put("image", key, { ...part, urls });
  }
  for (const [key, spec] of Object.entries(msg.histograms ?? {})) put("histogram", key, { spec });
  for (const [key, part] of Object.entries(msg.texts ?? {})) put("text", key, part);
  for (const [key, part] of Object.entries(msg.tables ?? {})) put("table", key, part);
  store.hiddenMedia = msg.hidden || 0;
  for (const listener of store.mediaListeners) listener(changed);
}

function initialize({ model }) {
  const store = storeFor(model);
  const onMessage = (msg, buffers) => {
    if (msg.type === "library") {
      importLibrary(msg.digest, buffers[0]).then(store.library.resolve, store.library.reject);
    } else if (msg.type === "update") {
      applyUpdate(model, store, msg);
    } else if (msg.type === "media") {
      applyMedia(store, msg, buffers);
    }
  };
  model.on("msg:custom", onMessage);
  return () => {
    model.off("msg:custom", onMessage);
    for (const entry of store.media.values()) for (const url of entry.urls ?? []) URL.revokeObjectURL(url);
    STORES.delete(model.get("panel_id"));
  };
}

// -- a view -------------------------------------------------------------------------
async function render({ model, el }) {
  const store = storeFor(model);
  const root = element("div", "nbtrack-panel");
  const head = element("div", "nbtrack-head");
  const name = element("span", "nbtrack-name");
  const status = element("span", "nbtrack-status");
  const step = element("span", "nbtrack-step");
  const elapsed = element("span", "nbtrack-elapsed");
  head.append(name, status, step, elapsed);
  const error = element("pre", "nbtrack-error");
  const last = element("div", "nbtrack-last");
  const loading = element("div", "nbtrack-loading", "loading charts…");
  const chartsBox = element("div", "nbtrack-charts");
  const more = element("div", "nbtrack-more");
  const system = element("div", "nbtrack-system");
  const gaugesBox = element("div", "nbtrack-gauges");
  const note = element("div", "nbtrack-note");
  system.append(gaugesBox, note);
  const mediaBox = element("div", "nbtrack-media");
  const mediaMore = element("div", "nbtrack-more");
  root.append(head, error, last, loading, chartsBox, more, mediaBox, mediaMore, system);
  el.appendChild(root);

  const charts = new Map(); // key -> { box, view, tail, count }
  let library = null;
  let gauges = null;
  let closed = false;

  function updateMeta() {
    const state = model.get("status");
    root.dataset.status = state;
    name.textContent = model.get("run_name");
    status.textContent = state;
    status.className = `nbtrack-status nbtrack-status-${state}`;
    step.textContent = `step ${model.get("step").toLocaleString("en-US")}`;
    elapsed.textContent = formatDuration(model.get("elapsed"));
    const message = model.get("error");
    error.textContent = message ? `run ${state}: ${message}` : "";
    error.hidden = !message;
    last.replaceChildren();
    for (const [key, value] of Object.entries(model.get("last_values"))) {
      const chip = element("span", "nbtrack-chip");
      chip.append(element("span", "nbtrack-key", key), element("span", "nbtrack-value", formatValue(value)));
      last.append(chip);
    }
    const hidden = model.get("hidden_metrics");
    more.textContent = hidden ? `${hidden} more metric(s) not charted live; see nbtrack.history()` : "";
    note.textContent = model.get("system_note");
  }

  function applyRows(chart, rows, reset, tail) {
    const changes = chart.view.changeset();
    if (reset) changes.remove(() => true);
    else if (chart.tail) changes.remove(chart.tail);
    const fresh = rows.map((row) => ({ ...row }));
    chart.tail = tail ? { ...tail } : null;
    if (chart.tail) fresh.push(chart.tail);
    changes.insert(fresh);
    chart.count = (reset ? 0 : chart.count) + rows.length;
    chart.view.change("points", changes).run();
    chart.box.dataset.points = String(chart.count + (chart.tail ? 1 : 0));
  }

  function onPoints(key, reset, rows, tail) {
    root.dataset.updates = String(store.updates);
    const chart = charts.get(key);
    if (chart && chart.view) applyRows(chart, rows, reset, tail);
  }

  function syncCharts() {
    const specs = model.get("charts");
    for (const key of Object.keys(specs).sort()) {
      if (charts.has(key)) continue;
      const box = element("div", "nbtrack-chart");
      box.dataset.key = key;
      box.dataset.points = "0";
      chartsBox.append(box);
      const chart = { box, view: null, tail: null, count: 0 };
      charts.set(key, chart);
      library.vegaEmbed(box, specs[key], { actions: false, renderer: "canvas", mode: "vega-lite" })
        .then((result) => {
          if (closed) return result.finalize();
          chart.view = result.view;
          const series = store.series.get(key);
          if (series) applyRows(chart, series.rows, true, series.tail);
        })
        .catch((err) => {
          box.textContent = `could not draw ${key}: ${err}`;
        });
    }
  }

  function syncGauges() {
    const spec = model.get("gauges_spec");
    const rows = model.get("gauges").map((row) => ({ ...row }));
    if (!rows.length || !Object.keys(spec).length) return;
    if (!gauges) {
      gauges = library.vegaEmbed(gaugesBox, spec, { actions: false, renderer: "svg", mode: "vega-lite" });
    }
    gauges.then((result) => {
      if (closed) return;
      result.view.change("gauges", result.view.changeset().remove(() => true).insert(rows)).run();
      gaugesBox.dataset.gauges = String(rows.length);
    });
  }

  const sections = new Map(); // "kind:key" -> { box, view }

  function drawImages(body, entry) {
    entry.items.forEach((item, i) => {
      const figure = element("figure", "nbtrack-figure");
      const img = element("img");
      img.src = entry.urls[i];
      img.alt = item.caption ?? `${entry.key} #${item.idx}`;
      figure.append(img, element("figcaption", "", item.caption ?? `#${item.idx}`));
      body.append(figure);
    });
  }

  function drawTable(body, entry) {
    const table = element("table", "nbtrack-table");
    const headRow = element("tr");
    for (const column of entry.columns) headRow.append(element("th", "", column));
    const thead = element("thead");
    thead.append(headRow);
    const tbody = element("tbody");
    for (const row of entry.rows) {
      const tr = element("tr");
      for (const value of row) tr.append(element("td", "", formatValue(value)));
      tbody.append(tr);
    }
    table.append(thead, tbody);
    body.append(table);
    const left = entry.total - entry.rows.length;
    if (left > 0) body.append(element("div", "nbtrack-more", `${left.toLocaleString("en-US")} more rows`));
  }

  function drawMedia(id) {
    const entry = store.media.get(id);
    let section = sections.get(id);
    if (!section) {
      section = { box: element("div", `nbtrack-media-item nbtrack-media-${entry.kind}`), view: null };
      section.box.dataset.key = entry.key;
      sections.set(id, section);
      mediaBox.append(section.box);
    }
    const box = section.box;
    if (entry.kind === "histogram") {
      if (!library) return; // drawn once the chart library is in
      if (section.view) section.view.finalize();
      section.view = null;
      const target = element("div");
      box.replaceChildren(target);
      library.vegaEmbed(target, entry.spec, { actions: false, renderer: "canvas", mode: "vega-lite" })
        .then((result) => {
          if (closed || !target.isConnected) return result.finalize();
          section.view = result.view;
          box.dataset.drawn = String(Number(box.dataset.drawn || 0) + 1);
        })
        .catch((err) => {
          box.textContent = `could not draw ${entry.key}: ${err}`;
        });
      return;
    }
    const title = element("div", "nbtrack-media-title", `${entry.key} · step ${entry.step.toLocaleString("en-US")}`);
    const body = element("div", "nbtrack-media-body");
    box.dataset.step = String(entry.step);
    if (entry.kind === "image") drawImages(body, entry);
    else if (entry.kind === "table") drawTable(body, entry);
    else {
      const more = entry.chars > entry.text.length ? `\n… (${entry.chars.toLocaleString("en-US")} characters)` : "";
      body.append(element("pre", "nbtrack-text", entry.text + more));
    }
    box.replaceChildren(title, body);
  }

  function onMedia(changed) {
    for (const id of changed) drawMedia(id);
    mediaMore.textContent = store.hiddenMedia
      ? `${store.hiddenMedia} more media key(s) not shown live; see nbtrack.media()` : "";
  }

  store.mediaListeners.add(onMedia);
  onMedia([...store.media.keys()]);
  store.listeners.add(onPoints);
  model.on("change:status change:step change:elapsed change:last_values change:error", updateMeta);
  model.on("change:hidden_metrics change:system_note change:run_name", updateMeta);
  updateMeta();
  try {
    library = await store.library.promise;
  } catch (err) {
    loading.textContent = `could not load the chart library: ${err}`;
    return () => {
      store.listeners.delete(onPoints);
      store.mediaListeners.delete(onMedia);
    };
  }
  loading.remove();
  for (const [id, entry] of store.media) if (entry.kind === "histogram") drawMedia(id);
  model.on("change:charts", syncCharts);
  model.on("change:gauges change:gauges_spec", syncGauges);
  syncCharts();
  syncGauges();
  return () => {
    closed = true;
    store.listeners.delete(onPoints);
    store.mediaListeners.delete(onMedia);
    for (const section of sections.values()) if (section.view) section.view.finalize();
    for (const chart of charts.values()) if (chart.view) chart.view.finalize();
    if (gauges) gauges.then((result) => result.finalize());
  };
}

export default { initialize, render };
