// nbtrack.compare() in a real JupyterLab: the table lists the runs (names as text, never
// markup) with each run's colour, and ticking two runs draws their overlaid curves, by
// section, and their media side by side. Saved and reopened, when the widget's model is
// gone, the notebook shows the widget's still picture instead (also when untrusted).
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
  "        row = {'loss': math.exp(-step * lr), 'acc': 1 - math.exp(-step * lr), 'val/loss': 1 / (step + 1)}",
  '        if step % 50 == 0:',
  "            row['samples'] = nbtrack.Image(np.full((16, 16), 60 * i + step // 50, dtype=np.uint8), caption=EVIL)",
  "            row['weights'] = nbtrack.Histogram(np.random.normal(step * lr, 1, 500))",
  "            row['preds'] = nbtrack.Table(columns=['step', 'label'], data=[[step, EVIL]])",
  '        nbtrack.log(row)',
  '    nbtrack.finish()',
  'nbtrack.compare(project=project)'
].join('\n');

test.use({ viewport: { width: 1366, height: 1500 } });
test.setTimeout(300000); // runs, draws, saves, reopens twice

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
  await expect(loss.locator('svg, canvas').first()).toBeVisible({
    timeout: 60000
  });
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

  // Sections by prefix; a swatch per run in the run's curve colour; x = any choice.
  const sections = widget.locator('.nbtrack-cmp-section-title');
  await expect(sections).toHaveText(['charts', 'val']);
  const swatches = widget.locator('.nbtrack-cmp-table tbody .nbtrack-cmp-swatch');
  await expect(swatches).toHaveCount(3);
  const first = await swatches.nth(0).getAttribute('title');
  expect(first).toMatch(/^#[0-9a-f]{6}$/);
  await expect(loss.locator(`path[stroke="${first}"]`).first()).toBeAttached();
  const x = widget.locator('select.nbtrack-cmp-x');
  await expect(x.locator('option')).toHaveText(['step', 'relative', 'wall', 'acc', 'loss', 'val/loss']);
  await x.selectOption('relative');
  await expect(loss.locator('svg text', { hasText: 'relative time (s)' })).toBeVisible({ timeout: 60000 });
  // The still picture is there for later, hidden while the widget is drawn.
  await expect(cell.locator('.nbtrack-compare-static')).toBeHidden();
  // Charts on the page's background in either theme (no white boxes in the dark one).
  const charts = widget.locator('.nbtrack-cmp-overlays');
  const table = widget.locator('.nbtrack-cmp-tablewrap');
  await expect(loss.locator('svg > rect[fill="white"]')).toHaveCount(0);
  await table.screenshot({ path: '../tests/artifacts/compare-table-light.png' });
  await charts.screenshot({ path: '../tests/artifacts/compare-light.png' });
  await page.theme.setDarkTheme();
  await expect(loss.locator('svg text', { hasText: 'relative time (s)' })).toBeVisible();
  await expect(loss.locator('svg > rect[fill="white"]')).toHaveCount(0);
  await page.waitForTimeout(500); // the charts redrawn in the dark theme's colours
  await table.screenshot({ path: '../tests/artifacts/compare-table-dark.png' });
  await charts.screenshot({ path: '../tests/artifacts/compare-dark.png' });
  await page.theme.setLightTheme();

  // Saved, closed and reopened: the widget's model is gone; its picture, drawn for the
  // last selection, shows instead.
  await expect
    .poll(async () => (await cell.locator('.nbtrack-compare-static').innerHTML()).includes('2 selected'), {
      timeout: 60000
    })
    .toBe(true);
  await page.notebook.save();
  await page.kernel.shutdownAll();
  await page.notebook.close(true);
  await page.notebook.openByPath(`${tmpPath}/compare.ipynb`);
  await page.notebook.activate('compare.ipynb');
  const again = page.locator('.jp-Notebook .jp-Cell').first();
  const still = again.locator('.nbtrack-compare-static');
  await expect(still).toBeVisible({ timeout: 60000 });
  await expect(still.locator('tbody tr')).toHaveCount(3);
  await expect(still.locator('tbody td', { hasText: EVIL })).toHaveCount(1); // text, not markup
  await expect(still.locator('tbody img')).toHaveCount(0);
  const picture = still.locator('img');
  await expect(picture).toHaveCount(1);
  await expect.poll(() => picture.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBeGreaterThan(400);
  await again.screenshot({ path: '../tests/artifacts/compare-reopened.png' });
  await page.theme.setDarkTheme();
  await again.screenshot({
    path: '../tests/artifacts/compare-reopened-dark.png'
  });
  await page.theme.setLightTheme();

  // The same file, untrusted (written as plain text, as a git clone writes it, so never
  // signed): the widget view is refused, and the picture, sanitised, still shows.
  const response = await page.request.get(`/api/contents/${tmpPath}/compare.ipynb?content=1&type=notebook`);
  const notebook = (await response.json()).content;
  await page.notebook.close(true);
  await page.contents.uploadContent(JSON.stringify(notebook), 'text', `${tmpPath}/untrusted.ipynb`);
  await page.notebook.openByPath(`${tmpPath}/untrusted.ipynb`);
  await page.notebook.activate('untrusted.ipynb');
  const untrusted = page.locator('.jp-Notebook .jp-Cell').first().locator('.nbtrack-compare-static');
  await expect(untrusted).toBeVisible({ timeout: 60000 });
  await expect(untrusted.locator('tbody tr')).toHaveCount(3);
  await expect
    .poll(() => untrusted.locator('img').evaluate((img: HTMLImageElement) => img.naturalWidth))
    .toBeGreaterThan(400);
});

// The sweep launcher (plain ipywidgets) leaves the same kind of still picture: hidden under
// the live form, shown once the notebook is reopened and the widget's model is gone.
const LAUNCH = [
  'import math, uuid',
  'import nbtrack',
  'def train(config):',
  "    nbtrack.log({'loss': (math.log10(config.lr) + 2) ** 2})",
  "launcher = nbtrack.sweep_launcher(train, {'method': 'grid', 'metric': {'name': 'loss'},",
  "    'parameters': {'lr': {'values': [0.001, 0.01, 0.1]}}}, project='ui-launch-' + uuid.uuid4().hex[:8])",
  'display(launcher)',
  'launcher.launch()',
  'launcher.wait(120)'
].join('\n');

test('the sweep launcher leaves a picture of its trials and charts', async ({ page, tmpPath }) => {
  await openNotebook(page, tmpPath, 'launcher.ipynb', [LAUNCH]);
  await page.notebook.runCell(0, { inplace: true });
  const cell = page.locator('.jp-Notebook .jp-Cell').first();
  const live = cell.locator('.nbtrack-launcher');
  await expect(live.locator('.nbtrack-trials tbody tr')).toHaveCount(3, { timeout: 60000 });
  await expect(cell.locator('.nbtrack-launcher-static')).toBeHidden();
  await expect
    .poll(async () => await cell.locator('.nbtrack-launcher-static img').count(), { timeout: 60000 })
    .toBe(3);
  await page.notebook.save();
  await page.kernel.shutdownAll();
  await page.notebook.close(true);
  await page.notebook.openByPath(`${tmpPath}/launcher.ipynb`);
  await page.notebook.activate('launcher.ipynb');
  const still = page.locator('.jp-Notebook .jp-Cell').first().locator('.nbtrack-launcher-static');
  await expect(still).toBeVisible({ timeout: 60000 });
  await expect(still.locator('tr[data-status="finished"]')).toHaveCount(3);
  const images = still.locator('img');
  await expect(images).toHaveCount(3);
  for (let i = 0; i < 3; i++) {
    await expect
      .poll(() => images.nth(i).evaluate((img: HTMLImageElement) => img.naturalWidth))
      .toBeGreaterThan(100);
  }
  await page
    .locator('.jp-Notebook .jp-Cell')
    .first()
    .screenshot({ path: '../tests/artifacts/launcher-reopened.png' });
});
