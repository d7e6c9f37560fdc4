// Pure choices of the runs workspace (no DOM), tested with jest.

/** Runs charted when none is selected: the newest few listed, as W&B charts the visible runs. */
export const DEFAULT_CHARTED = 5;

/** The runs to chart: the selection, else the first `fallback` listed; at most `max`. */
export function chartedRuns(
  listed: readonly string[],
  selected: readonly string[],
  max: number,
  fallback: number = DEFAULT_CHARTED
): string[] {
  const chosen = selected.length ? selected : listed.slice(0, fallback);
  return chosen.slice(0, max);
}

/** The sweep every one of `ids` belongs to (null when any is in none or in another). */
export function sharedSweep(
  runs: readonly { id: string; sweep_id: string | null }[],
  ids: readonly string[]
): string | null {
  const sweeps = new Set(ids.map(id => runs.find(run => run.id === id)?.sweep_id ?? null));
  if (sweeps.size !== 1) {
    return null;
  }
  const [only] = sweeps;
  return only ?? null;
}

/** What the charts were drawn for: refetch only when it changes or a charted run is logging. */
export function chartsKey(store: string, ids: readonly string[], options: Record<string, unknown>): string {
  return JSON.stringify([store, ids, options]);
}

/** What the layout restorer keeps of the workspace tab: the store and project it shows. */
export function restoreArgs(store: string | null, project: string): { store?: string; project?: string } {
  return { ...(store ? { store } : {}), ...(project ? { project } : {}) };
}

/**
 * `spec` filling its container's width (a chart drawn at a fixed width from the server, such
 * as a sweep's parallel coordinates), so it follows the tab's width as the curves do. Vega
 * sizes a "container" chart whenever its element changes size, a splitter drag included.
 */
export function fillWidth<T extends Record<string, unknown>>(spec: T): T {
  return { ...spec, width: 'container', autosize: { type: 'fit-x', contains: 'padding' } };
}
