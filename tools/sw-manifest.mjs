// Trunk's post_build hook: the service worker's file list and version. Writes sw-files.json
// (every file of the built site, relative to it) and stamps sw.js's VERSION with a hash of
// their contents, so each build's worker is a new one and drops the old build's copies.
//   node tools/sw-manifest.mjs [dir]     (default: $TRUNK_STAGING_DIR)
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const dir = process.argv[2] ?? process.env.TRUNK_STAGING_DIR;
if (!dir) throw new Error('sw-manifest: give the built site\'s folder (or run as a trunk hook)');
const files = readdirSync(dir, { recursive: true })
  .filter((f) => statSync(join(dir, f)).isFile() && !['sw.js', 'sw-files.json'].includes(f))
  .map((f) => relative(dir, join(dir, f)).split('\\').join('/'))
  .sort();
const hash = createHash('sha256');
for (const f of files) hash.update(f).update(readFileSync(join(dir, f)));
const version = hash.digest('hex').slice(0, 16);
writeFileSync(join(dir, 'sw-files.json'), `${JSON.stringify({ version, files }, null, 1)}\n`);
const sw = join(dir, 'sw.js');
const src = readFileSync(sw, 'utf8');
if (!src.includes("const VERSION = 'dev';")) throw new Error('sw-manifest: sw.js has no VERSION to stamp');
writeFileSync(sw, src.replace("const VERSION = 'dev';", `const VERSION = '${version}';`));
console.log(`sw-manifest: ${files.length} files, version ${version}`);
