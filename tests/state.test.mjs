// The URL form of the page state: round trips, and garbage falls back with a notice per key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readUrlState, urlOf, visible, DEFAULTS } from '../www/js/state.js';

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
