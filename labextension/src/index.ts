// Wires nbtrack's sidebar into JupyterLab: a left panel, its icon and the nbtrack:open command.
import {
  ILabShell,
  ILayoutRestorer,
  type JupyterFrontEnd,
  type JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget, WidgetTracker } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { LabIcon } from '@jupyterlab/ui-components';
import { NbtrackApi } from './api';
import { notebookStore, storeNear } from './format';
import { openRunCell, warmPicturesFor } from './notebook';
import { workspaceRendererFactory } from './opener';
import { NbtrackPanel } from './panel';
import { WorkspaceView } from './workspace';

const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16" height="16">
<path class="jp-icon3" fill="#616161" d="M3 3h2v16h16v2H3zm4 11.6 3.6-4.8 3.2 2.6L19 6l1.6 1.2-6.4 8-3.2-2.6-2.4 3.2z"/></svg>`;

export const nbtrackIcon = new LabIcon({ name: 'nbtrack:runs', svgstr: ICON_SVG });

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'nbtrack:sidebar',
  description: "The runs of the open notebook's nbtrack store, with overlaid curves and config diffs.",
  autoStart: true,
  requires: [ILabShell, INotebookTracker],
  optional: [ILayoutRestorer, ICommandPalette, IRenderMimeRegistry],
  activate: (
    app: JupyterFrontEnd,
    labShell: ILabShell,
    tracker: INotebookTracker,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    rendermime: IRenderMimeRegistry | null
  ) => {
    const api = new NbtrackApi(app.serviceManager.serverSettings);
    const panel = new NbtrackPanel({
      api,
      openRun: run => openRunCell(app, tracker, run),
      openFile: path => void app.commands.execute('docmanager:open', { path }),
      openWorkspace: store => void app.commands.execute('nbtrack:workspace', store ? { store } : {})
    });
    panel.title.icon = nbtrackIcon;
    let workspace: MainAreaWidget<WorkspaceView> | null = null;
    labShell.add(panel, 'left', { rank: 650 });
    restorer?.add(panel, 'nbtrack-sidebar');
    // The workspace tab comes back after a reload, where it was, on the store it showed.
    const workspaces = new WidgetTracker<MainAreaWidget<WorkspaceView>>({ namespace: 'nbtrack-workspace' });
    void restorer?.restore(workspaces, {
      command: 'nbtrack:workspace',
      args: widget => widget.content.restoreState,
      name: () => 'workspace'
    });

    const follow = (): void => {
      const current = tracker.currentWidget;
      if (current) {
        panel.followNotebook(notebookStore(current.context.path));
      }
    };
    tracker.currentChanged.connect(follow);
    labShell.currentChanged.connect(follow);
    tracker.widgetAdded.connect((_, widget) => {
      widget.context.pathChanged.connect(follow);
      warmPicturesFor(widget, (kernel, path) => api.warmPictures(kernel, path));
    });
    void app.restored.then(follow);
    // A cell that starts or ends may start or end a run: look again soon.
    NotebookActions.executionScheduled.connect(() => {
      panel.nudge(1500);
      workspace?.content.nudge(1500);
    });
    NotebookActions.executed.connect(() => {
      panel.nudge(300);
      workspace?.content.nudge(300);
    });

    app.commands.addCommand('nbtrack:open', {
      label: 'Show nbtrack runs',
      caption: "Open the sidebar with the runs of the notebook's nbtrack store",
      icon: nbtrackIcon,
      execute: () => {
        labShell.activateById(panel.id);
      }
    });
    palette?.addItem({ command: 'nbtrack:open', category: 'nbtrack' });

    // The runs workspace: one main-area tab, pointed at the store it is asked for.
    app.commands.addCommand('nbtrack:workspace', {
      label: 'Open nbtrack runs workspace',
      caption: 'A tab with the run table, chart sections, overlays and the config diff',
      icon: nbtrackIcon,
      execute: args => {
        const given = typeof args.store === 'string' && args.store ? args.store : null;
        const project = typeof args.project === 'string' && args.project ? args.project : undefined;
        if (!workspace || workspace.isDisposed) {
          workspace = new MainAreaWidget({ content: new WorkspaceView(api) });
          workspace.id = 'nbtrack-workspace-tab';
          workspace.title.icon = nbtrackIcon;
          workspace.title.closable = true;
          workspace.content.title.changed.connect(() => {
            if (workspace) {
              workspace.title.label = workspace.content.title.label;
            }
          });
          const tab = workspace;
          tab.content.stateChanged = () => void workspaces.save(tab);
        }
        if (!workspace.isAttached) {
          app.shell.add(workspace, 'main');
        }
        if (!workspaces.has(workspace)) {
          void workspaces.add(workspace);
        }
        workspace.content.setStore(given ?? panel.store, project);
        app.shell.activateById(workspace.id);
      }
    });
    palette?.addItem({ command: 'nbtrack:workspace', category: 'nbtrack' });
    // nbtrack.workspace() in a notebook: an output that opens the tab (and a button to reopen it).
    rendermime?.addFactory(
      workspaceRendererFactory(request => {
        // The notebook that asked is the current one; its kernel works in the notebook's folder.
        const current = tracker.currentWidget;
        const store =
          request.store ?? (request.near && current ? storeNear(current.context.path, request.near) : null);
        void app.commands.execute('nbtrack:workspace', {
          ...(store ? { store } : {}),
          ...(request.project ? { project: request.project } : {})
        });
      })
    );
  }
};

export default plugin;
