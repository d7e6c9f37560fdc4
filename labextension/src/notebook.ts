// "Open a run's notebook at its cell": open the notebook, then scroll to the run's cell.
import type { JupyterFrontEnd } from '@jupyterlab/application';
import type { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import type { RunRecord } from './api';
import { findRunCell, type CellInfo } from './cells';

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
  await notebook.scrollToCell(notebook.widgets[index], 'start');
  return true;
}
