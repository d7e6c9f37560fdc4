// Pure formatting for the sidebar: durations, times, statuses, metric values, paths.
// No DOM and no JupyterLab imports, so jest tests it directly.

/** A metric or config value as the server sends it (non-finite floats come as text). */
export type Value = number | string | boolean | null | Value[] | { [key: string]: Value };

export const STORE_DIR = '.nbtrack';

/** `90` -> `1m 30s`; `3725` -> `1h 2m`; under a minute with one decimal below 10 s. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) {
    return '—';
  }
  if (seconds < 10) {
    return `${seconds.toFixed(1)}s`;
  }
  const whole = Math.round(seconds);
  const days = Math.floor(whole / 86400);
  const hours = Math.floor((whole % 86400) / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const secs = whole % 60;
  if (days > 0) {
    return `${days}d ${hours}h`;
  }
  if (hours > 0) {
    return `${hours}h ${minutes}m`;
  }
  if (minutes > 0) {
    return `${minutes}m ${secs}s`;
  }
  return `${secs}s`;
}

/** How long ago an ISO time was, relative to `now`: `just now`, `5m ago`, `3h ago`, `2d ago`. */
export function formatAge(iso: string | null | undefined, now: Date = new Date()): string {
  const time = parseTime(iso);
  if (time === null) {
    return '—';
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

/** An ISO time (UTC, `Z`) as the user's local `YYYY-MM-DD HH:MM:SS`. */
export function formatTime(iso: string | null | undefined): string {
  const time = parseTime(iso);
  if (time === null) {
    return '—';
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

/** A summary or config value, short: numbers to 4 significant digits, text as is. */
export function formatValue(value: Value | undefined): string {
  if (value === null || value === undefined) {
    return '—';
  }
  if (typeof value === 'number') {
    if (Number.isInteger(value) && Math.abs(value) < 1e6) {
      return String(value);
    }
    const abs = Math.abs(value);
    if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) {
      return value.toExponential(3).replace(/\.?0+e/, 'e');
    }
    return String(Number(value.toPrecision(4)));
  }
  if (typeof value === 'boolean') {
    return value ? 'True' : 'False';
  }
  if (typeof value === 'string') {
    return value;
  }
  return JSON.stringify(value);
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
