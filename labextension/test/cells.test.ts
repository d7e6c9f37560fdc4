import { cellBody, findRunCell, usesNbtrack } from '../src/cells';

const cells = [
  { executionCount: 1, source: '%load_ext nbtrack' },
  { executionCount: 2, source: '%%track a\nfor i in range(3):\n    nbtrack.log({"x": i})' },
  { executionCount: 5, source: '%%track b\nnbtrack.log({"x": 1})' },
  { executionCount: null, source: 'print(1)' }
];

describe('findRunCell', () => {
  it('prefers the cell with both the count and the code', () => {
    expect(findRunCell(cells, { execution_count: 5, source: 'nbtrack.log({"x": 1})' })).toBe(2);
  });

  it('falls back to the code when the kernel restarted (counts changed)', () => {
    expect(findRunCell(cells, { execution_count: 9, source: 'nbtrack.log({"x": 1})\n' })).toBe(2);
  });

  it('falls back to the count when the code was edited', () => {
    expect(findRunCell(cells, { execution_count: 2, source: 'edited' })).toBe(1);
  });

  it('says -1 when nothing matches', () => {
    expect(findRunCell(cells, { execution_count: null, source: null })).toBe(-1);
    expect(findRunCell(cells, { execution_count: 42, source: 'nope' })).toBe(-1);
  });

  it('drops a cell magic line to compare with the run code', () => {
    expect(cellBody('%%track a\nx = 1')).toBe('x = 1');
    expect(cellBody('x = 1')).toBe('x = 1');
  });
});

describe('usesNbtrack', () => {
  it('sees the lines that load nbtrack', () => {
    for (const source of [
      '%load_ext nbtrack',
      'import math\n  %load_ext autoreload nbtrack',
      'import nbtrack',
      'import os, nbtrack',
      'import nbtrack as nt',
      'from nbtrack import Run',
      'from nbtrack.integrations import KerasCallback',
      'import numpy as np, nbtrack',
      'import os; import nbtrack',
      '%reload_ext nbtrack',
      '%%track run-1\nx = 1'
    ]) {
      expect([source, usesNbtrack([source])]).toEqual([source, true]);
    }
  });

  it('does not mistake other names, comments or text for them', () => {
    for (const source of [
      'import nbtracker',
      '%load_ext nbtrack_other',
      '# import nbtrack later',
      'print("import nbtrack")',
      'from nbtracking import x',
      '%load_ext autoreload\n# nbtrack is too slow',
      '%load_ext autoreload\nnbtrack = None',
      'import numpy as nbtrack_np',
      ''
    ]) {
      expect([source, usesNbtrack([source])]).toEqual([source, false]);
    }
    expect(usesNbtrack([])).toBe(false);
    expect(usesNbtrack(['x = 1', '%load_ext nbtrack'])).toBe(true);
  });
});
