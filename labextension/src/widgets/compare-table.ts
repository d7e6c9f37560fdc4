// The compare widget's runs table, best line and config diff: text only, formatted by format.ts.
import { el as element } from '../dom';
import { formatCell, formatValue } from '../format';
import { save } from './anywidget';
import type { CompareModel } from './compare-state';

function shortGoal(goal: string | undefined): string {
  return goal === 'maximize' ? 'max' : 'min';
}

// -- the table ------------------------------------------------------------------------
export function drawTable(model: CompareModel, table: HTMLTableElement, info: HTMLElement): void {
  const columns = model.get('columns');
  const sortBy = model.get('sort_by');
  const selected = new Set(model.get('selected'));
  const goals = model.get('goals');
  const head = element('tr');
  head.append(element('th', 'nbtrack-cmp-pick', ''));
  for (const column of columns) {
    const arrow = column === sortBy ? (model.get('descending') ? ' ▼' : ' ▲') : '';
    const th = element('th', 'nbtrack-cmp-sortable', column + arrow);
    th.dataset.column = column;
    th.addEventListener('click', () => {
      if (column === model.get('sort_by')) {
        save(model, 'descending', !model.get('descending'));
      } else {
        model.set('descending', false);
        save(model, 'sort_by', column);
      }
    });
    head.append(th);
  }
  const body = element('tbody');
  for (const row of model.get('rows')) {
    const tr = element('tr');
    tr.dataset.id = row.id;
    if (selected.has(row.id)) {
      tr.className = 'nbtrack-cmp-selected';
    }
    const box = element('input');
    box.type = 'checkbox';
    box.checked = selected.has(row.id);
    box.addEventListener('change', () => {
      const now = model.get('selected').filter(id => id !== row.id);
      if (box.checked) {
        now.push(row.id);
      }
      save(model, 'selected', now);
    });
    const pick = element('td', 'nbtrack-cmp-pick');
    pick.append(box);
    tr.append(pick);
    for (const column of columns) {
      const td = element('td', '', formatCell(column, row[column]));
      if (column === 'name' && row.color) {
        // The run's colour, the one its curves have in every chart.
        const swatch = element('span', 'nbtrack-cmp-swatch');
        swatch.style.background = row.color;
        swatch.title = row.color;
        td.prepend(swatch);
      }
      const metric = column.startsWith('summary.') ? column.slice(8) : null;
      if (metric && row.best.includes(metric)) {
        td.className = 'nbtrack-cmp-best';
        td.textContent = `★ ${td.textContent ?? ''}`;
        td.title = `best ${metric} (${shortGoal(goals[metric])})`;
      }
      tr.append(td);
    }
    body.append(tr);
  }
  const thead = element('thead');
  thead.append(head);
  table.replaceChildren(thead, body);
  const start = model.get('page') * model.get('page_size');
  const shown = model.get('rows').length;
  info.textContent = model.get('total')
    ? `runs ${start + 1}–${start + shown} of ${model.get('total')}, ${selected.size} selected`
    : 'no runs match';
}

export function drawBest(model: CompareModel, node: HTMLElement): void {
  const parts = Object.entries(model.get('best')).map(
    ([metric, best]) => `${metric} (${shortGoal(best.goal)}): ${best.run} = ${formatValue(best.value)}`
  );
  node.textContent = parts.length ? `★ best: ${parts.join(' · ')}` : '';
}

// -- the config diff ------------------------------------------------------------------
export function drawDiff(model: CompareModel, table: HTMLTableElement): void {
  const diff = model.get('diff');
  if (!diff.runs || !diff.runs.length) {
    table.replaceChildren();
    return;
  }
  const head = element('tr');
  head.append(element('th', '', 'config'));
  for (const run of diff.runs) {
    head.append(element('th', '', run.name));
  }
  const body = element('tbody');
  for (const row of diff.rows) {
    const tr = element('tr', row.differs ? 'nbtrack-cmp-differs' : 'nbtrack-cmp-same');
    tr.append(element('td', '', row.key));
    for (const value of row.values) {
      tr.append(element('td', '', formatValue(value)));
    }
    body.append(tr);
  }
  const thead = element('thead');
  thead.append(head);
  table.replaceChildren(thead, body);
}
