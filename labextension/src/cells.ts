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

/** Whether one statement loads nbtrack: `%load_ext nbtrack` (or `%reload_ext`, beside other
 * extensions), `import nbtrack` (in a list, `as` a name, a submodule), `from nbtrack... import`. */
function loadsNbtrack(statement: string): boolean {
  const isNbtrack = (module: string): boolean => module === 'nbtrack' || module.startsWith('nbtrack.');
  const magic = /^%(?:re)?load_ext[ \t]+(.*)$/.exec(statement);
  if (magic) {
    return magic[1].split(/[ \t]+/).includes('nbtrack');
  }
  const plain = /^import[ \t]+(.*)$/.exec(statement);
  if (plain) {
    return plain[1].split(',').some(part => isNbtrack(part.trim().split(/[ \t]+/)[0]));
  }
  const from = /^from[ \t]+(\S+)[ \t]+import\b/.exec(statement);
  return from !== null && isNbtrack(from[1]);
}

/** Whether code cells with these sources load nbtrack (its live cells will draw pictures):
 * a line, or a `;`-separated statement on it, that loads it; a `%%track` cell. */
export function usesNbtrack(sources: readonly string[]): boolean {
  return sources.some(
    source =>
      /^%%track\b/.test(source.trimStart()) ||
      source.split('\n').some(line => line.split(';').some(statement => loadsNbtrack(statement.trim())))
  );
}
