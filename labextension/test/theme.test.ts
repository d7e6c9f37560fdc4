import { DARK, LIGHT, isDarkTheme, themeSpec, vegaConfig } from '../src/theme';

// Relative luminance (WCAG) of a #rrggbb colour, to check text stands out from the page.
function luminance(color: string): number {
  const hex = color.length === 4 ? `#${[...color.slice(1)].map(d => d + d).join('')}` : color; // #rgb
  const [r, g, b] = [1, 3, 5].map(i => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

// JupyterLab's page backgrounds (--jp-layout-color1 of its light and dark themes).
const LIGHT_PAGE = '#ffffff';
const DARK_PAGE = '#111111';

describe('vegaConfig', () => {
  it('writes axis and legend text readable on the dark page, grid lines faint', () => {
    const config = vegaConfig(true) as { axis: Record<string, string>; legend: Record<string, string> };
    expect(contrast(config.axis.labelColor, DARK_PAGE)).toBeGreaterThan(4.5);
    expect(contrast(config.axis.titleColor, DARK_PAGE)).toBeGreaterThan(4.5);
    expect(contrast(config.legend.labelColor, DARK_PAGE)).toBeGreaterThan(4.5);
    // Grid lines stay in the background: far less contrast than the text (not white on dark).
    expect(contrast(config.axis.gridColor, DARK_PAGE)).toBeLessThan(2.5);
  });

  it('writes dark text on the light page', () => {
    const config = vegaConfig(false) as { axis: Record<string, string>; legend: Record<string, string> };
    expect(contrast(config.axis.labelColor, LIGHT_PAGE)).toBeGreaterThan(4.5);
    expect(contrast(config.legend.labelColor, LIGHT_PAGE)).toBeGreaterThan(4.5);
    expect(contrast(config.axis.gridColor, LIGHT_PAGE)).toBeLessThan(1.5);
  });

  it('leaves the background to the page in both themes', () => {
    expect(vegaConfig(true).background).toBe('transparent');
    expect(vegaConfig(false).background).toBe('transparent');
    expect(DARK.text).not.toBe(LIGHT.text);
  });
});

describe('isDarkTheme', () => {
  it("reads JupyterLab's data-jp-theme-light", () => {
    const body = (light: string | undefined) =>
      ({ dataset: { jpThemeLight: light } }) as unknown as HTMLElement;
    expect(isDarkTheme(body('false'))).toBe(true);
    expect(isDarkTheme(body('true'))).toBe(false);
    expect(isDarkTheme(body(undefined))).toBe(false);
    expect(isDarkTheme(null)).toBe(false);
  });
});

describe('themeSpec', () => {
  // The parallel coordinates nbtrack.charts.params draws (tests/test_parallel_theme.py writes it).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const parallel = require('./fixtures/parallel.vl.json') as { layer: Layer[] };
  interface Layer {
    mark: { type: string; style?: string; color?: string; opacity?: number };
    encoding: { color?: { scale?: { scheme?: unknown; reverse?: boolean } } };
  }
  const byStyle = (spec: { layer: Layer[] }) =>
    Object.fromEntries(spec.layer.map(layer => [layer.mark.style, layer])) as Record<string, Layer>;
  const DARK_PANEL = '#1e1e1e';

  it('draws the axes, ticks and labels of parallel coordinates light on a dark page', () => {
    const dark = byStyle(themeSpec(parallel, true));
    for (const page of [DARK_PAGE, DARK_PANEL]) {
      expect(contrast(dark['parallel-axis'].mark.color!, page)).toBeGreaterThanOrEqual(3);
      expect(contrast(dark['parallel-tick'].mark.color!, page)).toBeGreaterThanOrEqual(3);
      expect(contrast(dark['parallel-label'].mark.color!, page)).toBeGreaterThan(4.5);
      // The white page's greys would not be: #666 labels on #1e1e1e.
      expect(contrast(byStyle(parallel)['parallel-label'].mark.color!, page)).toBeLessThan(4.5);
    }
    expect(dark['parallel-label'].mark.color).toBe(DARK.muted);
  });

  it("drops viridis' darkest end on a dark page, keeping the lines' direction", () => {
    const dark = byStyle(themeSpec(parallel, true))['parallel-line'];
    expect(dark.encoding.color?.scale?.scheme).toEqual({ name: 'viridis', extent: [0.45, 1] });
    expect(dark.encoding.color?.scale?.reverse).toBe(
      byStyle(parallel)['parallel-line'].encoding.color?.scale?.reverse
    );
    expect(dark.mark.opacity).toBeGreaterThan(byStyle(parallel)['parallel-line'].mark.opacity!);
    // On the light page the lines keep their full scheme; the greys are the theme's.
    const light = byStyle(themeSpec(parallel, false));
    expect(light['parallel-line'].encoding.color?.scale?.scheme).toBe('viridis');
    expect(contrast(light['parallel-label'].mark.color!, LIGHT_PAGE)).toBeGreaterThan(4.5);
  });

  it('leaves the given spec and unnamed marks alone, and follows concatenations', () => {
    const before = JSON.stringify(parallel);
    const both = themeSpec({ hconcat: [parallel, { mark: { type: 'line', color: '#123456' } }] }, true);
    expect(JSON.stringify(parallel)).toBe(before);
    const [first, other] = both.hconcat as [{ layer: Layer[] }, Layer];
    expect(byStyle(first)['parallel-axis'].mark.color).toBe(DARK.domain);
    expect(other.mark.color).toBe('#123456');
  });

  it("draws the live panel's gauges readable on a dark page and as they were on a light one", () => {
    const gauges: { layer: Layer[] } = {
      layer: [
        { mark: { type: 'bar', color: '#e8e8e8', style: 'gauge-track' }, encoding: {} },
        { mark: { type: 'bar' }, encoding: {} },
        { mark: { type: 'tick', color: '#222', style: 'gauge-peak' }, encoding: {} },
        { mark: { type: 'text', color: '#222', style: 'gauge-text' }, encoding: {} }
      ]
    };
    const dark = byStyle(themeSpec(gauges, true));
    expect(contrast(dark['gauge-text'].mark.color!, DARK_PAGE)).toBeGreaterThan(4.5);
    expect(contrast(dark['gauge-peak'].mark.color!, DARK_PAGE)).toBeGreaterThan(4.5);
    expect(dark['gauge-track'].mark.color).toBe(DARK.grid); // not a glaring light bar
    expect(themeSpec(gauges, false)).toEqual(gauges);
  });
});
