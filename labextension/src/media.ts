// The Media part of one run: images of a step (a slider walks the steps), the chart module's
// histogram-over-time charts, table previews and text samples, and the run's artifacts.
// Everything from the store goes onto the page through textContent; images are fetched as
// blobs from the server (looked up by run, key, step and index) and shown via object URLs.
import type { ArtifactVersion, MediaAnswer, MediaKey, NbtrackApi } from './api';
import { ChartView } from './charts';
import { el } from './dom';
import { formatValue } from './format';
import { artifactLine, moreRows, stepLabel } from './mediaformat';

export class MediaView {
  readonly host = el('div', 'nbtrack-media');
  private charts: ChartView[] = [];
  private urls: string[] = [];
  private seq = 0;

  constructor(private readonly api: NbtrackApi) {}

  /** Show one run's media and artifacts (replacing what was there); `dark` for the charts. */
  async show(store: string, runId: string, width: number, dark: boolean): Promise<void> {
    const seq = ++this.seq;
    const [media, artifacts] = await Promise.all([
      this.api.media(store, runId, width),
      this.api.artifacts(store, runId)
    ]);
    if (seq !== this.seq) {
      return;
    }
    this.clear();
    this.host.dataset.run = runId;
    if (!media.keys.length && !artifacts.length) {
      this.host.append(el('p', 'nbtrack-hint', 'This run logged no media and no artifacts.'));
      return;
    }
    this.host.append(el('h3', 'nbtrack-media-title', 'Media'));
    await this.renderKeys(store, media, dark);
    if (artifacts.length) {
      this.host.append(renderArtifacts(artifacts));
    }
  }

  /** Empty the part (nothing selected, or several runs). */
  clear(): void {
    this.charts.forEach(chart => chart.dispose());
    this.charts = [];
    this.urls.forEach(url => URL.revokeObjectURL(url));
    this.urls = [];
    delete this.host.dataset.run;
    this.host.replaceChildren();
  }

  /** Draw the charts again in the other theme's colours. */
  redraw(dark: boolean): void {
    this.charts.forEach(chart => void chart.redraw(dark));
  }

  hide(): void {
    this.seq++;
    this.clear();
  }

  private async renderKeys(store: string, media: MediaAnswer, dark: boolean): Promise<void> {
    const jobs: Promise<void>[] = [];
    for (const key of media.keys) {
      const box = el('div', `nbtrack-media-key nbtrack-media-${key.kind}`);
      box.dataset.key = key.key;
      box.dataset.kind = key.kind;
      box.append(el('h4', 'nbtrack-media-name', key.key));
      this.host.append(box);
      if (key.kind === 'image') {
        jobs.push(this.renderImages(box, store, media.run, key));
      } else if (key.kind === 'histogram' && key.spec) {
        const chart = new ChartView(el('div', 'nbtrack-media-chart'));
        this.charts.push(chart);
        box.append(chart.host);
        jobs.push(chart.render(key.spec, dark));
      } else if (key.kind === 'table') {
        box.append(renderTable(key));
      } else if (key.kind === 'text') {
        box.append(renderTexts(key));
      }
    }
    await Promise.all(jobs);
  }

  private async renderImages(box: HTMLElement, store: string, runId: string, key: MediaKey): Promise<void> {
    const steps = key.steps;
    const label = el('span', 'nbtrack-step-label');
    const grid = el('div', 'nbtrack-image-grid');
    const slider = el('input', 'nbtrack-step-slider');
    slider.type = 'range';
    slider.min = '0';
    slider.max = String(Math.max(steps.length - 1, 0));
    slider.value = slider.max; // the latest step first
    slider.disabled = steps.length < 2;
    slider.setAttribute('aria-label', `Step of ${key.key}`);
    const row = el('div', 'nbtrack-step-row');
    row.append(slider, label);
    box.append(row, grid);
    let shown = 0;
    const load = async (): Promise<void> => {
      const index = Number(slider.value);
      const mine = ++shown;
      const step = steps[index];
      label.textContent = stepLabel(steps, index);
      const images = key.images?.[String(step)] ?? [];
      const figures = await Promise.all(images.map(image => this.figure(store, runId, key.key, step, image)));
      if (mine === shown) {
        grid.dataset.step = String(step);
        grid.replaceChildren(...figures);
      }
    };
    slider.addEventListener('input', () => void load());
    await load();
  }

  private async figure(
    store: string,
    runId: string,
    key: string,
    step: number,
    image: { idx: number; caption: string | null }
  ): Promise<HTMLElement> {
    const figure = el('figure', 'nbtrack-image');
    try {
      const blob = await this.api.mediaFile(store, runId, key, step, image.idx);
      const url = URL.createObjectURL(blob);
      this.urls.push(url);
      const img = el('img');
      img.alt = image.caption ?? `${key} at step ${step}`;
      await new Promise<void>(resolve => {
        img.onload = () => resolve();
        img.onerror = () => resolve();
        img.src = url;
      });
      figure.append(img);
    } catch (error) {
      figure.append(el('span', 'nbtrack-error', error instanceof Error ? error.message : String(error)));
    }
    if (image.caption) {
      figure.append(el('figcaption', '', image.caption));
    }
    return figure;
  }
}

function renderTable(key: MediaKey): HTMLElement {
  const wrap = el('div', 'nbtrack-media-table');
  const columns = key.columns ?? [];
  const rows = key.rows ?? [];
  wrap.append(el('p', 'nbtrack-hint', `step ${key.step ?? ''}${key.steps.length > 1 ? ' (latest)' : ''}`));
  const table = el('table');
  const head = el('tr');
  columns.forEach(column => head.append(el('th', '', column)));
  table.append(el('thead'), el('tbody'));
  table.tHead?.append(head);
  for (const values of rows) {
    const line = el('tr');
    values.forEach(value => line.append(el('td', '', formatValue(value))));
    table.tBodies[0].append(line);
  }
  wrap.append(table);
  const more = moreRows(key.total ?? rows.length, rows.length);
  if (more) {
    wrap.append(el('p', 'nbtrack-hint nbtrack-more', more));
  }
  return wrap;
}

function renderTexts(key: MediaKey): HTMLElement {
  const wrap = el('div', 'nbtrack-media-texts');
  for (const sample of key.samples ?? []) {
    const item = el('div', 'nbtrack-text-sample');
    item.append(el('span', 'nbtrack-hint', `step ${sample.step}`), el('pre', '', sample.text));
    if (sample.cut > 0) {
      item.append(el('span', 'nbtrack-hint', `… ${sample.cut} more characters`));
    }
    wrap.append(item);
  }
  return wrap;
}

function renderArtifacts(versions: ArtifactVersion[]): HTMLElement {
  const wrap = el('div', 'nbtrack-artifacts');
  wrap.append(el('h4', 'nbtrack-media-name', 'Artifacts'));
  const list = el('ul', 'nbtrack-artifact-list');
  for (const version of versions) {
    const item = el('li', 'nbtrack-artifact');
    item.dataset.ref = version.ref;
    item.append(el('strong', '', version.ref));
    version.aliases.forEach(alias => item.append(el('span', 'nbtrack-tag', alias)));
    item.append(el('div', 'nbtrack-hint', artifactLine(version)));
    list.append(item);
  }
  wrap.append(list);
  return wrap;
}
