// The run list's DOM. Every piece of user text goes in through textContent.
import type { RunSummary } from './api';
import { el } from './dom';
import { formatAge, formatDuration, formatTime, formatValue, statusLabel } from './format';
import type { ClickKind } from './selection';

export interface RunListEvents {
  click(id: string, kind: ClickKind): void;
  open(id: string): void;
}

/** Fill `list` with one row per run (selected rows marked), newest state first. */
export function renderRuns(
  list: HTMLElement,
  runs: readonly RunSummary[],
  metrics: readonly string[],
  selected: ReadonlySet<string>,
  events: RunListEvents,
  now: Date = new Date()
): void {
  list.replaceChildren(...runs.map(run => runRow(run, metrics, selected.has(run.id), events, now)));
}

/** The run's colour in the charts, as a small square (empty when the server sent none). */
export function swatch(color: string | null | undefined): HTMLElement {
  const node = el('span', 'nbtrack-swatch');
  if (color && /^#[0-9a-fA-F]{6}$/.test(color)) {
    node.style.backgroundColor = color;
    node.dataset.color = color.toLowerCase();
    node.title = 'its colour in the charts';
  }
  return node;
}

function runRow(
  run: RunSummary,
  metrics: readonly string[],
  isSelected: boolean,
  events: RunListEvents,
  now: Date
): HTMLElement {
  const row = el('li', `nbtrack-run${isSelected ? ' nbtrack-selected' : ''}`);
  row.dataset.id = run.id;
  row.dataset.status = run.status;
  row.setAttribute('aria-selected', String(isSelected));
  row.tabIndex = 0;

  const check = el('input', 'nbtrack-run-check');
  check.type = 'checkbox';
  check.checked = isSelected;
  check.setAttribute('aria-label', `select run ${run.name}`);
  check.addEventListener('click', event => {
    event.stopPropagation();
    events.click(run.id, event.shiftKey ? 'range' : 'toggle');
  });

  const main = el('div', 'nbtrack-run-main');
  const head = el('div', 'nbtrack-run-head');
  const status = statusLabel(run.status);
  const dot = el('span', `nbtrack-dot nbtrack-dot-${run.status}`);
  dot.title = status.text;
  const name = el('span', 'nbtrack-run-name', run.name);
  name.title = `${run.name} (${run.id})`;
  head.append(swatch(run.color), dot, name, el('span', status.className, status.text));

  const when = el('div', 'nbtrack-run-when');
  const age = el('span', 'nbtrack-run-time', formatAge(run.created_at, now));
  age.title = `started ${formatTime(run.created_at)}`;
  when.append(age, el('span', 'nbtrack-run-duration', formatDuration(run.duration)));
  when.append(el('span', 'nbtrack-run-project', run.project));
  main.append(head, when);

  if (run.tags.length) {
    const tags = el('div', 'nbtrack-run-tags');
    tags.append(...run.tags.map(tag => el('span', 'nbtrack-tag', tag)));
    main.append(tags);
  }
  const shown = metrics.filter(key => run.metrics[key] !== undefined && run.metrics[key] !== null);
  if (shown.length) {
    const values = el('div', 'nbtrack-run-metrics');
    for (const key of shown) {
      const metric = el('span', 'nbtrack-metric');
      metric.dataset.key = key;
      metric.append(
        el('span', 'nbtrack-metric-key', key),
        el('span', 'nbtrack-metric-value', formatValue(run.metrics[key]))
      );
      values.append(metric);
    }
    main.append(values);
  }
  row.append(check, main);
  row.addEventListener('click', event => {
    const kind: ClickKind = event.shiftKey ? 'range' : event.ctrlKey || event.metaKey ? 'toggle' : 'only';
    events.click(run.id, kind);
  });
  row.addEventListener('dblclick', () => events.open(run.id));
  row.addEventListener('keydown', event => {
    if (event.key === 'Enter') {
      events.open(run.id);
    } else if (event.key === ' ') {
      event.preventDefault();
      events.click(run.id, 'toggle');
    }
  });
  return row;
}
