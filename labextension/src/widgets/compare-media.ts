// The compare widget's media: images of the selected runs at a step, latest tables and texts.
import { el as element } from '../dom';
import { formatValue } from '../format';
import type { ImageItem, Images, Latest, Media } from './compare-state';

function figure(item: ImageItem): HTMLElement {
  const node = element('figure', 'nbtrack-cmp-figure');
  const img = element('img');
  img.src = item.src; // a data URI made by Python from the stored file
  img.alt = item.caption ?? `#${item.idx}`;
  node.append(img, element('figcaption', '', item.caption ?? `#${item.idx}`));
  return node;
}

export function drawImages(images: Images, holder: HTMLElement): void {
  holder.replaceChildren();
  holder.dataset.step = String(images.step ?? '');
  for (const run of images.runs ?? []) {
    const column = element('div', 'nbtrack-cmp-imgrun');
    column.dataset.run = run.id;
    column.append(element('div', 'nbtrack-cmp-imgname', run.name));
    if (!run.items.length) {
      column.append(
        element('div', 'nbtrack-cmp-note', `no ${images.key ?? ''} at step ${images.step ?? ''}`)
      );
    }
    for (const item of run.items) {
      column.append(figure(item));
    }
    holder.append(column);
  }
}

function previewTable(entry: Latest): HTMLTableElement {
  const table = element('table', 'nbtrack-cmp-diff');
  const head = element('tr');
  for (const column of entry.columns ?? []) {
    head.append(element('th', '', column));
  }
  const thead = element('thead');
  thead.append(head);
  const body = element('tbody');
  for (const row of entry.rows ?? []) {
    const tr = element('tr');
    for (const value of row) {
      tr.append(element('td', '', formatValue(value)));
    }
    body.append(tr);
  }
  table.append(thead, body);
  return table;
}

export function drawLatest(media: Media, holder: HTMLElement): void {
  holder.replaceChildren();
  for (const entry of [...(media.tables ?? []), ...(media.texts ?? [])]) {
    const box = element('div', 'nbtrack-cmp-latest');
    box.dataset.key = entry.key;
    box.append(element('div', 'nbtrack-cmp-imgname', `${entry.key} · ${entry.run} · step ${entry.step}`));
    if (entry.columns) {
      box.append(previewTable(entry));
      const left = (entry.total ?? 0) - (entry.rows ?? []).length;
      if (left > 0) {
        box.append(element('div', 'nbtrack-cmp-note', `${left} more rows`));
      }
    } else {
      box.append(element('pre', 'nbtrack-cmp-text', entry.text ?? ''));
    }
    holder.append(box);
  }
}
