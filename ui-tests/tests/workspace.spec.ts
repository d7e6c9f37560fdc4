// nbtrack's runs workspace in a real JupyterLab: opened from the sidebar, it lists a sweep's
// trials with their colour swatches, draws chart sections (train/, val/, system/ against
// time, the constant RAM total as a value), overlays two selected runs in their list
// colours, diffs their config and draws the sweep's parallel coordinates. The dark theme
// redraws the charts with light text. `nbtrack.workspace()` in a cell opens the tab too.
// Screenshots: tests/artifacts/workspace-light.png, workspace-dark.png, workspace-sidebar-dark.png.
// A second test reloads the page (the tab comes back on its store and project), drags the
// sidebar's splitter (the curves, the sidebar's and the sweep's chart fit their boxes again)
// and draws the parallel coordinates dark: workspace-splitter-light.png,
// workspace-parallel-dark.png, workspace-parallel-light.png.
import * as path from "path";
import { expect, test } from "@jupyterlab/galata";
import { openNotebook, steadyBox } from "./helpers";

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
    "for step in range(80):",
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
  // Charted alone while it logs (selected), under a pointer at rest near the right edge:
  // each redraw shows the crosshair's tooltip for the step under the pointer now, later
  // steps as the x axis grows (not the stale tooltip of the chart drawn before, nor none).
  await live.locator(".nbtrack-run-check").click();
  await expect(ws.locator(".nbtrack-ws-charted")).toHaveText("1 selected run overlaid");
  const lossFrame = ws
    .locator('.nbtrack-section-chart[data-key="loss"] svg .role-frame path.background')
    .first();
  await expect(lossFrame).toBeVisible({ timeout: 15000 });
  const frame = await steadyBox(lossFrame); // the sections of the runs no longer charted go
  const tooltip = page.locator("#vg-tooltip-element");
  let first = NaN;
  await expect(async () => {
    await page.mouse.move(frame.x + frame.width * 0.9, frame.y + frame.height * 0.5);
    await page.mouse.move(frame.x + frame.width * 0.95, frame.y + frame.height * 0.5);
    await expect(tooltip).toContainText(/run\s*live/, { timeout: 1000 });
    first = stepOf(await tooltip.innerText());
    expect(first).toBeGreaterThanOrEqual(0);
  }).toPass({ timeout: 15000 });
  await expect
    .poll(async () => stepOf(await tooltip.innerText()), {
      message: `the tooltip's step under a still pointer (first ${first})`,
      timeout: 15000,
    })
    .toBeGreaterThan(first);
  await expect(tooltip).toBeVisible();
  await page.screenshot({ path: artifact("workspace-live-tooltip.png") });
  await page.mouse.move(0, 0);
  await expect(live).toHaveAttribute("data-status", "finished", {
    timeout: 30000,
  });
  await expect(wsRows).toHaveCount(5);
  expect(dialogs).toEqual([]);
});

test("the workspace tab comes back after a reload, its charts follow the splitter, parallel coordinates read on dark", async ({
  page,
  tmpPath,
}) => {
  await openNotebook(page, tmpPath, "restore.ipynb", CELLS.slice(0, 2));
  await page.notebook.runCell(0, { inplace: true });
  await page.notebook.runCell(1, { inplace: true });
  await page.sidebar.openTab("nbtrack-sidebar");
  const panel = page.locator("#nbtrack-sidebar");
  await expect(panel.locator(".nbtrack-run")).toHaveCount(4, {
    timeout: 30000,
  });
  await panel.locator(".nbtrack-open-workspace").click();
  const ws = page.locator("#nbtrack-workspace");
  await expect(ws.locator(".nbtrack-run")).toHaveCount(4, { timeout: 30000 });
  // JupyterLab writes its workspace (the layout, the tab's store and project) soon after a
  // change: the reload comes after that write, as a person's would.
  const saved = page.waitForRequest(
    (request) =>
      request.method() === "PUT" &&
      request.url().includes("/api/workspaces") &&
      (request.postData() ?? "").includes('"project":"search"'),
  );
  await ws.locator(".nbtrack-project").selectOption("search");
  await expect(ws.locator(".nbtrack-run")).toHaveCount(4, { timeout: 30000 });
  await saved;

  // A reload opens the tab again, on the same store and project, with its charts. (Galata's
  // own wait after a reload looks for the Launcher, which the restored layout does not have.)
  await page.reload({ waitForIsReady: false });
  await page.locator("#jupyterlab-splash").waitFor({ state: "detached" });
  await expect(ws).toBeVisible({ timeout: 30000 });
  await expect(ws).toHaveAttribute("data-store", `${tmpPath}/.nbtrack`);
  await expect(ws.locator(".nbtrack-project")).toHaveValue("search");
  await expect(ws.locator(".nbtrack-run")).toHaveCount(4, { timeout: 30000 });
  await expect(
    page.locator('.lm-TabBar-tab[data-id="nbtrack-workspace-tab"]'),
  ).toHaveCount(1);
  const loss = ws.locator('.nbtrack-section-chart[data-key="loss"]');
  const sweep = ws.locator(".nbtrack-ws-parallel");
  await expect(loss.locator("svg.marks")).toBeVisible({ timeout: 30000 });
  await expect(sweep.locator("svg.marks")).toBeVisible({ timeout: 30000 });

  // Dragging the sidebar's splitter (the window keeps its size): every chart fits its box again.
  await page.sidebar.openTab("nbtrack-sidebar");
  const fits = async (host: typeof loss) =>
    host.evaluate((node) => {
      const svg = node.querySelector("svg.marks") as SVGSVGElement;
      return {
        box: node.clientWidth,
        chart: svg.getBoundingClientRect().width,
      };
    });
  const settle = async (host: typeof loss, before?: number) => {
    await expect
      .poll(
        async () => {
          const { box, chart } = await fits(host);
          return (
            box > 0 &&
            Math.abs(box - chart) <= 40 &&
            (before === undefined || box !== before)
          );
        },
        { timeout: 15000 },
      )
      .toBe(true);
    return (await fits(host)).box;
  };
  // The sidebar's curves of a run too (the sidebar grows as the tab shrinks).
  await panel
    .locator(".nbtrack-run")
    .first()
    .locator(".nbtrack-run-name")
    .click();
  const side = panel.locator(".nbtrack-charts .nbtrack-section-chart").first();
  await expect(side.locator("svg.marks")).toBeVisible({ timeout: 30000 });
  const sideBefore = await settle(side);
  const lossBefore = await settle(loss);
  const sweepBefore = await settle(sweep);
  const handle = page
    .locator("#jp-main-split-panel > .lm-SplitPanel-handle")
    .first();
  const grip = (await handle.boundingBox())!;
  await page.mouse.move(grip.x + grip.width / 2, grip.y + grip.height / 2);
  await page.mouse.down();
  for (let step = 1; step <= 10; step++) {
    await page.mouse.move(
      grip.x + grip.width / 2 + step * 25,
      grip.y + grip.height / 2,
    );
  }
  await page.mouse.up();
  expect(page.viewportSize()).toEqual({ width: 1400, height: 960 });
  const lossAfter = await settle(loss, lossBefore);
  const sweepAfter = await settle(sweep, sweepBefore);
  const sideAfter = await settle(side, sideBefore);
  expect(sweepAfter).toBeLessThan(sweepBefore - 150); // the tab lost the 250 px the sidebar took
  expect(lossAfter).not.toBe(lossBefore);
  expect(sideAfter).toBeGreaterThan(sideBefore + 150);
  await page.screenshot({ path: artifact("workspace-splitter-light.png") });

  // Parallel coordinates on the dark theme: light grey axes and labels, every line readable.
  await page.sidebar.close("left");
  await page.theme.setDarkTheme();
  await expect(sweep.locator(".nbtrack-chart")).toHaveAttribute(
    "data-theme",
    "dark",
    { timeout: 15000 },
  );
  await expect(sweep.locator("svg .mark-rule line").first()).toHaveAttribute(
    "stroke",
    "#757575",
  );
  await expect(sweep.locator("svg .mark-text text").first()).toHaveAttribute(
    "fill",
    "#bdbdbd",
  );
  const worst = await sweep.evaluate((node) => {
    const channel = (c: number) => {
      const s = c / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    };
    const luminance = ([r, g, b]: number[]) =>
      0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    const page = [0x21, 0x21, 0x21]; // --jp-layout-color1 of the dark theme
    const lines = [
      ...node.querySelectorAll(".mark-line path"),
    ] as SVGPathElement[];
    return Math.min(
      ...lines.map((line) => {
        const rgb = (line.getAttribute("stroke")!.match(/\d+/g) ?? []).map(
          Number,
        );
        const alpha = Number(line.getAttribute("stroke-opacity") ?? 1);
        const seen = rgb.map((c, i) => alpha * c + (1 - alpha) * page[i]);
        const [hi, lo] = [luminance(seen), luminance(page)].sort(
          (a, b) => b - a,
        );
        return (hi + 0.05) / (lo + 0.05);
      }),
    );
  });
  expect(worst).toBeGreaterThanOrEqual(3);
  await ws.locator(".nbtrack-ws-right").evaluate((node) => node.scrollTo(0, 0));
  await page.screenshot({ path: artifact("workspace-parallel-dark.png") });
  await page.theme.setLightTheme();
  await expect(sweep.locator(".nbtrack-chart")).toHaveAttribute(
    "data-theme",
    "light",
    { timeout: 15000 },
  );
  await expect(sweep.locator("svg .mark-text text").first()).toHaveAttribute(
    "fill",
    "#616161",
  );
  await page.screenshot({ path: artifact("workspace-parallel-light.png") });
});

function stepOf(tooltipText: string): number {
  const found = /step\s*([\d,]+)/.exec(tooltipText);
  return found ? Number(found[1].replace(/,/g, "")) : NaN;
}

