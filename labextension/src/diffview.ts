// The config diff of the selected runs as tables, and the code diff of two. textContent only.
import type { DiffAnswer, DiffRow } from './api';
import { el } from './dom';
import { formatValue } from './format';

function table(title: string, names: string[], rows: DiffRow[], same: string): HTMLElement {
  const section = el('section', `nbtrack-diff-section nbtrack-diff-${title.toLowerCase()}`);
  section.append(el('h4', '', title));
  if (!rows.length) {
    section.append(el('p', 'nbtrack-hint', same));
    return section;
  }
  const grid = el('table', 'nbtrack-diff-table');
  const head = el('tr');
  head.append(el('th', '', 'key'), ...names.map(name => el('th', '', name)));
  grid.append(el('thead'));
  grid.tHead?.append(head);
  const body = el('tbody');
  for (const row of rows) {
    const line = el('tr');
    line.dataset.key = row.key;
    line.append(
      el('td', 'nbtrack-diff-key', row.key),
      ...row.values.map(value => el('td', '', formatValue(value)))
    );
    body.append(line);
  }
  grid.append(body);
  section.append(grid);
  return section;
}

function code(source: string): HTMLElement {
  const section = el('section', 'nbtrack-diff-section nbtrack-diff-code');
  section.append(el('h4', '', 'Code'));
  if (!source) {
    section.append(el('p', 'nbtrack-hint', 'Same code.'));
    return section;
  }
  const pre = el('pre', 'nbtrack-diff-source');
  for (const line of source.split('\n')) {
    const kind = line.startsWith('+')
      ? 'add'
      : line.startsWith('-')
        ? 'del'
        : line.startsWith('@@')
          ? 'hunk'
          : 'ctx';
    pre.append(el('span', `nbtrack-line nbtrack-line-${kind}`, `${line}\n`));
  }
  section.append(pre);
  return section;
}

/** Fill `host` with what differs between the selected runs. */
export function renderDiff(host: HTMLElement, diff: DiffAnswer): void {
  const names = diff.runs.map(run => run.name);
  const parts = [
    table('Config', names, diff.config, 'Same config.'),
    table('Summary', names, diff.summary, 'Same summary.')
  ];
  if (diff.source !== null) {
    parts.push(code(diff.source));
  }
  host.replaceChildren(...parts);
}
