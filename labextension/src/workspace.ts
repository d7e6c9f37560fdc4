// The runs workspace: a main-area tab in W&B's workspace shape. The run table on the left
// (colour swatches, search, project and status filters), on the right the chart sections of
// the charted runs (the selection, else the newest few), the config diff of the selection
// and, when the charted runs are one sweep's trials, its parallel coordinates. It follows
// running runs as the sidebar does. Requests, formatting, DOM helpers and chart drawing
// are the sidebar's own modules.
import { Widget } from '@lumino/widgets';
import { type NbtrackApi, type RunsAnswer, type VegaLiteSpec } from './api';
import { ChartView } from './charts';
import { renderDiff } from './diffview';
import { el, fill, option } from './dom';
import { countLine, plural, STATUSES, storeLabel } from './format';
import { renderRuns } from './runlist';
import { SectionsView } from './sections';
import { clickSelect, pollDelay, type ClickKind } from './selection';
import { isDarkTheme, onThemeChange, themeSpec } from './theme';
import { chartTools, X_CHOICES } from './charttools';
import { chartedRuns, chartsKey, fillWidth, restoreArgs, sharedSweep } from './workspacestate';

const MAX_CHARTED = 20;

export class WorkspaceView extends Widget {
  private storePath: string | null = null;
  private answer: RunsAnswer | null = null;
  private selected: string[] = [];
  private anchor: string | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private searchTimer: ReturnType<typeof setTimeout> | null = null;
  private listSeq = 0;
  private chartSeq = 0;
  private drawnKey = '';
  /** The sweep's parallel coordinates as the server drew them (themed when drawn). */
  private sweepSpec: VegaLiteSpec | null = null;
  private readonly stopTheme: () => void;

  private readonly storeLine = el('div', 'nbtrack-ws-store');
  private readonly search = el('input', 'nbtrack-search');
  private readonly projectSelect = el('select', 'nbtrack-project');
  private readonly statusSelect = el('select', 'nbtrack-status-filter');
  private readonly count = el('div', 'nbtrack-count');
  private readonly list = el('ul', 'nbtrack-runs');
  private readonly charted = el('div', 'nbtrack-ws-charted');
  private readonly tools = chartTools('nbtrack-ws', X_CHOICES, () => void this.refreshCharts(true));
  private readonly sections = new SectionsView(el('div', 'nbtrack-ws-sections'));
  private readonly diffHost = el('div', 'nbtrack-diff');
  private readonly diffBlock = el('details', 'nbtrack-section nbtrack-ws-diff');
  private readonly sweepBlock = el('details', 'nbtrack-section nbtrack-ws-sweep');
  private readonly sweepView = new ChartView(el('div', 'nbtrack-ws-parallel'));

  constructor(private readonly api: NbtrackApi) {
    super();
    this.id = 'nbtrack-workspace';
    this.addClass('nbtrack-workspace');
    this.title.label = 'nbtrack runs';
    this.title.caption = 'nbtrack runs workspace';
    this.title.closable = true;
    this.build();
    this.stopTheme = onThemeChange(dark => {
      void this.sections.redraw(dark);
      void this.drawSweep(dark);
    });
  }

  get store(): string | null {
    return this.storePath;
  }

  /** The project the run table is filtered to ('' for all). */
  get project(): string {
    return this.projectSelect.value;
  }

  /** What a reload should open again (the layout restorer's command arguments). */
  get restoreState(): { store?: string; project?: string } {
    return restoreArgs(this.storePath, this.project);
  }

  /** Called when the store or the project shown changes (index.ts saves the tab's state). */
  stateChanged: (() => void) | null = null;

  private emitState(): void {
    this.stateChanged?.();
  }

  /** Show the runs of `store` (a path under the root, or the team store's name). */
  setStore(store: string | null, project?: string): void {
    if (store !== this.storePath) {
      this.storePath = store;
      this.selected = [];
      this.anchor = null;
      this.answer = null;
      this.drawnKey = '';
      this.node.dataset.store = store ?? '';
      this.title.label = store ? `Runs: ${storeLabel(store)}` : 'nbtrack runs';
      this.storeLine.textContent = store ? storeLabel(store) : 'No store: open a notebook first.';
      this.storeLine.title = store ?? '';
    }
    if (project !== undefined) {
      fill(this.projectSelect, [option('', 'All projects'), option(project, project)], project);
    }
    this.emitState();
    void this.refresh();
  }

  /** Refresh soon (a cell just ran: a run may have started or ended). */
  nudge(delayMs = 500): void {
    if (this.isVisible) {
      this.schedule(delayMs);
    }
  }

  private build(): void {
    const left = el('div', 'nbtrack-ws-left');
    const filters = el('div', 'nbtrack-filters');
    this.search.type = 'search';
    this.search.placeholder = 'Search names, tags, notes';
    this.search.setAttribute('aria-label', 'Search runs');
    this.search.addEventListener('input', () => {
      if (this.searchTimer) {
        clearTimeout(this.searchTimer);
      }
      this.searchTimer = setTimeout(() => void this.refresh(), 250);
    });
    fill(this.projectSelect, [option('', 'All projects')], '');
    fill(this.statusSelect, [option('', 'Any status'), ...STATUSES.map(s => option(s, s))], '');
    for (const select of [this.projectSelect, this.statusSelect]) {
      select.addEventListener('change', () => void this.refresh());
    }
    this.projectSelect.addEventListener('change', () => this.emitState());
    filters.append(this.search, this.projectSelect, this.statusSelect);
    left.append(this.storeLine, filters, this.count, this.list);

    const right = el('div', 'nbtrack-ws-right');
    const tools = el('div', 'nbtrack-ws-tools');
    tools.append(this.charted, this.tools.node);

    this.diffBlock.open = true;
    this.diffBlock.append(el('summary', 'nbtrack-section-title', 'Config diff'), this.diffHost);
    this.sweepBlock.open = true;
    this.sweepBlock.append(el('summary', 'nbtrack-section-title', 'Sweep'), this.sweepView.host);
    this.sweepBlock.hidden = true;
    right.append(tools, this.sweepBlock, this.sections.host, this.diffBlock);
    this.node.append(left, right);
  }

  protected onAfterShow(): void {
    void this.refresh();
  }

  protected onBeforeHide(): void {
    this.stop();
  }

  dispose(): void {
    this.stop();
    this.stopTheme();
    this.sections.dispose();
    this.sweepView.dispose();
    super.dispose();
  }

  private stop(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private schedule(delayMs: number | null): void {
    this.stop();
    if (delayMs !== null && !this.isDisposed) {
      this.timer = setTimeout(() => void this.refresh(), delayMs);
    }
  }

  async refresh(): Promise<void> {
    const store = this.storePath;
    const seq = ++this.listSeq;
    if (!store) {
      this.count.textContent = 'Open a notebook, or pick a store in the nbtrack sidebar.';
      this.list.replaceChildren();
      this.sections.message('No store to show.');
      return;
    }
    try {
      const [runs, projects] = await Promise.all([
        this.api.runs(store, {
          project: this.projectSelect.value || undefined,
          status: this.statusSelect.value || undefined,
          q: this.search.value.trim() || undefined
        }),
        this.api.projects(store)
      ]);
      if (seq !== this.listSeq || store !== this.storePath) {
        return;
      }
      fill(
        this.projectSelect,
        [option('', 'All projects'), ...projects.map(p => option(p.name, p.name))],
        this.projectSelect.value
      );
      this.answer = runs;
    } catch (error) {
      if (seq === this.listSeq) {
        this.count.textContent = error instanceof Error ? error.message : String(error);
        this.schedule(pollDelay(this.isVisible, 0));
      }
      return;
    }
    const answer = this.answer;
    this.node.classList.toggle('nbtrack-has-running', answer.running > 0);
    this.count.textContent = answer.exists
      ? countLine(answer.runs.length, answer.total, answer.running)
      : `No runs yet in ${storeLabel(store)}: run a %%track cell.`;
    this.renderList();
    void this.refreshCharts(false);
    this.schedule(pollDelay(this.isVisible, answer.running));
  }

  private renderList(): void {
    if (!this.answer) {
      return;
    }
    renderRuns(this.list, this.answer.runs, this.answer.metrics, new Set(this.selected), {
      click: (id, kind) => this.clicked(id, kind),
      open: id => this.clicked(id, 'only')
    });
  }

  private clicked(id: string, kind: ClickKind): void {
    const order = this.answer ? this.answer.runs.map(r => r.id) : [];
    this.selected = clickSelect(order, this.selected, id, kind, this.anchor);
    this.anchor = id;
    this.renderList();
    void this.refreshCharts(true);
  }

  /** The sweep's parallel coordinates in the theme's colours, as wide as the tab. */
  private async drawSweep(dark: boolean): Promise<void> {
    if (this.sweepSpec) {
      await this.sweepView.render(themeSpec(fillWidth(this.sweepSpec), dark), dark, {});
    }
  }

  private drawing(): { x?: string; smoothing?: number; log?: boolean } {
    const { x, smoothing, log } = this.tools.choice();
    return { x: x || undefined, smoothing: smoothing || undefined, log: log || undefined };
  }

  /** The charted runs' sections, diff and sweep; on a poll only while a charted run logs. */
  private async refreshCharts(changed: boolean): Promise<void> {
    const store = this.storePath;
    const answer = this.answer;
    if (!store || !answer) {
      return;
    }
    const listed = answer.runs.map(r => r.id);
    const ids = chartedRuns(listed, this.selected, MAX_CHARTED);
    this.node.dataset.charted = String(ids.length);
    this.charted.textContent = this.selected.length
      ? `${plural(ids.length, 'selected run')} overlaid`
      : ids.length
        ? `the newest ${plural(ids.length, 'run')}; select runs to overlay them`
        : '';
    if (!ids.length) {
      this.drawnKey = '';
      this.sections.message('No runs to chart.');
      this.diffHost.replaceChildren(el('p', 'nbtrack-hint', 'Select two or more runs to see what differs.'));
      this.sweepBlock.hidden = true;
      this.sweepSpec = null;
      return;
    }
    const options = this.drawing();
    const key = chartsKey(store, ids, options);
    const running = answer.runs.some(r => ids.includes(r.id) && r.status === 'running');
    if (!changed && key === this.drawnKey && !running) {
      return;
    }
    this.drawnKey = key;
    const seq = ++this.chartSeq;
    const width = Math.max(240, Math.floor((this.sections.host.clientWidth || 900) / 2) - 40);
    const sweep = sharedSweep(answer.runs, ids);
    const diffIds = this.selected.slice(0, MAX_CHARTED);
    try {
      const [charts, diff, sweepAnswer] = await Promise.all([
        this.api.charts(store, ids, { layout: 'sections', width, height: 200, maxPoints: 500, ...options }),
        diffIds.length >= 2 ? this.api.diff(store, diffIds) : Promise.resolve(null),
        sweep
          ? this.api.sweep(store, sweep, {
              width: Math.max(400, (this.sections.host.clientWidth || 900) - 160),
              height: 260
            })
          : Promise.resolve(null)
      ]);
      if (seq !== this.chartSeq) {
        return;
      }
      const dark = isDarkTheme();
      this.sections.host.dataset.keys = charts.shown.join(',');
      if (this.tools.offerMetrics(charts.keys)) {
        void this.refreshCharts(true); // x = a metric these runs did not log: drawn by the default
        return;
      }
      const jobs = [this.sections.render(charts.sections ?? [], dark)];
      if (diff) {
        renderDiff(this.diffHost, diff);
      } else {
        this.diffHost.replaceChildren(
          el('p', 'nbtrack-hint', 'Select two or more runs to see what differs.')
        );
      }
      this.sweepBlock.hidden = !sweepAnswer?.spec;
      this.sweepSpec = sweepAnswer?.spec ?? null;
      if (sweepAnswer?.spec) {
        this.sweepBlock.dataset.sweep = sweepAnswer.sweep;
        jobs.push(this.drawSweep(dark));
      }
      await Promise.all(jobs);
    } catch (error) {
      if (seq === this.chartSeq) {
        this.drawnKey = '';
        this.sections.message(error instanceof Error ? error.message : String(error));
      }
    }
  }
}
