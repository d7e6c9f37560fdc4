// The notebook the sidebar test runs: two tracked cells whose runs differ in their config
// (lr) and whose second name is markup, which the panel must show as text.
export const XSS_NAME = "<img src=x onerror=alert(1)>";

export const CELLS = [
  "%load_ext nbtrack\nimport math\nimport time\nimport nbtrack",
  [
    "%%track baseline --no-live --tags cnn small",
    "lr = 0.1",
    "for step in range(60):",
    "    nbtrack.log({'loss': math.exp(-lr * step / 3), 'acc': 1 - math.exp(-lr * step / 5)}, step=step)",
  ].join("\n"),
  [
    `%%track "${XSS_NAME}" --no-live --tags cnn`,
    "lr = 0.3",
    "for step in range(60):",
    "    nbtrack.log({'loss': math.exp(-lr * step / 3), 'acc': 1 - math.exp(-lr * step / 5)}, step=step)",
  ].join("\n"),
  // Run last, on its own, while the panel watches: it logs for about 8 s.
  [
    "%%track slow --no-live",
    "for step in range(40):",
    "    nbtrack.log({'loss': 1 / (step + 1)}, step=step)",
    "    time.sleep(0.2)",
  ].join("\n"),
];

/** The cells run before the panel opens (the slow one runs later). */
export const FIRST_CELLS = 3;

/** A run with an image per step (a slider walks them) and a histogram over time. */
export const MEDIA_CELLS = [
  "%load_ext nbtrack\nimport numpy as np\nimport nbtrack",
  [
    "%%track pics --no-live",
    "rng = np.random.default_rng(0)",
    "for step in range(4):",
    "    img = np.zeros((24, 32, 3), dtype=np.uint8)",
    "    img[:, : 8 * (step + 1), 0] = 255",
    `    nbtrack.log({'samples': nbtrack.Image(img, caption='${XSS_NAME}'), 'weights': nbtrack.Histogram(rng.normal(step, 1, 500), num_bins=20), 'loss': 1 / (step + 1)}, step=step)`,
  ].join("\n"),
];

/** One run in each of the six statuses (one left running in the kernel). */
export const STATUS_CELLS = [
  [
    "import nbtrack",
    "for status in ['finished', 'failed', 'interrupted', 'crashed', 'pruned']:",
    "    run = nbtrack.init(name=f'st-{status}')",
    "    run.log(loss=1.0)",
    "    run.finish(status)",
    "live = nbtrack.init(name='st-running')",
    "live.log(loss=1.0)",
  ].join("\n"),
];
