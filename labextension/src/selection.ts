// Pure selection and polling logic for the run list (no DOM), tested with jest.

/** How a click changes the selection: plain = only this run, toggle = ctrl/cmd/checkbox, range = shift. */
export type ClickKind = 'only' | 'toggle' | 'range';

/**
 * The selection after a click on `id`, given the runs in their shown order.
 *
 * A range runs from the last clicked run (`anchor`) to `id` and is added to what is
 * selected. Returns the new selection in list order.
 */
export function clickSelect(
  order: readonly string[],
  selected: readonly string[],
  id: string,
  kind: ClickKind,
  anchor: string | null
): string[] {
  let next: Set<string>;
  if (kind === 'only') {
    next = new Set([id]);
  } else if (kind === 'toggle') {
    next = new Set(selected);
    if (next.has(id)) {
      next.delete(id);
    } else {
      next.add(id);
    }
  } else {
    next = new Set(selected);
    const from = anchor === null ? -1 : order.indexOf(anchor);
    const to = order.indexOf(id);
    if (from < 0 || to < 0) {
      next.add(id);
    } else {
      for (let i = Math.min(from, to); i <= Math.max(from, to); i++) {
        next.add(order[i]);
      }
    }
  }
  return inOrder(order, selected, next);
}

/** Selected ids in list order; ids no longer listed keep their place at the end (still selected). */
function inOrder(order: readonly string[], before: readonly string[], chosen: Set<string>): string[] {
  const listed = order.filter(id => chosen.has(id));
  const rest = before.filter(id => chosen.has(id) && !order.includes(id));
  return [...listed, ...rest];
}

/** Milliseconds until the next refresh: quick while runs log, slow otherwise, none when hidden. */
export function pollDelay(visible: boolean, running: number): number | null {
  if (!visible) {
    return null;
  }
  return running > 0 ? 2000 : 10000;
}
