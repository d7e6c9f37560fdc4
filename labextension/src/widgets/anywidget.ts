// What a widget module gets from anywidget and from nbtrack/widgets/js/library.js, typed.
//
// library.js is plain JavaScript that _bundle.py puts ahead of each widget's bundle (the
// charts' offline HTML uses it too), so its names are declared here, not imported.
import type embed from 'vega-embed';

/** A message from the kernel (`widget.send(...)` in Python). */
export interface KernelMessage {
  type: string;
  [key: string]: unknown;
}

/** The parts of anywidget's model a widget uses; `S` names the synced traits and their types. */
export interface Model<S> {
  get<K extends keyof S & string>(name: K): S[K];
  set<K extends keyof S & string>(name: K, value: S[K]): void;
  save_changes(): void;
  send(content: Record<string, unknown>): void;
  on(event: 'msg:custom', callback: (msg: KernelMessage, buffers: DataView[]) => void): void;
  on(event: string, callback: () => void): void;
  off(event: string, callback: (...args: never[]) => unknown): void;
}

/** What the library message's module exports (see LIBRARY_SNIPPET in _bundle.py). */
export interface ChartLibrary {
  vegaEmbed: typeof embed;
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

declare global {
  /** library.js: a promise with its resolve and reject at hand. */
  function deferred<T>(): Deferred<T>;
  /** library.js: import the gzipped chart library once per digest per page. */
  function importLibrary(digest: string, buffer: DataView): Promise<ChartLibrary>;
  /** library.js: digest -> the page's import of that library. */
  const LIBRARIES: Map<string, Promise<ChartLibrary>>;
}

/** anywidget's `initialize` and `render` arguments. */
export interface Init<S> {
  model: Model<S>;
}

export interface Render<S> {
  model: Model<S>;
  el: HTMLElement;
}

/** The model's value of `name` and save it to the kernel. */
export function save<S, K extends keyof S & string>(model: Model<S>, name: K, value: S[K]): void {
  model.set(name, value);
  model.save_changes();
}
