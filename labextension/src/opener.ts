// What `nbtrack.workspace()` shows in a notebook: its output carries WORKSPACE_MIME, which
// this renderer turns into a button that opens the runs workspace, and which opens it at
// once when the output is fresh (just produced by the cell, not a saved notebook reopened).
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';
import { button, el } from './dom';
import { opensNow, parseRequest, WORKSPACE_MIME, type WorkspaceRequest } from './openrequest';

export { WORKSPACE_MIME };

const opened = new Set<string>();

export function workspaceRendererFactory(
  open: (request: WorkspaceRequest) => void
): IRenderMime.IRendererFactory {
  return {
    safe: true,
    mimeTypes: [WORKSPACE_MIME],
    defaultRank: 10,
    createRenderer: () => new WorkspaceLink(open)
  };
}

class WorkspaceLink extends Widget implements IRenderMime.IRenderer {
  constructor(private readonly open: (request: WorkspaceRequest) => void) {
    super();
    this.addClass('nbtrack-workspace-link');
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const request = parseRequest(model.data[WORKSPACE_MIME]);
    if (!request) {
      this.node.replaceChildren(el('span', 'nbtrack-hint', 'nbtrack: not a workspace request'));
      return;
    }
    const where = request.store ? ` on ${request.store}` : '';
    this.node.replaceChildren(
      button(
        'Open the runs workspace',
        'nbtrack-workspace-open',
        `Open nbtrack's runs workspace${where}`,
        () => this.open(request)
      ),
      el('span', 'nbtrack-hint', ` nbtrack runs workspace${where}`)
    );
    if (opensNow(request, Date.now(), opened)) {
      opened.add(request.id);
      this.open(request);
    }
  }
}
