// Renders the chart module's Vega-Lite specs (from the server) with vega-embed, bundled
// into the extension and loaded on first use: no CDN, and no cost until a run is selected.
import type { Result } from 'vega-embed';
import type { VegaLiteSpec } from './api';
import { PointerRest } from './hover';
import { tooltipOptions, vegaConfig } from './theme';
import { boxZoom, keepZoom, zoomOf, type Zoomed } from './zoom';

export interface RenderOptions {
  /** Put the legend under the plot (a narrow sidebar); default: Vega-Lite's place. */
  legendBelow?: boolean;
}

/** One chart area: draws a spec, replacing the previous one without a blank frame between. */
export class ChartView {
  private result: Result | null = null;
  private last: { spec: VegaLiteSpec; options: RenderOptions } | null = null;
  /** A running run's chart is drawn again under a pointer at rest: its tooltip follows. */
  private readonly rest: PointerRest;

  constructor(readonly host: HTMLElement) {
    this.rest = new PointerRest(host);
  }

  async render(
    spec: VegaLiteSpec,
    dark: boolean,
    options: RenderOptions = { legendBelow: true }
  ): Promise<void> {
    this.last = { spec, options };
    const { default: embed } = await import('vega-embed');
    const target = document.createElement('div');
    target.className = 'nbtrack-chart';
    target.dataset.theme = dark ? 'dark' : 'light';
    const config = vegaConfig(dark);
    if (options.legendBelow) {
      config.legend = { ...(config.legend as object), orient: 'bottom', columns: 1 };
    }
    // Laid out (but unseen) beside the chart it replaces: a spec that fills its container's
    // width measures it while embedding, and a detached element is 0 px wide.
    target.classList.add('nbtrack-chart-pending');
    this.host.append(target);
    let result: Result;
    try {
      result = await embed(target, spec as Parameters<typeof embed>[1], {
        mode: 'vega-lite',
        renderer: 'svg',
        // PNG and SVG downloads only: no editor or source links (they would leave the page).
        actions: { export: true, source: false, compiled: false, editor: false },
        config,
        tooltip: tooltipOptions(dark),
        patch: boxZoom // drag a box to zoom x, shift+drag pans (zoom.ts)
      });
    } catch (error) {
      target.remove();
      throw error;
    }
    // Drawn again (a run logged more, the theme changed): the same chart stays zoomed.
    const zoomed: Zoomed = this.result ? zoomOf(this.result.view, this.result.vgSpec) : [];
    this.dispose();
    target.classList.remove('nbtrack-chart-pending');
    this.host.replaceChildren(target);
    this.result = result;
    await keepZoom(result.view, result.vgSpec, zoomed);
    this.rest.replay();
  }

  /** Keep `spec` to draw on the next redraw (a folded section draws when it opens). */
  remember(spec: VegaLiteSpec, options: RenderOptions): void {
    this.last = { spec, options };
  }

  /** Draw the last spec again (the theme changed). */
  async redraw(dark: boolean): Promise<void> {
    if (this.last) {
      await this.render(this.last.spec, dark, this.last.options);
    }
  }

  /** Show a line of text instead of a chart (nothing selected, an error). */
  message(text: string): void {
    this.dispose();
    this.last = null;
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
