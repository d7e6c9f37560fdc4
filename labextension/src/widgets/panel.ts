// nbtrack live panel: an anywidget ES module (bundled by esbuild into
// nbtrack/widgets/static/panel.js; no CDN).
//
// Python (nbtrack/widgets/panel.py) keeps the run's status in synced traits and puts,
// per metric, the Vega-Lite spec built by nbtrack.charts (with its data left out) in
// the `charts` trait. New points arrive in "update" messages and are streamed into the
// charts with Vega's changeset API, never by re-rendering. Vega itself arrives once per
// panel as a gzipped ES module in a "library" message; the page imports it once and
// every panel shares it. Logged media arrive in "media" messages (image bytes as
// buffers, shown through blob URLs; histogram specs; latest text and table per key).
// Text from the run is always set with textContent.
import type { View } from 'vega';
import type { Result, VisualizationSpec } from 'vega-embed';
import { chartTools } from '../charttools';
import { el as element } from '../dom';
import { alongMetric, drawSpec, PLAIN, withSmoothed, withX, type Drawing } from '../drawing';
import { formatDuration, formatValue, type Value } from '../format';
import { isDarkTheme, onThemeChange, themeSpec, tooltipOptions, vegaConfig } from '../theme';
import { PointerRest } from '../hover';
import { boxZoom } from '../zoom';
import type { ChartLibrary, Deferred, Init, KernelMessage, Model, Render } from './anywidget';
import { mergePairs, rowsOf, type Part, type Row } from './points';

/** The panel's synced traits (nbtrack/widgets/panel.py). */
interface PanelState {
  panel_id: string;
  library: string;
  run_name: string;
  status: string;
  step: number;
  elapsed: number;
  error: string;
  last_values: Record<string, Value>;
  hidden_metrics: number;
  system_note: string;
  charts: Record<string, VisualizationSpec>;
  gauges_spec: Record<string, unknown>;
  gauges: Record<string, unknown>[];
}

type PanelModel = Model<PanelState>;
type PointsListener = (key: string, reset: boolean, rows: Row[], tail: Row | null) => void;

interface Series {
  rows: Row[];
  tail: Row | null;
}

interface ImageItem {
  buffer: number;
  mime: string;
  caption?: string | null;
  idx: number;
}

/** One media key as the panel shows it: "kind:key" -> its latest content. */
interface MediaEntry {
  kind: 'image' | 'histogram' | 'text' | 'table';
  key: string;
  step: number;
  urls?: string[];
  items?: ImageItem[];
  spec?: VisualizationSpec;
  text?: string;
  chars?: number;
  columns?: string[];
  rows?: Value[][];
  total?: number;
}

/** Points received so far for one panel, shared by its views (one per output). */
interface PanelStore {
  series: Map<string, Series>;
  listeners: Set<PointsListener>;
  library: Deferred<ChartLibrary>;
  updates: number;
  media: Map<string, MediaEntry>;
  mediaListeners: Set<(changed: string[]) => void>;
  hiddenMedia: number;
}

interface SeriesUpdate {
  ops: [string, Part][];
  tail: [number, number | null, number | null, number | null, (number | null)?] | null;
}

const STORES = new Map<string, PanelStore>(); // panel id -> its store

function storeFor(model: PanelModel): PanelStore {
  const id = model.get('panel_id');
  let store = STORES.get(id);
  if (!store) {
    store = {
      series: new Map(),
      listeners: new Set(),
      library: deferred<ChartLibrary>(),
      updates: 0,
      media: new Map(),
      mediaListeners: new Set(),
      hiddenMedia: 0
    };
    const known = LIBRARIES.get(model.get('library'));
    if (known) {
      known.then(store.library.resolve, store.library.reject);
    }
    STORES.set(id, store);
  }
  return store;
}

function applyUpdate(model: PanelModel, store: PanelStore, msg: KernelMessage): void {
  store.updates += 1;
  const run = model.get('run_name');
  const updates = (msg.series ?? {}) as Record<string, SeriesUpdate>;
  for (const [key, part] of Object.entries(updates)) {
    let series = store.series.get(key);
    if (!series) {
      series = { rows: [], tail: null };
      store.series.set(key, series);
    }
    let merged = false;
    let fresh: Row[] = [];
    for (const [kind, body] of part.ops) {
      if (kind === 'merge') {
        series.rows = mergePairs(series.rows);
        merged = true;
        fresh = [];
      } else {
        const rows = rowsOf(body, run);
        series.rows.push(...rows);
        fresh = fresh.concat(rows);
      }
    }
    const t = part.tail;
    series.tail = t
      ? { run, step: t[0], value: t[1], min: t[2], max: t[3], n: 0, relative: t[4] ?? null }
      : null;
    // After a merge every view redraws its copy from the store (no data travels for it).
    for (const listener of store.listeners) {
      listener(key, merged, merged ? series.rows : fresh, series.tail);
    }
  }
}

// Images keep blob URLs of their bytes (revoked when replaced).
function applyMedia(store: PanelStore, msg: KernelMessage, buffers: DataView[]): void {
  const changed: string[] = [];
  const put = (kind: MediaEntry['kind'], key: string, part: Omit<MediaEntry, 'kind' | 'key'>): void => {
    const id = `${kind}:${key}`;
    for (const url of store.media.get(id)?.urls ?? []) {
      URL.revokeObjectURL(url);
    }
    store.media.set(id, { kind, key, ...part });
    changed.push(id);
  };
  type Parts = Record<string, Omit<MediaEntry, 'kind' | 'key'>>;
  for (const [key, part] of Object.entries((msg.images ?? {}) as Parts)) {
    const urls = (part.items ?? []).map(item =>
      URL.createObjectURL(new Blob([buffers[item.buffer]], { type: item.mime }))
    );
    put('image', key, { ...part, urls });
  }
  for (const [key, spec] of Object.entries((msg.histograms ?? {}) as Record<string, VisualizationSpec>)) {
    put('histogram', key, { spec, step: 0 });
  }
  for (const [key, part] of Object.entries((msg.texts ?? {}) as Parts)) {
    put('text', key, part);
  }
  for (const [key, part] of Object.entries((msg.tables ?? {}) as Parts)) {
    put('table', key, part);
  }
  store.hiddenMedia = Number(msg.hidden ?? 0);
  for (const listener of store.mediaListeners) {
    listener(changed);
  }
}

function initialize({ model }: Init<PanelState>): () => void {
  const store = storeFor(model);
  const onMessage = (msg: KernelMessage, buffers: DataView[]): void => {
    if (msg.type === 'library') {
      importLibrary(String(msg.digest), buffers[0]).then(store.library.resolve, store.library.reject);
    } else if (msg.type === 'update') {
      applyUpdate(model, store, msg);
    } else if (msg.type === 'media') {
      applyMedia(store, msg, buffers);
    }
  };
  model.on('msg:custom', onMessage);
  return () => {
    model.off('msg:custom', onMessage);
    for (const entry of store.media.values()) {
      for (const url of entry.urls ?? []) {
        URL.revokeObjectURL(url);
      }
    }
    STORES.delete(model.get('panel_id'));
  };
}

interface Chart {
  box: HTMLDivElement;
  view: View | null;
  tail: Row | null;
  count: number;
  /** Bumped by each embed: an older embed that resolves late is dropped. */
  embeds: number;
  /** Where the pointer rests on the chart: new points keep its crosshair under the pointer. */
  rest: PointerRest;
}

interface Section {
  box: HTMLDivElement;
  view: View | null;
  /** A histogram over time is drawn again as steps come: its tooltip stays under the pointer. */
  rest: PointerRest;
}

const LOCALE = 'en-US';

// -- a view -------------------------------------------------------------------------
async function render({ model, el }: Render<PanelState>): Promise<() => void> {
  const store = storeFor(model);
  const root = element('div', 'nbtrack-panel');
  const head = element('div', 'nbtrack-head');
  const name = element('span', 'nbtrack-name');
  const status = element('span', 'nbtrack-status');
  const step = element('span', 'nbtrack-step');
  const elapsed = element('span', 'nbtrack-elapsed');
  head.append(name, status, step, elapsed);
  const error = element('pre', 'nbtrack-error');
  const last = element('div', 'nbtrack-last');
  const loading = element('div', 'nbtrack-loading', 'loading charts…');
  const chartsBox = element('div', 'nbtrack-charts');
  // How the charts are drawn (TensorBoard's smoothing, a log y axis): redrawn here, in the
  // browser, as nbtrack.charts.metric_chart draws them (src/drawing.ts).
  const tools = element('div', 'nbtrack-tools');
  const chooser = chartTools(
    'nbtrack',
    [
      ['step', 'x: step'],
      ['relative', 'x: relative time']
    ],
    () => redraw()
  );
  tools.append(chooser.node);
  tools.hidden = true; // until a chart is shown
  const more = element('div', 'nbtrack-more');
  const system = element('div', 'nbtrack-system');
  const gaugesBox = element('div', 'nbtrack-gauges');
  const note = element('div', 'nbtrack-note');
  system.append(gaugesBox, note);
  const mediaBox = element('div', 'nbtrack-media');
  const mediaMore = element('div', 'nbtrack-more');
  root.append(head, error, last, loading, tools, chartsBox, more, mediaBox, mediaMore, system);
  el.appendChild(root);

  const charts = new Map<string, Chart>();
  let drawing: Drawing = PLAIN;
  let library: ChartLibrary | null = null;
  let gauges: Promise<Result> | null = null;
  let closed = false;

  function updateMeta(): void {
    const state = model.get('status');
    root.dataset.status = state;
    name.textContent = model.get('run_name');
    status.textContent = state;
    status.className = `nbtrack-status nbtrack-status-${state}`;
    step.textContent = `step ${model.get('step').toLocaleString(LOCALE)}`;
    elapsed.textContent = formatDuration(model.get('elapsed'));
    const message = model.get('error');
    error.textContent = message ? `run ${state}: ${message}` : '';
    error.hidden = !message;
    last.replaceChildren();
    for (const [key, value] of Object.entries(model.get('last_values'))) {
      const chip = element('span', 'nbtrack-chip');
      chip.append(element('span', 'nbtrack-key', key), element('span', 'nbtrack-value', formatValue(value)));
      last.append(chip);
    }
    const hidden = model.get('hidden_metrics');
    more.textContent = hidden ? `${hidden} more metric(s) not charted live; see nbtrack.history()` : '';
    note.textContent = model.get('system_note');
  }

  function applyRows(chart: Chart, view: View, rows: Row[], reset: boolean, tail: Row | null): void {
    if ((drawing.smoothing || alongMetric(drawing)) && !reset) {
      // A smoothed point depends on every point before it, a point along another metric on
      // that metric's: the whole series again (at most the panel's max_points buckets,
      // 2,000 by default, merged in the kernel).
      const series = store.series.get(chart.box.dataset.key ?? '');
      if (series) {
        applyRows(chart, view, series.rows, true, series.tail);
        return;
      }
    }
    const changes = view.changeset();
    if (reset) {
      changes.remove(() => true);
    } else if (chart.tail) {
      changes.remove(chart.tail);
    }
    let fresh: Row[] = rows.map(row => ({ ...row }));
    chart.tail = tail ? { ...tail } : null;
    if (chart.tail) {
      fresh.push(chart.tail);
    }
    const metric = alongMetric(drawing);
    if (metric) {
      // Each point at the value the metric had at its step (metric_chart's x = a metric).
      const along = store.series.get(metric);
      fresh = withX(fresh, along ? [...along.rows, ...(along.tail ? [along.tail] : [])] : []);
      chart.tail = null;
    }
    if (drawing.smoothing) {
      fresh = withSmoothed(fresh, drawing.smoothing);
      chart.tail = chart.tail ? fresh[fresh.length - 1] : null;
    }
    changes.insert(fresh);
    chart.count = (reset ? 0 : chart.count) + rows.length;
    void view
      .change('points', changes)
      .runAsync()
      .then(() => chart.rest.replay());
    chart.box.dataset.points = String(chart.count + (chart.tail ? 1 : 0));
  }

  function onPoints(key: string, reset: boolean, rows: Row[], tail: Row | null): void {
    root.dataset.updates = String(store.updates);
    // Along a metric, its new points place every chart's.
    const moved = key === alongMetric(drawing) ? [...charts.keys()] : [key];
    for (const name of moved) {
      const chart = charts.get(name);
      if (chart?.view) {
        applyRows(chart, chart.view, rows, reset && name === key, tail);
      }
    }
  }

  function syncCharts(): void {
    if (!library) {
      return;
    }
    const specs = model.get('charts');
    for (const key of Object.keys(specs).sort()) {
      if (charts.has(key)) {
        continue;
      }
      const box = element('div', 'nbtrack-chart');
      box.dataset.key = key;
      box.dataset.points = '0';
      chartsBox.append(box);
      const chart: Chart = { box, view: null, tail: null, count: 0, embeds: 0, rest: new PointerRest(box) };
      charts.set(key, chart);
      embed(key, chart, specs[key]);
    }
    tools.hidden = charts.size === 0;
    chooser.offerMetrics(Object.keys(specs).sort()); // x = any metric charted here
  }

  /** Draw `key`'s chart in its box as `drawing` says, with every point received so far. */
  function embed(key: string, chart: Chart, spec: VisualizationSpec): void {
    if (!library) {
      return;
    }
    const embeds = ++chart.embeds;
    chart.view?.finalize();
    chart.view = null;
    chart.box.dataset.drawing = `${drawing.smoothing}:${drawing.log}:${drawing.x ?? 'step'}`;
    const target = element('div');
    chart.box.replaceChildren(target);
    library
      .vegaEmbed(target, drawSpec(spec, drawing), {
        actions: false,
        renderer: 'canvas',
        mode: 'vega-lite',
        patch: boxZoom,
        config: vegaConfig(isDarkTheme()), // the page's theme, as the sidebar's charts
        tooltip: tooltipOptions(isDarkTheme())
      })
      .then(result => {
        if (closed || embeds !== chart.embeds) {
          result.finalize();
          return;
        }
        chart.view = result.view;
        // For scripts and tests, as the report's charts: the Vega view drawn here.
        (chart.box as HTMLDivElement & { nbtrackView?: View }).nbtrackView = result.view;
        const series = store.series.get(key);
        if (series) {
          applyRows(chart, result.view, series.rows, true, series.tail);
        }
      })
      .catch((err: unknown) => {
        if (embeds === chart.embeds) {
          chart.box.textContent = `could not draw ${key}: ${String(err)}`;
        }
      });
  }

  function redraw(): void {
    const { x, smoothing, log } = chooser.choice();
    drawing = { smoothing, log, x: x || 'step' };
    const specs = model.get('charts');
    for (const [key, chart] of charts) {
      if (specs[key]) {
        embed(key, chart, specs[key]);
      }
    }
  }
  // JupyterLab's theme switched: every chart and the gauges drawn again in its colours.
  const stopTheme = onThemeChange(() => {
    redraw();
    for (const [id, section] of sections) {
      if (section.view) {
        drawMedia(id); // a histogram over time, in the new theme's colours
      }
    }
    const old = gauges;
    gauges = null;
    void old?.then(result => result.finalize());
    syncGauges();
  });

  function syncGauges(): void {
    const spec = model.get('gauges_spec');
    const rows = model.get('gauges').map(row => ({ ...row }));
    if (!library || !rows.length || !Object.keys(spec).length) {
      return;
    }
    if (!gauges) {
      const target = element('div');
      gaugesBox.replaceChildren(target);
      gauges = library.vegaEmbed(target, themeSpec(spec, isDarkTheme()) as VisualizationSpec, {
        actions: false,
        renderer: 'svg',
        mode: 'vega-lite',
        config: vegaConfig(isDarkTheme()),
        tooltip: tooltipOptions(isDarkTheme())
      });
    }
    void gauges.then(result => {
      if (closed) {
        return;
      }
      void result.view
        .change(
          'gauges',
          result.view
            .changeset()
            .remove(() => true)
            .insert(rows)
        )
        .run();
      gaugesBox.dataset.gauges = String(rows.length);
    });
  }

  const sections = new Map<string, Section>();

  function drawImages(body: HTMLElement, entry: MediaEntry): void {
    (entry.items ?? []).forEach((item, i) => {
      const figure = element('figure', 'nbtrack-figure');
      const img = element('img');
      img.src = entry.urls?.[i] ?? '';
      img.alt = item.caption ?? `${entry.key} #${item.idx}`;
      figure.append(img, element('figcaption', '', item.caption ?? `#${item.idx}`));
      body.append(figure);
    });
  }

  function drawTable(body: HTMLElement, entry: MediaEntry): void {
    const table = element('table', 'nbtrack-table');
    const headRow = element('tr');
    for (const column of entry.columns ?? []) {
      headRow.append(element('th', '', column));
    }
    const thead = element('thead');
    thead.append(headRow);
    const tbody = element('tbody');
    const rows = entry.rows ?? [];
    for (const row of rows) {
      const tr = element('tr');
      for (const value of row) {
        tr.append(element('td', '', formatValue(value)));
      }
      tbody.append(tr);
    }
    table.append(thead, tbody);
    body.append(table);
    const left = (entry.total ?? rows.length) - rows.length;
    if (left > 0) {
      body.append(element('div', 'nbtrack-more', `${left.toLocaleString(LOCALE)} more rows`));
    }
  }

  function drawHistogram(box: HTMLDivElement, section: Section, entry: MediaEntry): void {
    if (!library || !entry.spec) {
      return; // drawn once the chart library is in
    }
    section.view?.finalize();
    section.view = null;
    const target = element('div');
    box.replaceChildren(target);
    library
      .vegaEmbed(target, entry.spec, {
        actions: false,
        renderer: 'canvas',
        mode: 'vega-lite',
        patch: boxZoom,
        config: vegaConfig(isDarkTheme()), // not Vega-Lite's white box on a dark page
        tooltip: tooltipOptions(isDarkTheme())
      })
      .then(result => {
        if (closed || !target.isConnected) {
          result.finalize();
          return;
        }
        section.view = result.view;
        box.dataset.drawn = String(Number(box.dataset.drawn || 0) + 1);
        section.rest.replay();
      })
      .catch((err: unknown) => {
        box.textContent = `could not draw ${entry.key}: ${String(err)}`;
      });
  }

  function drawMedia(id: string): void {
    const entry = store.media.get(id);
    if (!entry) {
      return;
    }
    let section = sections.get(id);
    if (!section) {
      const item = element('div', `nbtrack-media-item nbtrack-media-${entry.kind}`);
      section = { box: item, view: null, rest: new PointerRest(item) };
      section.box.dataset.key = entry.key;
      sections.set(id, section);
      mediaBox.append(section.box);
    }
    const box = section.box;
    if (entry.kind === 'histogram') {
      drawHistogram(box, section, entry);
      return;
    }
    const title = element(
      'div',
      'nbtrack-media-title',
      `${entry.key} · step ${entry.step.toLocaleString(LOCALE)}`
    );
    const body = element('div', 'nbtrack-media-body');
    box.dataset.step = String(entry.step);
    if (entry.kind === 'image') {
      drawImages(body, entry);
    } else if (entry.kind === 'table') {
      drawTable(body, entry);
    } else {
      const text = entry.text ?? '';
      const chars = entry.chars ?? text.length;
      const cut = chars > text.length ? `\n… (${chars.toLocaleString(LOCALE)} characters)` : '';
      body.append(element('pre', 'nbtrack-text', text + cut));
    }
    box.replaceChildren(title, body);
  }

  function onMedia(changed: string[]): void {
    for (const id of changed) {
      drawMedia(id);
    }
    mediaMore.textContent = store.hiddenMedia
      ? `${store.hiddenMedia} more media key(s) not shown live; see nbtrack.media()`
      : '';
  }

  store.mediaListeners.add(onMedia);
  onMedia([...store.media.keys()]);
  store.listeners.add(onPoints);
  model.on('change:status change:step change:elapsed change:last_values change:error', updateMeta);
  model.on('change:hidden_metrics change:system_note change:run_name', updateMeta);
  updateMeta();
  try {
    library = await store.library.promise;
  } catch (err) {
    loading.textContent = `could not load the chart library: ${String(err)}`;
    return () => {
      stopTheme();
      store.listeners.delete(onPoints);
      store.mediaListeners.delete(onMedia);
    };
  }
  loading.remove();
  for (const [id, entry] of store.media) {
    if (entry.kind === 'histogram') {
      drawMedia(id);
    }
  }
  model.on('change:charts', syncCharts);
  model.on('change:gauges change:gauges_spec', syncGauges);
  syncCharts();
  syncGauges();
  return () => {
    closed = true;
    stopTheme();
    store.listeners.delete(onPoints);
    store.mediaListeners.delete(onMedia);
    for (const section of sections.values()) {
      section.view?.finalize();
    }
    for (const chart of charts.values()) {
      chart.view?.finalize();
    }
    void gauges?.then(result => result.finalize());
  };
}

export default { initialize, render };
