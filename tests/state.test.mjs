// The URL form of the page state: round trips, and garbage falls back with a notice per key.
// The training settings' ranges and defaults come from the engine, as in the page: the built
// wasm module (dist/pkg/compat) is loaded in Node for them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readUrlState, urlOf, visible, useSettings, SETTING_KEYS, DEFAULTS } from '../www/js/state.js';

const PKG = `${process.env.DIST || new URL('../dist', import.meta.url).pathname}/pkg/compat/`;
const wasm = await import(`${PKG}resnet_wasm.js`);
wasm.initSync({ module: readFileSync(`${PKG}resnet_wasm_bg.wasm`) });

test('before the engine has said the ranges, the training settings are not read', () => {
  const { state, notices } = readUrlState('?lr=0.2&batch=9999&arch=plain20');
  assert.equal(state.arch, 'plain20');
  assert.equal(state.lr, undefined);
  assert.deepEqual(notices, []);
  useSettings(wasm.settings());
  assert.deepEqual(SETTING_KEYS.map((k) => DEFAULTS[k]), [0.05, 32, 'sgd', 1, 200]);
  assert.match(readUrlState('?batch=9999', SETTING_KEYS).notices[0], /^batch "9999" is not a batch size \(1–256\)$/);
});

test('a state survives the URL', () => {
  const state = { ...DEFAULTS, layer: 'layer3.0.downsample.0', digit: 1999, target: 0, cell: { grid: 'weights', idx: [63, 31, 0, 0] }, lr: 0.001, batch: 256, opt: 'adam', seed: 4294967295, steps: 1 };
  const url = urlOf(state, '?engine=simd');
  assert.match(url, /cell=weights:63,31,0,0/);
  assert.match(url, /engine=simd/);
  const back = readUrlState(url);
  assert.deepEqual(back, { state, notices: [] });
  assert.deepEqual(readUrlState(urlOf(DEFAULTS)), { state: { ...DEFAULTS }, notices: [] });
});

test('garbage falls back to the defaults, one notice per parameter', () => {
  const { state, notices } = readUrlState('?layer=<script>&digit=2000&target=10&cell=input:1,2&lr=1e9&batch=0&opt=rmsprop&seed=-1&steps=1.5');
  assert.deepEqual(state, { ...DEFAULTS });
  assert.equal(notices.length, 9, notices.join('\n'));
  assert.match(notices[0], /^layer "<script>" is not a layer name$/);
  const odd = readUrlState('?cell=weights:1,2,3&lr=0&digit=07');
  assert.equal(odd.state.cell, null);
  assert.equal(odd.state.lr, DEFAULTS.lr);
  assert.equal(odd.state.digit, 7);
});

test('a right-to-left override in a value cannot reverse the notice: it is written out', () => {
  const { notices } = readUrlState(`?layer=${encodeURIComponent('abc\u202Edef')}`);
  assert.equal(notices[0], 'layer "abc\\u{202E}def" is not a layer name');
  assert.equal(visible('a\u2066b\u200Fc'), 'a\\u{2066}b\\u{200F}c');
  assert.equal(visible('plain "name".png'), 'plain "name".png');
});

test("the widget's attribute names are read too: sample as digit, optimizer as opt; the link is written in the page's names", () => {
  const { state, notices } = readUrlState('?sample=12&optimizer=adam&lr=0.01');
  assert.deepEqual([state.digit, state.opt, state.lr, notices], [12, 'adam', 0.01, []]);
  // the page's own name wins; a bad alias value is reported under the name given
  assert.equal(readUrlState('?digit=3&sample=12').state.digit, 3);
  assert.match(readUrlState('?optimizer=rmsprop').notices[0], /^optimizer "rmsprop" is not an optimizer/);
  const url = urlOf(state, '?sample=12&optimizer=adam&hide=compare');
  assert.match(url, /digit=12/);
  assert.match(url, /opt=adam/);
  assert.doesNotMatch(url, /sample=|optimizer=/);
  assert.match(url, /hide=compare/, 'other parameters are kept');
});
