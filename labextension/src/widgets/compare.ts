// nbtrack compare widget: an anywidget ES module that only draws (bundled by esbuild into
// nbtrack/widgets/static/compare.js; no CDN).
//
// Python (nbtrack/widgets/compare.py) filters, sorts and pages the runs table, and
// sends, for the selected runs, chart specs built by nbtrack.charts with their data
// already downsampled. This module draws the table (textContent only), the controls,
// and embeds the specs with the Vega library that library.js (prepended) imports once.
import type { View } from 'vega';
import type { VisualizationSpec } from 'vega-embed';
import { chartTools } from '../charttools';
import { el as element } from '../dom';
import { formatValue } from '../format';
import { isDarkTheme, onThemeChange, tooltipOptions, vegaConfig } from '../theme';
import { boxZoom } from '../zoom';
import {
  save,
  type ChartLibrary,
  type Deferred,
  type Init,
  type KernelMessage,
  type Render
} from './anywidget';
import { drawImages, drawLatest } from './compare-media';
import type { CompareModel, CompareState, Section, Specs } from './compare-state';
import { drawBest, drawDiff, drawTable } from './compare-table';

const WIDGETS = new Map<string, { library: Deferred<ChartLibrary> }>(); // widget id -> its library

function widgetStore(model: CompareModel): { library: Deferred<ChartLibrary> } {
  const id = model.get('widget_id');
  let store = WIDGETS.get(id);
  if (!store) {
    store = { library: deferred<ChartLibrary>() };
    const known = LIBRARIES.get(model.get('library'));
    if (known) {
      known.then(store.library.resolve, store.library.reject);
    }
    WIDGETS.set(id, store);
  }
  return store;
}

function initialize({ model }: Init<CompareState>): () => void {
  const store = widgetStore(model);
  const onMessage = (msg: KernelMessage, buffers: DataView[]): void => {
    if (msg.type === 'library') {
      importLibrary(String(msg.digest), buffers[0]).then(store.library.resolve, store.library.reject);
    }
  };
  model.on('msg:custom', onMessage);
  return () => {
    model.off('msg:custom', onMessage);
    WIDGETS.delete(model.get('widget_id'));
  };
}

function button(label: string, onClick: () => void, className = 'nbtrack-cmp-button'): HTMLButtonElement {
  const node = element('button', className, label);
  node.type = 'button';
  node.addEventListener('click', onClick);
  return node;
}

function input(placeholder: string, className = 'nbtrack-cmp-input'): HTMLInputElement {
  const node = element('input', className);
  node.type = 'text';
  node.placeholder = placeholder;
  return node;
}

// -- charts ---------------------------------------------------------------------------
interface Shown {
  box: HTMLDivElement;
  text: string;
  view: View | null;
}

/** Draws specs by key into `holder`, re-embedding a chart only when its spec changed. */
/** Redraws to call when JupyterLab's theme switches between light and dark. */
type Themed = Set<() => void>;

function chartBox(
  library: ChartLibrary,
  holder: HTMLElement,
  views: Set<View>,
  themed: Themed
): (specs: Specs) => void {
  const shown = new Map<string, Shown>();
  let last: Specs = {};
  themed.add(() => {
    for (const entry of shown.values()) {
      entry.text = ''; // drawn again in the new theme's colours
    }
    draw(last);
  });
  const draw = (specs: Specs): void => {
    last = specs;
    for (const [key, entry] of shown) {
      if (!(key in specs)) {
        entry.view?.finalize();
        entry.box.remove();
        shown.delete(key);
      }
    }
    for (const key of Object.keys(specs).sort()) {
      const text = JSON.stringify(specs[key]);
      let entry = shown.get(key);
      if (entry && entry.text === text) {
        continue;
      }
      if (!entry) {
        entry = { box: element('div', 'nbtrack-cmp-chart'), text, view: null };
        entry.box.dataset.key = key;
        holder.append(entry.box);
        shown.set(key, entry);
      }
      entry.text = text;
      entry.view?.finalize();
      const target = entry;
      library
        .vegaEmbed(entry.box, specs[key], {
          actions: false,
          renderer: 'svg',
          mode: 'vega-lite',
          config: vegaConfig(isDarkTheme()), // the page's theme, as the sidebar's charts
          tooltip: tooltipOptions(isDarkTheme()),
          patch: boxZoom // drag a box to zoom x, shift+drag pans
        })
        .then(result => {
          target.view = result.view;
          views.add(result.view);
          target.box.dataset.drawn = 'true';
        })
        .catch((err: unknown) => {
          target.box.textContent = `could not draw ${key}: ${String(err)}`;
        });
    }
  };
  return draw;
}

/** Draws the overlays section by section (nbtrack.charts.metric_sections): a title, the
 * section's charts, and the metrics that never changed as one line of text. */
function sectionBoxes(
  library: ChartLibrary,
  holder: HTMLElement,
  views: Set<View>,
  themed: Themed
): (sections: Section[], specs: Specs) => void {
  const shown = new Map<
    string,
    { node: HTMLElement; constants: HTMLElement; draw: (specs: Specs) => void }
  >();
  return (sections, specs) => {
    const wanted = new Set(sections.map(section => section.name));
    for (const [name, entry] of shown) {
      if (!wanted.has(name)) {
        entry.draw({});
        entry.node.remove();
        shown.delete(name);
      }
    }
    for (const section of sections) {
      let entry = shown.get(section.name);
      if (!entry) {
        const node = element('section', 'nbtrack-cmp-section');
        node.dataset.section = section.name;
        const charts = element('div', 'nbtrack-cmp-section-charts');
        const constants = element('div', 'nbtrack-cmp-constants');
        node.append(element('h4', 'nbtrack-cmp-section-title', section.title), charts, constants);
        entry = { node, constants, draw: chartBox(library, charts, views, themed) };
        shown.set(section.name, entry);
      }
      holder.append(entry.node); // in the sections' order
      const mine: Specs = {};
      for (const key of section.keys) {
        if (key in specs) {
          mine[key] = specs[key];
        }
      }
      entry.draw(mine);
      const constants = Object.entries(section.constants);
      entry.constants.textContent = constants.length
        ? `constant: ${constants.map(([key, value]) => `${key} ${formatValue(value)}`).join(' · ')}`
        : '';
    }
  };
}

function select(options: string[], current: string, onChange: (value: string) => void): HTMLSelectElement {
  const node = element('select', 'nbtrack-cmp-select');
  for (const option of options) {
    const item = element('option', '', option);
    item.value = option;
    node.append(item);
  }
  node.value = current;
  node.addEventListener('change', () => onChange(node.value));
  return node;
}

function label(text: string, control: HTMLElement): HTMLLabelElement {
  const node = element('label', 'nbtrack-cmp-label', text);
  node.append(control);
  return node;
}

// -- a view ---------------------------------------------------------------------------
async function render({ model, el }: Render<CompareState>): Promise<() => void> {
  const store = widgetStore(model);
  const root = element('div', 'nbtrack-compare');
  el.appendChild(root);
  const act = (action: string, extra: Record<string, unknown> = {}): void =>
    model.send({ type: 'action', action, ...extra });

  // Filter, archived, paging.
  const filter = input("filter, e.g. config.lr > 0.01 and 'cnn' in tags", 'nbtrack-cmp-filter');
  filter.value = model.get('filter');
  filter.addEventListener('change', () => save(model, 'filter', filter.value));
  const filterError = element('div', 'nbtrack-cmp-error');
  const archived = element('input');
  archived.type = 'checkbox';
  archived.addEventListener('change', () => save(model, 'show_archived', archived.checked));
  const info = element('span', 'nbtrack-cmp-info');
  const prev = button('‹ prev', () => save(model, 'page', Math.max(model.get('page') - 1, 0)));
  const next = button('next ›', () => save(model, 'page', model.get('page') + 1));
  const bar = element('div', 'nbtrack-cmp-bar');
  bar.append(filter, label(' show archived ', archived), prev, next, info);
  const best = element('div', 'nbtrack-cmp-bestline');
  const tableWrap = element('div', 'nbtrack-cmp-tablewrap');
  const table = element('table', 'nbtrack-cmp-table');
  tableWrap.append(table);

  // Actions on the selection.
  const tagText = input('tag');
  const nameText = input('new name');
  const notesText = input('notes');
  const message = element('span', 'nbtrack-cmp-message');
  const reportPath = element('span', 'nbtrack-cmp-report');
  const undo = button('Undo delete', () => act('undo'), 'nbtrack-cmp-button nbtrack-cmp-undo');
  const confirm = button(
    'Really delete for good?',
    () => {
      confirm.hidden = true;
      empty.hidden = false;
      act('empty_trash', { confirm: true });
    },
    'nbtrack-cmp-button nbtrack-cmp-danger'
  );
  const empty = button('Empty trash', () => {
    empty.hidden = true;
    confirm.hidden = false;
  });
  confirm.hidden = true;
  const actions = element('div', 'nbtrack-cmp-actions');
  actions.append(
    tagText,
    button('Tag', () => act('tag', { tag: tagText.value })),
    button('Untag', () => act('untag', { tag: tagText.value })),
    nameText,
    button('Rename', () => act('rename', { name: nameText.value })),
    notesText,
    button('Set notes', () => act('notes', { notes: notesText.value })),
    button('Archive', () => act('archive')),
    button('Unarchive', () => act('unarchive')),
    button('Delete', () => act('delete'), 'nbtrack-cmp-button nbtrack-cmp-danger'),
    undo,
    empty,
    confirm,
    button('Export report', () => act('export')),
    message,
    reportPath
  );

  // Chart controls and charts.
  const controls = element('div', 'nbtrack-cmp-controls');
  const note = element('div', 'nbtrack-cmp-note');
  const overlays = element('div', 'nbtrack-cmp-overlays');
  const diffTable = element('table', 'nbtrack-cmp-diff');
  const params = element('div', 'nbtrack-cmp-params');
  const loading = element('div', 'nbtrack-cmp-loading', 'loading charts…');
  const mediaBox = element('div', 'nbtrack-cmp-media');
  const mediaControls = element('div', 'nbtrack-cmp-controls');
  const mediaNote = element('div', 'nbtrack-cmp-note');
  const images = element('div', 'nbtrack-cmp-images');
  const histograms = element('div', 'nbtrack-cmp-histograms');
  const latest = element('div', 'nbtrack-cmp-latests');
  mediaBox.append(mediaControls, mediaNote, images, histograms, latest);
  root.append(
    bar,
    filterError,
    best,
    tableWrap,
    actions,
    controls,
    note,
    loading,
    overlays,
    diffTable,
    params,
    mediaBox
  );

  function drawMediaControls(): void {
    const keys = model.get('media_keys');
    const media = model.get('media');
    const parts: HTMLElement[] = [];
    if ((keys.image ?? []).length) {
      parts.push(
        label(
          'images ',
          select(keys.image ?? [], model.get('image_key'), value => {
            model.set('image_step', -1);
            save(model, 'image_key', value);
          })
        )
      );
      const steps = (media.images?.steps ?? []).map(String);
      const step = select(steps, String(media.images?.step ?? ''), value =>
        save(model, 'image_step', Number(value))
      );
      step.classList.add('nbtrack-cmp-step');
      parts.push(label(' step ', step));
    }
    if ((keys.histogram ?? []).length) {
      parts.push(
        label(
          ' histogram ',
          select(keys.histogram ?? [], model.get('histogram_key'), value =>
            save(model, 'histogram_key', value)
          )
        )
      );
    }
    mediaControls.replaceChildren(...parts);
    mediaNote.textContent = media.note ?? '';
    drawImages(media.images ?? {}, images);
    drawLatest(media, latest);
    mediaBox.dataset.images = String(images.querySelectorAll('img').length);
  }
  model.on('change:media change:media_keys change:image_key change:histogram_key', drawMediaControls);
  drawMediaControls();

  function drawControls(): void {
    const choices = model.get('x_choices');
    // The controls of every view's curves (src/charttools.ts); the kernel draws the charts.
    const tools = chartTools(
      'nbtrack-cmp',
      (choices.length ? choices : ['step']).map((c): [string, string] => [c, c]),
      () => {
        const chosen = tools.choice();
        model.set('x', chosen.x);
        model.set('smoothing', chosen.smoothing);
        model.set('log_scale', chosen.log);
        model.save_changes();
      }
    );
    tools.show({ x: model.get('x'), smoothing: model.get('smoothing'), log: model.get('log_scale') });
    const metric = select(model.get('metrics'), model.get('metric'), value => save(model, 'metric', value));
    const param = select(model.get('params'), model.get('param'), value => save(model, 'param', value));
    controls.replaceChildren(tools.node, label(' metric ', metric), label(' parameter ', param));
  }

  function drawMeta(): void {
    filterError.textContent = model.get('filter_error');
    archived.checked = model.get('show_archived');
    if (document.activeElement !== filter) {
      filter.value = model.get('filter');
    }
    prev.disabled = model.get('page') === 0;
    next.disabled = (model.get('page') + 1) * model.get('page_size') >= model.get('total');
    message.textContent = model.get('message');
    reportPath.textContent = model.get('report_path');
    undo.hidden = !model.get('undo').length;
    empty.textContent = `Empty trash (${model.get('trash_count')})`;
    empty.disabled = !model.get('trash_count');
    note.textContent = model.get('note');
    root.dataset.selected = String(model.get('selected').length);
  }

  const redrawTable = (): void => {
    drawTable(model, table, info);
    drawBest(model, best);
  };
  model.on(
    'change:rows change:columns change:selected change:sort_by change:descending change:best',
    redrawTable
  );
  model.on('change:filter_error change:show_archived change:filter change:page change:total', drawMeta);
  model.on('change:message change:report_path change:undo change:trash_count change:note', drawMeta);
  model.on('change:selected', drawMeta);
  model.on(
    'change:metrics change:params change:metric change:param change:x change:x_choices change:log_scale',
    drawControls
  );
  model.on('change:diff', () => drawDiff(model, diffTable));
  redrawTable();
  drawMeta();
  drawControls();
  drawDiff(model, diffTable);

  const views = new Set<View>();
  let library: ChartLibrary;
  try {
    library = await store.library.promise;
  } catch (err) {
    loading.textContent = `could not load the chart library: ${String(err)}`;
    return () => undefined;
  }
  loading.remove();
  const themed: Themed = new Set();
  const stopTheme = onThemeChange(() => themed.forEach(redraw => redraw()));
  const drawOverlays = sectionBoxes(library, overlays, views, themed);
  const drawParams = chartBox(library, params, views, themed);
  const syncCharts = (): void => {
    drawOverlays(model.get('sections'), model.get('overlays'));
    const specs: Specs = {};
    const parallel = model.get('parallel');
    const scatter = model.get('scatter');
    if (Object.keys(parallel).length) {
      specs.parallel = parallel as VisualizationSpec;
    }
    if (Object.keys(scatter).length) {
      specs.scatter = scatter as VisualizationSpec;
    }
    drawParams(specs);
  };
  model.on('change:overlays change:sections change:parallel change:scatter', syncCharts);
  syncCharts();
  const drawHistograms = chartBox(library, histograms, views, themed);
  const syncHistograms = (): void => drawHistograms(model.get('media').histograms?.charts ?? {});
  model.on('change:media', syncHistograms);
  syncHistograms();
  return () => {
    stopTheme();
    for (const view of views) {
      view.finalize();
    }
  };
}

export default { initialize, render };
