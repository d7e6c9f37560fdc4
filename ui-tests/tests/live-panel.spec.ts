// The %%track live panel in a real JupyterLab: charts fill while the cell runs, the
// status is in view, logged media (images, a histogram over time, text, a table) show
// as they come, and the finished cell keeps a static picture of the charts and media.
import { expect, test } from '@jupyterlab/galata';
import type { Locator } from '@playwright/test';
import { openNotebook, sample } from './helpers';

const SETUP = '%load_ext nbtrack\nimport math, time\nimport nbtrack';
// The run name carries markup on purpose: the panel must show it as text.
const NAME = '<b>ui-demo</b>';
// So do captions, text and table cells.
const EVIL = '<img src=x onerror=alert(1)>';
const TRAIN = [
  `%%track ${NAME}`,
  'import numpy as np',
  `EVIL = ${JSON.stringify(EVIL)}`,
  'for step in range(500):',
  "    row = {'loss': math.exp(-step / 60), 'acc': 1 - math.exp(-step / 90)}",
  '    if step % 25 == 0:',
  "        row['samples'] = [nbtrack.Image(np.random.rand(32, 32), caption=EVIL if i == 0 else f'#{i}')",
  '                          for i in range(3)]',
  "        row['weights'] = nbtrack.Histogram(np.random.normal(step / 100, 1, 1000))",
  "        row['sample'] = nbtrack.Text(f'{EVIL} at step {step}')",
  "        row['preds'] = nbtrack.Table(columns=['step', EVIL], data=[[step, EVIL]])",
  '    nbtrack.log(row)',
  '    time.sleep(0.025)'
].join('\n');

// A laptop-sized window: the notebook's output area fits two charts side by side.
test.use({ viewport: { width: 1366, height: 900 } });

test('the live panel updates while the cell runs, then leaves a picture', async ({
  page,
  tmpPath
}, testInfo) => {
  const dialogs: string[] = [];
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  // A notebook that loads nbtrack: as its kernel starts, the page asks the server to start
  // the picture helper with that kernel's Python (its live cells then find vl-convert warm).
  const warmed = page.waitForResponse(
    response => response.url().includes('/nbtrack/pictures/warm') && response.request().method() === 'POST',
    { timeout: 60000 }
  );
  await openNotebook(page, tmpPath, 'live.ipynb', [SETUP, TRAIN]);
  const warm = await warmed;
  expect(warm.status()).toBe(200);
  expect(await warm.json()).toEqual({ started: true });
  await page.notebook.runCell(0, { inplace: true });

  const running = page.notebook.runCell(1, { inplace: true, wait: false });
  await running;
  const cell = page.locator('.jp-Notebook .jp-Cell').nth(1);
  const panel = cell.locator('.nbtrack-panel');
  const loss = panel.locator('.nbtrack-chart[data-key="loss"]');
  await expect(panel).toHaveAttribute('data-status', 'running', { timeout: 60000 });
  await expect(loss.locator('canvas')).toBeVisible({ timeout: 60000 });

  let shot = false;
  const counts = await sample(
    async () => {
      const count = Number(await loss.getAttribute('data-points'));
      if (!shot && count >= 100) {
        // Mid-run: the header says running and the curves are half drawn.
        shot = true;
        await expect(panel.locator('.nbtrack-name')).toHaveText(NAME);
        await expect(panel.locator('.nbtrack-name b')).toHaveCount(0);
        await expect(panel.locator('.nbtrack-status')).toHaveText('running');
        await expect(panel.locator('.nbtrack-chip').first()).toBeVisible();
        await expectMedia(panel);
        await expectTooltip(loss);
        await cell.screenshot({ path: testInfo.outputPath('live-panel-running.png') });
      }
      return count;
    },
    async () => (await panel.count()) === 0 || (await panel.getAttribute('data-status')) !== 'running',
    300,
    60000
  );
  testInfo.annotations.push({ type: 'points seen while running', description: counts.join(',') });
  const rising = counts.filter((count, i) => i > 0 && count > counts[i - 1]).length;
  expect(rising, `points per poll: ${counts.join(',')}`).toBeGreaterThanOrEqual(3);
  expect(shot, 'a screenshot was taken while the cell ran').toBe(true);

  // The run ends: the widget gives way to the static SVG picture of the final charts.
  const picture = cell.locator('.jp-RenderedSVG, .jp-RenderedImage');
  await expect(picture).toBeVisible({ timeout: 60000 });
  await expect(panel).toHaveCount(0);
  await cell.screenshot({ path: testInfo.outputPath('live-panel-finished.png') });
  expect(dialogs, 'no markup from the run ever ran').toEqual([]);
});

// The crosshair tooltip over a live chart: the run's name (as text), the step and the value.
async function expectTooltip(chart: Locator): Promise<void> {
  const page = chart.page();
  const box = await chart.locator('canvas').boundingBox();
  expect(box, 'the live chart').not.toBeNull();
  const tooltip = page.locator('#vg-tooltip-element');
  // Streamed points move the plot under the pointer, and a redraw between showing the
  // tooltip and reading it hides it (its text is then ""): move again until it is read.
  let text = '';
  await expect(async () => {
    for (const x of [0.45, 0.5]) {
      await page.mouse.move(box!.x + box!.width * x, box!.y + box!.height * 0.5);
    }
    await expect(tooltip).toBeVisible({ timeout: 1000 });
    text = await tooltip.innerText();
    expect(text).not.toBe('');
  }).toPass({ timeout: 15000 });
  expect(text).toContain('run');
  expect(text).toContain(NAME);
  expect(text).toContain('step');
  expect(text).not.toContain('undefined');
  // The pointer rests while points stream in and the x axis grows under it: the crosshair
  // and its tooltip follow what is under the pointer now (a later step), as on W&B and
  // TensorBoard, not the step hovered first (it slides left, away from the pointer).
  const first = stepOf(text);
  await expect
    .poll(async () => stepOf(await tooltip.innerText()), {
      message: `the tooltip's step under a still pointer (first ${first})`,
      timeout: 10000
    })
    .toBeGreaterThan(first);
  await page.mouse.move(0, 0);
}

function stepOf(tooltipText: string): number {
  const found = /step\s+([\d,]+)/.exec(tooltipText);
  return found ? Number(found[1].replace(/,/g, '')) : NaN;
}

// The media part while the cell runs: every user string shown as text, images loaded.
async function expectMedia(panel: Locator): Promise<void> {
  const images = panel.locator('.nbtrack-media-image[data-key="samples"]');
  await expect(images.locator('img')).toHaveCount(3);
  await expect(images.locator('figcaption').first()).toHaveText(EVIL);
  await expect(images.locator('.nbtrack-media-title')).toContainText('samples · step');
  const loaded = await images
    .locator('img')
    .evaluateAll((nodes) => nodes.map((node) => (node as HTMLImageElement).naturalWidth));
  expect(loaded).toEqual([32, 32, 32]);
  await expect(panel.locator('.nbtrack-media-text pre')).toContainText(`${EVIL} at step`);
  await expect(panel.locator('.nbtrack-media-table td', { hasText: EVIL })).toHaveCount(1);
  await expect(panel.locator('.nbtrack-media-table th', { hasText: EVIL })).toHaveCount(1);
  await expect(panel.locator('.nbtrack-media-histogram canvas')).toBeVisible({ timeout: 30000 });
  // Drawn on the page's own background, as the charts are (Vega-Lite's default is a white box,
  // which stands out on a dark theme): a corner of the canvas is left transparent.
  const corner = await panel
    .locator('.nbtrack-media-histogram canvas')
    .evaluate(node => (node as HTMLCanvasElement).getContext('2d')!.getImageData(1, 1, 1, 1).data[3]);
  expect(corner, "alpha of the histogram's top-left pixel").toBe(0);
  await expect(panel.locator('.nbtrack-media img')).toHaveCount(3); // no injected <img>
}

// Smoothing and a log y axis, as on TensorBoard: redrawn in the browser while the kernel is
// busy training, the points streamed before and after the change all smoothed.
test('smoothing and a log y axis redraw the live charts while the cell runs', async ({
  page,
  tmpPath
}, testInfo) => {
  const noisy = [
    '%%track noisy',
    'import random',
    'random.seed(0)',
    'for step in range(1200):',
    "    nbtrack.log({'loss': math.exp(-step / 300) * (1 + 0.5 * random.random()), 'epoch': step // 100})",
    '    time.sleep(0.02)'
  ].join('\n');
  await openNotebook(page, tmpPath, 'smooth.ipynb', [SETUP, noisy]);
  await page.notebook.runCell(0, { inplace: true });
  await page.notebook.runCell(1, { inplace: true, wait: false });
  const cell = page.locator('.jp-Notebook .jp-Cell').nth(1);
  const panel = cell.locator('.nbtrack-panel');
  const loss = panel.locator('.nbtrack-chart[data-key="loss"]');
  const points = async (): Promise<number> => Number(await loss.getAttribute('data-points'));
  await expect(loss.locator('canvas')).toBeVisible({ timeout: 60000 });
  await expect.poll(points, { timeout: 30000 }).toBeGreaterThan(50);

  await panel.locator('input.nbtrack-smoothing').fill('0.9');
  await panel.locator('input.nbtrack-log').check();
  await expect(loss).toHaveAttribute('data-drawing', '0.9:true:step');
  await expect(panel.locator('.nbtrack-smoothing-value')).toHaveText('0.9');
  // Points keep arriving and each is drawn smoothed: a calmer curve than the raw one.
  const before = await points();
  await expect.poll(points, { timeout: 30000 }).toBeGreaterThan(before + 20);
  const drawn = await loss.evaluate(box => {
    const view = (box as HTMLElement & { nbtrackView: import('vega').View }).nbtrackView;
    const rows = view.data('points') as { value: number; smoothed: number }[];
    const jumps = (field: 'value' | 'smoothed'): number =>
      rows.slice(1).reduce((sum, row, i) => sum + Math.abs(row[field] - rows[i][field]), 0);
    return {
      n: rows.length,
      all: rows.every(row => Number.isFinite(row.smoothed)),
      raw: jumps('value'),
      smooth: jumps('smoothed'),
      scale: (view.scale('y') as unknown as { type: string }).type
    };
  });
  expect(drawn.n).toBeGreaterThan(before);
  expect(drawn.all, 'every point streamed has its smoothed value').toBe(true);
  expect(drawn.smooth).toBeLessThan(drawn.raw / 2);
  expect(drawn.scale).toBe('log');
  await cell.screenshot({ path: testInfo.outputPath('live-panel-smoothed-light.png') });
  await page.theme.setDarkTheme();
  // Drawn again in the dark theme's colours, still smoothed: the gauges' reading is light.
  const reading = panel.locator('.nbtrack-gauges svg text', { hasText: '%' }).first();
  await expect(reading).toHaveAttribute('fill', '#e0e0e0', { timeout: 15000 });
  await expect(loss).toHaveAttribute('data-drawing', '0.9:true:step');
  await cell.screenshot({ path: testInfo.outputPath('live-panel-smoothed-dark.png') });
  await page.theme.setLightTheme();

  // Against the time since the run's first point: the axis spans the seconds the run has run.
  await panel.locator('select.nbtrack-x').selectOption('relative');
  await expect(loss).toHaveAttribute('data-drawing', '0.9:true:relative');
  const along = await loss.evaluate(box => {
    const view = (box as HTMLElement & { nbtrackView: import('vega').View }).nbtrackView;
    const rows = view.data('points') as { step: number; relative: number }[];
    const domain = (view.scale('x') as unknown as { domain: () => number[] }).domain();
    return { rows: rows.length, timed: rows.every(row => Number.isFinite(row.relative)), domain };
  });
  expect(along.timed, 'every point has its time').toBe(true);
  expect(along.domain[0]).toBeGreaterThanOrEqual(0);
  expect(along.domain[1]).toBeGreaterThan(1); // seconds: 1200 steps of 20 ms, not steps
  expect(along.domain[1]).toBeLessThan(120);
  await cell.screenshot({ path: testInfo.outputPath('live-panel-relative-light.png') });

  // Against another logged metric (the epoch): each point at the epoch of its step.
  await panel.locator('select.nbtrack-x').selectOption('epoch');
  await expect(loss).toHaveAttribute('data-drawing', '0.9:true:epoch');
  const epochs = await loss.evaluate(box => {
    const view = (box as HTMLElement & { nbtrackView: import('vega').View }).nbtrackView;
    const rows = view.data('points') as { step: number; x: number }[];
    return rows.map(row => [row.step, row.x]);
  });
  expect(epochs.length).toBeGreaterThan(10);
  // bucket means of step // 100 at the bucket's first step: never ahead of it
  expect(epochs.every(([step, x]) => x >= Math.floor(step / 100) - 0.001 && x <= step / 100 + 1)).toBe(true);
  await panel.locator('select.nbtrack-x').selectOption('step');

  // Back to plain: the raw points again, on a linear axis.
  await panel.locator('input.nbtrack-smoothing').fill('0');
  await panel.locator('input.nbtrack-log').uncheck();
  await expect(loss).toHaveAttribute('data-drawing', '0:false:step');
  const scale = await loss.evaluate(box => {
    const view = (box as HTMLElement & { nbtrackView: import('vega').View }).nbtrackView;
    return (view.scale('y') as unknown as { type: string }).type;
  });
  expect(scale).toBe('linear');
});
