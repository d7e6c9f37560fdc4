// Chart sections as the server groups them (nbtrack.charts.metric_sections): a collapsible
// block per prefix (train/, val/, system/ against time), one chart per metric, and the
// metrics that never changed printed as values. Used by the sidebar and the workspace.
import type { ChartSection } from './api';
import { ChartView, type RenderOptions } from './charts';
import { el } from './dom';
import { formatValue } from './format';

export class SectionsView {
  private views: ChartView[] = [];
  /** Sections the user folded, by name: they stay folded across refreshes. */
  private readonly folded = new Set<string>();
  private dark = false;
  /** The sections' names, chart keys and constants last drawn. */
  private shape = '';

  constructor(
    readonly host: HTMLElement,
    private readonly options: RenderOptions = {}
  ) {}

  /** Draw `sections` (replacing what was drawn); `dark` picks the charts' colours. */
  async render(sections: readonly ChartSection[], dark: boolean): Promise<void> {
    this.dark = dark;
    const shape = JSON.stringify(sections.map(s => [s.name, s.charts.map(c => c.key), s.constants]));
    if (shape === this.shape && this.views.length) {
      // The same charts with new points (a run still logging): each redrawn in place, no blank
      // frame and no jump of the scroll position.
      const specs = sections.flatMap(s => s.charts.map(c => c.spec));
      await Promise.all(
        this.views.map((view, i) =>
          view.host.closest('details')?.open === false
            ? Promise.resolve(view.remember(specs[i], this.options))
            : view.render(specs[i], dark, this.options)
        )
      );
      return;
    }
    this.shape = shape;
    const views: ChartView[] = [];
    const blocks: HTMLElement[] = [];
    const jobs: Promise<void>[] = [];
    for (const section of sections) {
      if (!section.charts.length && !Object.keys(section.constants).length) {
        continue;
      }
      const block = el('details', 'nbtrack-section');
      block.dataset.section = section.name;
      block.open = !this.folded.has(section.name);
      const own: ChartView[] = [];
      block.addEventListener('toggle', () => {
        if (block.open) {
          this.folded.delete(section.name);
          // Drawn while folded, the charts measured a 0 px wide container: draw them again.
          own.forEach(view => void view.redraw(this.dark));
        } else {
          this.folded.add(section.name);
        }
      });
      const summary = el('summary', 'nbtrack-section-title', section.title);
      summary.append(el('span', 'nbtrack-section-count', String(section.charts.length)));
      block.append(summary);
      const grid = el('div', 'nbtrack-section-charts');
      for (const chart of section.charts) {
        const view = new ChartView(el('div', 'nbtrack-section-chart'));
        view.host.dataset.key = chart.key;
        views.push(view);
        own.push(view);
        grid.append(view.host);
        if (block.open) {
          jobs.push(view.render(chart.spec, dark, this.options));
        } else {
          view.remember(chart.spec, this.options);
        }
      }
      block.append(grid);
      const constants = Object.entries(section.constants);
      if (constants.length) {
        const list = el('dl', 'nbtrack-constants');
        list.title = 'Metrics that never changed: values, not charts';
        for (const [key, value] of constants) {
          list.append(el('dt', '', key), el('dd', '', formatValue(value)));
        }
        block.append(list);
      }
      blocks.push(block);
    }
    // Attach first: a spec that fills its container's width needs the container laid out.
    this.dispose();
    this.views = views;
    this.host.replaceChildren(...blocks);
    await Promise.all(jobs);
  }

  async redraw(dark: boolean): Promise<void> {
    this.dark = dark;
    // Folded sections draw when they open.
    const shown = this.views.filter(view => view.host.closest('details')?.open !== false);
    await Promise.all(shown.map(view => view.redraw(dark)));
  }

  message(text: string): void {
    this.dispose();
    this.shape = '';
    this.host.replaceChildren(el('p', 'nbtrack-hint', text));
  }

  dispose(): void {
    this.views.forEach(view => view.dispose());
    this.views = [];
  }
}
