// The output `nbtrack.workspace()` writes in a notebook, read without the DOM (jest-tested):
// what it asks for, and whether it opens the workspace by itself.

export const WORKSPACE_MIME = 'application/vnd.nbtrack.workspace+json';
/** An output older than this (by the kernel's clock against the page's) does not open a tab by itself. */
export const FRESH_MS = 60000;

/** The output's data as `nbtrack.workspace()` writes it. */
export interface WorkspaceRequest {
  /** A store path under the Jupyter root; null: the notebook's own store (as the sidebar follows). */
  store: string | null;
  /** The kernel's store relative to its working folder (the notebook's): `.nbtrack`; null: a database. */
  near: string | null;
  project: string | null;
  /** When the kernel made the request, in ms since the epoch. */
  at: number;
  /** One id per call, so a re-rendered output does not open the tab twice. */
  id: string;
}

/** The request in an output's data, or null when it is not one. */
export function parseRequest(data: unknown): WorkspaceRequest | null {
  if (data === null || typeof data !== 'object') {
    return null;
  }
  const d = data as Record<string, unknown>;
  if (typeof d.at !== 'number' || typeof d.id !== 'string') {
    return null;
  }
  return {
    store: typeof d.store === 'string' && d.store ? d.store : null,
    near: typeof d.near === 'string' && d.near ? d.near : null,
    project: typeof d.project === 'string' && d.project ? d.project : null,
    at: d.at,
    id: d.id
  };
}

/** Whether the request should open the tab by itself now (fresh, and not opened before). */
export function opensNow(request: WorkspaceRequest, now: number, opened: ReadonlySet<string>): boolean {
  return !opened.has(request.id) && Math.abs(now - request.at) < FRESH_MS;
}
