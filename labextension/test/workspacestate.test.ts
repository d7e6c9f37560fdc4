import { storeNear } from '../src/format';
import { chartedRuns, chartsKey, fillWidth, restoreArgs, sharedSweep } from '../src/workspacestate';

describe('chartedRuns', () => {
  it('charts the selection, in its order, at most max', () => {
    expect(chartedRuns(['a', 'b', 'c'], ['c', 'a'], 20)).toEqual(['c', 'a']);
    expect(chartedRuns(['a'], ['x', 'y', 'z'], 2)).toEqual(['x', 'y']);
  });
  it('charts the newest few listed when nothing is selected', () => {
    expect(chartedRuns(['a', 'b', 'c', 'd'], [], 20, 3)).toEqual(['a', 'b', 'c']);
    expect(chartedRuns([], [], 20)).toEqual([]);
  });
});

describe('sharedSweep', () => {
  const runs = [
    { id: 'a', sweep_id: 's1' },
    { id: 'b', sweep_id: 's1' },
    { id: 'c', sweep_id: 's2' },
    { id: 'd', sweep_id: null }
  ];
  it('names the sweep all charted runs are trials of', () => {
    expect(sharedSweep(runs, ['a', 'b'])).toBe('s1');
    expect(sharedSweep(runs, ['c'])).toBe('s2');
  });
  it('is null for runs of two sweeps, of none, or not listed', () => {
    expect(sharedSweep(runs, ['a', 'c'])).toBeNull();
    expect(sharedSweep(runs, ['a', 'd'])).toBeNull();
    expect(sharedSweep(runs, ['d'])).toBeNull();
    expect(sharedSweep(runs, ['zz'])).toBeNull();
    expect(sharedSweep(runs, [])).toBeNull();
  });
});

describe('chartsKey', () => {
  it('changes with the runs, their order and the drawing options', () => {
    const key = chartsKey('s', ['a', 'b'], { x: 'step' });
    expect(chartsKey('s', ['a', 'b'], { x: 'step' })).toBe(key);
    expect(chartsKey('s', ['b', 'a'], { x: 'step' })).not.toBe(key);
    expect(chartsKey('s', ['a', 'b'], { x: 'wall' })).not.toBe(key);
  });
});

describe('storeNear', () => {
  it("puts the kernel's store in the notebook's folder", () => {
    expect(storeNear('exp/a.ipynb', '.nbtrack')).toBe('exp/.nbtrack');
    expect(storeNear('a.ipynb', '.nbtrack')).toBe('.nbtrack');
    expect(storeNear('exp/deep/a.ipynb', './runs/')).toBe('exp/deep/runs');
  });
});

describe('restoreArgs', () => {
  it('keeps the store and project a reload opens the tab on, and nothing empty', () => {
    expect(restoreArgs('/home/me/.nbtrack', 'search')).toEqual({
      store: '/home/me/.nbtrack',
      project: 'search'
    });
    expect(restoreArgs('/home/me/.nbtrack', '')).toEqual({ store: '/home/me/.nbtrack' });
    expect(restoreArgs(null, '')).toEqual({});
  });
});

describe('fillWidth', () => {
  it("makes a fixed-width chart follow its container's width, padding and legend inside", () => {
    const spec = { width: 720, height: 260, layer: [] };
    expect(fillWidth(spec)).toEqual({
      width: 'container',
      height: 260,
      layer: [],
      autosize: { type: 'fit-x', contains: 'padding' }
    });
    expect(spec.width).toBe(720); // the server's spec is kept as it was
  });
});
