// The controls every view of metric curves shares (the workspace, the sidebar, the live
// panel): what the curves are drawn against, TensorBoard's smoothing and a log y axis. Each
// view draws its charts its own way (the server draws them for the workspace and the sidebar;
// the live panel redraws them in the page: drawing.ts); the controls and their values are one.
import { el, fill, option } from './dom';

/** The person's choice: `x` ('' for each view's default), a smoothing weight, a log y axis. */
export interface ChartChoice {
  x: string;
  smoothing: number;
  log: boolean;
}

export interface ChartTools {
  /** The controls, in one row. */
  node: HTMLElement;
  x: HTMLSelectElement;
  smoothing: HTMLInputElement;
  log: HTMLInputElement;
  /** What the controls say now. */
  choice(): ChartChoice;
  /** Show this choice (a view that keeps it elsewhere: the compare widget's model). */
  show(choice: Partial<ChartChoice>): void;
  /** Offer these logged metrics as x too (after the fixed choices; not `system/` readings nor a
   * metric named like a fixed choice or `time`, which x would read as the clock), keeping the
   * current one. True when the current one is gone (x is back to the default: draw again). */
  offerMetrics(keys: readonly string[]): boolean;
}

/** What the server can draw curves against (nbtrack.charts.metrics.X_CHOICES), before the
 * logged metrics a view offers too; '' is its default. */
export const X_CHOICES: [string, string][] = [
  ['', 'x: step (system: time)'],
  ['step', 'x: step'],
  ['relative', 'x: relative time'],
  ['wall', 'x: wall time']
];

/** Names x reads as something else than a metric (nbtrack.charts.metrics.x_axis). */
const RESERVED = ['step', 'relative', 'wall', 'time'];

/** The heaviest smoothing offered: TensorBoard's slider stops short of 1 as well. */
export const MAX_SMOOTHING = 0.99;

/**
 * The controls, their elements classed `${prefix}-x`, `${prefix}-smoothing`,
 * `${prefix}-smoothing-value` and `${prefix}-log`; `changed` runs when one is changed
 * (the slider: once let go).
 *
 * @example
 * const tools = chartTools('nbtrack-ws', [['', 'x: step'], ['relative', 'x: relative time']], redraw);
 */
export function chartTools(prefix: string, choices: [string, string][], changed: () => void): ChartTools {
  const node = el('div', `nbtrack-chart-tools ${prefix}-tools-row`);
  const x = el('select', `${prefix}-x`);
  x.title = 'What the curves are drawn against';
  fill(
    x,
    choices.map(([value, text]) => option(value, text)),
    choices[0]?.[0] ?? ''
  );
  const smoothing = el('input', `${prefix}-smoothing`);
  smoothing.type = 'range';
  smoothing.min = '0';
  smoothing.max = String(MAX_SMOOTHING);
  smoothing.step = '0.01';
  smoothing.value = '0';
  smoothing.title = 'Smoothing (exponential moving average, as TensorBoard)';
  const shown = el('span', `${prefix}-smoothing-value nbtrack-smoothing-shown`, '0');
  const log = el('input', `${prefix}-log`);
  log.type = 'checkbox';
  log.title = 'Logarithmic y axis (values of zero or less are left out)';
  const smoothLabel = el('label', `nbtrack-chart-tool ${prefix}-smoothing-label`, 'smoothing ');
  smoothLabel.append(smoothing, shown);
  const logLabel = el('label', `nbtrack-chart-tool ${prefix}-log-label`);
  logLabel.append(log, document.createTextNode(' log y'));
  node.append(x, smoothLabel, logLabel);
  smoothing.addEventListener('input', () => {
    shown.textContent = smoothing.value;
  });
  for (const input of [x, smoothing, log]) {
    input.addEventListener('change', () => {
      shown.textContent = smoothing.value;
      changed();
    });
  }
  const fixed = choices.map(([value]) => value);
  return {
    node,
    x,
    smoothing,
    log,
    choice: () => ({ x: x.value, smoothing: Number(smoothing.value) || 0, log: log.checked }),
    show(choice: Partial<ChartChoice>): void {
      if (choice.x !== undefined) {
        x.value = choice.x;
      }
      if (choice.smoothing !== undefined) {
        smoothing.value = String(choice.smoothing);
        shown.textContent = smoothing.value;
      }
      if (choice.log !== undefined) {
        log.checked = choice.log;
      }
    },
    offerMetrics(keys: readonly string[]): boolean {
      const before = x.value;
      const metrics = keys.filter(
        key => !fixed.includes(key) && !RESERVED.includes(key) && !key.startsWith('system/')
      );
      fill(
        x,
        [
          ...choices.map(([value, text]) => option(value, text)),
          ...metrics.map(key => option(key, `x: ${key}`))
        ],
        x.value
      );
      return x.value !== before;
    }
  };
}
