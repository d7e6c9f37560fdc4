// Small DOM builders shared by the panel's parts. Text always goes in through textContent.

/** An element with a class and, optionally, its text (never parsed as HTML). */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className = '',
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

export function option(value: string, text: string): HTMLOptionElement {
  const node = el('option', '', text);
  node.value = value;
  return node;
}

export function button(
  label: string,
  className: string,
  title: string,
  onClick: () => void
): HTMLButtonElement {
  const node = el('button', `jp-Button jp-mod-minimal nbtrack-button ${className}`, label);
  node.type = 'button';
  node.title = title;
  node.addEventListener('click', onClick);
  return node;
}

/** Replace a select's options, keeping `keep` selected when it is still there. */
export function fill(select: HTMLSelectElement, options: HTMLOptionElement[], keep: string): void {
  select.replaceChildren(...options);
  select.value = options.some(o => o.value === keep) ? keep : (options[0]?.value ?? '');
}
