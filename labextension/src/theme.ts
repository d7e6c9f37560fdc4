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
