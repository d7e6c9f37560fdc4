// "Open a run's notebook at its cell": open the notebook, then scroll to the run's cell;
// and a notebook that uses nbtrack gets its picture helper warm as its kernel starts.
import type { JupyterFrontEnd } from '@jupyterlab/application';
import type { INotebookTracker, Notebook, NotebookPanel } from '@jupyterlab/notebook';
import type { RunRecord } from './api';
import { findRunCell, usesNbtrack, type CellInfo } from './cells';

/** Open `run.notebook` (relative to the root) and make the run's cell active and visible. */
export async function openRunCell(
  app: JupyterFrontEnd,
  tracker: INotebookTracker,
  run: RunRecord
): Promise<boolean> {
  if (!run.notebook) {
    return false;
  }
  await app.commands.execute('docmanager:open', { path: run.notebook, factory: 'Notebook' });
  const panel = tracker.find((widget: NotebookPanel) => widget.context.path === run.notebook);
  if (!panel) {
    return false;
  }
  await panel.context.ready;
  await panel.revealed;
  const notebook = panel.content;
  const cells: CellInfo[] = notebook.widgets.map(cell => {
    const model = cell.model;
    const count = model.type === 'code' ? (model as { executionCount?: number | null }).executionCount : null;
    return { executionCount: count ?? null, source: model.sharedModel.getSource() };
  });
  const index = findRunCell(cells, run);
  if (index < 0) {
    return false;
  }
  notebook.activeCellIndex = index;
  await revealCell(notebook, index);
  return true;
}

const nextFrame = (): Promise<void> => new Promise(resolve => requestAnimationFrame(() => resolve()));

/** Whether the top of `cell` shows in the notebook's scrolled area. */
function inView(notebook: Notebook, cell: HTMLElement): boolean {
  const area = notebook.node.getBoundingClientRect();
  const box = cell.getBoundingClientRect();
  return box.height > 0 && box.top >= area.top - 1 && box.top < area.bottom - 8;
}

/**
 * Scroll until the cell shows and stays. A notebook that was just opened lays its cells out
 * over several frames (windowed rendering measures them as they appear), so one scroll
 * lands short of a cell far down, or the cell drifts away as the cells above it grow:
 * scroll again until it has stayed in view for three checks, for up to about 4 s.
 */
async function revealCell(notebook: Notebook, index: number): Promise<void> {
  const end = Date.now() + 4000;
  let steady = 0;
  while (Date.now() < end && steady < 3) {
    const cell = notebook.widgets[index];
    if (!cell) {
      return;
    }
    if (steady === 0 || !inView(notebook, cell.node)) {
      await notebook.scrollToCell(cell, 'start');
      await nextFrame();
      await nextFrame();
    }
    steady = inView(notebook, cell.node) ? steady + 1 : 0;
    await new Promise(resolve => setTimeout(resolve, 80));
  }
}

/**
 * Ask `warm` (the server) to start the picture helper with a kernel's Python as soon as the
 * notebook, if it loads nbtrack, has that kernel (opened, or its kernel changed), once a
 * kernel: its first live cell then finds vl-convert warm instead of 0.4-0.5 s away. The
 * helper is this user's, shared by their kernels, and leaves after 30 idle minutes.
 */
export function warmPicturesFor(
  panel: NotebookPanel,
  warm: (kernel: string, notebook: string) => Promise<unknown>
): void {
  const asked = new Set<string>();
  const ask = (): void => {
    const kernel = panel.sessionContext.session?.kernel;
    if (!kernel || asked.has(kernel.id) || !panel.context.isReady) {
      return;
    }
    const sources = panel.content.widgets
      .filter(cell => cell.model.type === 'code')
      .map(cell => cell.model.sharedModel.getSource());
    if (usesNbtrack(sources)) {
      asked.add(kernel.id);
      void warm(kernel.name, panel.context.path).catch(() => undefined); // an older server: only slower pictures
    }
  };
  panel.sessionContext.kernelChanged.connect(ask);
  void panel.context.ready.then(ask);
  void panel.sessionContext.ready.then(ask);
}
