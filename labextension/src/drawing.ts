// How a metric chart is drawn where the browser alone redraws it (the live panel, the HTML
// report): TensorBoard's smoothing and a log y axis, applied to the Vega-Lite spec that
// nbtrack.charts.metric_chart built without them, and to its rows.
//
// The kernel-backed views (the compare widget, the sidebar, the workspace) ask Python for
// the chart with `smoothing`/`log_scale`; here there is no kernel to ask (a live panel's
// kernel is busy training; a report is a file). So the spec changes below make exactly the
// chart metric_chart(..., smoothing=w, log_scale=True) makes: labextension/test/
// drawing.test.ts compares them on fixtures that tests/test_chart_drawing.py writes.

/** What the person chose: a smoothing weight in [0, 1) (0: none), a log y axis, and x: the
 * step, `relative` (the seconds since the run's first point: rows carry `relative`), `wall`
 * (the clock: rows carry `time`) or a logged metric's key (rows carry its value at their step
 * as `x`). */
export interface Drawing {
  smoothing: number;
  log: boolean;
  x?: string;
}

export const PLAIN: Drawing = { smoothing: 0, log: false };

/** The x choices that are not a logged metric (nbtrack.charts.metrics.x_axis's). */
const CLOCKS = ['step', 'relative', 'wall'];

/** The logged metric `drawing` draws along (x = a metric), or null (the step, the clock). */
export function alongMetric(drawing: Drawing): string | null {
  return drawing.x && !CLOCKS.includes(drawing.x) ? drawing.x : null;
}

/** metric_chart's x axis for x="relative" and x="wall" (nbtrack.charts.metrics.x_axis). */
const RELATIVE = { field: 'relative', title: 'relative time (s)', type: 'quantitative' };
const WALL = { field: 'time', title: 'wall time', type: 'temporal' };
/** The tooltip's number and time formats (nbtrack.charts._base.NUMBER_FORMAT, Axis.tooltip). */
const NUMBER_FORMAT = '.4~g';
const TIME_FORMAT = '%Y-%m-%d %H:%M:%S';

/** The faded raw curve under a smoothed one (metric_chart's opacity). */
export const RAW_OPACITY = 0.25;

type Json = Record<string, unknown>;

/**
 * TensorBoard's debiased exponential moving average of `values` in order: NaN, infinities and
 * missing values are passed through and skipped. The same numbers as `nbtrack.charts.
 * metrics.smooth` (checked on Python's own output).
 *
 * @example
 * smooth([1, 0, 0], 0.5); // [1, 0.333…, 0.142…]
 */
export function smooth(values: readonly (number | null)[], weight: number): (number | null)[] {
  if (!(weight >= 0 && weight < 1)) {
    throw new RangeError(`smoothing must be in [0, 1); got ${weight}`);
  }
  let last = 0;
  let count = 0;
  return values.map(value => {
    if (value === null || !Number.isFinite(value)) {
      return value;
    }
    count += 1;
    last = last * weight + (1 - weight) * value;
    return weight ? last / (1 - weight ** count) : value;
  });
}

/** A row of a metric chart's data: a point, or (`crosshair`, several runs apart) the point of
 * a run nearest to an x where another run has one (nbtrack.charts.interactions). */
type Point = { value: number | null; step?: number; run?: unknown; crosshair?: boolean | null };

/**
 * One run's mean value at each x, in ascending x, as pandas' `groupby(x).mean()`: NaN and
 * missing values skipped, null where an x has nothing else (still a point to be nearest).
 *
 * @example
 * meansAlongX([[2, 1], [0, 5], [2, 3], [1, NaN]]); // [[0, 5], [1, null], [2, 2]]
 */
export function meansAlongX(points: Iterable<readonly [number, unknown]>): [number, number | null][] {
  const sums = new Map<number, [number, number]>();
  for (const [at, value] of points) {
    const sum = sums.get(at) ?? [0, 0];
    const counted = typeof value === 'number' && !Number.isNaN(value);
    sums.set(at, [sum[0] + (counted ? value : 0), sum[1] + (counted ? 1 : 0)]);
  }
  return [...sums]
    .map(([at, [sum, n]]): [number, number | null] => [at, n ? sum / n : null])
    .sort((a, b) => a[0] - b[0]);
}

/**
 * `rows` (one metric's points, any runs) with `smoothed`: each run's points smoothed in step
 * order, as metric_chart does before drawing; a crosshair row takes the smoothed value of its
 * run's point nearest to it along `x` (the earlier on a tie), as metric_chart builds them from
 * the smoothed points. New objects; `rows` is left as it was.
 */
export function withSmoothed<T extends Point>(
  rows: readonly T[],
  weight: number,
  x = 'step'
): (T & { smoothed: number | null })[] {
  const byRun = new Map<unknown, number[]>();
  const helpers: number[] = [];
  rows.forEach((row, index) => {
    if (row.crosshair) {
      helpers.push(index);
      return;
    }
    const list = byRun.get(row.run);
    if (list) {
      list.push(index);
    } else {
      byRun.set(row.run, [index]);
    }
  });
  const out: (T & { smoothed: number | null })[] = rows.map(row => ({ ...row, smoothed: row.value }));
  const along = new Map<unknown, [number, number | null][]>(); // run -> [x, mean smoothed], by x
  for (const [run, indexes] of byRun) {
    indexes.sort((a, b) => (rows[a].step ?? 0) - (rows[b].step ?? 0) || a - b);
    const values = smooth(
      indexes.map(i => rows[i].value),
      weight
    );
    const placed: [number, number | null][] = [];
    indexes.forEach((i, k) => {
      out[i].smoothed = values[k];
      const at = position((rows[i] as Record<string, unknown>)[x]);
      if (!Number.isNaN(at)) {
        placed.push([at, values[k]]);
      }
    });
    along.set(run, meansAlongX(placed));
  }
  for (const i of helpers) {
    const at = position((rows[i] as Record<string, unknown>)[x]);
    let best: [number, number | null] | undefined;
    for (const point of along.get(rows[i].run) ?? []) {
      if (!best || Math.abs(point[0] - at) < Math.abs(best[0] - at)) {
        best = point; // in ascending x: on a tie the earlier stays
      }
    }
    out[i].smoothed = best ? best[1] : null;
  }
  return out;
}

/**
 * `rows` each at the value another metric had at its step (`x`): that metric's last point at
 * or before it in `along` (metric_chart's x = a metric: W&B's step metric). Rows before its
 * first finite value are left out. Both in any order; new objects.
 *
 * @example
 * withX([{ step: 5, value: 1 }], [{ step: 0, value: 0 }, { step: 4, value: 1 }]); // x = 1
 */
export function withX<T extends { step: number }>(
  rows: readonly T[],
  along: readonly { step: number; value: number | null }[]
): (T & { x: number })[] {
  const known = along
    .filter((p): p is { step: number; value: number } => p.value !== null && Number.isFinite(p.value))
    .sort((a, b) => a.step - b.step);
  const out: (T & { x: number })[] = [];
  for (const row of rows) {
    let low = 0;
    let high = known.length; // the first point after the row's step
    while (low < high) {
      const mid = (low + high) >> 1;
      if (known[mid].step <= row.step) {
        low = mid + 1;
      } else {
        high = mid;
      }
    }
    if (low > 0) {
      out.push({ ...row, x: known[low - 1].value });
    }
  }
  return out;
}

/** An x value as a number: times (ISO text or dates) as milliseconds. */
function position(value: unknown): number {
  if (typeof value === 'number') {
    return value;
  }
  if (value instanceof Date) {
    return value.getTime();
  }
  return typeof value === 'string' ? Date.parse(value) : NaN;
}

/** The field a metric chart is drawn along (its line's x), or `step`. */
export function xField(spec: object): string {
  let found: string | undefined;
  visit(spec, node => {
    if (!found && Array.isArray(node.layer)) {
      const line = (node.layer as Json[]).find(isValueLine);
      const x = (line?.encoding as Json | undefined)?.x as Json | undefined;
      found = typeof x?.field === 'string' ? x.field : undefined;
    }
  });
  return found ?? 'step';
}

/**
 * The chart `spec` (a Vega-Lite metric chart by metric_chart, left as it was) drawn as
 * `drawing` says: with smoothing, the line, its crosshair and tooltip read `smoothed`, and
 * the raw curve is drawn faded beneath; with `log`, every y scale is logarithmic.
 */
export function drawSpec<S extends object>(spec: S, drawing: Drawing): S {
  const out = JSON.parse(JSON.stringify(spec)) as S;
  const metric = alongMetric(drawing);
  if ((metric || drawing.x === 'relative' || drawing.x === 'wall') && drawable(out)) {
    const axis = metric ? { field: 'x', title: metric, type: 'quantitative' } : undefined;
    along(out as Json, axis ?? (drawing.x === 'wall' ? WALL : RELATIVE));
  }
  if (drawing.smoothing) {
    visit(out, node => {
      if (Array.isArray(node.layer)) {
        node.layer = smoothLayers(node.layer as Json[]);
      }
    });
  }
  if (drawing.log) {
    // A log axis has no place for zero or less: such points are left out (metric_chart's
    // log_filter), not drawn at minus infinity with a warning.
    const drawn = drawing.smoothing ? 'smoothed' : 'value';
    const shown = `datum.value > 0 && (datum.min == null || datum.min > 0)${drawing.smoothing ? ' && datum.smoothed > 0' : ''}`;
    // A crosshair row (several runs apart) carries the drawn y alone.
    const filter = `datum.crosshair ? datum.${drawn} > 0 : (${shown})`;
    visit(out, node => {
      if (Array.isArray(node.layer) && (node.layer as Json[]).some(isValueLine)) {
        node.transform = [...asList(node.transform), { filter }];
      }
    });
    visit(out, node => {
      // Where the chart sets a y scale (its lines and band; the crosshair's dots share it)
      const y = (node.encoding as Json | undefined)?.y as Json | undefined;
      if (y?.scale) {
        const { zero: _zero, ...scale } = y.scale as Json;
        y.scale = { ...scale, type: 'log' };
      }
    });
  }
  return out;
}

/** Whether `spec` is a chart `drawSpec` changes (a metric chart: a line of `value`). */
export function drawable(spec: object): boolean {
  let found = false;
  visit(spec as Json, node => {
    found = found || (Array.isArray(node.layer) && (node.layer as Json[]).some(isValueLine));
  });
  return found;
}

function isValueLine(layer: Json): boolean {
  const mark = layer.mark as Json | string | undefined;
  const type = typeof mark === 'string' ? mark : mark?.type;
  const y = (layer.encoding as Json | undefined)?.y as Json | undefined;
  return type === 'line' && y?.field === 'value';
}

function smoothLayers(layers: Json[]): Json[] {
  const line = layers.findIndex(isValueLine);
  const done = layers.some(
    layer => ((layer.encoding as Json | undefined)?.y as Json | undefined)?.field === 'smoothed'
  );
  if (line < 0 || done) {
    return layers;
  }
  const source = layers[line];
  const encoding = source.encoding as Json;
  const y = encoding.y as Json;
  const mark = typeof source.mark === 'string' ? { type: source.mark } : (source.mark as Json);
  const { point: _point, ...plain } = mark;
  // With the line's own data and filter (several runs apart: crosshair rows left out); a copy,
  // as the layers (drawSpec's own copy) are changed in place below.
  const { name: _name, params: _params, ...rest } = source;
  const raw = JSON.parse(
    JSON.stringify({
      ...rest,
      mark: { ...plain, opacity: RAW_OPACITY },
      encoding: {
        ...encoding,
        y: { field: 'value', type: 'quantitative', ...(y.scale ? { scale: y.scale } : {}) }
      }
    })
  ) as Json;
  for (const copy of layers) {
    const enc = copy.encoding as Json | undefined;
    const ly = enc?.y as Json | undefined;
    if (ly?.field === 'value') {
      ly.field = 'smoothed';
    }
    for (const tip of asList(enc?.tooltip)) {
      if (tip.field === 'value') {
        tip.field = 'smoothed';
      }
    }
    for (const step of asList(copy.transform)) {
      if (step.pivot !== undefined && step.value === 'value') {
        step.value = 'smoothed';
      }
    }
  }
  return [...layers.slice(0, line), raw, ...layers.slice(line)];
}

/** The chart drawn against `axis` where it was drawn against `step`: its axis, the
 * crosshair's tooltip, pivot and nearest-point selection, as metric_chart(x=...). */
function along(spec: Json, axis: { field: string; title: string; type: string }): void {
  visit(spec, node => {
    const encoding = node.encoding as Json | undefined;
    if (encoding && (encoding.x as Json | undefined)?.field === 'step') {
      encoding.x = { ...axis };
    }
    const tooltip = asList(encoding?.tooltip);
    tooltip.forEach((tip, i) => {
      if (tip.field === 'step') {
        tooltip[i] = { ...axis, format: axis.type === 'temporal' ? TIME_FORMAT : NUMBER_FORMAT };
      }
    });
    if (tooltip.length) {
      (encoding as Json).tooltip = tooltip;
    }
    for (const step of asList(node.transform)) {
      if (Array.isArray(step.groupby) && step.pivot !== undefined) {
        step.groupby = (step.groupby as unknown[]).map(f => (f === 'step' ? axis.field : f));
      }
    }
    const select = node.select as Json | undefined;
    if (select && Array.isArray(select.fields)) {
      select.fields = (select.fields as unknown[]).map(f => (f === 'step' ? axis.field : f));
    }
  });
}

function asList(value: unknown): Json[] {
  return Array.isArray(value) ? (value.filter(v => v && typeof v === 'object') as Json[]) : [];
}

function visit(node: unknown, see: (node: Json) => void): void {
  if (Array.isArray(node)) {
    node.forEach(child => visit(child, see));
  } else if (node && typeof node === 'object') {
    see(node as Json);
    for (const value of Object.values(node as Json)) {
      visit(value, see);
    }
  }
}
