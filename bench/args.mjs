// What the bench scripts share: a command-line option, the median of a few rounds, and (for
// the pair scripts) a built page's SIMD-only engine loaded in Node.
import fs from 'fs';
import path from 'path';
import { pathToFileURL } from 'url';

/** The value after `--name` on the command line (a string), or `dflt`. */
export const arg = (name, dflt) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : dflt; };

/** The median; of an even count, the mean of the two middle values. */
export const median = (v) => { const s = [...v].sort((x, y) => x - y), h = s.length >> 1; return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2; };

/** Built page `dist`'s SIMD-only wasm module, instantiated: a module instance of its own named
 *  by `key`, so two calls with one `dist` and two keys give two instances with two memories
 *  (an a/a run). */
export async function simdModule(dist, key) {
  const pkg = path.resolve(dist, 'pkg/simd');
  const mod = await import(`${pathToFileURL(path.join(pkg, 'resnet_wasm.js')).href}?${key}`);
  await mod.default({ module_or_path: fs.readFileSync(path.join(pkg, 'resnet_wasm_bg.wasm')) });
  return mod;
}

/** A new engine (ResNet-8, the default config) in `simdModule(dist, key)`. */
export async function simdEngine(dist, key) {
  return new (await simdModule(dist, key)).Engine(undefined, 1, undefined);
}
