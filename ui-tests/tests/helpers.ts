// Shared helpers for nbtrack's UI tests (live panel now; the sidebar's tests can reuse them).
import type { IJupyterLabPageFixture } from '@jupyterlab/galata';
import type { Locator } from '@playwright/test';

/**
 * Write a notebook whose code cells hold `sources` into the test's folder and open it.
 *
 * Cell text goes in through the contents API, not the keyboard, so indented code is
 * not re-indented by the editor.
 */
export async function openNotebook(
  page: IJupyterLabPageFixture,
  folder: string,
  name: string,
  sources: string[]
): Promise<void> {
  const notebook = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' }
    },
    cells: sources.map((source, index) => ({
      cell_type: 'code',
      id: `cell-${index}`,
      metadata: {},
      execution_count: null,
      outputs: [],
      source
    }))
  };
  const path = `${folder}/${name}`;
  await page.contents.uploadContent(JSON.stringify(notebook), 'text', path);
  await page.notebook.openByPath(path);
  await page.notebook.activate(name);
}

/** Poll `read` every `everyMs` until `done` says stop; returns what it read. */
export async function sample<T>(
  read: () => Promise<T>,
  done: () => Promise<boolean>,
  everyMs: number,
  limitMs: number
): Promise<T[]> {
  const seen: T[] = [];
  const end = Date.now() + limitMs;
  while (Date.now() < end && !(await done())) {
    seen.push(await read());
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return seen;
}

/** Where `box` is once the page has stopped moving it (outputs above it still drawing,
 * sections coming and going). */
export async function steadyBox(
  box: Locator
): Promise<{ x: number; y: number; width: number; height: number }> {
  let last = await box.boundingBox();
  for (let tries = 0; tries < 40; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const now = await box.boundingBox();
    if (now && last && JSON.stringify(now) === JSON.stringify(last)) {
      return now;
    }
    last = now;
  }
  throw new Error('the chart kept moving');
}
