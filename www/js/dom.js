// The few DOM helpers every part of the page and the widget uses.

/** The element with this id (in the page's document). */
export const $ = (id) => document.getElementById(id);

/** A new element `tag` with class `cls` and text content `text` (both optional). */
export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Offers `bytes` as a file download called `name`. */
export function download(bytes, name, type = 'application/octet-stream') {
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Hides the parts of `root` named in `list` ("compare,export": elements marked
 *  data-part="<name>") and returns the names no part has. */
export function hideParts(root, list) {
  const unknown = [];
  for (const name of String(list ?? '').split(/[\s,]+/).filter(Boolean)) {
    const parts = [...root.querySelectorAll('[data-part]')].filter((e) => e.dataset.part === name);
    if (!parts.length) unknown.push(name);
    for (const e of parts) e.classList.add('rp-hidden');
  }
  return unknown;
}

/** Puts the words of language `t` (i18n.js) into `root`'s marked elements: data-i18n="key"
 *  (the text), data-i18n-aria-label, -title and -placeholder (those attributes). */
export function translateStatic(root, t) {
  for (const e of root.querySelectorAll('[data-i18n]')) e.textContent = t(e.dataset.i18n);
  for (const e of root.querySelectorAll('[data-i18n-aria-label]')) e.setAttribute('aria-label', t(e.dataset.i18nAriaLabel));
  for (const e of root.querySelectorAll('[data-i18n-title]')) e.setAttribute('title', t(e.dataset.i18nTitle));
  for (const e of root.querySelectorAll('[data-i18n-placeholder]')) e.setAttribute('placeholder', t(e.dataset.i18nPlaceholder));
}
