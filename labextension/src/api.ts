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

export interface ChartsAnswer {
  spec: VegaLiteSpec;
  keys: string[];
  shown: string[];
  points: number;
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

export interface StoresAnswer {
  dir: string;
  default: string;
  stores: string[];
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

  charts(
    store: string,
    ids: string[],
    options: { keys?: string[]; maxPoints?: number; width?: number; height?: number } = {}
  ): Promise<ChartsAnswer> {
    return this.get<ChartsAnswer>('charts', {
      store,
      runs: ids.join(','),
      keys: options.keys && options.keys.length ? options.keys.join(',') : undefined,
      max_points: options.maxPoints,
      width: options.width,
      height: options.height
    });
  }

  diff(store: string, ids: string[]): Promise<DiffAnswer> {
    return this.get<DiffAnswer>('diff', { store, runs: ids.join(',') });
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

  /** The URL that serves a file under the root as is (a report opens there in a new tab). */
  filesUrl(path: string): string {
    return URLExt.join(this.settings.baseUrl, 'files', URLExt.encodeParts(path));
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
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, init, this.settings);
    } catch (error) {
      throw new ApiError(0, `cannot reach the Jupyter server: ${String(error)}`);
    }
    const text = await response.text();
    let data: unknown = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!response.ok) {
      throw new ApiError(response.status, errorMessage(response, data));
    }
    return data as T;
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
