// nbtrack's sidebar on a team store (issue 15): JupyterLab was started with
// NBTRACK_STORE=postgresql://... (tests/test_sidebar_ui.py starts a real PostgreSQL), so its
// kernels log to the database. A notebook logs a run with %%track; the sidebar, following
// the notebook, reads the team store (never the notebook's folder), lists the run and the
// one a "teammate" logged, and charts both. Screenshots: tests/artifacts/team-store-*.png.
import * as path from "path";
import { expect, test } from "@jupyterlab/galata";
import { openNotebook } from "./helpers";

const artifact = (name: string) =>
  path.resolve(__dirname, "..", "..", "tests", "artifacts", name);

test.use({ viewport: { width: 1400, height: 960 } });

const CELLS = [
  "%load_ext nbtrack\nimport nbtrack",
  [
    "%%track mine --no-live",
    "lr = 0.05",
    "for step in range(30):",
    "    nbtrack.log({'loss': 1 / (1 + lr * step)})",
  ].join("\n"),
];

test("a notebook's runs go to the team store and the sidebar shows the team's runs", async ({
  page,
  tmpPath,
}) => {
  await openNotebook(page, tmpPath, "team.ipynb", CELLS);
  for (let cell = 0; cell < CELLS.length; cell++) {
    await page.notebook.runCell(cell, { inplace: true });
  }
  await page.sidebar.openTab("nbtrack-sidebar");
  await page.sidebar.setWidth(520, "left");
  const panel = page.locator("#nbtrack-sidebar");
  const shown = process.env.NBTRACK_UI_TEAM_SHOWN as string;
  await expect(panel).toHaveAttribute("data-store", shown, { timeout: 30000 });
  await expect(panel.locator("select.nbtrack-store")).toContainText("Team store: ");
  expect(await panel.innerHTML()).not.toContain("hidden-password");

  const rows = panel.locator(".nbtrack-run");
  await expect(rows.locator(".nbtrack-run-name")).toHaveText(["mine", "teammate's run"], {
    timeout: 30000,
  });
  await expect(rows.nth(0)).toHaveAttribute("data-status", "finished");
  await expect(rows.nth(0).locator('.nbtrack-metric[data-key="loss"]')).toBeVisible();
  await rows.nth(0).click();
  await rows.nth(1).click({ modifiers: ["Shift"] });
  await expect(panel.locator(".nbtrack-charts canvas, .nbtrack-charts svg").first()).toBeVisible({
    timeout: 30000,
  });
  await panel.screenshot({ path: artifact("team-store-light.png") });
  await page.theme.setDarkTheme();
  await panel.screenshot({ path: artifact("team-store-dark.png") });
  await page.theme.setLightTheme();
});
