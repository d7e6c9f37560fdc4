// What the HTML report's page script (nbtrack/report/static/report.js) uses to redraw its
// metric charts in the browser, bundled as the iife `nbtrackDrawing` (build:charts): the live
// panel's drawing (drawing.ts), the controls every view shares (charttools.ts), and the one
// step only the report needs: a chart's embedded rows moved along another x.
//
// A report's metric chart is built by nbtrack.charts.metric_chart against the step, its rows
// carrying `relative` (seconds since the run's first point) and `start` (that first point's
// time, as Altair writes times), so the page can draw it along relative time, the clock or
// any metric the report embeds, as metric_chart(x=...) would.
import { meansAlongX, withSmoothed, withX, type Drawing } from './drawing';

export * from './drawing';
export { chartTools, MAX_SMOOTHING, X_CHOICES, type ChartChoice, type ChartTools } from './charttools';

/** A row of a report chart's data (specs.metric_specs): a point, or a crosshair row. */
export type Row = Record<string, unknown> & {
  run?: unknown;
  run_id?: unknown;
  step?: number;
  value?: number | null;
  crosshair?: boolean | null;
};

/** The field a chart is drawn along for `x` (drawing.ts's drawSpec), `base` for its own. */
export function fieldOf(x: string | undefined, base = 'step'): string {
  if (!x || x === 'step') {
    return base;
  }
  return x === 'relative' ? 'relative' : x === 'wall' ? 'time' : 'x';
}

/** Whether a report chart's rows can be drawn along the clock: they carry its times. */
export function timed(rows: readonly Row[]): boolean {
  const points = rows.filter(row => !row.crosshair);
  return points.length > 0 && points.every(row => typeof row.relative === 'number' && !!row.start);
}

/**
 * A report chart's `rows` drawn as `drawing` says: along its x (the step: the rows as they
 * are; `relative`; `wall`, each row's `time` in milliseconds; a metric, each run's points at
 * the value that metric had at their step, from `along`: its points, any runs), with the
 * crosshair rows made anew along it where the chart has them, then smoothed. New objects.
 *
 * @example
 * redrawn(rows, { smoothing: 0, log: false, x: 'epoch' }, epochRows); // rows with `x`
 */
export function redrawn(
  rows: readonly Row[],
  drawing: Drawing,
  along: readonly Row[] = [],
  base = 'step'
): Row[] {
  const field = fieldOf(drawing.x, base);
  let out: Row[] = rows.map(row => ({ ...row }));
  if (field !== base) {
    const points = out.filter(row => !row.crosshair);
    if (field === 'x') {
      const by = byRun(along.filter(row => !row.crosshair));
      out = [...byRun(points)].flatMap(([run, list]) =>
        withX(
          list as (Row & { step: number })[],
          (by.get(run) ?? []) as { step: number; value: number | null }[]
        )
      );
    } else if (field === 'time') {
      out = points
        .filter(row => typeof row.relative === 'number' && typeof row.start === 'string')
        .map(row => ({ ...row, time: Date.parse(row.start as string) + (row.relative as number) * 1000 }));
    } else {
      out = points.filter(row => typeof row.relative === 'number');
    }
    if (rows.some(row => row.crosshair)) {
      out = [...out, ...aligned(out, field, 'value')];
    }
  }
  return drawing.smoothing
    ? withSmoothed(out as (Row & { value: number | null })[], drawing.smoothing, field)
    : out;
}

/** Rows by run (its id where rows carry it, else its label; crosshair rows carry the label
 * alone), in the order first seen. */
function byRun(rows: readonly Row[], label = false): Map<unknown, Row[]> {
  const out = new Map<unknown, Row[]>();
  for (const row of rows) {
    const run = label ? row.run : (row.run_id ?? row.run);
    const list = out.get(run);
    if (list) {
      list.push(row);
    } else {
      out.set(run, [row]);
    }
  }
  return out;
}

/**
 * The crosshair rows of `points` along `x` (nbtrack.charts.interactions.aligned_points): for
 * every x value (at most twice as many as the longest run has), each run's point nearest to
 * it within the run's own x range, the earlier on a tie; `y` averaged per run and x. Each
 * `{run, [x], [y], crosshair: true}`.
 *
 * @example
 * aligned([{ run: 'a', x: 0, value: 1 }, { run: 'a', x: 2, value: 3 }, { run: 'b', x: 1, value: 5 }], 'x', 'value');
 * // a at 0, 1 (its 0: the earlier on a tie) and 2; b at 1
 */
export function aligned(points: readonly Row[], x: string, y: string): Row[] {
  const series = new Map<unknown, [number, number | null][]>(); // run -> [x, mean y], by x
  const grid = new Set<number>();
  for (const [run, list] of byRun(points, true)) {
    const placed: [number, unknown][] = [];
    for (const row of list) {
      const at = row[x];
      if (typeof at === 'number' && Number.isFinite(at)) {
        placed.push([at, row[y]]);
        grid.add(at);
      }
    }
    if (placed.length) {
      series.set(run, meansAlongX(placed));
    }
  }
  let xs = [...grid].sort((a, b) => a - b);
  const most = 2 * Math.max(0, ...[...series.values()].map(s => s.length));
  if (xs.length > most) {
    const picked = new Set<number>();
    for (let i = 0; i < most; i++) {
      picked.add(xs[Math.round(most > 1 ? (i * (xs.length - 1)) / (most - 1) : 0)]);
    }
    xs = [...picked].sort((a, b) => a - b);
  }
  const out: Row[] = [];
  for (const [run, means] of series) {
    const first = means[0][0];
    const last = means[means.length - 1][0];
    let after = 0;
    for (const at of xs) {
      if (at < first || at > last) {
        continue;
      }
      while (after < means.length - 1 && means[after][0] < at) {
        after += 1; // the first point at or after `at`
      }
      const before = Math.max(after - 1, 0);
      const nearer =
        Math.abs(means[before][0] - at) <= Math.abs(means[after][0] - at) ? means[before] : means[after];
      out.push({ run, [x]: at, [y]: nearer[1], crosshair: true });
    }
  }
  return out;
}
