// Box zoom (src/zoom.ts) on the Vega specs Vega-Lite compiles nbtrack's metric charts to,
// run by Vega itself (headless): the dragged range becomes the x domain, a click does not
// zoom, points streamed in later keep the zoom, and a plain drag no longer pans.
//
// The fixtures are real charts: charts.metric_chart (one run, x = step) and
// charts.metric_charts(x="wall") (two sections side by side, time axes; the points'
// times then spread a minute apart), their .to_dict() compiled by vega-lite 6 (`vl.compile(spec).spec`) and saved as JSON.
import * as fs from 'fs';
import * as path from 'path';
import type { Spec, View } from 'vega';
import { BAND_OPACITY, boxZoom, keepZoom, MIN_DRAG_PX, zoomOf, zoomsIn } from '../src/zoom';

// Vega's UMD build: the package's ES module entry is not loadable by jest's CommonJS.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const vega = require(path.join(__dirname, '..', 'node_modules', 'vega', 'build', 'vega.js')) as {
  parse: (spec: Spec) => unknown;
  View: new (runtime: unknown, options: { renderer: string }) => View;
};

function fixture(name: string): Spec {
  return JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', `${name}.vg.json`), 'utf8')) as Spec;
}

async function draw(spec: Spec): Promise<View> {
  const view = new vega.View(vega.parse(spec), { renderer: 'none' });
  await view.runAsync();
  return view;
}

/** A scenegraph node: a mark (named, with items) or an item (drawn where?). */
interface Node {
  name?: string;
  items?: Node[];
  x?: number;
  width?: number;
  fillOpacity?: number;
}

/** Every scenegraph item of the marks named `name`. */
function items(view: View, name: string): Node[] {
  const found: Node[] = [];
  const walk = (node: Node): void => {
    if (node.name === name) {
      found.push(...(node.items ?? []));
    }
    for (const child of node.items ?? []) {
      walk(child);
    }
  };
  walk((view.scenegraph() as unknown as { root: Node }).root);
  return found;
}

/**
 * A drag from `x0` to `x1` pixels, as the pointer events set it: press, move, release.
 * (Vega's handlers that follow a signal skip their first call; in a grid of charts that
 * call comes after the view has started, and is the press's.)
 */
async function drag(view: View, box: string, x0: number, x1: number): Promise<void> {
  await view.signal(box, { x0, x1: x0, done: false }).runAsync();
  await view.signal(box, { x0, x1, done: false }).runAsync();
  await view.signal(box, { x0, x1, done: true }).runAsync();
}

const single = fixture('metric-single');
const zoom = zoomsIn(single)[0];
const box = `${zoom}_box`;

describe('box zoom', () => {
  it("finds the one zoom of a metric chart, by interactions.py's names", () => {
    expect(zoomsIn(single)).toEqual([expect.stringMatching(/^zoom_[0-9a-f]{8}$/)]);
  });

  it('zooms x to the dragged range on release, and shows the band only while dragging', async () => {
    const view = await draw(boxZoom(fixture('metric-single')));
    const x = view.scale('x');
    const full = [...x.domain()];
    const [from, to] = [x.invert(60), x.invert(200)] as number[];

    await view.signal(box, { x0: 200, x1: 60, done: false }).runAsync(); // dragging leftwards
    const [band] = items(view, `${zoom}_brush`);
    expect(band).toMatchObject({ x: 60, width: 140, fillOpacity: BAND_OPACITY });
    expect(view.scale('x').domain()).toEqual(full); // nothing zooms before the release

    await drag(view, box, 200, 60);
    const zoomed = view.scale('x').domain() as number[];
    expect(zoomed[0]).toBeCloseTo(from, 6);
    expect(zoomed[1]).toBeCloseTo(to, 6);
    expect(items(view, `${zoom}_brush`)[0].fillOpacity).toBe(0);
    view.finalize();
  });

  it('does not zoom on a click or a drag of a few pixels', async () => {
    const view = await draw(boxZoom(fixture('metric-single')));
    const full = [...view.scale('x').domain()];
    await drag(view, box, 100, 100 + MIN_DRAG_PX - 1);
    expect(view.scale('x').domain()).toEqual(full);
    view.finalize();
  });

  it('keeps the zoom while a live panel streams points in', async () => {
    const view = await draw(boxZoom(fixture('metric-single')));
    await drag(view, box, 40, 120);
    const zoomed = [...view.scale('x').domain()];
    const source = (single.data ?? []).map(d => d.name).find(name => name.startsWith('data-'));
    expect(source).toBeDefined();
    const more = [50, 60, 70].map(step => ({ run: 'run-0', step, value: 0.01 }));
    await view.change(source as string, view.changeset().insert(more)).runAsync();
    expect(view.scale('x').domain()).toEqual(zoomed);
    view.finalize();
  });

  it('keeps the zoom when the same chart is drawn again from a newer spec, and only then', async () => {
    const spec = boxZoom(fixture('metric-single'));
    const before = await draw(spec);
    expect(zoomOf(before, spec)).toEqual([]); // not zoomed: nothing to keep
    await drag(before, box, 40, 120);
    const zoomed = zoomOf(before, spec);
    expect(zoomed).toHaveLength(1);

    const newer = boxZoom(fixture('metric-single'));
    const after = await draw(newer);
    await keepZoom(after, newer, zoomed);
    expect(after.scale('x').domain()).toEqual(before.scale('x').domain());

    const other = boxZoom(fixture('metric-grid')); // other charts: other zooms
    const elsewhere = await draw(other);
    const full = elsewhere.scale('concat_0_concat_0_x').domain().map(Number);
    await keepZoom(elsewhere, other, zoomed);
    expect(elsewhere.scale('concat_0_concat_0_x').domain().map(Number)).toEqual(full);
    [before, after, elsewhere].forEach(view => view.finalize());
  });

  it('zooms each chart of a grid on its own, time axes included', async () => {
    const grid = fixture('metric-grid');
    const view = await draw(boxZoom(grid));
    const groups = (grid.marks ?? []).flatMap(m => (m.type === 'group' ? (m.marks ?? []) : []));
    const zooms = groups.flatMap(g => (g.type === 'group' ? zoomsIn(g) : []));
    expect(zooms).toHaveLength(2);
    const scales = ['concat_0_concat_0_x', 'concat_1_concat_0_x'];
    const before = scales.map(name => view.scale(name).domain().map(Number));
    const wanted = [view.scale(scales[0]).invert(30), view.scale(scales[0]).invert(90)].map(Number);

    await drag(view, `${zooms[0]}_box`, 30, 90);
    const zoomed = view.scale(scales[0]).domain().map(Number);
    expect(Math.abs(zoomed[0] - wanted[0])).toBeLessThan(1000); // a second of 11 minutes
    expect(Math.abs(zoomed[1] - wanted[1])).toBeLessThan(1000);
    expect(zoomed[1] - zoomed[0]).toBeLessThan((before[0][1] - before[0][0]) / 3);
    expect(view.scale(scales[1]).domain().map(Number)).toEqual(before[1]);
    view.finalize();
  });

  it('pans only with shift held: the press that starts a pan filters on it', () => {
    const signals = boxZoom(fixture('metric-single')).signals ?? [];
    for (const name of [`${zoom}_translate_anchor`, `${zoom}_translate_delta`]) {
      const text = JSON.stringify(signals.find(s => s.name === name)?.on);
      const presses = text.match(/"type":"pointerdown"[^}]*/g) ?? [];
      expect(presses.length).toBeGreaterThan(0);
      for (const press of presses) {
        expect(press).toContain('event.shiftKey');
        expect(press).not.toContain('!event.shiftKey');
      }
    }
  });

  it('draws a band that never takes the pointer, once however often it is patched', () => {
    const patched = boxZoom(boxZoom(fixture('metric-single')));
    const bands = (patched.marks ?? []).filter(m => m.name === `${zoom}_brush`);
    expect(bands).toHaveLength(1);
    expect(bands[0].interactive).toBe(false); // the crosshair's hover goes to the plot
  });

  it('leaves a spec without nbtrack zooms as it was', () => {
    const plain: Spec = {
      signals: [{ name: 'zoom_level', value: 1 }],
      marks: [{ type: 'rect', name: 'bars' }]
    };
    const copy = JSON.parse(JSON.stringify(plain)) as Spec;
    expect(boxZoom(plain)).toEqual(copy);
  });
});
