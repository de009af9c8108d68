// The session kept in IndexedDB, so a reload or a closed tab loses nothing: the weights and the
// optimizer's state (safetensors bytes from the engine), the step, the training settings and
// the curves. One record per network (`key`: the architecture id; ResNet-8's is the record
// older pages wrote), overwritten on every save. When IndexedDB is missing (some private
// modes) or full, `open` or `save` reject with a readable message and the page trains on
// without it.
//
// A session can also go to and come from one file (`sessionToFile` / `sessionFromFile`): JSON
// with the two byte arrays in base64, so it survives e-mail and course platforms.

const DB = 'resnet-playground', STORE = 'session', KEY = 'current', VERSION = 1;
export const FORMAT = 'resnet-playground-session/1';
// ResNet-8 (the page's first network) keeps the key sessions had before there were others; a
// task of one's own (own classes) has its own session per network
const keyOf = (arch, own = false) => (own ? `own:${arch}` : !arch || arch === 'resnet8' ? KEY : `arch:${arch}`);

export class SessionStore {
  constructor(db) { this.db = db; }

  /** Opens the database; rejects with a readable Error when the browser gives none. */
  static open() {
    return new Promise((resolve, reject) => {
      let req;
      try {
        req = indexedDB.open(DB, VERSION);
      } catch (e) {
        reject(new Error(`this browser gives the page no storage (${e.message})`));
        return;
      }
      req.onupgradeneeded = () => req.result.createObjectStore(STORE);
      req.onsuccess = () => resolve(new SessionStore(req.result));
      req.onerror = () => reject(new Error(`the browser's storage could not be opened (${req.error?.message ?? 'unknown reason'})`));
      req.onblocked = () => reject(new Error('the browser\'s storage is held by another tab of this page'));
    });
  }

  #run(mode, fn) {
    return new Promise((resolve, reject) => {
      const tx = this.db.transaction(STORE, mode);
      const req = fn(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(new Error(tx.error?.name === 'QuotaExceededError' ? 'the browser\'s storage is full' : `saving failed (${tx.error?.message})`));
      tx.onabort = () => reject(new Error(tx.error?.name === 'QuotaExceededError' ? 'the browser\'s storage is full' : 'saving was aborted'));
    });
  }

  /** The saved session of network `arch` (in the task of one's own if `own`), or null. */
  async load(arch, own = false) {
    const r = await this.#run('readonly', (s) => s.get(keyOf(arch, own)));
    return r && r.format === FORMAT ? r : null;
  }

  save(session, arch, own = false) { return this.#run('readwrite', (s) => s.put({ ...session, format: FORMAT }, keyOf(arch, own))); }

  clear(arch, own = false) { return this.#run('readwrite', (s) => s.delete(keyOf(arch, own))); }

  /** Another record of the page (the student's image sets: page/mydata.js), by name. */
  getRecord(name) { return this.#run('readonly', (s) => s.get(`record:${name}`)); }
  putRecord(name, value) { return this.#run('readwrite', (s) => s.put(value, `record:${name}`)); }
}

const toB64 = (bytes) => {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
};
const fromB64 = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));

/** A session as the bytes of a downloadable file (any other byte arrays in it, such as the
 *  image sets of `mydata`, as {base64}). */
export function sessionToFile(session) {
  const { weights, optimizer, ...rest } = session;
  const bytes = (k, v) => (v instanceof Uint8Array ? { base64: toB64(v) } : v);
  return new TextEncoder().encode(JSON.stringify({ ...rest, format: FORMAT, weights: toB64(weights), optimizer: toB64(optimizer) }, bytes));
}

/** A session from a file's text; throws a readable Error for anything else. */
export function sessionFromFile(text) {
  let j;
  try {
    j = JSON.parse(text, (k, v) => (v && typeof v === 'object' && Object.keys(v).length === 1 && typeof v.base64 === 'string' ? fromB64(v.base64) : v));
  } catch {
    throw new Error('this is not a session file (it is not JSON)');
  }
  if (j?.format !== FORMAT) throw new Error(`this is not a ${FORMAT} file`);
  if (typeof j.weights !== 'string' || typeof j.optimizer !== 'string' || !Number.isInteger(j.step) || j.step < 0) {
    throw new Error('the session file is incomplete (weights, optimizer or step missing)');
  }
  try {
    return { ...j, weights: fromB64(j.weights), optimizer: fromB64(j.optimizer) };
  } catch {
    throw new Error('the session file is damaged (its weights are not base64)');
  }
}
