// A chart drawn again under a pointer at rest (a live panel's streamed points, a running
// run's chart in the workspace) shows its crosshair and tooltip for what lies under the
// pointer now, as W&B's and TensorBoard's live charts do. Without this, Vega keeps the
// hovered step until the pointer moves: as the x axis grows, the crosshair slides away from
// the pointer and the tooltip beside it names a step that is no longer there.

/** The pointer's last place over one chart's box, replayed to whatever is drawn there next. */
export class PointerRest {
  private at: { x: number; y: number } | null = null;

  constructor(readonly host: HTMLElement) {
    const rest = (event: PointerEvent): void => {
      // A pressed button is a drag (box zoom, pan): its own moves, never replayed.
      if (event.isTrusted) {
        this.at = event.buttons ? null : { x: event.clientX, y: event.clientY };
      }
    };
    host.addEventListener('pointermove', rest);
    // A box drawn anew under a still pointer (sections rebuilt) hears of it by a pointerover,
    // which the browser sends when it finds what is under the pointer now: no move.
    host.addEventListener('pointerover', rest);
    host.addEventListener('pointerleave', () => {
      this.at = null;
    });
  }

  /** After a redraw: the same move again, at the same spot, for the chart drawn there now. */
  replay(): void {
    const at = this.at;
    if (!at) {
      return;
    }
    // Vega finds the mark from the event's target (SVG) or its position (canvas).
    const target = document.elementFromPoint(at.x, at.y);
    if (!target || !this.host.contains(target)) {
      this.at = null; // the page scrolled, or the chart went: the pointer is no longer on it
      return;
    }
    // An SVG chart's crosshair listens for pointerover, its tooltip for pointermove (a canvas
    // chart makes both of the move): both, as the browser would send them.
    for (const type of ['pointerover', 'pointermove']) {
      target.dispatchEvent(
        new PointerEvent(type, {
          clientX: at.x,
          clientY: at.y,
          bubbles: true,
          cancelable: true,
          pointerType: 'mouse',
          view: window
        })
      );
    }
  }
}
