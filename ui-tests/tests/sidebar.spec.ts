// nbtrack's sidebar in a real JupyterLab: a notebook logs two runs, the panel lists them,
// both get selected, and the overlay chart (from the server's Vega-Lite spec) and the
// config diff appear. A run named with markup shows as text. Runs in each of the six
// statuses are listed with their colours and the status filter finds each. Leaves
// screenshots in tests/artifacts/ (sidebar.png, sidebar-media.png,
// sidebar-statuses-light.png and -dark.png).
import * as path from "path";
import { expect, test } from "@jupyterlab/galata";
import { openNotebook } from "./helpers";
import {
  CELLS,
  FIRST_CELLS,
  MEDIA_CELLS,
  STATUS_CELLS,
  XSS_NAME,
} from "./sidebar/cells";

const artifact = (name: string) =>
  path.resolve(__dirname, "..", "..", "tests", "artifacts", name);
const ARTIFACT = artifact("sidebar.png");
const MEDIA_ARTIFACT = artifact("sidebar-media.png");

test.use({ viewport: { width: 1400, height: 960 } });

test("the sidebar lists what a notebook just logged, overlays two runs and diffs their config", async ({
  page,
  tmpPath,
}, testInfo) => {
  const dialogs: string[] = [];
  page.on("dialog", (dialog) => {
    dialogs.push(dialog.message()); // an alert() would mean the run name ran as HTML
    void dialog.dismiss();
  });

  await openNotebook(page, tmpPath, "sidebar.ipynb", CELLS);
  for (let cell = 0; cell < FIRST_CELLS; cell++) {
    await page.notebook.runCell(cell, { inplace: true });
  }

  await page.sidebar.openTab("nbtrack-sidebar");
  await page.sidebar.setWidth(520, "left");
  const panel = page.locator("#nbtrack-sidebar");
  await expect(panel).toBeVisible();
  await expect(panel).toHaveAttribute("data-store", `${tmpPath}/.nbtrack`);

  const rows = panel.locator(".nbtrack-run");
  await expect(rows).toHaveCount(2, { timeout: 30000 });
  await expect(rows.locator(".nbtrack-run-name")).toHaveText([
    XSS_NAME,
    "baseline",
  ]);
  await expect(rows.first()).toHaveAttribute("data-status", "finished");
  await expect(panel.locator(".nbtrack-runs img")).toHaveCount(0);
  await expect(rows.last().locator(".nbtrack-tag")).toHaveText([
    "cnn",
    "small",
  ]);
  await expect(
    rows.last().locator('.nbtrack-metric[data-key="loss"]'),
  ).toBeVisible();

  // Select both (checkboxes add to the selection).
  await rows.nth(0).locator(".nbtrack-run-check").click();
  await rows.nth(1).locator(".nbtrack-run-check").click();
  await expect(panel.locator(".nbtrack-run.nbtrack-selected")).toHaveCount(2);

  // The overlay: the chart module's spec drawn by the bundled vega-embed, one line per run.
  const chart = panel.locator(".nbtrack-charts .nbtrack-chart");
  await expect(chart.locator("svg").first()).toBeVisible({ timeout: 30000 });
  await expect(panel.locator(".nbtrack-charts")).toHaveAttribute(
    "data-keys",
    "acc,loss",
  );
  await expect(chart.locator("svg .mark-line path").first()).toBeVisible();
  expect(
    await chart.locator("svg .mark-line path").count(),
  ).toBeGreaterThanOrEqual(4); // 2 runs x 2 metrics
  await expect(
    chart.locator("svg text", { hasText: XSS_NAME }).first(),
  ).toBeVisible(); // legend, as text

  // The config diff: lr differs, 0.3 against 0.1; the names head the columns, as text.
  const diff = panel.locator(".nbtrack-diff-config table");
  await expect(diff).toBeVisible();
  await expect(diff.locator("thead th")).toHaveText([
    "key",
    XSS_NAME,
    "baseline",
  ]);
  await expect(diff.locator('tr[data-key="lr"] td')).toHaveText([
    "lr",
    "0.3",
    "0.1",
  ]);
  await expect(panel.locator(".nbtrack-diff img")).toHaveCount(0);

  await panel.screenshot({ path: ARTIFACT });
  await page.screenshot({ path: testInfo.outputPath("sidebar-lab.png") });

  // As in the workspace: x = another metric, smoothing and a log y axis, drawn by the server.
  const loss = panel.locator('.nbtrack-charts [data-key="loss"]');
  await panel.locator("select.nbtrack-sb-x").selectOption("acc");
  await expect(loss.locator("svg text", { hasText: /^acc$/ }).first()).toBeVisible({
    timeout: 30000,
  }); // the x axis' title
  await panel.locator("input.nbtrack-sb-smoothing").fill("0.8");
  await panel.locator("input.nbtrack-sb-log").check();
  await expect(panel.locator(".nbtrack-sb-smoothing-value")).toHaveText("0.8");
  // the smoothed line over the faded raw one: twice the lines
  await expect
    .poll(async () => await loss.locator("svg .mark-line path").count(), { timeout: 30000 })
    .toBeGreaterThanOrEqual(4);
  await panel.screenshot({ path: artifact("sidebar-smoothed-light.png") });
  await page.theme.setDarkTheme();
  await panel.screenshot({ path: artifact("sidebar-smoothed-dark.png") });
  await page.theme.setLightTheme();
  await panel.locator("select.nbtrack-sb-x").selectOption("");
  await panel.locator("input.nbtrack-sb-smoothing").fill("0");
  await panel.locator("input.nbtrack-sb-log").uncheck();
  await expect
    .poll(async () => await loss.locator("svg .mark-line path").count(), { timeout: 30000 })
    .toBe(2);

  // A run that is logging shows up as running, then as finished, without a click.
  await page.notebook.runCell(FIRST_CELLS, { inplace: true, wait: false });
  const slow = rows.filter({
    has: page.locator(".nbtrack-run-name", { hasText: /^slow$/ }),
  });
  await expect(slow).toHaveAttribute("data-status", "running", {
    timeout: 15000,
  });
  await expect(slow.locator(".nbtrack-dot-running")).toBeVisible();
  await expect(slow).toHaveAttribute("data-status", "finished", {
    timeout: 30000,
  });
  await expect(rows).toHaveCount(3);

  // Open: a plain click selects one run; Open goes to its notebook cell.
  const baseline = rows.filter({
    has: page.locator(".nbtrack-run-name", { hasText: /^baseline$/ }),
  });
  await page.notebook.selectCells(0);
  await baseline.locator(".nbtrack-run-name").click();
  await expect(panel.locator(".nbtrack-run.nbtrack-selected")).toHaveCount(1);
  await panel.locator(".nbtrack-open").click();
  await expect(
    page.locator(".jp-NotebookPanel .jp-Cell.jp-mod-active"),
  ).toContainText("%%track baseline");

  // Delete, then undo.
  await panel.locator(".nbtrack-delete").click();
  await expect(rows).toHaveCount(2);
  await panel.locator(".nbtrack-undo").click();
  await expect(rows).toHaveCount(3);
  expect(dialogs).toEqual([]);
});

test("one selected run shows its images with a step slider and its histogram over time", async ({
  page,
  tmpPath,
}) => {
  const dialogs: string[] = [];
  page.on("dialog", (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  await openNotebook(page, tmpPath, "media.ipynb", MEDIA_CELLS);
  for (let cell = 0; cell < MEDIA_CELLS.length; cell++) {
    await page.notebook.runCell(cell, { inplace: true });
  }
  await page.sidebar.openTab("nbtrack-sidebar");
  await page.sidebar.setWidth(520, "left");
  const panel = page.locator("#nbtrack-sidebar");
  const rows = panel.locator(".nbtrack-run");
  await expect(rows).toHaveCount(1, { timeout: 30000 });
  await rows.first().locator(".nbtrack-run-name").click();

  // The latest step's image, fetched from the server and decoded by the browser.
  const images = panel.locator('.nbtrack-media-key[data-key="samples"]');
  const img = images.locator(".nbtrack-image img");
  await expect(img).toHaveCount(1, { timeout: 30000 });
  await expect(images.locator(".nbtrack-image-grid")).toHaveAttribute(
    "data-step",
    "3",
  );
  await expect(images.locator(".nbtrack-step-label")).toHaveText(
    "step 3 (4 of 4)",
  );
  expect(
    await img.evaluate(
      (node: HTMLImageElement) => node.complete && node.naturalWidth,
    ),
  ).toBe(32);
  await expect(images.locator("figcaption")).toHaveText(XSS_NAME); // markup shown as text
  // The slider goes back to step 0: another image.
  await images.locator(".nbtrack-step-slider").fill("0");
  await expect(images.locator(".nbtrack-image-grid")).toHaveAttribute(
    "data-step",
    "0",
  );
  await expect(images.locator(".nbtrack-step-label")).toHaveText(
    "step 0 (1 of 4)",
  );
  expect(
    await images
      .locator(".nbtrack-image img")
      .evaluate((node: HTMLImageElement) => node.naturalWidth),
  ).toBe(32);

  // The histogram over time: the chart module's heatmap spec, drawn by the bundled vega-embed.
  const hist = panel.locator(
    '.nbtrack-media-key[data-key="weights"] .nbtrack-chart',
  );
  await expect(hist.locator("svg").first()).toBeVisible({ timeout: 30000 });
  expect(await hist.locator("svg .mark-rect.role-mark path").count()).toBe(
    4 * 20,
  );
  expect(await panel.locator(".nbtrack-media img").count()).toBe(1); // no caption became an element
  expect(dialogs).toEqual([]);
  await panel.screenshot({ path: MEDIA_ARTIFACT });
});

test("every status is listed, coloured and filterable, in the light and the dark theme", async ({
  page,
  tmpPath,
}) => {
  await openNotebook(page, tmpPath, "statuses.ipynb", STATUS_CELLS);
  await page.notebook.runCell(0, { inplace: true });
  await page.sidebar.openTab("nbtrack-sidebar");
  await page.sidebar.setWidth(520, "left");
  const panel = page.locator("#nbtrack-sidebar");
  const rows = panel.locator(".nbtrack-run");
  await expect(rows).toHaveCount(6, { timeout: 30000 });
  const statuses = [
    "running",
    "finished",
    "failed",
    "interrupted",
    "crashed",
    "pruned",
  ];
  for (const status of statuses) {
    const row = rows.filter({
      has: page.locator(".nbtrack-run-name", { hasText: `st-${status}` }),
    });
    await expect(row).toHaveAttribute("data-status", status);
  }
  // Dot and label agree: interrupted and pruned in the theme's warning colour.
  for (const status of ["interrupted", "pruned"]) {
    const row = rows.filter({
      has: page.locator(".nbtrack-run-name", { hasText: `st-${status}` }),
    });
    const colours = await row.evaluate((node) => {
      const dot = node.querySelector(".nbtrack-dot") as HTMLElement;
      const label = node.querySelector(".nbtrack-status") as HTMLElement;
      return [getComputedStyle(dot).backgroundColor, getComputedStyle(label).color];
    });
    expect(colours[0]).toBe(colours[1]);
  }
  // The filter offers all six, and the server answers each of them.
  const filter = panel.locator("select.nbtrack-status-filter");
  await expect(filter.locator("option")).toHaveText(["Any status", ...statuses]);
  for (const status of ["interrupted", "pruned"]) {
    await filter.selectOption(status);
    await expect(rows).toHaveCount(1, { timeout: 15000 });
    await expect(rows.first()).toHaveAttribute("data-status", status);
  }
  await filter.selectOption("");
  await expect(rows).toHaveCount(6, { timeout: 15000 });
  await panel.screenshot({ path: artifact("sidebar-statuses-light.png") });
  await page.theme.setDarkTheme();
  await expect(page.locator("body")).toHaveAttribute(
    "data-jp-theme-light",
    "false",
  );
  await panel.screenshot({ path: artifact("sidebar-statuses-dark.png") });
  await page.theme.setLightTheme();
});
