// nbtrack.compare() in a real JupyterLab: the table lists the runs (names as text, never
// markup), and ticking two runs draws their overlaid curves and their media side by side.
import { expect, test } from '@jupyterlab/galata';
import { openNotebook } from './helpers';

// The first run's name carries markup on purpose: the table must show it as text.
const EVIL = '<img src=x onerror=alert(1)>';
const CELL = [
  'import math, uuid',
  'import numpy as np',
  'import nbtrack',
  `EVIL = ${JSON.stringify(EVIL)}`,
  "project = 'ui-compare-' + uuid.uuid4().hex[:8]",
  'for i, lr in enumerate([0.1, 0.03, 0.01]):',
  `    nbtrack.init(name=${JSON.stringify(EVIL)} if i == 0 else f'cmp-{i}', project=project,`,
  "                 config={'lr': lr, 'depth': 2 + i % 2})",
  '    for step in range(200):',
  "        row = {'loss': math.exp(-step * lr), 'acc': 1 - math.exp(-step * lr)}",
  '        if step % 50 == 0:',
  "            row['samples'] = nbtrack.Image(np.full((16, 16), 60 * i + step // 50, dtype=np.uint8), caption=EVIL)",
  "            row['weights'] = nbtrack.Histogram(np.random.normal(step * lr, 1, 500))",
  "            row['preds'] = nbtrack.Table(columns=['step', 'label'], data=[[step, EVIL]])",
  '        nbtrack.log(row)',
  '    nbtrack.finish()',
  'nbtrack.compare(project=project)'
].join('\n');

test.use({ viewport: { width: 1366, height: 1500 } });

test('the compare widget lists runs and overlays the selected ones', async ({ page, tmpPath }) => {
  await openNotebook(page, tmpPath, 'compare.ipynb', [CELL]);
  await page.notebook.runCell(0, { inplace: true });
  const cell = page.locator('.jp-Notebook .jp-Cell').first();
  const widget = cell.locator('.nbtrack-compare');
  const rows = widget.locator('.nbtrack-cmp-table tbody tr');
  await expect(rows).toHaveCount(3, { timeout: 60000 });
  await expect(widget.locator('.nbtrack-cmp-table td', { hasText: EVIL })).toHaveCount(1);
  await expect(widget.locator('.nbtrack-cmp-table img')).toHaveCount(0);
  await expect(widget.locator('.nbtrack-cmp-best').first()).toBeVisible();

  await rows.nth(0).locator('input[type=checkbox]').check();
  await expect(widget).toHaveAttribute('data-selected', '1');
  await rows.nth(1).locator('input[type=checkbox]').check();
  await expect(widget).toHaveAttribute('data-selected', '2');
  const loss = widget.locator('.nbtrack-cmp-overlays .nbtrack-cmp-chart[data-key="loss"]');
  await expect(loss.locator('svg, canvas').first()).toBeVisible({ timeout: 60000 });
  await expect(widget.locator('.nbtrack-cmp-diff tr.nbtrack-cmp-differs')).toHaveCount(2);
  await expect(widget.locator('.nbtrack-cmp-params .nbtrack-cmp-chart svg').first()).toBeVisible();

  // Media: each run's images of one step side by side, histograms per run, latest tables.
  const media = widget.locator('.nbtrack-cmp-media');
  await expect(media.locator('.nbtrack-cmp-imgrun')).toHaveCount(2);
  await expect(media.locator('.nbtrack-cmp-imgrun img')).toHaveCount(2); // no injected <img>
  await expect(media.locator('figcaption', { hasText: EVIL })).toHaveCount(2);
  await expect(media.locator('.nbtrack-cmp-histograms .nbtrack-cmp-chart svg')).toHaveCount(2, {
    timeout: 60000
  });
  await expect(media.locator('.nbtrack-cmp-latests td', { hasText: EVIL })).toHaveCount(2);
  await expect(media.locator('.nbtrack-cmp-step')).toHaveValue('150');
  await media.locator('.nbtrack-cmp-step').selectOption('50');
  await expect(media.locator('.nbtrack-cmp-images')).toHaveAttribute('data-step', '50');
  await expect(media.locator('.nbtrack-cmp-step')).toHaveValue('50');
  await cell.screenshot({ path: '../tests/artifacts/compare.png' });
  await media.screenshot({ path: '../tests/artifacts/compare-media.png' });
});
