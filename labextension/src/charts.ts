// Renders the chart module's Vega-Lite specs (from the server) with vega-embed, bundled
// into the extension and loaded on first use: no CDN, and no cost until a run is selected.
import type { Result } from 'vega-embed';
import type { VegaLiteSpec } from './api';

/** One chart area: draws a spec, replacing the previous one without a blank frame between. */
export class ChartView {
  private result: Result | null = null;

  constructor(readonly host: HTMLElement) {}

  async render(spec: VegaLiteSpec, dark: boolean): Promise<void> {
    const { default: embed } = await import('vega-embed');
    const target = document.createElement('div');
    target.className = 'nbtrack-chart';
    const result = await embed(target, spec as Parameters<typeof embed>[1], {
      mode: 'vega-lite',
      renderer: 'svg',
      actions: false,
      theme: dark ? 'dark' : undefined,
      // Presentation only, for a narrow sidebar: the legend goes under the plot.
      config: { legend: { orient: 'bottom', columns: 1 }, background: 'transparent' }
    });
    this.dispose();
    this.host.replaceChildren(target);
    this.result = result;
  }

  /** Show a line of text instead of a chart (nothing selected, an error). */
  message(text: string): void {
    this.dispose();
    const line = document.createElement('p');
    line.className = 'nbtrack-hint';
    line.textContent = text;
    this.host.replaceChildren(line);
  }

  dispose(): void {
    if (this.result) {
      this.result.finalize();
      this.result = null;
    }
  }
}
