// The compare widget's synced traits (nbtrack/widgets/compare.py) and what they hold.
import type { VisualizationSpec } from 'vega-embed';
import type { Value } from '../format';
import type { Model } from './anywidget';

export type Specs = Record<string, VisualizationSpec>;

export interface Best {
  run_id: string;
  run: string;
  value: Value;
  goal: string;
}

export interface TableRow {
  id: string;
  best: string[];
  /** The run's colour in every view (nbtrack.charts.project_run_colors). */
  color: string;
  [column: string]: Value;
}

export interface Diff {
  runs?: { id: string; name: string }[];
  rows: { key: string; differs: boolean; values: Value[] }[];
}

export interface ImageItem {
  src: string;
  caption?: string | null;
  idx: number;
}

export interface Images {
  key?: string;
  step?: number | null;
  steps?: number[];
  runs?: { id: string; name: string; items: ImageItem[] }[];
}

export interface Latest {
  key: string;
  run: string;
  step: number;
  text?: string;
  columns?: string[];
  rows?: Value[][];
  total?: number;
}

/** A group of metric charts (nbtrack.charts.metric_sections): its keys are keys of `overlays`. */
export interface Section {
  name: string;
  title: string;
  keys: string[];
  constants: Record<string, Value>;
}

export interface Media {
  note?: string;
  images?: Images;
  histograms?: { charts?: Specs };
  tables?: Latest[];
  texts?: Latest[];
}

/** The widget's synced traits (nbtrack/widgets/compare.py). */
export interface CompareState {
  library: string;
  widget_id: string;
  filter: string;
  filter_error: string;
  sort_by: string;
  descending: boolean;
  page: number;
  page_size: number;
  total: number;
  show_archived: boolean;
  columns: string[];
  rows: TableRow[];
  goals: Record<string, string>;
  best: Record<string, Best>;
  selected: string[];
  metrics: string[];
  params: string[];
  metric: string;
  param: string;
  x: string;
  x_choices: string[];
  sections: Section[];
  smoothing: number;
  log_scale: boolean;
  overlays: Specs;
  parallel: VisualizationSpec | Record<string, never>;
  scatter: VisualizationSpec | Record<string, never>;
  diff: Diff;
  note: string;
  media_keys: { image?: string[]; histogram?: string[] };
  image_key: string;
  image_step: number;
  histogram_key: string;
  media: Media;
  message: string;
  undo: string[];
  trash_count: number;
  report_path: string;
}

export type CompareModel = Model<CompareState>;
