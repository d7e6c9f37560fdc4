// The %%track live panel in a real JupyterLab: charts fill while the cell runs, the
// status is in view, and the finished cell keeps a static picture of the charts.
import { expect, test } from '@jupyterlab/galata';
import { openNotebook, sample } from './helpers';

const SETUP = '%load_ext nbtrack\nimport math, time\nimport nbtrack';
// The run name carries markup on purpose: the panel must show it as text.
const NAME = '<b>ui-demo</b>';
const TRAIN = [
  `%%track ${NAME}`,
  'for step in range(500):',
  "    nbtrack.log({'loss': math.exp(-step / 60), 'acc': 1 - math.exp(-step / 90)})",
  '    time.sleep(0.025)'
].join('\n');

// A laptop-sized window: the notebook's output area fits two charts side by side.
test.use({ viewport: { width: 1366, height: 900 } });

test('the live panel updates while the cell runs, then leaves a picture', async ({
  page,
  tmpPath
}, testInfo) => {
  await openNotebook(page, tmpPath, 'live.ipynb', [SETUP, TRAIN]);
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
});
