// Which cell of a notebook a run came from, and whether a notebook uses nbtrack (pure,
// tested with jest).

export interface CellInfo {
  /** The execution count shown beside a code cell (null when never run). */
  executionCount: number | null;
  source: string;
}

export interface RunOrigin {
  execution_count: number | null;
  source: string | null;
}

/**
 * The index of the run's cell: the cell with the run's execution count and its source;
 * else the first cell with its source; else one with its execution count; else -1.
 *
 * Execution counts restart with the kernel and sources repeat, so either alone can
 * point to the wrong cell; both together rarely do.
 */
export function findRunCell(cells: readonly CellInfo[], run: RunOrigin): number {
  const source = normalise(run.source);
  const sameCount = (cell: CellInfo): boolean =>
    run.execution_count !== null && cell.executionCount === run.execution_count;
  const sameSource = (cell: CellInfo): boolean =>
    source !== '' && (normalise(cell.source) === source || normalise(cellBody(cell.source)) === source);
  const both = cells.findIndex(cell => sameCount(cell) && sameSource(cell));
  if (both >= 0) {
    return both;
  }
  const bySource = cells.findIndex(sameSource);
  return bySource >= 0 ? bySource : cells.findIndex(sameCount);
}

/** A cell's code without its first line when that is a cell magic (`%%track name`): the run's source. */
export function cellBody(source: string): string {
  return source.startsWith('%%') ? source.replace(/^[^\n]*\n?/, '') : source;
}

function normalise(source: string | null): string {
  return (source ?? '').replace(/\r\n/g, '\n').trim();
}

/** A line that loads nbtrack: `%load_ext nbtrack`, `import nbtrack`, `from nbtrack ...`. */
const USES_NBTRACK =
  /^\s*(?:%load_ext\s+(?:\S+\s+)*nbtrack\b|import\s+(?:[\w.]+\s*,\s*)*nbtrack\b|from\s+nbtrack\b)/m;

/** Whether code cells with these sources load nbtrack (its live cells will draw pictures). */
export function usesNbtrack(sources: readonly string[]): boolean {
  return sources.some(source => USES_NBTRACK.test(source));
}
