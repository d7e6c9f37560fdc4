import { mergePairs, rowsOf, type Row } from '../src/widgets/points';

const row = (step: number, value: number | null, n = 1): Row => ({
  run: 'r',
  step,
  value,
  min: value,
  max: value,
  n,
  relative: step / 10
});

describe('the live panel points', () => {
  it('reads a message part as rows, min and max defaulting to the value', () => {
    expect(rowsOf({ n: 2, step: [0, 2], value: [1, null], max: [3, null], time: [0, 1.5] }, 'r')).toEqual([
      { run: 'r', step: 0, value: 1, min: 1, max: 3, n: 2, relative: 0 },
      { run: 'r', step: 2, value: null, min: null, max: null, n: 2, relative: 1.5 }
    ]);
    // from a kernel that sends no times: no time axis, but the same points
    expect(rowsOf({ n: 1, step: [3], value: [1] }, 'r')[0].relative).toBeNull();
  });

  it('merges neighbours as Series._double does: weighted mean, outer min and max', () => {
    const merged = mergePairs([row(0, 1), row(1, 3, 3), row(4, null), row(5, 2), row(6, 9)]);
    expect(merged).toEqual([
      { run: 'r', step: 0, value: 2.5, min: 1, max: 3, n: 4, relative: 0 },
      { run: 'r', step: 4, value: 2, min: 2, max: 2, n: 2, relative: 0.4 },
      row(6, 9)
    ]);
  });
});
