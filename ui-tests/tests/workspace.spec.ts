// nbtrack's runs workspace in a real JupyterLab: opened from the sidebar, it lists a sweep's
// trials with their colour swatches, draws chart sections (train/, val/, system/ against
// time, the constant RAM total as a value), overlays two selected runs in their list
// colours, diffs their config and draws the sweep's parallel coordinates. The dark theme
// redraws the charts with light text. `nbtrack.workspace()` in a cell opens the tab too.
// Screenshots: tests/artifacts/workspace-light.png, workspace-dark.png, workspace-sidebar-dark.png.
import * as path from "path";
import { expect, test } from "@jupyterlab/galata";
import { openNotebook } from "./helpers";

const artifact = (name: string) =>
  path.resolve(__dirname, "..", "..", "tests", "artifacts", name);

const CELLS = [
  "import math\nimport nbtrack\nfrom nbtrack._run import Run",
  [
    "for trial, lr in enumerate([0.001, 0.01, 0.1, 0.3]):",
    "    run = Run(f'trial-{trial}', project='search', sweep_id='sw-ui', config={'lr': lr, 'batch': [16, 32][trial % 2]})",
    "    for step in range(40):",
    "        run.log({'loss': math.exp(-lr * step), 'train/acc': 1 - math.exp(-lr * step / 2), 'val/loss': 1.2 * math.exp(-lr * step)}, step=step)",
    "        run.log_system({'cpu_percent': 20 + (step * 7 + trial * 5) % 50, 'ram_total_gb': 16.0})",
    "    run.finish()",
  ].join("\n"),
  "nbtrack.workspace()",
  [
    "import time",
    "live = Run('live', project='search')",
    "for step in range(40):",
    "    live.log({'loss': 1 / (step + 1)}, step=step)",
    "    time.sleep(0.25)",
    "live.finish()",
  ].join("\n"),
];

test.use({ viewport: { width: 1400, height: 960 } });

test("the workspace shows sections, overlays two runs, diffs them and follows the theme", async ({
  page,
  tmpPath,
}) => {
  const dialogs: string[] = [];
  page.on("dialog", (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  await openNotebook(page, tmpPath, "workspace.ipynb", CELLS);
  await page.notebook.runCell(0, { inplace: true });
  await page.notebook.runCell(1, { inplace: true });

  // From the sidebar: its Workspace button opens the tab on the store it shows.
  await page.sidebar.openTab("nbtrack-sidebar");
  const panel = page.locator("#nbtrack-sidebar");
  await expect(panel.locator(".nbtrack-run")).toHaveCount(4, {
    timeout: 30000,
  });
  // The sidebar's list has the swatches too.
  await expect(panel.locator(".nbtrack-swatch[data-color]")).toHaveCount(4);
  await panel.locator(".nbtrack-open-workspace").click();
  const ws = page.locator("#nbtrack-workspace");
  await expect(ws).toBeVisible({ timeout: 15000 });
  await expect(ws).toHaveAttribute("data-store", `${tmpPath}/.nbtrack`);
  await page.sidebar.close("left");

  const rows = ws.locator(".nbtrack-run");
  await expect(rows).toHaveCount(4, { timeout: 30000 });
  const swatches = await rows
    .locator(".nbtrack-swatch")
    .evaluateAll((nodes) =>
      nodes.map((n) => (n as HTMLElement).dataset.color ?? ""),
    );
  expect(new Set(swatches).size).toBe(4); // four runs, four colours
  // The list's summary columns are results, not the machine's metrics.
  expect(
    await rows
      .first()
      .locator(".nbtrack-metric")
      .evaluateAll((nodes) => nodes.map((n) => (n as HTMLElement).dataset.key)),
  ).toEqual(["loss", "train/acc", "val/loss"]);

  // Sections by prefix: charts, then train, val, and system against time; the constant listed.
  const sections = ws.locator(".nbtrack-ws-sections details.nbtrack-section");
  await expect(sections).toHaveCount(4, { timeout: 30000 });
  expect(
    await sections.evaluateAll((nodes) =>
      nodes.map((n) => (n as HTMLElement).dataset.section),
    ),
  ).toEqual(["", "train", "val", "system"]);
  const system = ws.locator('details.nbtrack-section[data-section="system"]');
  await expect(system.locator(".nbtrack-constants dt")).toHaveText([
    "system/ram_total_gb",
  ]);
  await expect(
    system.locator("svg text", { hasText: "relative time (s)" }).first(),
  ).toBeVisible({
    timeout: 30000,
  });
  // A section folds and unfolds.
  await system.locator("summary.nbtrack-section-title").click();
  await expect(system).not.toHaveAttribute("open", "");
  await system.locator("summary.nbtrack-section-title").click();
  await expect(system).toHaveAttribute("open", "");

  // Select two runs: their curves overlaid, in the colours of their swatches.
  await rows.nth(0).locator(".nbtrack-run-check").click();
  await rows.nth(2).locator(".nbtrack-run-check").click();
  await expect(ws.locator(".nbtrack-ws-charted")).toHaveText(
    "2 selected runs overlaid",
  );
  const loss = ws.locator('.nbtrack-section-chart[data-key="loss"]');
  const names = await rows.locator(".nbtrack-run-name").allTextContents();
  await expect(
    loss.locator("svg text", { hasText: names[0] }).first(),
  ).toBeVisible({ timeout: 30000 });
  await expect(
    loss.locator("svg text", { hasText: names[2] }).first(),
  ).toBeVisible();
  await expect(loss.locator("svg text", { hasText: names[1] })).toHaveCount(0);
  for (const index of [0, 2]) {
    await expect(
      loss.locator(`svg .mark-line path[stroke="${swatches[index]}"]`).first(),
    ).toBeVisible();
  }

  // The config diff of the two, and the sweep's parallel coordinates.
  const diff = ws.locator(".nbtrack-ws-diff .nbtrack-diff-config table");
  await expect(diff).toBeVisible({ timeout: 30000 });
  await expect(diff.locator("thead th")).toHaveText([
    "key",
    names[0],
    names[2],
  ]);
  await expect(diff.locator('tr[data-key="lr"]')).toBeVisible();
  const sweep = ws.locator(".nbtrack-ws-sweep");
  await expect(sweep).toBeVisible();
  await expect(
    sweep.locator("svg text", { hasText: "loss by hyperparameter" }),
  ).toBeVisible();

  // Light theme: dark grey axis labels.
  const label = ws
    .locator(
      '.nbtrack-section-chart[data-key="loss"] svg .role-axis-label text',
    )
    .first();
  await expect(label).toHaveAttribute("fill", "#616161");
  await ws.locator(".nbtrack-ws-right").evaluate((node) => node.scrollTo(0, 0));
  await page.screenshot({ path: artifact("workspace-light.png") });

  // Dark theme: the charts are drawn again with light text, and the grid stays faint.
  await page.theme.setDarkTheme();
  await expect(page.locator("body")).toHaveAttribute(
    "data-jp-theme-light",
    "false",
  );
  await expect(
    ws.locator('.nbtrack-section-chart[data-key="loss"] .nbtrack-chart'),
  ).toHaveAttribute("data-theme", "dark", { timeout: 15000 });
  await expect(label).toHaveAttribute("fill", "#bdbdbd");
  const grid = ws
    .locator('.nbtrack-section-chart[data-key="loss"] svg .role-axis-grid line')
    .first();
  await expect(grid).toHaveAttribute("stroke", "#424242");
  await ws.locator(".nbtrack-ws-right").evaluate((node) => node.scrollTo(0, 0));
  await page.screenshot({ path: artifact("workspace-dark.png") });

  // The sidebar's charts too: drawn light on dark, and again dark on light when the theme switches.
  await page.sidebar.openTab("nbtrack-sidebar");
  await panel
    .locator(".nbtrack-run")
    .first()
    .locator(".nbtrack-run-name")
    .click();
  const sideLabel = panel
    .locator(".nbtrack-charts svg .role-axis-label text")
    .first();
  await expect(sideLabel).toHaveAttribute("fill", "#bdbdbd", {
    timeout: 30000,
  });
  await panel.screenshot({ path: artifact("workspace-sidebar-dark.png") });
  await page.theme.setLightTheme();
  await expect(sideLabel).toHaveAttribute("fill", "#616161", {
    timeout: 15000,
  });
  await page.sidebar.close("left");

  // From a notebook: nbtrack.workspace() opens the tab (closed first) on the notebook's store.
  await page
    .locator(
      '.lm-TabBar-tab[data-id="nbtrack-workspace-tab"] .lm-TabBar-tabCloseIcon',
    )
    .click();
  await expect(ws).toHaveCount(0);
  await page.notebook.activate("workspace.ipynb");
  // Not waiting for the kernel's "Idle": the workspace tab takes the focus (no kernel status).
  await page.notebook.runCell(2, { inplace: true, wait: false });
  await expect(page.locator("#nbtrack-workspace")).toBeVisible({
    timeout: 15000,
  });
  await expect(page.locator("#nbtrack-workspace")).toHaveAttribute(
    "data-store",
    `${tmpPath}/.nbtrack`,
  );
  await expect(page.locator("#nbtrack-workspace .nbtrack-run")).toHaveCount(4, {
    timeout: 30000,
  });
  await page.notebook.activate("workspace.ipynb");
  await expect(page.locator(".nbtrack-workspace-open")).toBeVisible(); // the output keeps a button

  // It follows a run while it logs: listed as running, charted, then finished, without a click.
  const wsRows = page.locator("#nbtrack-workspace .nbtrack-run");
  await page.notebook.runCell(3, { inplace: true, wait: false });
  await page.locator('.lm-TabBar-tab[data-id="nbtrack-workspace-tab"]').click();
  const live = wsRows.filter({
    has: page.locator(".nbtrack-run-name", { hasText: /^live$/ }),
  });
  await expect(live).toHaveAttribute("data-status", "running", {
    timeout: 15000,
  });
  await expect(live).toHaveAttribute("data-status", "finished", {
    timeout: 30000,
  });
  await expect(wsRows).toHaveCount(5);
  expect(dialogs).toEqual([]);
});
