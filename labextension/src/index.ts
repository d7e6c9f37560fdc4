// Wires nbtrack's sidebar into JupyterLab: a left panel, its icon and the nbtrack:open command.
import {
  ILabShell,
  ILayoutRestorer,
  type JupyterFrontEnd,
  type JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, IThemeManager } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';
import { LabIcon } from '@jupyterlab/ui-components';
import { NbtrackApi } from './api';
import { notebookStore } from './format';
import { openRunCell } from './notebook';
import { NbtrackPanel } from './panel';

const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16" height="16">
<path class="jp-icon3" fill="#616161" d="M3 3h2v16h16v2H3zm4 11.6 3.6-4.8 3.2 2.6L19 6l1.6 1.2-6.4 8-3.2-2.6-2.4 3.2z"/></svg>`;

export const nbtrackIcon = new LabIcon({ name: 'nbtrack:runs', svgstr: ICON_SVG });

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'nbtrack:sidebar',
  description: "The runs of the open notebook's nbtrack store, with overlaid curves and config diffs.",
  autoStart: true,
  requires: [ILabShell, INotebookTracker],
  optional: [ILayoutRestorer, ICommandPalette, IThemeManager],
  activate: (
    app: JupyterFrontEnd,
    labShell: ILabShell,
    tracker: INotebookTracker,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    themes: IThemeManager | null
  ) => {
    const panel = new NbtrackPanel({
      api: new NbtrackApi(app.serviceManager.serverSettings),
      openRun: run => openRunCell(app, tracker, run),
      openFile: path => void app.commands.execute('docmanager:open', { path }),
      isDark: () => (themes?.theme ? !themes.isLight(themes.theme) : false)
    });
    panel.title.icon = nbtrackIcon;
    labShell.add(panel, 'left', { rank: 650 });
    restorer?.add(panel, 'nbtrack-sidebar');

    const follow = (): void => {
      const current = tracker.currentWidget;
      if (current) {
        panel.followNotebook(notebookStore(current.context.path));
      }
    };
    tracker.currentChanged.connect(follow);
    labShell.currentChanged.connect(follow);
    tracker.widgetAdded.connect((_, widget) => widget.context.pathChanged.connect(follow));
    void app.restored.then(follow);
    // A cell that starts or ends may start or end a run: look again soon.
    NotebookActions.executionScheduled.connect(() => panel.nudge(1500));
    NotebookActions.executed.connect(() => panel.nudge(300));

    app.commands.addCommand('nbtrack:open', {
      label: 'Show nbtrack runs',
      caption: "Open the sidebar with the runs of the notebook's nbtrack store",
      icon: nbtrackIcon,
      execute: () => {
        labShell.activateById(panel.id);
      }
    });
    palette?.addItem({ command: 'nbtrack:open', category: 'nbtrack' });
  }
};

export default plugin;
