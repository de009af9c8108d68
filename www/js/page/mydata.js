// Your own data: the image shown in the input panel goes into a personal set with a label the
// student picks (default: the prediction); a gallery shows the set as the network sees it; the
// set lives in IndexedDB (with the sessions) and moves as a safetensors file, so a class can
// pool its handwriting. Training takes MNIST, the set or a mix, the set's images lightly
// augmented (shown); accuracy on the set's held-out part is measured before and after a run,
// beside MNIST's. Tasks of one's own (names, new final layer): page/task.js. The engine checks
// the set, holds part of it out, mixes and augments it (resnet_engine::own); here it is kept
// and shown.
import { $, download } from '../dom.js';
import { Gallery, drawPixels } from '../views/gallery.js';
import { visible } from '../state.js';
import { task, DIGITS, status, t } from './context.js';
import { SessionStore } from '../session.js';

const FORMAT = 'resnet-playground-mydata/1', RECORD = 'mydata';
const pct = (x) => `${(100 * x).toFixed(1)} %`;
const MNIST_MEASURED = 1000; // MNIST held-out digits measured at a run's ends (and all of the set's)

/** The set, its gallery, storage and file, the training source and the before/after line. */
export async function setUpMyData(engine, inspector, trainer) {
  const my = new MyData(engine, inspector, trainer, await engine.ownLimits());
  await my.open();
  trainer.setSource(() => my.applySource());
  trainer.setRunHooks({ before: () => my.measure('before'), after: () => my.measure('after') });
  return my;
}

export class MyData {
  constructor(engine, inspector, trainer, limits) {
    Object.assign(this, { engine, inspector, trainer, limits });
    this.sets = { digits: [], own: [] }; // [{pixels: Uint8Array(784), label}]
    this.ownNames = null;                  // the names of the task of one's own, if there is one
    this.ownId = null;                     // and its id (its sessions carry it)
    this.source = { mode: 'mnist', share: 0.5, augment: true };
    this.summary = null;                   // the engine's word on the set (counts, held out, problem)
    this.acc = {};                         // {before, after}: {mnist, mine} at a run's ends
    this.store = null;
    this.gallery = new Gallery($('gallery'), { ondelete: (i) => this.remove(i), t });
    this.#controls();
  }

  get items() { return this.sets[task.own ? 'own' : 'digits']; }

  async open() {
    try {
      this.store = await SessionStore.open();
      const r = await this.store.getRecord(RECORD);
      if (r?.format === FORMAT) this.load(r);
    } catch (e) { $('mydata-note').textContent = t('setNotKept', e.message); }
    await this.resend();
  }

  /** Everything to keep: both sets, the task's names, which task is on, the source. */
  record() {
    const pack = (items) => ({ pixels: concat(items.map((x) => x.pixels)), labels: Uint8Array.from(items, (x) => x.label) });
    return { format: FORMAT, active: task.own ? 'own' : 'digits', names: this.ownNames, taskId: this.ownId, digits: pack(this.sets.digits), own: pack(this.sets.own), source: { ...this.source } };
  }

  /** Whether the student has images in either set (opening a session file replaces them). */
  hasImages() { return this.sets.digits.length + this.sets.own.length > 0; }

  /** Takes a record (IndexedDB's or a session file's); the task follows it. */
  load(r) {
    const unpack = (p, classes) => {
      const n = Math.min(p?.labels?.length ?? 0, Math.floor((p?.pixels?.length ?? 0) / 784));
      return Array.from({ length: n }, (_, i) => ({ pixels: p.pixels.slice(784 * i, 784 * (i + 1)), label: p.labels[i] })).filter((x) => x.label < classes);
    };
    const names = Array.isArray(r.names) && r.names.length >= this.limits.classes[0] ? r.names.slice(0, this.limits.classes[1]).map(String) : null;
    this.ownNames = names;
    this.ownId = typeof r.taskId === 'string' ? r.taskId : 'task';
    this.sets = { digits: unpack(r.digits, 10), own: names ? unpack(r.own, names.length) : [] };
    Object.assign(task, r.active === 'own' && names ? { own: true, names, id: this.ownId } : { own: false, names: DIGITS, id: null });
    if (['mnist', 'mix', 'mine'].includes(r.source?.mode)) this.source.mode = r.source.mode;
    if (r.source?.share > 0 && r.source.share < 1) this.source.share = r.source.share;
    if (typeof r.source?.augment === 'boolean') this.source.augment = r.source.augment;
  }

  async save() {
    if (!this.store) return;
    try { await this.store.putRecord(RECORD, this.record()); } catch (e) { $('mydata-note').textContent = t('setNotKept', e.message); }
  }

  /** The set and the source to the engine (after a change, a new task, a restarted engine). */
  async resend() {
    const items = this.items;
    try {
      this.summary = await this.engine.setImageSet(concat(items.map((x) => x.pixels)), Uint32Array.from(items, (x) => x.label), task.names.length, task.own);
    } catch (e) { this.summary = null; status(t('setRefused', e.message), true); }
    this.render();
  }

  // the share of each batch from the set: none (MNIST), part (a mix) or all; a task of one's own has no MNIST
  share() {
    const mode = task.own ? 'mine' : this.source.mode;
    return mode === 'mnist' ? 0 : mode === 'mine' ? 1 : this.source.share;
  }

  async applySource() {
    if (this.share() > 0 && !this.summary?.heldOut) throw new Error(this.problem() || t('setTooSmall'));
    await this.engine.setTrainingSource(this.share(), this.source.augment);
  }

  /** Why nothing of the set can be held out yet, in the reader's words ('' if something can). */
  // (the digits' task may leave classes empty: MNIST has them; a task of one's own may not)
  problem() {
    const s = this.summary;
    if (!this.items.length) return t('setEmptyHint');
    if (!s?.problem) return '';
    const which = (n) => s.counts.map((c, k) => [c, task.names[k]]).filter(([c]) => c === n).map(([, name]) => name).join(', ');
    const said = [task.own && which(0) && t('classesEmpty', which(0)), which(1) && t('classesSingle', which(1))].filter(Boolean);
    return said.join(' ') || s.problem;
  }

  async add() {
    const px = this.inspector.currentPixels();
    if (!px) { status(t('nothingToAdd'), true); return; }
    if (this.items.length >= this.limits.images) { status(t('setFull', this.limits.images), true); return; }
    const chosen = $('add-label').value;
    const label = chosen === 'auto' ? this.inspector.predicted() : Number(chosen);
    if (!(label >= 0 && label < task.names.length)) { status(t('nothingToAdd'), true); return; }
    this.items.push({ pixels: px, label });
    await this.changed();
    status(t('imageAdded', task.names[label], this.items.length));
  }

  async remove(i) {
    const [gone] = this.items.splice(i, 1);
    // the keyboard stays in the gallery: on the next image's delete button (or Add)
    const refocus = () => {
      const next = [...$('gallery').querySelectorAll('.gallery-delete')];
      (next[Math.min(next.length - 1, this.items.length - i)] ?? $('add-image')).focus();
    };
    this.gallery.show(this.items, task.names); // (at once: a second click must not hit a stale index)
    refocus();
    await this.changed(); // (which draws the gallery again)
    refocus();
    status(t('imageRemoved', i + 1, task.names[gone.label]));
  }

  async changed() {
    this.acc = {};
    await this.resend();
    await this.save();
  }

  async exportSet() {
    if (!this.items.length) { status(t('setEmpty'), true); return; }
    try {
      const name = (task.own ? task.names.join('-') : 'digits').replace(/[^\p{L}\p{N}_-]/gu, '_').slice(0, 60);
      download(await this.engine.imageSetFile(), `my-set-${name}.safetensors`);
    } catch (e) { status(t('exportFailed', e.message), true); }
  }

  async importSet(file) {
    if (!file) return;
    try {
      const { pixels, labels } = await this.engine.readImageSet(new Uint8Array(await file.arrayBuffer()), task.names.length);
      if (this.items.length + labels.length > this.limits.images) throw new Error(t('setFull', this.limits.images));
      labels.forEach((label, i) => this.items.push({ pixels: pixels.slice(784 * i, 784 * (i + 1)), label }));
      await this.changed();
      status(t('setImported', labels.length, visible(file.name), this.items.length));
    } catch (e) { status(t('couldNotOpen', visible(file.name), e.message), true); }
  }

  async clear() {
    if (!this.items.length || !window.confirm(t('clearConfirm', this.items.length))) return;
    this.items.length = 0;
    await this.changed();
    status(t('setCleared'));
  }

  /** Held-out accuracy at one end of a run ('before' | 'after'), when the run uses the set. */
  async measure(when) {
    if (this.share() === 0 && !(when === 'after' && this.acc.before)) { this.acc = {}; this.render(); return; }
    try {
      this.acc[when] = await this.engine.evaluateHeldOut(MNIST_MEASURED);
    } catch (e) { this.acc = {}; status(t('setRefused', e.message), true); }
    this.render();
  }

  #controls() {
    $('add-image').onclick = () => this.add();
    $('set-export').onclick = () => this.exportSet();
    $('set-import').onchange = async () => { await this.importSet($('set-import').files[0]); $('set-import').value = ''; };
    $('set-clear').onclick = () => this.clear();
    $('source').onchange = () => { this.source.mode = $('source').value; this.acc = {}; this.save(); this.render(); };
    $('share').oninput = () => { this.source.share = Number($('share').value) / 100; this.render(); };
    $('share').onchange = () => this.save();
    $('augment').onchange = () => { this.source.augment = $('augment').checked; this.save(); this.render(); };
    $('augment-again').onclick = () => { this.seed = (this.seed ?? 1) + 1; this.preview(); };
    $('copy-link').onclick = () => this.copyLink();
  }

  // a link carries the view and the settings; the images cannot travel in it, and the page says so
  async copyLink() {
    const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('no answer')), 1500));
    const copy = navigator.clipboard ? navigator.clipboard.writeText(location.href) : Promise.reject(new Error('no clipboard'));
    const copied = await Promise.race([copy, timeout]).then(() => true, () => false);
    const mine = task.own || this.items.length > 0;
    status(copied ? t(mine ? 'linkNoImages' : 'linkCopied') : t(mine ? 'linkNotCopiedMine' : 'linkNotCopied'));
  }

  render() {
    const names = task.names, items = this.items, s = this.summary;
    $('task-name').textContent = task.own ? t('taskOwn', names.join(', ')) : t('taskDigits');
    $('draw-hint').textContent = t(task.own ? 'drawHintTask' : 'drawHint');
    $('task-digits').hidden = !task.own;
    const chosen = $('add-label').value; // (kept while it is a class of the task)
    $('add-label').replaceChildren(new Option(t('asPredicted'), 'auto'), ...names.map((n, k) => new Option(n, String(k))));
    if (Number(chosen) < names.length) $('add-label').value = chosen;
    this.gallery.show(items, names);
    $('set-count').textContent = items.length
      ? t('setCounts', items.length, (s?.counts ?? []).map((c, k) => [names[k], c]).filter(([, c]) => c || task.own).map(([n, c]) => `${n}: ${c}`).join(' · '), s?.heldOut ?? 0)
      : t('setEmptyHint');
    $('set-problem').textContent = items.length ? this.problem() : '';
    $('source').value = task.own ? 'mine' : this.source.mode;
    $('source').querySelector('option[value=mnist]').disabled = task.own;
    $('source').querySelector('option[value=mix]').disabled = task.own;
    $('share').value = String(Math.round(100 * this.source.share));
    $('share-box').hidden = task.own || this.source.mode !== 'mix';
    $('share-value').textContent = `${Math.round(100 * this.source.share)} %`;
    $('augment').checked = this.source.augment;
    const { shift, degrees } = this.limits.augment;
    $('augment-what').textContent = t('augmentWhat', shift, degrees);
    $('augment-box').hidden = !this.source.augment;
    $('mydata-acc').textContent = this.accuracyLine();
    this.preview();
  }

  // "your held-out images: 3 of 5 (60 %) before → 5 of 5 after · MNIST held-out: 98.6 % → 98.0 %"
  accuracyLine() {
    const { before, after } = this.acc;
    if (!before) return '';
    const mine = (e) => (e ? t('correctOf', e.correct, e.total, pct(e.accuracy)) : '–');
    const parts = [];
    if (before.mine || after?.mine) parts.push(t('accMine', mine(before.mine), after ? mine(after.mine) : '…'));
    if (before.mnist) parts.push(t('accMnist', pct(before.mnist.accuracy), after?.mnist ? pct(after.mnist.accuracy) : '…'));
    return parts.join(' · ') || t('accNothingHeld');
  }

  // augmented copies of the set's latest image (or the input), as training makes them
  async preview() {
    const px = this.items.at(-1)?.pixels ?? this.inspector.currentPixels();
    if (!this.source.augment || !px) return;
    try {
      const copies = await this.engine.augmentPreview(px.slice(), 8, this.seed ?? 1);
      const c = $('augment-preview');
      for (let i = 0; i < 8; i++) drawPixels(c, copies.subarray(784 * i, 784 * (i + 1)), 28 * i);
    } catch { /* a preview only */ }
  }
}

function concat(arrays) {
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) { out.set(a, at); at += a.length; }
  return out;
}
