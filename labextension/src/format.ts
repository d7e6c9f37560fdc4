// Pure formatting for the sidebar and the widgets: numbers, durations, times, statuses, paths.
// The one TypeScript home, agreeing with nbtrack/formatting.py on tests/formatting_cases.json.
// No DOM and no JupyterLab imports, so jest tests it directly.

/** A metric or config value as the server sends it (non-finite floats come as text). */
export type Value = number | string | boolean | null | Value[] | { [key: string]: Value };

export const STORE_DIR = '.nbtrack';

/** What every view shows for a missing value (nbtrack.formatting.MISSING). */
export const MISSING = '—';

/** Significant digits of a number unless a caller asks for others. */
export const DIGITS = 4;

// The one NaN rule on the wire (nbtrack.formatting.json_safe): non-finite floats come as text.
const NON_FINITE: Record<string, number> = {
  NaN: Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
  '-Infinity': Number.NEGATIVE_INFINITY
};

/** A value from the server as a number, if it is one (the non-finite texts included). */
export function wireNumber(value: Value | undefined): number | null {
  if (typeof value === 'number') {
    return value;
  }
  return typeof value === 'string' && value in NON_FINITE ? NON_FINITE[value] : null;
}

function trimZeros(text: string): string {
  return text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text;
}

/**
 * A number with `digits` significant digits that fit, as nbtrack.formatting.number writes it:
 * `0.1235`, `12346`, `3`, `2.5e-7`, `1.235e6`, `NaN`, `inf`, `-inf`.
 */
export function formatNumber(value: number | null | undefined, digits: number = DIGITS): string {
  if (value === null || value === undefined) {
    return MISSING;
  }
  if (Number.isNaN(value)) {
    return 'NaN';
  }
  if (!Number.isFinite(value)) {
    return value > 0 ? 'inf' : '-inf';
  }
  if (value === 0) {
    return '0';
  }
  const magnitude = Math.abs(value);
  if (Number.isInteger(value) && magnitude < 1e6) {
    return String(value);
  }
  const sign = value < 0 ? '-' : '';
  // toExponential and toFixed round the exact value half up; Python mirrors that with Decimal.
  const [mantissa, exponent] = magnitude.toExponential(digits - 1).split('e');
  const power = Number(exponent);
  if (power < -3 || power >= 6) {
    return `${sign}${trimZeros(mantissa)}e${power}`;
  }
  return sign + trimZeros(magnitude.toFixed(Math.max(0, digits - 1 - power)));
}

/** How long something took: `7 ms`, `2.3 s`, `1m 05s`, `1h 02m`, `2d 03h`; `—` when unknown. */
export function formatDuration(seconds: number | string | null | undefined): string {
  const value = typeof seconds === 'string' ? wireNumber(seconds) : seconds;
  if (value === null || value === undefined || !Number.isFinite(value) || value < 0) {
    return MISSING;
  }
  const millis = Number(value.toFixed(3));
  if (millis < 1) {
    return `${Math.round(millis * 1000)} ms`;
  }
  const tenths = value.toFixed(1);
  if (Number(tenths) < 60) {
    return `${tenths} s`;
  }
  const whole = Number(value.toFixed(0));
  const days = Math.floor(whole / 86400);
  const hours = Math.floor((whole % 86400) / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const secs = whole % 60;
  if (days > 0) {
    return `${days}d ${pad(hours)}h`;
  }
  if (hours > 0) {
    return `${hours}h ${pad(minutes)}m`;
  }
  return `${minutes}m ${pad(secs)}s`;
}

/** Bytes as a short size: `12 B`, `1.5 KB`, `3.0 GB` (nbtrack.formatting.size); `—` when unknown. */
export function formatBytes(size: number | null | undefined): string {
  if (size === null || size === undefined || !Number.isFinite(size) || size < 0) {
    return MISSING;
  }
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = size;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value.toFixed(0)} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** How long ago an ISO time was, relative to `now`: `just now`, `5m ago`, `3h ago`, `2d ago`. */
export function formatAge(iso: string | null | undefined, now: Date = new Date()): string {
  const time = parseTime(iso);
  if (time === null) {
    return MISSING;
  }
  const seconds = Math.max(0, (now.getTime() - time.getTime()) / 1000);
  if (seconds < 45) {
    return 'just now';
  }
  if (seconds < 3600) {
    return `${Math.max(1, Math.round(seconds / 60))}m ago`;
  }
  if (seconds < 86400) {
    return `${Math.round(seconds / 3600)}h ago`;
  }
  if (seconds < 86400 * 30) {
    return `${Math.round(seconds / 86400)}d ago`;
  }
  return formatDate(time);
}

/** An ISO time (UTC, `Z`) as the user's local `YYYY-MM-DD HH:MM:SS`, or UTC with ` UTC`. */
export function formatTime(iso: string | null | undefined, utc = false): string {
  const time = parseTime(iso);
  if (time === null) {
    return MISSING;
  }
  if (utc) {
    const day = `${time.getUTCFullYear()}-${pad(time.getUTCMonth() + 1)}-${pad(time.getUTCDate())}`;
    return `${day} ${pad(time.getUTCHours())}:${pad(time.getUTCMinutes())}:${pad(time.getUTCSeconds())} UTC`;
  }
  return `${formatDate(time)} ${pad(time.getHours())}:${pad(time.getMinutes())}:${pad(time.getSeconds())}`;
}

function formatDate(time: Date): string {
  return `${time.getFullYear()}-${pad(time.getMonth() + 1)}-${pad(time.getDate())}`;
}

function pad(value: number): string {
  return String(value).padStart(2, '0');
}

/** An ISO time; one without a zone is UTC (the store keeps UTC). */
export function parseTime(iso: string | null | undefined): Date | null {
  if (!iso) {
    return null;
  }
  const zoned = /([zZ]|[+-]\d\d:?\d\d)$/.test(iso) ? iso : `${iso}Z`;
  const time = new Date(zoned);
  return Number.isNaN(time.getTime()) ? null : time;
}

/** Every run status, as nbtrack.run.STATUSES has them (the server also sends this list). */
export const STATUSES = ['running', 'finished', 'failed', 'interrupted', 'crashed', 'pruned'] as const;
export type Status = (typeof STATUSES)[number];

const STATUS_LABELS: Record<Status, string> = {
  running: 'running',
  finished: 'finished',
  failed: 'failed',
  interrupted: 'interrupted',
  crashed: 'crashed',
  pruned: 'pruned'
};

/** A status as shown, and the CSS class that colours it (unknown ones stay neutral). */
export function statusLabel(status: string): { text: string; className: string } {
  const known = status in STATUS_LABELS;
  return {
    text: known ? STATUS_LABELS[status as Status] : status || 'unknown',
    className: `nbtrack-status nbtrack-status-${known ? status : 'unknown'}`
  };
}

/** A summary or config value, short: numbers by formatNumber, lists and dicts JSON-like, text as is. */
export function formatValue(value: Value | undefined, digits: number = DIGITS): string {
  if (value === null || value === undefined) {
    return MISSING;
  }
  const number = wireNumber(value);
  if (number !== null) {
    return formatNumber(number, digits);
  }
  if (typeof value === 'boolean') {
    return value ? 'True' : 'False';
  }
  if (typeof value === 'string') {
    return value;
  }
  return compound(value, digits);
}

function compound(value: Value, digits: number): string {
  if (Array.isArray(value)) {
    return `[${value.map(item => compound(item, digits)).join(', ')}]`;
  }
  if (value !== null && typeof value === 'object') {
    const items = Object.entries(value).map(
      ([key, item]) => `${JSON.stringify(key)}: ${compound(item, digits)}`
    );
    return `{${items.join(', ')}}`;
  }
  if (typeof value === 'number') {
    return formatNumber(value, digits);
  }
  return JSON.stringify(value);
}

/**
 * A cell of a runs table (the compare widget's) by its column: times to the second in local
 * time, durations as formatDuration writes them, tag lists joined, the rest by formatValue.
 */
export function formatCell(column: string, value: Value | undefined): string {
  if (value === null || value === undefined) {
    return MISSING;
  }
  if ((column === 'created_at' || column === 'ended_at') && typeof value === 'string') {
    return formatTime(value);
  }
  if (column === 'duration') {
    return formatDuration(typeof value === 'boolean' || typeof value === 'object' ? null : value);
  }
  if (column === 'tags' && Array.isArray(value)) {
    return value.map(tag => formatValue(tag)).join(', ');
  }
  return formatValue(value);
}

/** Tags typed by a person (`a, b c`) as a clean list: split on commas and spaces, no repeats. */
export function parseTags(text: string): string[] {
  const tags: string[] = [];
  for (const part of text.split(/[,\s]+/)) {
    const tag = part.trim().replace(/^#/, '');
    if (tag && !tags.includes(tag)) {
      tags.push(tag);
    }
  }
  return tags;
}

/** The folder of a path relative to the Jupyter root (`a/b/c.ipynb` -> `a/b`; top level -> ``). */
export function folderOf(path: string): string {
  const clean = path.replace(/^\/+|\/+$/g, '');
  const cut = clean.lastIndexOf('/');
  return cut < 0 ? '' : clean.slice(0, cut);
}

/** The default store of a notebook: `.nbtrack` in its folder (the kernel's working directory). */
export function notebookStore(notebookPath: string): string {
  const folder = folderOf(notebookPath);
  return folder ? `${folder}/${STORE_DIR}` : STORE_DIR;
}

/**
 * A store given relative to a notebook's folder (its kernel's working folder), as a path
 * under the root: `exp/a.ipynb` + `.nbtrack` -> `exp/.nbtrack`; `./runs/` -> `exp/runs`.
 */
export function storeNear(notebookPath: string, relative: string): string {
  const parts = [...folderOf(notebookPath).split('/'), ...relative.split('/')].filter(
    part => part !== '' && part !== '.'
  );
  return parts.join('/') || '.';
}

/** A store path for people: `exp/.nbtrack` -> `exp`; `.nbtrack` -> `(root)`. */
export function storeLabel(store: string): string {
  const clean = store.replace(/\/+$/, '');
  if (clean === STORE_DIR) {
    return '(root)';
  }
  return clean.endsWith(`/${STORE_DIR}`) ? clean.slice(0, -STORE_DIR.length - 1) : clean;
}

/** `1 run`, `3 runs`. */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** The count line over the list: `3 runs · 1 running` or `200 of 10000 runs`. */
export function countLine(shown: number, total: number, running: number): string {
  const runs = shown < total ? `${shown} of ${plural(total, 'run')}` : plural(total, 'run');
  return running > 0 ? `${runs} · ${running} running` : runs;
}
