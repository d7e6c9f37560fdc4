// Box zoom on nbtrack's charts in a real JupyterLab (issue 18: "drag-to-zoom with reset", as
// W&B and TensorBoard users expect), on the runs workspace's loss chart: a drag across
// the plot shows a grey band and, on release, the x axis spans the dragged steps; a short
// click does not zoom; the crosshair tooltip still shows; shift+drag pans; a double-click
// gives the full range back. Light and dark; drawn again in the other theme, or again and
// again while a run logs, the chart stays zoomed. Screenshots of the band mid-drag and of the
// zoomed chart: tests/artifacts/chart-zoom-{dragging,zoomed}-{light,dark}.png. The compare
// widget (drawn by the widgets' own Vega library) zooms the same way.
import * as path from "path";
import type { Locator, Page } from "@playwright/test";
import { expect, test } from "@jupyterlab/galata";
import { openNotebook, steadyBox } from "./helpers";

const artifact = (name: string) =>
  path.resolve(__dirname, "..", "..", "tests", "artifacts", name);

const CELLS = [
  "import math\nimport nbtrack\nfrom nbtrack._run import Run",
  [
    "for n, lr in enumerate([0.02, 0.05]):",
    "    run = Run(f'run-{n}', project='zoom', config={'lr': lr})",
    "    for step in range(101):",
    "        run.log({'loss': math.exp(-lr * step) + 0.05 * math.sin(step / 3)}, step=step)",
    "    run.finish()",
  ].join("\n"),
  "nbtrack.workspace()",
  [
    "import time",
    "live = Run('live', project='zoom')",
    "for step in range(141):",
    "    live.log({'loss': math.exp(-0.03 * step)}, step=step)",
    "    if step >= 100:",
    "        time.sleep(0.25)",
    "live.finish()",
  ].join("\n"),
];

test.use({ viewport: { width: 1400, height: 960 } });

/** The x axis of `chart`: its domain (from Vega's own description) and its tick labels. */
async function xAxis(
  chart: Locator,
): Promise<{ from: number; to: number; labels: string[] }> {
  const axis = chart.locator('svg g.role-axis[aria-label^="X-axis"]').first();
  const label = (await axis.getAttribute("aria-label")) ?? "";
  const range = /values from (-?[\d.,e+-]+) to (-?[\d.,e+-]+)/.exec(label);
  expect(range, label).not.toBeNull();
  const number = (text: string) => Number(text.replace(/,/g, ""));
  return {
    from: number(range![1]),
    to: number(range![2]),
    // In value order: Vega keeps the text elements of ticks it draws again, wherever they go.
    labels: (
      await axis.locator(".role-axis-label text").allTextContents()
    ).sort((a, b) => number(a) - number(b)),
  };
}

/** Drag from `x0` to `x1` (fractions of the plot's width), half-way down, optionally shifted;
 * `during` runs with the button still down. */
async function drag(
  page: Page,
  plot: { x: number; y: number; width: number; height: number },
  x0: number,
  x1: number,
  options: { shift?: boolean; during?: () => Promise<void> } = {},
): Promise<void> {
  const y = plot.y + plot.height * 0.5;
  await page.mouse.move(plot.x + plot.width * x0, y);
  if (options.shift) await page.keyboard.down("Shift");
  await page.mouse.down();
  await page.mouse.move(plot.x + plot.width * x1, y, { steps: 12 });
  if (options.during) await options.during();
  await page.mouse.up();
  if (options.shift) await page.keyboard.up("Shift");
}

/** A double-click on the plot gives `chart` its full x range back (waited for). */
async function doubleClickResets(
  page: Page,
  plot: { x: number; y: number; width: number; height: number },
  chart: Locator,
  full: { to: number },
): Promise<void> {
  await page.mouse.dblclick(
    plot.x + plot.width * 0.5,
    plot.y + plot.height * 0.5,
  );
  await expect
    .poll(async () => (await xAxis(chart)).to, { timeout: 5000 })
    .toBe(full.to);
}

test("a drag across a chart zooms its x axis to the dragged range; a double-click resets", async ({
  page,
  tmpPath,
}) => {
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  await openNotebook(page, tmpPath, "zoom.ipynb", CELLS);
  await page.notebook.runCell(0, { inplace: true });
  await page.notebook.runCell(1, { inplace: true });
  // The workspace opens as a tab in front of the notebook (its status bar goes with it).
  await page.notebook.runCell(2, { inplace: true, wait: false });
  const ws = page.locator("#nbtrack-workspace");
  await expect(ws).toBeVisible({ timeout: 30000 });
  const chart = ws.locator('.nbtrack-section-chart[data-key="loss"]');
  await expect(chart.locator("svg .mark-line path").first()).toBeVisible({
    timeout: 30000,
  });

  for (const theme of ["light", "dark"] as const) {
    if (theme === "dark") {
      await page.theme.setDarkTheme();
      await expect(chart.locator(".nbtrack-chart")).toHaveAttribute(
        "data-theme",
        "dark",
        {
          timeout: 15000,
        },
      );
    }
    await expect(chart.locator("svg .mark-line path").first()).toBeVisible({
      timeout: 30000,
    });
    // The plot: the layered view's background, where the lines are drawn.
    const plot = await steadyBox(
      chart.locator("svg .role-frame path.background").first(),
    );
    expect(plot && plot.width > 300).toBeTruthy();
    const full = await xAxis(chart);
    expect(full.from).toBe(0);
    expect(full.to).toBeGreaterThanOrEqual(100);
    const span = full.to - full.from;
    const at = (fraction: number) => full.from + span * fraction;

    // A click, or a drag of two pixels, does not zoom.
    await drag(page, plot!, 0.5, 0.5 + 2 / plot!.width);
    expect(await xAxis(chart)).toEqual(full);
    // Nor does a drag that starts on the legend, right of the plot.
    await drag(page, plot!, 1 + 60 / plot!.width, 0.5);
    expect(await xAxis(chart)).toEqual(full);

    // A drag from 30% to 60% of the width: a grey band while the button is down...
    await drag(page, plot!, 0.3, 0.6, {
      during: async () => {
        const band = chart.locator(
          'svg g[class*="_brush"] path, svg g[class*="_brush"] rect',
        );
        const box = await band.first().boundingBox();
        expect(box, "the band while dragging").not.toBeNull();
        expect(box!.width).toBeGreaterThan(plot!.width * 0.25);
        expect(box!.x).toBeGreaterThan(plot!.x + plot!.width * 0.28);
        await page.screenshot({
          path: artifact(`chart-zoom-dragging-${theme}.png`),
        });
      },
    });
    // ...and on release the x axis spans about the dragged steps (30 to 60 of 0 to 100).
    await expect
      .poll(async () => (await xAxis(chart)).from, { timeout: 5000 })
      .toBeGreaterThan(at(0.2));
    const zoomed = await xAxis(chart);
    expect(zoomed.from).toBeCloseTo(at(0.3), -0.5); // within 1.6 steps
    expect(zoomed.to).toBeCloseTo(at(0.6), -0.5);
    expect(zoomed.labels).not.toEqual(full.labels);
    for (const label of zoomed.labels.map(Number)) {
      expect(label).toBeGreaterThanOrEqual(at(0.3) - 1);
      expect(label).toBeLessThanOrEqual(at(0.6) + 1);
    }

    // The crosshair tooltip still lists the runs at the hovered step.
    await page.mouse.move(
      plot!.x + plot!.width * 0.5,
      plot!.y + plot!.height * 0.4,
    );
    const tooltip = page.locator("#vg-tooltip-element");
    await expect(tooltip).toBeVisible({ timeout: 5000 });
    await expect(tooltip).toContainText("run-0");
    await expect(tooltip).toContainText("run-1");
    // In the page's theme: a dark tooltip on a dark page, not a white box.
    await expect(tooltip).toHaveClass(new RegExp(`\\b${theme}-theme\\b`));
    await page.screenshot({ path: artifact(`chart-zoom-zoomed-${theme}.png`) });

    // Shift+drag pans: the same width of steps, further right.
    await drag(page, plot!, 0.6, 0.3, { shift: true });
    const panned = await xAxis(chart);
    expect(panned.from).toBeGreaterThan(zoomed.from + 5);
    // (Vega's description rounds each end to a whole step.)
    expect(
      Math.abs(panned.to - panned.from - (zoomed.to - zoomed.from)),
    ).toBeLessThanOrEqual(1);

    // A double-click gives the full range back.
    await doubleClickResets(page, plot!, chart, full);
    expect(await xAxis(chart)).toEqual(full);
  }
  // Drawn again in the other theme, the chart stays zoomed.
  const chart0 = chart;
  const plot = await steadyBox(
    chart0.locator("svg .role-frame path.background").first(),
  );
  await drag(page, plot, 0.3, 0.6);
  await expect
    .poll(async () => (await xAxis(chart0)).from, { timeout: 5000 })
    .toBeGreaterThan(20);
  const zoomed = await xAxis(chart0);
  await page.theme.setLightTheme();
  await expect(chart0.locator(".nbtrack-chart")).toHaveAttribute(
    "data-theme",
    "light",
    {
      timeout: 15000,
    },
  );
  expect(await xAxis(chart0)).toEqual(zoomed);
  await page.mouse.dblclick(
    plot.x + plot.width * 0.5,
    plot.y + plot.height * 0.5,
  );

  // While a run logs, the workspace draws its chart again and again: it stays zoomed.
  await page.notebook.activate("zoom.ipynb");
  await page.notebook.runCell(3, { inplace: true, wait: false });
  await page.locator('.lm-TabBar-tab[data-id="nbtrack-workspace-tab"]').click();
  await expect(
    chart0.locator("svg text", { hasText: "live" }).first(),
  ).toBeVisible({
    timeout: 30000,
  });
  await expect(async () => {
    const now = await steadyBox(
      chart0.locator("svg .role-frame path.background").first(),
    );
    await drag(page, now, 0.3, 0.6);
    expect((await xAxis(chart0)).from).toBeGreaterThan(20);
  }).toPass({ timeout: 20000 });
  const following = await xAxis(chart0);
  await chart0
    .locator("svg")
    .first()
    .evaluate((svg) => svg.setAttribute("data-seen", "1"));
  await expect(chart0.locator("svg:not([data-seen])").first()).toBeAttached({
    timeout: 20000,
  });
  const redrawn = await xAxis(chart0);
  expect(redrawn.from).toBe(following.from);
  expect(redrawn.to).toBe(following.to);
  expect(errors).toEqual([]);
});

test("the compare widget's charts zoom to a dragged range too (the widgets' own Vega)", async ({
  page,
  tmpPath,
}) => {
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  const cell = [
    "import math\nimport nbtrack",
    "for n, lr in enumerate([0.02, 0.05]):",
    "    nbtrack.init(name=f'cmp-{n}', project='zoom-compare', config={'lr': lr})",
    "    for step in range(101):",
    "        nbtrack.log({'loss': math.exp(-lr * step)})",
    "    nbtrack.finish()",
    "nbtrack.compare(project='zoom-compare')",
  ].join("\n");
  await openNotebook(page, tmpPath, "compare-zoom.ipynb", [cell]);
  await page.notebook.runCell(0, { inplace: true });
  const widget = page
    .locator(".jp-Notebook .jp-Cell")
    .first()
    .locator(".nbtrack-compare");
  const rows = widget.locator(".nbtrack-cmp-table tbody tr");
  await expect(rows).toHaveCount(2, { timeout: 60000 });
  await rows.nth(0).locator("input[type=checkbox]").check();
  await rows.nth(1).locator("input[type=checkbox]").check();
  const chart = widget.locator(
    '.nbtrack-cmp-overlays .nbtrack-cmp-chart[data-key="loss"]',
  );
  await expect(chart.locator("svg .mark-line path").first()).toBeVisible({
    timeout: 60000,
  });
  await chart.scrollIntoViewIfNeeded();
  await expect(
    widget.locator(".nbtrack-cmp-chart:not([data-drawn])"),
  ).toHaveCount(0, {
    timeout: 60000,
  });
  const plot = await steadyBox(
    chart.locator("svg .role-frame path.background").first(),
  );
  expect(plot && plot.width > 200).toBeTruthy();
  const full = await xAxis(chart);
  const span = full.to - full.from;

  await drag(page, plot!, 0.2, 0.5);
  await expect
    .poll(async () => (await xAxis(chart)).from, { timeout: 5000 })
    .toBeGreaterThan(full.from + span * 0.1);
  const zoomed = await xAxis(chart);
  expect(Math.abs(zoomed.from - (full.from + span * 0.2))).toBeLessThanOrEqual(
    span * 0.02,
  );
  expect(Math.abs(zoomed.to - (full.from + span * 0.5))).toBeLessThanOrEqual(
    span * 0.02,
  );

  await doubleClickResets(page, plot!, chart, full);
  expect(errors).toEqual([]);
});
