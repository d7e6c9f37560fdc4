// The Vega config every chart of the sidebar and the workspace is drawn with: readable
// labels, legends and grid lines on JupyterLab's light and dark themes alike. The theme is
// read from the page (`data-jp-theme-light` on <body>, which every JupyterLab theme sets).

/** Text, grid and domain colours of one theme (JupyterLab's own greys, fixed here for Vega). */
export interface ChartColors {
  text: string;
  muted: string;
  grid: string;
  domain: string;
}

export const LIGHT: ChartColors = { text: '#212121', muted: '#616161', grid: '#e0e0e0', domain: '#9e9e9e' };
export const DARK: ChartColors = { text: '#e0e0e0', muted: '#bdbdbd', grid: '#424242', domain: '#757575' };

/**
 * The Vega config for charts on a light or a dark background: axis, legend and title text
 * in the theme's text colour, grid lines faint, the background left to the page.
 */
export function vegaConfig(dark: boolean): Record<string, unknown> {
  const c = dark ? DARK : LIGHT;
  return {
    background: 'transparent',
    view: { stroke: c.grid },
    title: { color: c.text, subtitleColor: c.muted },
    style: { 'guide-label': { fill: c.muted }, 'guide-title': { fill: c.text } },
    axis: {
      labelColor: c.muted,
      titleColor: c.text,
      gridColor: c.grid,
      domainColor: c.domain,
      tickColor: c.domain
    },
    legend: { labelColor: c.text, titleColor: c.text },
    header: { labelColor: c.text, titleColor: c.text },
    text: { color: c.text }
  };
}

/** vega-tooltip's options for a chart on a light or a dark background (its own two themes). */
export function tooltipOptions(dark: boolean): { theme: 'light' | 'dark' } {
  return { theme: dark ? 'dark' : 'light' };
}

/** Whether JupyterLab shows a dark theme now (false outside JupyterLab's page). */
export function isDarkTheme(
  body: HTMLElement | null = typeof document === 'undefined' ? null : document.body
): boolean {
  return body?.dataset.jpThemeLight === 'false';
}

/** Call `changed(dark)` whenever the theme switches between light and dark; returns the unsubscribe. */
export function onThemeChange(changed: (dark: boolean) => void): () => void {
  let dark = isDarkTheme();
  const observer = new MutationObserver(() => {
    const now = isDarkTheme();
    if (now !== dark) {
      dark = now;
      changed(now);
    }
  });
  observer.observe(document.body, { attributes: true, attributeFilter: ['data-jp-theme-light'] });
  return () => observer.disconnect();
}

/** What the theme gives a mark that names one of these styles (the charts module's parts). */
interface MarkTheme {
  color?: string;
  opacity?: number;
  /** The colour scheme of the mark's colour scale. */
  scheme?: { name: string; extent: [number, number] };
}

/**
 * The theme's colours of chart parts the Python charts name by a mark `style`: the axes,
 * ticks, labels and lines of parallel coordinates (nbtrack.charts.params), the gauges' parts. On a dark page
 * viridis loses its darkest 45% (deep purple and blue, under 3:1 on #212121) and the lines
 * are less transparent, so every run's line stays readable; the best still get yellow.
 */
export function markThemes(dark: boolean): Record<string, MarkTheme> {
  const c = dark ? DARK : LIGHT;
  return {
    'parallel-axis': { color: c.domain },
    'parallel-tick': { color: c.domain },
    'parallel-label': { color: c.muted },
    'parallel-line': dark ? { opacity: 0.9, scheme: { name: 'viridis', extent: [0.45, 1] } } : {},
    // The live panel's machine gauges (nbtrack.charts.system.gauges_chart): an empty track
    // that does not glare on a dark page, the peak tick and the reading in the text colour.
    ...(dark
      ? { 'gauge-track': { color: c.grid }, 'gauge-peak': { color: c.text }, 'gauge-text': { color: c.text } }
      : {})
  };
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * `spec` with the theme's colours in the marks that name a style of `markThemes` (their own
 * colours are for a white page). A Vega config cannot do it: a spec's colours win over it.
 * Layers, concatenations and facets are followed; `spec` itself is left as it was.
 */
export function themeSpec<T>(spec: T, dark: boolean): T {
  const themes = markThemes(dark);
  const visit = (node: unknown): unknown => {
    if (Array.isArray(node)) {
      return node.map(visit);
    }
    if (!isObject(node)) {
      return node;
    }
    const out: Json = { ...node };
    for (const key of ['layer', 'hconcat', 'vconcat', 'concat', 'spec']) {
      if (key in out) {
        out[key] = visit(out[key]);
      }
    }
    const mark = out.mark;
    const theme = isObject(mark) && typeof mark.style === 'string' ? themes[mark.style] : undefined;
    if (theme && isObject(mark)) {
      const { scheme, ...props } = theme;
      out.mark = { ...mark, ...props };
      const color = isObject(out.encoding) ? out.encoding.color : undefined;
      if (scheme && isObject(color) && isObject(out.encoding)) {
        out.encoding = {
          ...out.encoding,
          color: { ...color, scale: { ...(isObject(color.scale) ? color.scale : {}), scheme } }
        };
      }
    }
    return out;
  };
  return visit(spec) as T;
}
