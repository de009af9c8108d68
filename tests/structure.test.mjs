// The frontend's shape, as the page-structure issue set it: no module of www/js over ~300
// lines and no function over 80 (parsed with acorn, so a function is what JavaScript says it
// is: declarations, methods, arrows); and the page reaches the engine only through the named
// methods of EngineClient, which the worker's one table (CALLS) maps to the wasm API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import * as acorn from 'acorn';

const WWW = new URL('../www/js/', import.meta.url);
const files = readdirSync(WWW, { recursive: true }).filter((f) => f.endsWith('.js')).map((f) => new URL(f, WWW));
const MODULE_LINES = 320, FUNCTION_LINES = 80;

test('every module of www/js is at most ~300 lines and every function at most 80', () => {
  assert.ok(files.length > 20, 'the modules are found');
  const long = [];
  for (const f of files) {
    const src = readFileSync(f, 'utf8');
    const name = f.pathname.split('/www/js/')[1];
    const lines = src.split('\n').length;
    // (the message tables, i18n/*.js, are data: one line a message, as long as the page has words)
    if (lines > MODULE_LINES && !name.startsWith('i18n/')) long.push(`${name}: ${lines} lines`);
    const walk = (n, label) => {
      if (/Function/.test(n.type)) {
        const len = n.loc.end.line - n.loc.start.line + 1;
        if (len > FUNCTION_LINES) long.push(`${name}:${n.loc.start.line} ${label ?? '(anonymous)'}: ${len} lines`);
      }
      const own = ['MethodDefinition', 'Property', 'PropertyDefinition'].includes(n.type) ? n.key?.name
        : n.type === 'VariableDeclarator' ? n.id?.name : n.type === 'FunctionDeclaration' ? n.id?.name : label;
      for (const v of Object.values(n)) {
        for (const c of Array.isArray(v) ? v : [v]) if (c && typeof c.type === 'string') walk(c, own);
      }
    };
    walk(acorn.parse(src, { ecmaVersion: 'latest', sourceType: 'module', locations: true }));
  }
  assert.deepEqual(long, []);
});

test('every engine call the page makes is a named EngineClient method in the worker\'s table', () => {
  const client = readFileSync(new URL('engine-client.js', WWW), 'utf8');
  const worker = readFileSync(new URL('worker.js', WWW), 'utf8');
  const table = new Set([...worker.slice(worker.indexOf('const CALLS = {'), worker.indexOf('const STATICS')).matchAll(/^ {2}(\w+):/gm)].map((m) => m[1]));
  const named = [...client.matchAll(/^ {2}(\w+)\([^)]*\) \{ return this\.call\('(\w+)'/gm)];
  assert.ok(named.length > 20, 'the named methods are found');
  for (const [, method, call] of named) assert.ok(table.has(call), `${method} posts '${call}', which the worker's table has`);
  // no module but the client posts call names itself
  for (const f of files) {
    if (f.pathname.endsWith('/engine-client.js')) continue;
    assert.doesNotMatch(readFileSync(f, 'utf8'), /\.call\('\w+'/, `${f.pathname} calls the engine by a string`);
  }
});
