// Small DOM helpers shared by every view: element building and highlighting (text only,
// never markup), numbers, the clipboard, toasts.

/**
 * Builds an element: h('button.primary', {onclick, title}, 'text', child…). Children
 * that are not nodes become text, never markup. `style` takes an object of CSS
 * properties (`{'--w': '40%'}`), set through the CSSOM: the Content-Security-Policy
 * refuses style attributes.
 */
export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'style') setStyle(el, v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

/** Sets CSS properties (kebab-case names, custom properties too) through the CSSOM. */
export function setStyle(el, props) {
  // A string could only become a style attribute, which the CSP refuses silently.
  if (typeof props !== 'object') throw new TypeError(`style must be an object of properties, not ${JSON.stringify(props)}`);
  for (const [p, v] of Object.entries(props)) if (v != null) el.style.setProperty(p, String(v));
}

function append(el, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** `text` as nodes, every match of `re` wrapped in <mark>; the rest stays text. */
export function highlight(text, re) {
  const s = String(text ?? '');
  if (!re) return [s];
  const out = [];
  let last = 0;
  re.lastIndex = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    if (m[0] === '') { re.lastIndex++; continue; }
    if (m.index > last) out.push(s.slice(last, m.index));
    out.push(h('mark', m[0]));
    last = m.index + m[0].length;
  }
  if (last < s.length) out.push(s.slice(last));
  return out;
}

/** Formats a count with thousands separators. */
export function num(n) {
  if (n == null || Number.isNaN(n)) return '–';
  if (typeof n === 'number' && !Number.isInteger(n)) return n.toLocaleString('en-US', { maximumFractionDigits: 2 });
  return Number(n).toLocaleString('en-US');
}

/** Copies text to the clipboard, also where the Clipboard API is unavailable. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const ta = h('textarea', { style: { position: 'fixed', opacity: 0 } }, text);
    document.body.append(ta);
    ta.select();
    document.execCommand('copy');
    ta.remove();
  }
}

/** A short-lived message at the bottom of the page; longer ones stay longer. */
export function toast(text) {
  const t = h('div.toast', { role: 'status' }, text);
  document.body.append(t);
  setTimeout(() => t.remove(), Math.min(8000, 2500 + 40 * String(text).length));
}
