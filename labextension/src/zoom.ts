// Box zoom for nbtrack's metric charts, as W&B and TensorBoard users expect: drag across
// the plot to zoom x into the dragged range, double-click for the full range again.
//
// Vega-Lite cannot say it (a scale's domain cannot follow a brush drawn in its own view),
// so the charts' spec keeps Vega-Lite's x interval bound to the scales (wheel zooms, drag
// pans, double-click resets: what an unpatched renderer shows) and every nbtrack renderer
// hands `boxZoom` to vega-embed as its `patch`, which rewrites the compiled Vega spec:
// panning moves to shift+drag, a plain drag draws a grey band, and its release sets the
// zoom's own domain signal, so the wheel, the double-click and a live chart's streamed
// points all keep working on the zoomed range.
import type { Mark, OnEvent, Signal, Spec, Stream, View } from 'vega';

/** nbtrack's zoom params (nbtrack/charts/interactions.py): `zoom_` and 8 hex digits. */
const ZOOM_NAME = /^(zoom_[0-9a-f]{8})_translate_anchor$/;
/** A drag shorter than this (pixels) is a click, or half a double-click: no zoom. */
export const MIN_DRAG_PX = 5;
/** The band under a drag: grey that reads on the light and the dark theme. */
export const BAND_COLOR = '#888888';
export const BAND_OPACITY = 0.25;
/** Pans while this key is held (a plain drag draws the band). */
const PAN_FILTER = 'event.shiftKey';

interface Scope {
  signals?: Signal[];
  marks?: Mark[];
}

/**
 * `spec` (a compiled Vega spec, changed in place and returned) with box zoom on every
 * nbtrack zoom it holds; any other spec comes back as it was.
 *
 * @example
 * embed(element, spec, { mode: 'vega-lite', patch: boxZoom });
 */
export function boxZoom(spec: Spec): Spec {
  patchScope(spec, spec);
  return spec;
}

/** The names of the nbtrack zooms declared in `scope` itself (not its groups). */
export function zoomsIn(scope: Scope): string[] {
  return (scope.signals ?? [])
    .map(signal => ZOOM_NAME.exec(signal.name)?.[1])
    .filter((name): name is string => name !== undefined);
}

/** The x ranges `view` is zoomed to, by signal; `spec` is the Vega spec it draws. */
export type Zoomed = [signal: string, range: unknown][];

/**
 * The ranges the zooms of `view` (drawing the patched Vega spec `spec`) are set to: drawn
 * again from a newer spec (a run logged more), a chart keeps them with `keepZoom`.
 */
export function zoomOf(view: View, spec: Spec): Zoomed {
  return domainSignals(spec)
    .map((name): [string, unknown] => [name, view.signal(name)])
    .filter(([, range]) => Array.isArray(range));
}

/** Zoom `view` (drawing `spec`) as `zoomed` says, where it has the same zooms (the same chart). */
export async function keepZoom(view: View, spec: Spec, zoomed: Zoomed): Promise<void> {
  const own = new Set(domainSignals(spec));
  const kept = zoomed.filter(([name]) => own.has(name));
  for (const [name, range] of kept) {
    view.signal(name, range);
  }
  if (kept.length) {
    await view.runAsync();
  }
}

/** The top-level signals holding each zoom's x range (Vega-Lite pushes them up in a grid). */
function domainSignals(spec: Spec): string[] {
  const found: string[] = [];
  const walk = (scope: Scope): void => {
    for (const zoom of zoomsIn(scope)) {
      const domain = (scope.signals ?? []).find(signal =>
        (signal.on ?? []).some(on => listensTo(on, `${zoom}_box`))
      );
      if (domain) {
        found.push(domain.name);
      }
    }
    (scope.marks ?? []).forEach(mark => mark.type === 'group' && walk(mark));
  };
  walk(spec);
  return found;
}

function patchScope(scope: Scope, root: Scope): void {
  for (const zoom of zoomsIn(scope)) {
    patchZoom(scope, root, zoom);
  }
  for (const mark of scope.marks ?? []) {
    if (mark.type === 'group') {
      patchScope(mark, root);
    }
  }
}

function patchZoom(scope: Scope, root: Scope, zoom: string): void {
  const signals = scope.signals ?? [];
  const find = (name: string): Signal | undefined => signals.find(signal => signal.name === name);
  const anchor = find(`${zoom}_translate_anchor`);
  const delta = find(`${zoom}_translate_delta`);
  // The signal holding the zoomed x range: the one the pan updates (in a concatenated
  // chart it lives in the view's group and is pushed to the top level).
  const domain = signals.find(signal => (signal.on ?? []).some(on => listensTo(on, delta?.name)));
  const updates = (anchor?.on ?? []).map(on =>
    'update' in on && typeof on.update === 'string' ? on.update : ''
  );
  const scale = /domain\("([^"]+)"\)/.exec(updates.join(' '))?.[1];
  const box = `${zoom}_box`;
  if (!anchor || !delta || !domain || !scale || find(box)) {
    return; // not the shape Vega-Lite compiles a zoom to, or patched already
  }
  for (const signal of [anchor, delta]) {
    signal.on = (signal.on ?? []).map(on => ({ ...on, events: panOnlyWithShift(on.events) }));
  }
  if (scope === root) {
    signals.push({ name: box, value: null, on: boxEvents(box, scale) });
  } else {
    // Declared at the top, as Vega-Lite does the domain in a grid of charts: a script (or
    // a test) reads and sets it with view.signal().
    root.signals = [...(root.signals ?? []), { name: box, value: null }];
    signals.push({ name: box, push: 'outer', on: boxEvents(box, scale) });
  }
  domain.on = [
    ...(domain.on ?? []),
    {
      events: { signal: box },
      // Anything else leaves the domain as it is (the same value: no change, no redraw).
      update:
        `${box} && ${box}.done && abs(${box}.x1 - ${box}.x0) >= ${MIN_DRAG_PX}` +
        ` ? [invert(${q(scale)}, min(${box}.x0, ${box}.x1)), invert(${q(scale)}, max(${box}.x0, ${box}.x1))]` +
        ` : ${domain.name}`
    }
  ];
  scope.marks = [...(scope.marks ?? []), band(`${zoom}_brush`, box)];
}

/**
 * The dragged range in pixels: `{x0, x1, done}` from a plain press, following the pointer
 * (clamped to the plot) until the release marks it done; null before the first drag.
 */
function boxEvents(box: string, scale: string): OnEvent[] {
  const limits = `extent(range(${q(scale)}))`;
  const pointer = `clamp(x(unit), ${limits}[0], ${limits}[1])`;
  const press: Stream = {
    source: 'scope',
    type: 'pointerdown',
    filter: ['!event.shiftKey', 'event.button === 0']
  };
  return [
    {
      // Over the plot's x range only, not on the legend beside it. (Asked here: as the
      // stream's filter, in Chromium, it let no press through.)
      events: press,
      update: `inrange(x(unit), range(${q(scale)})) ? {x0: ${pointer}, x1: ${pointer}, done: false} : null`
    },
    {
      events: {
        source: 'window',
        type: 'pointermove',
        consume: true,
        between: [press, { source: 'window', type: 'pointerup' }]
      },
      update: `${box} && !${box}.done ? {x0: ${box}.x0, x1: ${pointer}, done: false} : ${box}`
    },
    {
      // Only the release of a drag in this chart: any later click elsewhere on the page
      // must not zoom to the old band again.
      events: { source: 'window', type: 'pointerup' },
      update: `${box} && !${box}.done ? {x0: ${box}.x0, x1: ${box}.x1, done: true} : ${box}`
    }
  ];
}

/** The translucent band over the dragged range, shown while the drag lasts. */
function band(name: string, box: string): Mark {
  const dragging = `${box} && !${box}.done`;
  return {
    name,
    type: 'rect',
    // Never the target of a pointer: the crosshair's hover and the drag go to the plot.
    interactive: false,
    encode: {
      enter: {
        fill: { value: BAND_COLOR },
        y: { value: 0 },
        y2: { field: { group: 'height' } }
      },
      update: {
        x: { signal: `${dragging} ? ${box}.x0 : 0` },
        x2: { signal: `${dragging} ? ${box}.x1 : 0` },
        fillOpacity: { signal: `${dragging} ? ${BAND_OPACITY} : 0` }
      }
    }
  };
}

type Events = OnEvent['events'];

/** `events` with every press that starts a pan needing shift held. */
function panOnlyWithShift(events: Events): Events {
  if (Array.isArray(events)) {
    return events.map(one => panOnlyWithShift(one) as (typeof events)[number]);
  }
  if (typeof events !== 'object' || events === null || 'signal' in events || 'scale' in events) {
    return events;
  }
  const stream = { ...events } as Stream;
  if ('type' in stream && (stream.type === 'pointerdown' || stream.type === 'mousedown')) {
    stream.filter = [...toList(stream.filter), PAN_FILTER];
  }
  if (stream.between) {
    stream.between = stream.between.map(part => panOnlyWithShift(part) as Stream);
  }
  return stream;
}

function listensTo(on: OnEvent, signal: string | undefined): boolean {
  const events = Array.isArray(on.events) ? on.events : [on.events];
  return (
    signal !== undefined && events.some(e => typeof e === 'object' && 'signal' in e && e.signal === signal)
  );
}

function toList(filter: string | string[] | undefined): string[] {
  return filter === undefined ? [] : Array.isArray(filter) ? filter : [filter];
}

/** A string literal in a Vega expression. */
function q(text: string): string {
  return JSON.stringify(text);
}
