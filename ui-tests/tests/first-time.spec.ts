// A first-time user's path in a real JupyterLab (issue 18): the demo's runs show in the
// sidebar when `nbtrack demo` ran where the README says (the notebooks' folder); the sidebar
// fits its controls at its default width; a report opens in a new tab; "Open" scrolls to
// the run's cell in a notebook that was closed; selected rows and the live panel's picture
// read in the dark theme. Leaves screenshots in tests/artifacts/first-time-*.png.
import * as path from 'path';
import { expect, galata, test } from '@jupyterlab/galata';
import type { Page } from '@playwright/test';
import { openNotebook } from './helpers';

const artifact = (name: string): string => path.resolve(__dirname, '..', '..', 'tests', 'artifacts', name);

test.use({ viewport: { width: 1400, height: 900 } });

// A 480x320 PNG (one colour), the saved output of the long notebook's cells.
const PICTURE =
  'iVBORw0KGgoAAAANSUhEUgAAAeAAAAFACAIAAADrqjgsAAADcElEQVR42u3UQREAMAjAsDFxCEMTArEBd4mEPhpZ/QDY50sAYNAAGDSAQQNg0AAGDYBBA2DQAAYNgEEDGDQABg2AQQMYNAAGDWDQABg0gEEDYNAAGDSAQQNg0AAGDYBBA2DQAAYNgEEDGDQABg1g0AAYNAAGDWDQABg0gEEDYNAAGDSAQQNg0AAGDYBBAxg0AAYNgEEDGDQABg1g0AAYNAAGDWDQABg0gEEDYNAAGDSAQQNg0AAGDYBBAxg0AAYNgEEDGDQABg1g0AAYNAAGDWDQABg0gEEDYNAABg2AQQNg0AAGDYBBAxg0AAYNgEEDGDQABg1g0AAYNIBBA2DQABg0gEEDYNAABg2AQQNg0AAGDYBBAxg0AAYNgEEDGDQABg1g0AAYNIBBA2DQABg0gEEDYNAABg2AQQNg0AAGDYBBAxg0AAYNYNAAGDQABg1g0AAYNIBBA2DQABg0gEEDYNAABg2AQQMYNAAGDYBBAxg0AAYNYNAAGDQABg1g0AAYNIBBA2DQABg0gEEDYNAABg2AQQMYNAAGDYBBAxg0AAYNYNAAGDQABg1g0AAYNIBBA2DQAAYNgEEDYNAABg2AQQMYNAAGDYBBAxg0AAYNYNAAGDSAQQNg0AAYNIBBA2DQAAYNgEEDYNAABg2AQQMYNAAGDYBBAxg0AAYNYNAAGDSAQQNg0AAYNIBBA2DQAAYNgEEDYNAABg2AQQMYNAAGDWDQABg0AAYNYNAAGDSAQQNg0AAYNIBBA2DQAAYNgEEDGDQABg2AQQMYNAAGDWDQABg0AAYNYNAAGDSAQQNg0AAYNIBBA2DQAAYNgEEDGDQABg2AQQMYNAAGDWDQABg0AAYNYNAAGDSAQQNg0AAGDYBBA2DQAAYNgEEDGDQABg2AQQMYNAAGDWDQABg0gEEDYNAAGDSAQQNg0AAGDYBBA2DQAAYNgEEDGDQABg1g0BIAGDQABg1g0AAYNIBBA2DQABg0gEEDYNAABg2AQQNg0AAGDYBBAxg0AAYNYNAAGDQABg1g0AAYNIBBA2DQABg0gEEDYNAABg2AQQMYNAAGDYBBAxg0AAYNYNAAGDQABg1g0AAYNIBBA2DQAAYNgEEDYNAABg2AQQMYNAAGDYBBAxg0AAYNYNAAGDQABg1g0AAYNIBBA2DQAAYNgEEDYNAAFw1x5QP85U8R6gAAAABJRU5ErkJggg==';

/** WCAG contrast of two computed CSS colours (`rgb(...)`, or `color(srgb ...)` from color-mix). */
function contrast(a: string, b: string): number {
  const lum = (css: string): number => {
    const scale = css.startsWith('color(') ? 255 : 1; // color(srgb r g b): channels 0..1
    const [r, g, bl] = (css.replace(/^color\(srgb/, '').match(/[\d.]+/g) ?? ['0', '0', '0'])
      .slice(0, 3)
      .map(v => Number(v) * scale);
    const lin = (c: number): number => {
      const s = c / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(bl);
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

/** The colour a row's text sits on: the first non-transparent background up the tree. */
async function rowColours(page: Page, selector: string): Promise<[string, string]> {
  return page
    .locator(selector)
    .first()
    .evaluate(node => {
      const name = node.querySelector('.nbtrack-run-name') as HTMLElement;
      let at: HTMLElement | null = node as HTMLElement;
      let background = 'rgba(0, 0, 0, 0)';
      while (at) {
        const colour = getComputedStyle(at).backgroundColor;
        if (colour !== 'rgba(0, 0, 0, 0)' && colour !== 'transparent') {
          background = colour;
          break;
        }
        at = at.parentElement;
      }
      return [getComputedStyle(name).color, background] as [string, string];
    });
}

test('the demo runs show in the sidebar at its default width, light and dark', async ({ page, tmpPath }) => {
  // The README: `cd example_notebooks && nbtrack demo`, then Lab opens the notebook there. A
  // notebook's kernel runs in its folder, so `!nbtrack demo` in it is that same command.
  await openNotebook(page, tmpPath, 'quickstart.ipynb', ['!nbtrack demo --runs 3 --steps 20']);
  await page.notebook.runCell(0, { inplace: true });
  await page.sidebar.openTab('nbtrack-sidebar');
  const panel = page.locator('#nbtrack-sidebar');
  const rows = panel.locator('.nbtrack-run');
  await expect(rows).toHaveCount(3, { timeout: 30000 });
  await expect(rows.locator('.nbtrack-run-name')).toHaveText([/^lr=/, /^lr=/, /^lr=/]);
  // Durations in the one style: `2.3 s`, `45 ms`, `1m 05s`.
  for (const text of await rows.locator('.nbtrack-run-duration').allTextContents()) {
    expect(text).toMatch(/^(\d+ ms|\d+\.\d s|\d+m \d\ds)$/);
  }

  // Summary metrics with at most 4 significant digits (nbtrack.formatting's rule).
  const values = await rows.locator('.nbtrack-metric-value').allTextContents();
  expect(values.length).toBeGreaterThanOrEqual(6);
  for (const text of values) {
    const digits = text.replace(/^-/, '').replace(/e.*$/, '').replace('.', '').replace(/^0+/, '');
    expect(digits.length, text).toBeLessThanOrEqual(4);
  }

  // At the width JupyterLab gives the sidebar, no control is cut off or pushed out.
  const width = await panel.evaluate(node => node.getBoundingClientRect().width);
  expect(width).toBeLessThan(400); // the default, not a test's setWidth
  const clipped = await panel.evaluate(node => {
    const right = node.getBoundingClientRect().right;
    const out: string[] = [];
    for (const control of Array.from(
      node.querySelectorAll('.nbtrack-top select, .nbtrack-top input, .nbtrack-actions button')
    )) {
      const box = control.getBoundingClientRect();
      const element = control as HTMLElement;
      if (
        box.right > right + 0.5 ||
        (control.tagName === 'BUTTON' && element.scrollWidth > element.clientWidth + 1)
      ) {
        out.push(`${control.tagName}.${element.className} ${element.textContent ?? ''}`);
      }
      if (control.tagName === 'SELECT' && !element.classList.contains('nbtrack-store')) {
        // (The store picker shows a path, which may be longer than any sidebar.)
        const select = control as HTMLSelectElement;
        const label = select.selectedOptions[0]?.textContent ?? '';
        // The chosen option must fit: measure it in the select's font.
        const probe = document.createElement('span');
        probe.style.font = getComputedStyle(select).font;
        probe.style.position = 'absolute';
        probe.textContent = label;
        document.body.append(probe);
        const needed = probe.getBoundingClientRect().width + 24; // the arrow and padding
        probe.remove();
        if (needed > box.width) {
          out.push(`select ${select.className} "${label}" needs ${needed} of ${box.width}`);
        }
      }
    }
    return out;
  });
  expect(clipped).toEqual([]);

  await rows.nth(1).locator('.nbtrack-run-name').click();
  await expect(panel.locator('.nbtrack-run.nbtrack-selected')).toHaveCount(1);
  // Read until settled: a theme's stylesheet (and any transition) lands after its attribute.
  const selectedContrast = async (): Promise<number> =>
    contrast(...(await rowColours(page, '#nbtrack-sidebar .nbtrack-run.nbtrack-selected')));
  await expect.poll(selectedContrast, { timeout: 10000 }).toBeGreaterThan(4.5);
  await panel.screenshot({ path: artifact('first-time-sidebar-light.png') });

  await page.theme.setDarkTheme();
  await expect(page.locator('body')).toHaveAttribute('data-jp-theme-light', 'false');
  await expect.poll(selectedContrast, { timeout: 10000 }).toBeGreaterThan(4.5);
  await panel.screenshot({ path: artifact('first-time-sidebar-dark.png') });
  await page.theme.setLightTheme();
});

test('a report opens in a new tab, its charts drawn', async ({ page, tmpPath }) => {
  await openNotebook(page, tmpPath, 'report.ipynb', ['!nbtrack demo --runs 2 --steps 20']);
  await page.notebook.runCell(0, { inplace: true });
  await page.sidebar.openTab('nbtrack-sidebar');
  const panel = page.locator('#nbtrack-sidebar');
  await expect(panel.locator('.nbtrack-run')).toHaveCount(2, { timeout: 30000 });
  await panel.locator('.nbtrack-report').click();
  const link = panel.locator('a.nbtrack-report-link');
  await expect(link).toBeVisible({ timeout: 60000 });
  expect(await link.getAttribute('href')).toContain('/nbtrack/report/file?path=');
  const [tab] = await Promise.all([page.waitForEvent('popup'), link.click()]);
  const answer = await tab
    .waitForResponse(r => r.url().includes('/nbtrack/report/file'), { timeout: 30000 })
    .catch(() => null);
  if (answer) {
    expect(answer.status()).toBe(200);
  }
  await tab.waitForLoadState();
  await expect(tab.locator('h1')).toBeVisible();
  await expect(tab.locator('body')).not.toContainText('Blocking request');
  await expect(tab.locator('svg').first()).toBeVisible({ timeout: 30000 }); // Vega ran in the sandboxed page
  await tab.screenshot({ path: artifact('first-time-report-tab.png') });
  await tab.close();
});

test.describe('with windowed notebooks', () => {
  // JupyterLab's "full" windowing draws only the cells in view and estimates the others'
  // heights, which is where one scroll to a far cell of a just-opened notebook falls short.
  test.use({
    mockSettings: {
      ...galata.DEFAULT_SETTINGS,
      '@jupyterlab/notebook-extension:tracker': { windowingMode: 'full' }
    }
  });

  test('Open scrolls to the run cell of a notebook that was closed', async ({ page, tmpPath }) => {
    // A long notebook: 40 cells above the run's, each with a saved picture, so a freshly
    // opened notebook learns its cells' heights only as the images load.
    const filler = Array.from({ length: 40 }, (_, i) => ({
      cell_type: 'code',
      id: `filler-${i}`,
      metadata: {},
      execution_count: null,
      outputs: [
        {
          output_type: 'display_data',
          metadata: {},
          data: { 'image/png': PICTURE, 'text/plain': 'a picture' }
        }
      ],
      source: `show_picture()  # filler cell ${i}`
    }));
    const code = (id: string, source: string): Record<string, unknown> => ({
      cell_type: 'code',
      id,
      metadata: {},
      execution_count: null,
      outputs: [],
      source
    });
    const notebook = {
      nbformat: 4,
      nbformat_minor: 5,
      metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' } },
      cells: [
        code('setup', '%load_ext nbtrack\nimport nbtrack'),
        ...filler,
        code(
          'run',
          "%%track far-down --no-live\nfor step in range(5):\n    nbtrack.log({'loss': 1 / (step + 1)}, step=step)"
        ),
        ...filler.slice(0, 5).map((cell, i) => ({ ...cell, id: `after-${i}` }))
      ]
    };
    const where = `${tmpPath}/long.ipynb`;
    await page.contents.uploadContent(JSON.stringify(notebook), 'text', where);
    await page.notebook.openByPath(where);
    await page.notebook.activate('long.ipynb');
    await page.notebook.runCell(0, { inplace: true });
    await page.notebook.runCell(41, { inplace: true });
    await page.sidebar.openTab('nbtrack-sidebar');
    const panel = page.locator('#nbtrack-sidebar');
    const rows = panel.locator('.nbtrack-run');
    await expect(rows).toHaveCount(1, { timeout: 30000 });
    await page.notebook.save();
    await page.notebook.close(true);
    await expect(page.locator('.jp-NotebookPanel')).toHaveCount(0);

    await rows.first().locator('.nbtrack-run-name').click();
    await panel.locator('.nbtrack-open').click();
    const active = page.locator('.jp-NotebookPanel .jp-Cell.jp-mod-active');
    await expect(active).toContainText('%%track far-down', { timeout: 30000 });
    await expect(active.locator('.jp-InputArea')).toBeInViewport({ timeout: 10000 });
    await page.screenshot({ path: artifact('first-time-open-at-cell.png') });
  });
});

test('the live panel leaves a picture that reads in the dark theme', async ({ page, tmpPath }) => {
  const cells = [
    '%load_ext nbtrack\nimport math\nimport nbtrack',
    "%%track picture\nfor step in range(50):\n    nbtrack.log({'loss': math.exp(-step / 10), 'acc': 1 - math.exp(-step / 15)}, step=step)"
  ];
  await openNotebook(page, tmpPath, 'picture.ipynb', cells);
  await page.notebook.runCell(0, { inplace: true });
  await page.notebook.runCell(1, { inplace: true });
  const picture = page
    .locator('.jp-OutputArea-output img[src^="data:image/svg+xml"], .jp-RenderedSVG img, .jp-RenderedSVG svg')
    .first();
  await expect(picture).toBeVisible({ timeout: 60000 });
  const output = page.locator('.jp-Cell').nth(1).locator('.jp-OutputArea');
  await output.screenshot({ path: artifact('first-time-picture-light.png') });
  await page.theme.setDarkTheme();
  await expect(page.locator('body')).toHaveAttribute('data-jp-theme-light', 'false');
  await output.screenshot({ path: artifact('first-time-picture-dark.png') });
  // No white box: the picture's pixels mostly show the dark page through it.
  const light = await picture.evaluate(async node => {
    const img = node as HTMLImageElement;
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth || 400;
    canvas.height = img.naturalHeight || 300;
    const ctx = canvas.getContext('2d') as CanvasRenderingContext2D;
    ctx.drawImage(img, 0, 0);
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    let opaqueWhite = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] > 200 && data[i] > 230 && data[i + 1] > 230 && data[i + 2] > 230) {
        opaqueWhite += 1;
      }
    }
    return opaqueWhite / (data.length / 4);
  });
  expect(light).toBeLessThan(0.2);
  await page.theme.setLightTheme();
});

test('the compare table shows formatted cells and reads in the dark theme', async ({ page, tmpPath }) => {
  await openNotebook(page, tmpPath, 'compare.ipynb', [
    '!nbtrack demo --runs 3 --steps 20',
    "import nbtrack\nnbtrack.compare(project='demo')"
  ]);
  await page.notebook.runCell(0, { inplace: true });
  await page.notebook.runCell(1, { inplace: true });
  const widget = page.locator('.nbtrack-compare');
  const rows = widget.locator('.nbtrack-cmp-table tbody tr');
  await expect(rows).toHaveCount(3, { timeout: 60000 });
  const head = (await widget.locator('.nbtrack-cmp-table thead th').allTextContents()).map(
    t => t.split(' ')[0]
  );
  const cells = await rows.first().locator('td').allTextContents();
  const cell = (column: string): string => cells[head.indexOf(column)];
  expect(cell('created_at')).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  expect(cell('duration')).toMatch(/^(\d+ ms|\d+\.\d s)$/);
  expect(cell('summary.loss').replace('★ ', '')).toMatch(/^0\.\d{1,4}$/);
  await rows.nth(1).locator('input[type=checkbox]').check();
  await expect(widget.locator('tr.nbtrack-cmp-selected')).toHaveCount(1);
  const colours = async (): Promise<[string, string]> =>
    widget
      .locator('tr.nbtrack-cmp-selected')
      .evaluate(row => [
        getComputedStyle(row.querySelectorAll('td')[1]).color,
        getComputedStyle(row).backgroundColor
      ]);
  // Read until settled, as in the sidebar's test above.
  const rowContrast = async (): Promise<number> => contrast(...(await colours()));
  await expect.poll(rowContrast, { timeout: 10000 }).toBeGreaterThan(4.5);
  const table = widget.locator('.nbtrack-cmp-tablewrap');
  await table.screenshot({ path: artifact('first-time-compare-light.png') });
  await page.theme.setDarkTheme();
  await expect(page.locator('body')).toHaveAttribute('data-jp-theme-light', 'false');
  await expect.poll(rowContrast, { timeout: 10000 }).toBeGreaterThan(4.5);
  await table.screenshot({ path: artifact('first-time-compare-dark.png') });
  await page.theme.setLightTheme();
});
