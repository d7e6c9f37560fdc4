// Every request the sidebar makes, to nbtrack's server extension under /nbtrack/.
// ServerConnection.makeRequest adds Jupyter's auth and the XSRF token.
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import type { Value } from './format';

/** A run as the list shows it. Times are ISO UTC; `notebook` is relative to the Jupyter root. */
export interface RunSummary {
  id: string;
  name: string;
  project: string;
  status: string;
  created_at: string | null;
  ended_at: string | null;
  duration: number | null;
  tags: string[];
  notes: string | null;
  metrics: Record<string, Value>;
  execution_count: number | null;
  notebook: string | null;
  sweep_id: string | null;
  group: string | null;
  /** The run's colour in every chart (nbtrack.charts.project_run_colors). */
  color?: string | null;
}

export interface RunsAnswer {
  runs: RunSummary[];
  total: number;
  running: number;
  metrics: string[];
  summary_keys: string[];
  exists: boolean;
}

export interface RunsQuery {
  project?: string;
  q?: string;
  status?: string;
  sort?: string;
  limit?: number;
  metrics?: string[];
}

export interface Project {
  name: string;
  runs: number;
  running: number;
  last_run: string | null;
}

/** One run's full record (GET run). */
export interface RunRecord extends RunSummary {
  source: string | null;
  config: Record<string, Value>;
  summary: Record<string, Value>;
}

/** A Vega-Lite spec as the chart module wrote it (data inline). */
export type VegaLiteSpec = Record<string, unknown>;

/** One chart of a section: a metric's curves, the spec filling its container's width. */
export interface SectionChart {
  key: string;
  spec: VegaLiteSpec;
}

/** Metrics grouped by prefix (nbtrack.charts.metric_sections); `x` is what they are drawn against. */
export interface ChartSection {
  name: string;
  title: string;
  x: string;
  charts: SectionChart[];
  /** Metrics that never changed, with their value: printed, not charted. */
  constants: Record<string, Value>;
}

export interface ChartsAnswer {
  /** The grid of the first few metrics (layout=grid). */
  spec?: VegaLiteSpec;
  /** Every metric by section (layout=sections). */
  sections?: ChartSection[];
  keys: string[];
  shown: string[];
  points: number;
}

export interface ChartOptions {
  keys?: string[];
  maxPoints?: number;
  width?: number;
  height?: number;
  layout?: 'grid' | 'sections';
  /** step, relative, wall, or a metric key. */
  x?: string;
  smoothing?: number;
  log?: boolean;
}

/** A sweep's parallel coordinates (GET sweep); `spec` null when there is nothing to draw yet. */
export interface SweepAnswer {
  sweep: string;
  name: string | null;
  metric: string | null;
  goal: string;
  params: string[];
  trials: number;
  spec: VegaLiteSpec | null;
}

export interface DiffRow {
  key: string;
  values: Value[];
}

export interface DiffAnswer {
  runs: { id: string; name: string; status: string }[];
  config: DiffRow[];
  summary: DiffRow[];
  /** A unified diff of the cells' code (two runs only; empty when the same). */
  source: string | null;
}

/** One logged image of a step (its bytes come from `mediaFile`). */
export interface MediaImage {
  idx: number;
  caption: string | null;
  width: number | null;
  height: number | null;
}

export interface TextSample {
  step: number;
  text: string;
  /** Characters left out at the end. */
  cut: number;
}

/** One media key of a run (GET media); which fields are set depends on `kind`. */
export interface MediaKey {
  key: string;
  kind: string;
  count: number;
  steps: number[];
  /** image: per step (as text), the images logged there. */
  images?: Record<string, MediaImage[]>;
  /** histogram: the chart module's histogram-over-time spec. */
  spec?: VegaLiteSpec;
  /** table: the latest table's first rows, and how many rows it has. */
  columns?: string[];
  rows?: Value[][];
  total?: number;
  step?: number;
  /** text: the latest samples, newest first. */
  samples?: TextSample[];
}

export interface MediaAnswer {
  run: string;
  keys: MediaKey[];
}

export interface ArtifactRun {
  id: string;
  name: string;
  status?: string | null;
}

export interface ArtifactVersion {
  ref: string;
  name: string;
  version: number;
  type: string;
  size: number | null;
  files: number | null;
  source: string;
  aliases: string[];
  created_at: string | null;
  producer: ArtifactRun | null;
  consumers: ArtifactRun[];
}

export interface StoresAnswer {
  dir: string;
  default: string;
  stores: string[];
  /** The team store (a database) this server's kernels log to, as shown; null: folders. */
  team: string | null;
}

/** A refused or failed request, with the server's message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

type Params = Record<string, string | number | undefined>;

export class NbtrackApi {
  constructor(private readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()) {}

  stores(dir: string, depth = 3): Promise<StoresAnswer> {
    return this.get<StoresAnswer>('stores', { dir, depth });
  }

  projects(store: string): Promise<Project[]> {
    return this.get<{ projects: Project[] }>('projects', { store }).then(answer => answer.projects);
  }

  runs(store: string, query: RunsQuery): Promise<RunsAnswer> {
    return this.get<RunsAnswer>('runs', {
      store,
      project: query.project,
      q: query.q,
      status: query.status,
      sort: query.sort,
      limit: query.limit,
      metrics: query.metrics && query.metrics.length ? query.metrics.join(',') : undefined
    });
  }

  run(store: string, id: string): Promise<RunRecord> {
    return this.get<RunRecord>('run', { store, id });
  }

  charts(store: string, ids: string[], options: ChartOptions = {}): Promise<ChartsAnswer> {
    return this.get<ChartsAnswer>('charts', {
      store,
      runs: ids.join(','),
      keys: options.keys && options.keys.length ? options.keys.join(',') : undefined,
      max_points: options.maxPoints,
      width: options.width,
      height: options.height,
      layout: options.layout,
      x: options.x,
      smoothing: options.smoothing ? options.smoothing : undefined,
      log: options.log ? 1 : undefined
    });
  }

  sweep(store: string, id: string, options: { width?: number; height?: number } = {}): Promise<SweepAnswer> {
    return this.get<SweepAnswer>('sweep', { store, id, width: options.width, height: options.height });
  }

  diff(store: string, ids: string[]): Promise<DiffAnswer> {
    return this.get<DiffAnswer>('diff', { store, runs: ids.join(',') });
  }

  media(store: string, id: string, width?: number): Promise<MediaAnswer> {
    return this.get<MediaAnswer>('media', { store, id, width });
  }

  /** One logged image, looked up by run, key, step and index (never by path). */
  async mediaFile(store: string, id: string, key: string, step: number, idx: number): Promise<Blob> {
    const url = this.url('media/file', { store, id, key, step, idx });
    const response = await this.send(url, { method: 'GET' });
    return response.blob();
  }

  artifacts(store: string, id?: string): Promise<ArtifactVersion[]> {
    return this.get<{ artifacts: ArtifactVersion[] }>('artifacts', { store, id }).then(a => a.artifacts);
  }

  rename(store: string, id: string, name: string): Promise<{ id: string; name: string }> {
    return this.post(`runs/${encodeURIComponent(id)}/rename`, { store, name });
  }

  setTags(store: string, id: string, tags: string[]): Promise<{ id: string; tags: string[] }> {
    return this.post(`runs/${encodeURIComponent(id)}/tags`, { store, tags });
  }

  setNotes(store: string, id: string, notes: string | null): Promise<{ id: string; notes: string | null }> {
    return this.post(`runs/${encodeURIComponent(id)}/notes`, { store, notes });
  }

  deleteRuns(store: string, ids: string[]): Promise<{ ids: string[] }> {
    return this.post('runs/delete', { store, ids });
  }

  restoreRuns(store: string, ids: string[]): Promise<{ ids: string[] }> {
    return this.post('runs/restore', { store, ids });
  }

  exportReport(
    store: string,
    options: { runs?: string[]; project?: string; title?: string }
  ): Promise<{ path: string | null }> {
    return this.post('report', { store, ...options });
  }

  /** Start the picture helper with `kernel`'s Python, in the folder of the notebook (at
   * `path`) that uses nbtrack and got that kernel. */
  warmPictures(kernel: string, path: string): Promise<{ started: boolean }> {
    return this.post('pictures/warm', { kernel, path });
  }

  /**
   * The URL of a written report (a path under the root) as a page for a new tab. Served by
   * nbtrack's server extension with the login cookie alone: Jupyter's `/files/` answers a new
   * tab's request (no Referer, no `_xsrf`) with 403 "Blocking request from unknown origin".
   */
  reportUrl(path: string): string {
    return this.url('report/file', { path });
  }

  private url(path: string, params: Params = {}): string {
    const query: Record<string, string> = {};
    for (const [key, value] of Object.entries(params)) {
      if (value !== undefined && value !== '') {
        query[key] = String(value);
      }
    }
    return URLExt.join(this.settings.baseUrl, 'nbtrack', path) + URLExt.objectToQueryString(query);
  }

  private get<T>(path: string, params: Params): Promise<T> {
    return this.request<T>(this.url(path, params), { method: 'GET' });
  }

  private post<T>(path: string, body: Record<string, unknown>): Promise<T> {
    return this.request<T>(this.url(path), { method: 'POST', body: JSON.stringify(body) });
  }

  private async request<T>(url: string, init: RequestInit): Promise<T> {
    const response = await this.send(url, init);
    return parseJson(await response.text()) as T;
  }

  /** The server's response when it is ok; an ApiError with its message otherwise. */
  private async send(url: string, init: RequestInit): Promise<Response> {
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, init, this.settings);
    } catch (error) {
      throw new ApiError(0, `cannot reach the Jupyter server: ${String(error)}`);
    }
    if (!response.ok) {
      throw new ApiError(response.status, errorMessage(response, parseJson(await response.text())));
    }
    return response;
  }
}

/** JSON text as a value; null for an empty or unparseable body. */
function parseJson(text: string): unknown {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

/** The server's `{"message"}`, or what a bare status means for this API. */
function errorMessage(response: Response, data: unknown): string {
  if (data !== null && typeof data === 'object' && 'message' in data) {
    return String((data as { message: unknown }).message);
  }
  if (response.status === 404) {
    // Jupyter's own 404 page: no handler answers under /nbtrack/.
    return (
      "nbtrack's server extension is not running in this Jupyter server: " +
      'run `jupyter server extension enable nbtrack.server` and restart Jupyter.'
    );
  }
  return `${response.status} ${response.statusText}`;
}
