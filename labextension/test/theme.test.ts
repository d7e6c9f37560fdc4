import { DARK, LIGHT, isDarkTheme, vegaConfig } from '../src/theme';

// Relative luminance (WCAG) of a #rrggbb colour, to check text stands out from the page.
function luminance(hex: string): number {
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
