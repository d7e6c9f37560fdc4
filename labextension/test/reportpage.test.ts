// The HTML report's charts moved along another x in the page (src/reportpage.ts): each run's
// points paired with its own run's metric, the clock rebuilt from the rows' start and
// relative time, the crosshair rows made anew along the new x as Python's aligned_points.
import * as fs from 'fs';
import * as path from 'path';
import { alongMetric, drawSpec } from '../src/drawing';
import { aligned, fieldOf, redrawn, timed, type Row } from '../src/reportpage';

type Json = Record<string, unknown>;

const START = '2026-01-02T03:04:05';

function points(run: string, values: number[]): Row[] {
  return values.map((value, step) => ({
    run,
    run_id: `id-${run}`,
    step,
    value,
    relative: step * 2,
    start: START
  }));
}

describe('redrawn', () => {
  const rows = [...points('a', [5, 4, 3, 2]), ...points('b', [9, 8, 7, 6])];
  // epoch of run a: 10 from step 1, 11 from step 3; of run b: 20 from step 0
  const epoch: Row[] = [
    { run: 'a', run_id: 'id-a', step: 1, value: 10 },
    { run: 'a', run_id: 'id-a', step: 3, value: 11 },
    { run: 'b', run_id: 'id-b', step: 0, value: 20 }
  ];

  it('leaves the rows as they are along the chart own x', () => {
    expect(redrawn(rows, { smoothing: 0, log: false, x: 'step' })).toEqual(rows);
    expect(redrawn(rows, { smoothing: 0, log: false, x: '' })).toEqual(rows);
  });

  it("pairs each run's points with its own run's metric, leaving out points before its first value", () => {
    const out = redrawn(rows, { smoothing: 0, log: false, x: 'epoch' }, epoch);
    expect(out.map(r => [r.run, r.step, r.x])).toEqual([
      ['a', 1, 10],
      ['a', 2, 10],
      ['a', 3, 11],
      ['b', 0, 20],
      ['b', 1, 20],
      ['b', 2, 20],
      ['b', 3, 20]
    ]);
    expect(rows[0]).not.toHaveProperty('x'); // the rows given are left as they were
  });

  it('draws nothing of a run the metric was not logged by', () => {
    const out = redrawn(rows, { smoothing: 0, log: false, x: 'epoch' }, epoch.slice(0, 2));
    expect(new Set(out.map(r => r.run))).toEqual(new Set(['a']));
  });

  it('rebuilds the clock from the start and the relative time, in milliseconds', () => {
    const out = redrawn(rows, { smoothing: 0, log: false, x: 'wall' });
    expect(out[3].time).toBe(Date.parse(START) + 6000);
    expect(redrawn(rows, { smoothing: 0, log: false, x: 'relative' }).map(r => r.relative)).toEqual(
      rows.map(r => r.relative)
    );
    expect(timed(rows)).toBe(true);
    expect(timed(rows.map(({ start: _start, ...rest }) => rest))).toBe(false);
  });

  it('makes the crosshair rows anew along the new x where the chart has them', () => {
    const withCrosshair = [...rows, { run: 'a', step: 0.5, value: 5, crosshair: true }];
    const out = redrawn(withCrosshair, { smoothing: 0, log: false, x: 'epoch' }, epoch);
    const crosshair = out.filter(r => r.crosshair);
    expect(crosshair.map(r => [r.run, r.x])).toEqual([
      ['a', 10],
      ['a', 11],
      ['b', 20]
    ]);
    expect(crosshair.every(r => r.step === undefined)).toBe(true);
    // none where the chart had none (its lines do not filter them out)
    expect(redrawn(rows, { smoothing: 0, log: false, x: 'epoch' }, epoch).some(r => r.crosshair)).toBe(false);
  });

  it('smooths each run along the new x', () => {
    const out = redrawn(rows, { smoothing: 0.5, log: false, x: 'relative' });
    const b = out.filter(r => r.run === 'b').map(r => r.smoothed as number);
    expect(b[0]).toBe(9);
    expect(b[1]).toBeCloseTo((0.5 * 9 * 0.5 + 0.5 * 8) / 0.75);
  });
});

describe('aligned', () => {
  it("gives each run its nearest point at every x, as Python's aligned_points", () => {
    const d: Row[] = [
      { run: 'a', step: 0, value: 1 },
      { run: 'a', step: 2, value: 2 },
      { run: 'a', step: 4, value: 3 },
      { run: 'b', step: 0, value: 10 },
      { run: 'b', step: 3, value: 13 }
    ];
    const out = aligned(d, 'step', 'value');
    expect(out.filter(r => r.step === 2).map(r => [r.run, r.value])).toEqual([
      ['a', 2],
      ['b', 13]
    ]);
    // within each run's own range: b has none at 4
    expect(out.filter(r => r.run === 'b').map(r => r.step)).toEqual([0, 2, 3]);
    expect(out.every(r => r.crosshair === true)).toBe(true);
  });

  it('makes the rows Python makes (fixture by tests/test_chart_drawing.py)', () => {
    const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'aligned.json'), 'utf8')) as {
      points: Row[];
      aligned: Row[];
    };
    // Values to 12 digits: the means of a repeated time may differ in their last bit.
    const key = (r: Row) => `${r.run}@${r.relative}`;
    const round = (r: Row) => ({ ...r, value: r.value === null ? null : Number(r.value?.toPrecision(12)) });
    const mine = aligned(fixture.points, 'relative', 'value');
    expect(
      mine
        .map(r => round({ run: r.run, relative: r.relative, value: r.value }))
        .sort((p, q) => (key(p) < key(q) ? -1 : 1))
    ).toEqual(fixture.aligned.map(round).sort((p, q) => (key(p) < key(q) ? -1 : 1)));
  });

  it('keeps at most twice as many x values as the longest run has points', () => {
    const d: Row[] = Array.from({ length: 30 }, (_, i) => ({ run: `r${i}`, x: i, value: i }));
    expect(new Set(aligned(d, 'x', 'value').map(r => r.x)).size).toBeLessThanOrEqual(2);
  });
});

describe('x = wall time', () => {
  it('is the clock, not a metric', () => {
    expect(alongMetric({ smoothing: 0, log: false, x: 'wall' })).toBeNull();
    expect(fieldOf('wall')).toBe('time');
    expect(fieldOf('loss')).toBe('x');
    expect(fieldOf('', 'x')).toBe('x');
  });

  it('draws the line, crosshair and tooltip along time, as metric_chart(x="wall")', () => {
    const spec = {
      layer: [
        {
          mark: 'line',
          encoding: {
            x: { field: 'step', type: 'quantitative', title: 'step' },
            y: { field: 'value', type: 'quantitative' }
          }
        },
        { mark: 'rule', encoding: { x: { field: 'step' }, tooltip: [{ field: 'step', format: 'd' }] } }
      ]
    };
    const drawn = drawSpec(spec, { smoothing: 0, log: false, x: 'wall' }) as { layer: Json[] };
    const encodings = drawn.layer.map(l => l.encoding as Json);
    expect(encodings[0].x).toEqual({ field: 'time', title: 'wall time', type: 'temporal' });
    expect((encodings[1].tooltip as Json[])[0]).toEqual({
      field: 'time',
      title: 'wall time',
      type: 'temporal',
      format: '%Y-%m-%d %H:%M:%S'
    });
  });
});
