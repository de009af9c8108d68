// One message table per language (www/js/i18n/en.js, zh-CN.js: the same keys), and the
// language a reader gets: the one asked for (a widget's `lang` attribute), else the browser's
// (navigator.languages: any Chinese → zh-CN), else English.
//
//   const t = translator(pickLang(el.getAttribute('lang')));
//   t('checkOk', '2.78e-5')  → "✓ equals the engine's value at this cell, 2.78e-5"
import en from './i18n/en.js';
import zh from './i18n/zh-CN.js';

export const TABLES = { en, 'zh-CN': zh };

/** The language for `asked` (e.g. "zh-CN", "zh", "en"), or the browser's, or English. */
export function pickLang(asked, browser = globalThis.navigator?.languages ?? []) {
  for (const l of [asked, ...browser]) {
    const s = String(l ?? '').toLowerCase();
    if (s.startsWith('zh')) return 'zh-CN';
    if (s.startsWith('en')) return 'en';
  }
  return 'en';
}

/** t(key, ...values): the message `key` of language `lang`, with its values filled in. */
export function translator(lang) {
  const table = TABLES[lang] ?? en;
  const t = (key, ...args) => {
    const m = table[key] ?? en[key];
    if (m === undefined) throw new Error(`no message "${key}"`);
    return typeof m === 'function' ? m(...args) : m;
  };
  t.lang = TABLES[lang] ? lang : 'en';
  return t;
}

/** English: what a view speaks when it is given no translator. */
export const english = translator('en');
