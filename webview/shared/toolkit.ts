/**
 * The ONLY module that imports @vscode/webview-ui-toolkit (archived upstream). Everything else
 * builds controls through these functions and reads them through `Field`, so swapping the toolkit
 * for another component set (or plain elements styled with --vscode-* variables) touches this file
 * alone.
 */
import {
  provideVSCodeDesignSystem,
  vsCodeButton,
  vsCodeDropdown,
  vsCodeOption,
  vsCodeTextField,
  vsCodeProgressRing,
} from '@vscode/webview-ui-toolkit';

let registered = false;
/** Registers the custom elements once per page. */
export function registerControls(): void {
  if (registered) return;
  registered = true;
  provideVSCodeDesignSystem().register(vsCodeButton(), vsCodeDropdown(), vsCodeOption(), vsCodeTextField(), vsCodeProgressRing());
}

/** A control whose value is read and written as a string. */
export interface Field {
  readonly element: HTMLElement;
  get value(): string;
  set value(v: string);
  set disabled(d: boolean);
  /** Called on every edit (typing or choosing), not only on blur. */
  onInput(fn: (value: string) => void): void;
}

interface ValueElement extends HTMLElement {
  value: string;
  disabled: boolean;
}

function field(el: ValueElement): Field {
  return {
    element: el,
    get value() {
      return el.value;
    },
    set value(v: string) {
      el.value = v;
    },
    set disabled(d: boolean) {
      el.disabled = d;
    },
    onInput(fn) {
      el.addEventListener('input', () => fn(el.value));
      el.addEventListener('change', () => fn(el.value));
    },
  };
}

export function textField(id: string, label: string, opts: { placeholder?: string; size?: number; hint?: string } = {}): Field {
  const el = document.createElement('vscode-text-field') as ValueElement;
  el.id = id;
  el.textContent = label;
  if (opts.placeholder) el.setAttribute('placeholder', opts.placeholder);
  if (opts.size) el.setAttribute('size', String(opts.size));
  if (opts.hint) el.title = opts.hint;
  return field(el);
}

export function dropdown(
  id: string,
  label: string,
  options: { value: string; label: string }[],
): Field & { setOptions(o: { value: string; label: string }[]): void } {
  const wrap = document.createElement('div');
  wrap.className = 'dropdown-container';
  const lab = document.createElement('label');
  lab.htmlFor = id;
  lab.textContent = label;
  const el = document.createElement('vscode-dropdown') as ValueElement;
  el.id = id;
  el.setAttribute('aria-label', label);
  const setOptions = (o: { value: string; label: string }[]) => {
    const keep = el.value;
    el.replaceChildren(
      ...o.map((x) => {
        const opt = document.createElement('vscode-option') as ValueElement;
        opt.setAttribute('value', x.value);
        opt.textContent = x.label;
        return opt;
      }),
    );
    if (o.some((x) => x.value === keep)) el.value = keep;
  };
  setOptions(options);
  wrap.append(lab, el);
  const f = field(el);
  return {
    element: wrap,
    get value() {
      return el.value;
    },
    set value(v: string) {
      el.value = v;
    },
    set disabled(d: boolean) {
      el.disabled = d;
    },
    onInput: f.onInput,
    setOptions,
  };
}

export function button(
  id: string,
  label: string,
  onClick: () => void,
  appearance: 'primary' | 'secondary' = 'primary',
): { element: HTMLElement; set disabled(d: boolean) } {
  const el = document.createElement('vscode-button') as ValueElement;
  el.id = id;
  el.textContent = label;
  el.setAttribute('appearance', appearance);
  el.addEventListener('click', () => {
    if (!el.disabled) onClick();
  });
  return {
    element: el,
    set disabled(d: boolean) {
      el.disabled = d;
    },
  };
}

export function progressRing(): HTMLElement {
  return document.createElement('vscode-progress-ring');
}
