// The sidebar panel: a store's runs (search, filter, sort, multi-select), actions on the
// selection, and for it the chart module's overlaid curves and a config diff.
import { InputDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';
import { ApiError, type NbtrackApi, type RunRecord, type RunsAnswer } from './api';
import { chartTools, X_CHOICES } from './charttools';
import { renderDiff } from './diffview';
import { MediaView } from './media';
import { button, el, fill, option } from './dom';
import { countLine, parseTags, plural, STATUSES, storeLabel } from './format';
import { renderRuns } from './runlist';
import { SectionsView } from './sections';
import { clickSelect, pollDelay, type ClickKind } from './selection';
import { isDarkTheme, onThemeChange } from './theme';

const FOLLOW = '';
const MAX_COMPARED = 20;
const SORTS: [string, string][] = [
  ['-created_at', 'Newest first'],
  ['created_at', 'Oldest first'],
  ['name', 'Name'],
  ['-duration', 'Longest'],
  ['status', 'Status']
];

/** What the panel needs from JupyterLab, kept out of it so it stays a plain widget. */
export interface PanelHost {
  api: NbtrackApi;
  /** Open the run's notebook at its cell; false when it cannot be found. */
  openRun(run: RunRecord): Promise<boolean>;
  /** Open a file under the root inside JupyterLab. */
  openFile(path: string): void;
  /** Open the runs workspace (a main-area tab) on a store. */
  openWorkspace(store: string | null): void;
}

export class NbtrackPanel extends Widget {
  private notebookStore: string | null = null;
  /** The team store the kernels log to (NBTRACK_STORE=postgresql://... on the server). */
  private teamStore: string | null = null;
  private pinned = FOLLOW;
  private answer: RunsAnswer | null = null;
  private selected: string[] = [];
  private anchor: string | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private searchTimer: ReturnType<typeof setTimeout> | null = null;
  private listSeq = 0;
  private compareSeq = 0;
  private comparedKey = '';

  private readonly storeSelect = el('select', 'nbtrack-store');
  private readonly projectSelect = el('select', 'nbtrack-project');
  private readonly statusSelect = el('select', 'nbtrack-status-filter');
  private readonly sortSelect = el('select', 'nbtrack-sort');
  private readonly search = el('input', 'nbtrack-search');
  private readonly count = el('div', 'nbtrack-count');
  private readonly bar = el('div', 'nbtrack-bar');
  private readonly list = el('ul', 'nbtrack-runs');
  private readonly actions = el('div', 'nbtrack-actions');
  private readonly compare = el('div', 'nbtrack-compare');
  private readonly chartView = new SectionsView(el('div', 'nbtrack-charts'), { legendBelow: true });
  // x, smoothing and log y, as in the workspace (src/charttools.ts); the server draws them.
  private readonly tools = chartTools('nbtrack-sb', X_CHOICES, () => void this.refreshCompare(true));
  private readonly stopTheme: () => void;
  private readonly diffHost = el('div', 'nbtrack-diff');
  private readonly mediaView: MediaView;

  constructor(private readonly host: PanelHost) {
    super();
    this.mediaView = new MediaView(host.api);
    this.id = 'nbtrack-sidebar';
    this.addClass('nbtrack-sidebar');
    this.title.caption = 'nbtrack runs';
    this.build();
    this.stopTheme = onThemeChange(dark => {
      void this.chartView.redraw(dark);
      this.mediaView.redraw(dark);
    });
  }

  /** The store of the notebook now in focus (its folder's `.nbtrack`). */
  followNotebook(store: string | null): void {
    if (store === this.notebookStore) {
      return;
    }
    this.notebookStore = store;
    void this.loadStores();
    if (this.pinned === FOLLOW) {
      this.storeChanged();
    }
  }

  /** Refresh soon (a cell just ran: a run may have started or ended). */
  nudge(delayMs = 500): void {
    this.schedule(delayMs);
  }

  get store(): string | null {
    if (this.pinned !== FOLLOW) {
      return this.pinned;
    }
    // A notebook's kernel logs to the team store when the server has one, not to its folder.
    return this.teamStore ?? this.notebookStore;
  }

  private build(): void {
    const top = el('div', 'nbtrack-top');
    const title = el('div', 'nbtrack-title');
    title.append(el('span', 'nbtrack-title-text', 'Runs'), this.storeSelect);
    title.append(button('⟳', 'nbtrack-refresh', 'Refresh now', () => void this.refresh()));

    this.storeSelect.title = 'Which store to show';
    this.storeSelect.addEventListener('change', () => {
      this.pinned = this.storeSelect.value;
      this.storeChanged();
    });
    this.storeSelect.addEventListener('focus', () => void this.loadStores());

    const filters = el('div', 'nbtrack-filters');
    fill(this.statusSelect, [option('', 'Any status'), ...STATUSES.map(s => option(s, s))], '');
    fill(this.projectSelect, [option('', 'All projects')], '');
    fill(
      this.sortSelect,
      SORTS.map(([value, text]) => option(value, text)),
      '-created_at'
    );
    for (const select of [this.projectSelect, this.statusSelect, this.sortSelect]) {
      select.addEventListener('change', () => void this.refresh());
    }
    this.search.type = 'search';
    this.search.placeholder = 'Search names, tags, notes';
    this.search.setAttribute('aria-label', 'Search runs');
    this.search.addEventListener('input', () => {
      if (this.searchTimer) {
        clearTimeout(this.searchTimer);
      }
      this.searchTimer = setTimeout(() => void this.refresh(), 250);
    });
    filters.append(this.search, this.projectSelect, this.statusSelect, this.sortSelect);
    // The count line has room to spare at any width: the workspace's button sits there.
    const countRow = el('div', 'nbtrack-count-row');
    countRow.append(
      this.count,
      button('Open workspace ↗', 'nbtrack-open-workspace', 'Open these runs in a workspace tab', () =>
        this.host.openWorkspace(this.store)
      )
    );
    top.append(title, filters, countRow, this.bar);

    this.actions.append(
      button('Open', 'nbtrack-open', "Open the run's notebook at its cell", () => void this.openSelected()),
      button('Rename', 'nbtrack-rename', 'Rename the run', () => void this.renameSelected()),
      button('Tags', 'nbtrack-tags', "Edit the run's tags", () => void this.tagSelected()),
      button('Notes', 'nbtrack-notes', "Edit the run's notes", () => void this.notesSelected()),
      button(
        'Delete',
        'nbtrack-delete',
        'Move the selected runs to the trash (undo follows)',
        () => void this.deleteSelected()
      ),
      button(
        'Report',
        'nbtrack-report',
        'Export an HTML report of the selected (or listed) runs',
        () => void this.exportReport()
      )
    );
    this.compare.append(
      el('h3', 'nbtrack-compare-title', 'Compare'),
      this.tools.node,
      this.chartView.host,
      this.diffHost,
      this.mediaView.host
    );
    this.node.append(top, this.list, this.actions, this.compare);
    this.updateActions();
    this.chartView.message('Select runs to see their curves; two or more for a config diff.');
  }

  protected onAfterShow(): void {
    void this.loadStores();
    void this.refresh();
  }

  protected onBeforeHide(): void {
    this.stop();
  }

  dispose(): void {
    this.stop();
    this.stopTheme();
    this.chartView.dispose();
    this.mediaView.hide();
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

  private storeChanged(): void {
    this.selected = [];
    this.anchor = null;
    this.comparedKey = '';
    this.answer = null;
    this.node.dataset.store = this.store ?? '';
    this.renderCompare();
    void this.refresh();
  }

  private async loadStores(): Promise<void> {
    const found = new Set<string>();
    const before = this.store;
    try {
      const answer = await this.host.api.stores('', 3);
      answer.stores.forEach(s => found.add(s));
      this.teamStore = answer.team ?? null;
    } catch {
      // the picker keeps what it had; the list shows errors
    }
    const follow = this.teamStore
      ? `Team store: ${storeLabel(this.teamStore)}`
      : this.notebookStore
        ? `This notebook's folder: ${storeLabel(this.notebookStore)}`
        : 'Open a notebook to follow its store';
    const options = [option(FOLLOW, follow)];
    if (this.pinned !== FOLLOW) {
      found.add(this.pinned);
    }
    for (const store of [...found].sort()) {
      options.push(option(store, storeLabel(store)));
    }
    fill(this.storeSelect, options, this.pinned);
    if (this.store !== before) {
      this.storeChanged();
    }
  }

  /** Read the list again (and the selection's charts when they may have changed). */
  async refresh(): Promise<void> {
    if (!this.isVisible) {
      return;
    }
    const store = this.store;
    const seq = ++this.listSeq;
    if (!store) {
      this.count.textContent = 'Open a notebook, or pick a store above.';
      this.list.replaceChildren();
      return;
    }
    let answer: RunsAnswer;
    try {
      const [runs, projects] = await Promise.all([
        this.host.api.runs(store, {
          project: this.projectSelect.value || undefined,
          status: this.statusSelect.value || undefined,
          q: this.search.value.trim() || undefined,
          sort: this.sortSelect.value
        }),
        this.host.api.projects(store)
      ]);
      if (seq !== this.listSeq || store !== this.store) {
        return;
      }
      answer = runs;
      this.updateFilters(
        projects.map(p => p.name),
        runs.summary_keys
      );
    } catch (error) {
      if (seq === this.listSeq) {
        this.showError(error);
        this.schedule(pollDelay(this.isVisible, 0));
      }
      return;
    }
    this.answer = answer;
    this.node.classList.toggle('nbtrack-has-running', answer.running > 0);
    this.count.textContent = answer.exists
      ? countLine(answer.runs.length, answer.total, answer.running)
      : `No runs yet in ${storeLabel(store)}: run a %%track cell.`;
    this.renderList();
    this.updateActions(); // Report needs runs: enable it once they are listed
    void this.refreshCompare(false);
    this.schedule(pollDelay(this.isVisible, answer.running));
  }

  private updateFilters(projects: string[], summaryKeys: string[]): void {
    fill(
      this.projectSelect,
      [option('', 'All projects'), ...projects.map(p => option(p, p))],
      this.projectSelect.value
    );
    const sorts = SORTS.map(([value, text]) => option(value, text));
    // The machine's metrics (system/...) are no result to sort runs by.
    for (const key of summaryKeys.filter(k => !k.startsWith('system/'))) {
      sorts.push(option(`summary.${key}`, `${key} ↑`), option(`-summary.${key}`, `${key} ↓`));
    }
    fill(this.sortSelect, sorts, this.sortSelect.value);
  }

  private renderList(): void {
    const answer = this.answer;
    if (!answer) {
      return;
    }
    renderRuns(this.list, answer.runs, answer.metrics, new Set(this.selected), {
      click: (id, kind) => this.clicked(id, kind),
      open: id => {
        this.selected = [id];
        this.selectionChanged();
        void this.openSelected();
      }
    });
  }

  private clicked(id: string, kind: ClickKind): void {
    const order = this.answer ? this.answer.runs.map(r => r.id) : [];
    this.selected = clickSelect(order, this.selected, id, kind, this.anchor);
    this.anchor = id;
    this.selectionChanged();
  }

  private selectionChanged(): void {
    this.renderList();
    this.updateActions();
    void this.refreshCompare(true);
  }

  private updateActions(): void {
    const one = this.selected.length === 1;
    const run = one ? this.answer?.runs.find(r => r.id === this.selected[0]) : undefined;
    const enable = (name: string, on: boolean, why = ''): void => {
      const node = this.actions.querySelector<HTMLButtonElement>(`.nbtrack-${name}`);
      if (node) {
        node.disabled = !on;
        node.dataset.why = on ? '' : why;
      }
    };
    enable('open', one && !!run?.notebook, 'select one run that was logged from a notebook under this root');
    enable('rename', one, 'select one run');
    enable('tags', one, 'select one run');
    enable('notes', one, 'select one run');
    enable('delete', this.selected.length > 0, 'select runs');
    enable('report', !!this.answer && this.answer.runs.length > 0, 'no runs');
    this.actions.dataset.selected = String(this.selected.length);
  }

  private renderCompare(): void {
    if (!this.selected.length) {
      this.chartView.message('Select runs to see their curves; two or more for a config diff.');
      this.diffHost.replaceChildren();
      this.mediaView.hide();
    }
  }

  /** Charts (and the diff) of the selection; on a poll only when a selected run is still logging. */
  private async refreshCompare(selectionChanged: boolean): Promise<void> {
    const store = this.store;
    const ids = this.selected.slice(0, MAX_COMPARED);
    if (!store || !ids.length) {
      this.comparedKey = '';
      this.renderCompare();
      return;
    }
    const { x, smoothing, log } = this.tools.choice();
    const drawing = { x: x || undefined, smoothing: smoothing || undefined, log: log || undefined };
    const key = `${store}|${ids.join(',')}|${x}|${smoothing}|${log}`;
    const running = this.answer?.runs.some(r => ids.includes(r.id) && r.status === 'running') ?? false;
    if (!selectionChanged && key === this.comparedKey && !running) {
      return;
    }
    this.comparedKey = key;
    const seq = ++this.compareSeq;
    const width = Math.max(160, this.node.clientWidth - 90);
    try {
      const [charts, diff] = await Promise.all([
        this.host.api.charts(store, ids, {
          width,
          height: 140,
          maxPoints: 400,
          layout: 'sections',
          ...drawing
        }),
        ids.length >= 2 ? this.host.api.diff(store, ids) : Promise.resolve(null)
      ]);
      if (seq !== this.compareSeq) {
        return;
      }
      await this.chartView.render(charts.sections ?? [], isDarkTheme());
      this.chartView.host.dataset.keys = charts.shown.join(',');
      if (this.tools.offerMetrics(charts.keys)) {
        void this.refreshCompare(true); // x = a metric these runs did not log: drawn by the default
        return;
      }
      if (diff) {
        renderDiff(this.diffHost, diff);
        this.mediaView.hide();
      } else {
        const hint = el('p', 'nbtrack-hint', 'Select another run to see what differs.');
        this.diffHost.replaceChildren(hint);
        await this.mediaView.show(store, ids[0], width, isDarkTheme());
      }
    } catch (error) {
      if (seq === this.compareSeq) {
        this.comparedKey = '';
        this.chartView.message(error instanceof Error ? error.message : String(error));
      }
    }
  }

  private showMessage(text: string, kind: 'info' | 'error', extra: HTMLElement[] = []): void {
    const line = el('div', `nbtrack-message nbtrack-${kind}`);
    line.append(el('span', '', text), ...extra);
    line.append(button('×', 'nbtrack-dismiss', 'Dismiss', () => line.remove()));
    this.bar.replaceChildren(line);
  }

  private showError(error: unknown): void {
    const text = error instanceof ApiError || error instanceof Error ? error.message : String(error);
    this.showMessage(text, 'error');
  }

  private selectedRun(): string | null {
    return this.selected.length === 1 && this.store ? this.selected[0] : null;
  }

  private async act(work: () => Promise<unknown>): Promise<void> {
    try {
      await work();
    } catch (error) {
      this.showError(error);
    }
    await this.refresh();
  }

  private async openSelected(): Promise<void> {
    const id = this.selectedRun();
    const store = this.store;
    if (!id || !store) {
      return;
    }
    await this.act(async () => {
      const run = await this.host.api.run(store, id);
      if (!run.notebook) {
        this.showMessage('This run was not logged from a notebook under the Jupyter root.', 'info');
      } else if (!(await this.host.openRun(run))) {
        this.showMessage(`Opened ${run.notebook}; the run's cell is no longer there.`, 'info');
      }
    });
  }

  private async renameSelected(): Promise<void> {
    const id = this.selectedRun();
    const store = this.store;
    const run = this.answer?.runs.find(r => r.id === id);
    if (!id || !store || !run) {
      return;
    }
    const result = await InputDialog.getText({ title: 'Rename run', text: run.name, okLabel: 'Rename' });
    if (result.button.accept && result.value && result.value.trim() && result.value !== run.name) {
      const name = result.value;
      await this.act(() => this.host.api.rename(store, id, name));
    }
  }

  private async tagSelected(): Promise<void> {
    const id = this.selectedRun();
    const store = this.store;
    const run = this.answer?.runs.find(r => r.id === id);
    if (!id || !store || !run) {
      return;
    }
    const result = await InputDialog.getText({
      title: 'Tags (comma or space separated)',
      text: run.tags.join(', '),
      okLabel: 'Save'
    });
    if (result.button.accept && result.value !== null) {
      const tags = parseTags(result.value);
      await this.act(() => this.host.api.setTags(store, id, tags));
    }
  }

  private async notesSelected(): Promise<void> {
    const id = this.selectedRun();
    const store = this.store;
    const run = this.answer?.runs.find(r => r.id === id);
    if (!id || !store || !run) {
      return;
    }
    const result = await InputDialog.getText({ title: 'Notes', text: run.notes ?? '', okLabel: 'Save' });
    if (result.button.accept && result.value !== null) {
      const notes = result.value.trim() ? result.value : null;
      await this.act(() => this.host.api.setNotes(store, id, notes));
    }
  }

  private async deleteSelected(): Promise<void> {
    const store = this.store;
    const ids = [...this.selected];
    if (!store || !ids.length) {
      return;
    }
    await this.act(async () => {
      const gone = (await this.host.api.deleteRuns(store, ids)).ids;
      this.selected = this.selected.filter(id => !gone.includes(id));
      this.selectionChanged();
      const undo = button('Undo', 'nbtrack-undo', 'Take them out of the trash', () => {
        this.bar.replaceChildren();
        void this.act(() => this.host.api.restoreRuns(store, gone));
      });
      this.showMessage(`Moved ${plural(gone.length, 'run')} to the trash.`, 'info', [undo]);
    });
  }

  private async exportReport(): Promise<void> {
    const store = this.store;
    const answer = this.answer;
    if (!store || !answer) {
      return;
    }
    const runs = this.selected.length ? this.selected : answer.runs.map(r => r.id);
    this.showMessage(`Writing a report of ${plural(runs.length, 'run')}…`, 'info');
    await this.act(async () => {
      const { path } = await this.host.api.exportReport(store, { runs });
      if (!path) {
        return;
      }
      const link = el('a', 'nbtrack-report-link', 'open in a new tab');
      link.href = this.host.api.reportUrl(path);
      link.target = '_blank';
      link.rel = 'noopener';
      const inLab = button('open here', 'nbtrack-report-open', 'Open the HTML file in JupyterLab', () =>
        this.host.openFile(path)
      );
      this.showMessage(`Report written: ${path}`, 'info', [link, inLab]);
    });
  }
}
