// Smoothing and a log y axis drawn in the browser (src/drawing.ts) make the chart Python's
// metric_chart makes with smoothing= and log_scale=: the fixtures are its specs for the same
// data, written by tests/test_chart_drawing.py (two runs, a NaN, steps logged out of order).
import * as fs from 'fs';
import * as path from 'path';
import { drawable, drawSpec, meansAlongX, PLAIN, smooth, withSmoothed, withX } from '../src/drawing';

type Json = Record<string, unknown>;
type Row = { run: string; step: number; value: number | null; smoothed?: number | null };

function fixture(name: string): Json {
  return JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', `${name}.vl.json`), 'utf8')) as Json;
}

/** The spec without its data and with its generated names (hashes of the data) made plain. */
function shape(spec: Json): unknown {
  const { datasets: _datasets, ...rest } = spec;
  return JSON.parse(
    JSON.stringify(rest).replace(
      /"(view|hover|zoom|data)[-_][0-9a-f_]+"/g,
      (_whole, kind: string) => `"${kind}"`
    )
  );
}

function rowsOf(spec: Json): Row[] {
  const datasets = Object.values(spec.datasets as Record<string, Row[]>);
  expect(datasets).toHaveLength(1);
  return datasets[0];
}

describe('drawSpec', () => {
  const plain = fixture('metric-plain');

  it.each([
    ['metric-smoothed', { smoothing: 0.6, log: false }],
    ['metric-log', { smoothing: 0, log: true }],
    ['metric-smoothed-log', { smoothing: 0.6, log: true }]
  ])('draws %s as metric_chart does', (name, drawing) => {
    expect(shape(drawSpec(plain, drawing))).toEqual(shape(fixture(name)));
  });

  it('draws runs logged at different steps (with crosshair rows) as metric_chart does', () => {
    const drawing = { smoothing: 0.6, log: true };
    expect(shape(drawSpec(fixture('metric-apart'), drawing))).toEqual(
      shape(fixture('metric-apart-smoothed-log'))
    );
  });

  it("pairs each point with the metric's value at its step as metric_chart does", () => {
    // the fixture's epoch: logged at steps 0, 2 and 4 (tests/test_chart_drawing.py)
    const epoch = [
      { step: 4, value: 2 },
      { step: 0, value: 0 },
      { step: 2, value: 1 },
      { step: 3, value: null }
    ];
    const expected = (rowsOf(fixture('metric-one-along-epoch')) as (Row & { x: number })[]).map(r => [
      r.step,
      r.x
    ]);
    const ours = withX(rowsOf(fixture('metric-one')), epoch).map(r => [r.step, r.x]);
    expect(ours.sort()).toEqual(expected.sort());
    expect(withX([{ step: 3 }], [{ step: 5, value: 1 }])).toEqual([]); // before its first value
  });

  it("draws a run against another metric as metric_chart(x='epoch') does", () => {
    const drawing = { smoothing: 0, log: false, x: 'epoch' };
    expect(shape(drawSpec(fixture('metric-one'), drawing))).toEqual(shape(fixture('metric-one-along-epoch')));
  });

  it("draws a run against the time since its first point as metric_chart(x='relative') does", () => {
    // One run, as in a live panel: several runs against time get crosshair rows (interactions.py).
    const drawing = { smoothing: 0.6, log: false, x: 'relative' as const };
    expect(shape(drawSpec(fixture('metric-one'), drawing))).toEqual(
      shape(fixture('metric-one-relative-smoothed'))
    );
  });

  it('leaves the spec it was given, and a plain drawing changes nothing', () => {
    const before = JSON.stringify(plain);
    drawSpec(plain, { smoothing: 0.9, log: true });
    expect(JSON.stringify(plain)).toBe(before);
    expect(drawSpec(plain, PLAIN)).toEqual(plain);
  });

  it('smooths a chart once, however often it is asked', () => {
    const once = drawSpec(plain, { smoothing: 0.6, log: false });
    expect(drawSpec(once, { smoothing: 0.6, log: false })).toEqual(once);
  });

  it('knows which charts it can redraw', () => {
    expect(drawable(plain)).toBe(true);
    expect(drawable(fixture('parallel'))).toBe(false);
  });
});

describe('meansAlongX', () => {
  it("is pandas' groupby(x).mean(): NaN and missing skipped, null where nothing else is, in x order", () => {
    expect(
      meansAlongX([
        [2, 1],
        [0, 5],
        [2, 3],
        [1, NaN],
        [3, null],
        [3, 4]
      ])
    ).toEqual([
      [0, 5],
      [1, null],
      [2, 2],
      [3, 4]
    ]);
  });
});

describe('smoothing', () => {
  it("gives Python's numbers, NaN skipped, each run in step order", () => {
    const expected = new Map(rowsOf(fixture('metric-smoothed')).map(r => [`${r.run}@${r.step}`, r.smoothed]));
    const ours = withSmoothed(rowsOf(fixture('metric-plain')), 0.6);
    expect(ours).toHaveLength(expected.size);
    ours.forEach(row => {
      const want = expected.get(`${row.run}@${row.step}`);
      if (want === null || want === undefined || Number.isNaN(want)) {
        expect(row.smoothed === null || Number.isNaN(row.smoothed)).toBe(true);
      } else {
        expect(row.smoothed).toBeCloseTo(want, 12);
      }
    });
  });

  it("gives Python's numbers to crosshair rows too: the run's nearest smoothed point", () => {
    type Helper = Row & { crosshair?: boolean };
    const key = (r: Helper): string => `${r.run}@${r.step}@${r.crosshair ? 'x' : ''}`;
    const expected = new Map(
      (rowsOf(fixture('metric-apart-smoothed-log')) as Helper[]).map(r => [key(r), r.smoothed])
    );
    const ours = withSmoothed(rowsOf(fixture('metric-apart')) as Helper[], 0.6, 'step');
    expect(ours.filter(r => r.crosshair).length).toBeGreaterThan(3);
    expect(ours).toHaveLength(expected.size);
    for (const row of ours) {
      const want = expected.get(key(row));
      if (want === null || want === undefined || Number.isNaN(want)) {
        expect(row.smoothed === null || Number.isNaN(row.smoothed)).toBe(true);
      } else {
        expect(row.smoothed).toBeCloseTo(want, 12);
      }
    }
  });

  it('is debiased, passes NaN and infinities through, and refuses a weight of 1', () => {
    const out = smooth([1, NaN, 0, Infinity, 0, null], 0.5);
    expect(out[0]).toBe(1);
    expect(out[1]).toBeNaN();
    expect(out[2]).toBeCloseTo(1 / 3, 12);
    expect(out[3]).toBe(Infinity);
    expect(out[4]).toBeCloseTo(1 / 7, 12);
    expect(out[5]).toBeNull();
    expect(smooth([3, 4], 0)).toEqual([3, 4]);
    expect(() => smooth([1], 1)).toThrow(/smoothing must be in \[0, 1\)/);
  });
});
