// Playwright + Galata against a real JupyterLab, in Debian's chromium (no browser download).
//
//   cd ui-tests && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 jlpm install && jlpm playwright test
//
// `jupyter` must be the venv's (PATH), and its python3 kernel the venv's (JUPYTER_PATH);
// tests/test_ui.py sets both. Screenshots and traces go to test-results/ (a CI artifact).
const crypto = require('crypto');
const base = require('@jupyterlab/galata/lib/playwright-config');

process.env.NBTRACK_UI_TOKEN ||= crypto.randomBytes(16).toString('hex');
const port = process.env.NBTRACK_UI_PORT || '8888';

module.exports = {
  ...base,
  workers: 1, // 2 cores: JupyterLab, the kernel and chromium share them
  retries: 0,
  timeout: 120000,
  expect: { timeout: 30000 },
  outputDir: 'test-results',
  reporter: [['list'], ['html', { open: 'never', outputFolder: 'playwright-report' }]],
  use: {
    ...base.use,
    baseURL: `http://127.0.0.1:${port}`,
    extraHTTPHeaders: { Authorization: `token ${process.env.NBTRACK_UI_TOKEN}` },
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync'
      ]
    },
    trace: 'retain-on-failure',
    video: 'off'
  },
  webServer: {
    command: `jupyter lab --config jupyter_server_test_config.py --ServerApp.port=${port}`,
    url: `http://127.0.0.1:${port}/api`,
    timeout: 120000,
    reuseExistingServer: false,
    stdout: 'pipe',
    stderr: 'pipe'
  }
};
