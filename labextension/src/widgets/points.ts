// The live panel's points: rows as the charts take them, and the pairwise merge that keeps
// a long run's series short. Pure, so jest tests it; mirrors nbtrack/widgets/_stream.py.

/** One point of a metric's chart (a bucket of `n` logged values: their mean, min and max). */
export interface Row {
  run: string;
  step: number;
  value: number | null;
  min: number | null;
  max: number | null;
  n: number;
  /** Seconds from the run's first point to this bucket's first (metric_chart's x = "relative"). */
  relative: number | null;
}

/** A part of an "update" message: columns of one series' new buckets. */
export interface Part {
  n: number;
  step: number[];
  value: (number | null)[];
  min?: (number | null)[];
  max?: (number | null)[];
  time?: (number | null)[];
}

/** The rows of a message part. */
export function rowsOf(part: Part, run: string): Row[] {
  const rows: Row[] = [];
  const { n, step, value, min, max, time } = part;
  for (let i = 0; i < step.length; i++) {
    rows.push({
      run,
      step: step[i],
      value: value[i],
      min: min ? min[i] : value[i],
      max: max ? max[i] : value[i],
      n,
      relative: time ? time[i] : null
    });
  }
  return rows;
}

function pick(a: number | null, b: number | null, choose: (x: number, y: number) => number): number | null {
  if (a === null) {
    return b;
  }
  if (b === null) {
    return a;
  }
  return choose(a, b);
}

/** Every two neighbours as one bucket: the same merge as Series._double in _stream.py. */
export function mergePairs(rows: Row[]): Row[] {
  const merged: Row[] = [];
  const pairs = rows.length - (rows.length % 2);
  for (let i = 0; i < pairs; i += 2) {
    const a = rows[i];
    const b = rows[i + 1];
    merged.push({
      run: a.run,
      step: a.step,
      value: pick(a.value, b.value, (x, y) => (x * a.n + y * b.n) / (a.n + b.n)),
      min: pick(a.min, b.min, Math.min),
      max: pick(a.max, b.max, Math.max),
      n: a.n + b.n,
      relative: a.relative
    });
  }
  if (pairs < rows.length) {
    merged.push(rows[pairs]);
  }
  return merged;
}
