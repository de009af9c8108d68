// The worker's downloads: the model, the digits and the wasm, each within a size limit and a
// stall timeout, gzipped digits un-gzipped by the browser.
//
// Files the worker fetches are checked against a size limit: by their declared size, or, when
// the server declares none, read as a stream and stopped at the limit (the engine
// refuses a model over 16 million values, 64 MB, anyway; the digits are 7.85 MB), so a URL
// that streams forever costs at most the limit; a server that sends no answer (or, while
// streaming, no bytes) for 30 s is given up on. Each message says which file and what happened.
const FETCH_LIMIT = 80 * 1024 * 1024;
const FETCH_STALL_MS = 30_000;

export async function fetchBytes(url, what, limit = FETCH_LIMIT) {
  const fail = (why) => Object.assign(new Error(`could not load the ${what} (${url}): ${why}`), { said: true });
  // (a timer raced against each wait, not an AbortSignal: in the e2e tests Chromium reported
  // fetches that carried a signal as aborted although every byte arrived)
  let timer = null;
  const inTime = (promise) => Promise.race([promise, new Promise((_, reject) => {
    timer = setTimeout(() => reject(fail(`the server sent nothing for ${FETCH_STALL_MS / 1000} s; reload the page to try again`)), FETCH_STALL_MS);
  })]).finally(() => clearTimeout(timer));
  let res;
  try {
    res = await inTime(fetch(url));
  } catch (e) {
    throw e.said ? e : fail(e.message || String(e));
  }
  if (!res.ok) throw fail(`HTTP ${res.status}`);
  const declared = res.headers.get('Content-Length');
  if (Number(declared) > limit) throw fail(`it is ${declared} bytes, more than the ${limit / 2 ** 20} MB a file may have here`);
  // a declared size within the limit (HTTP's framing holds the server to it): read it whole
  if (declared !== null && !res.headers.get('Content-Encoding')) return new Uint8Array(await res.arrayBuffer());
  return readLimited(res.body, limit, fail, inTime);
}

// A stream read to its end, stopped at `limit` bytes.
async function readLimited(stream, limit, fail, inTime = (p) => p) {
  const reader = stream.getReader();
  const chunks = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await inTime(reader.read());
      if (done) break;
      total += value.length;
      if (total > limit) throw fail(`the server sent more than the ${limit / 2 ** 20} MB a file may have here, so the download was stopped`);
      chunks.push(value);
    }
  } catch (e) {
    reader.cancel().catch(() => {});
    throw e;
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) { bytes.set(c, at); at += c.length; }
  return bytes;
}

// A gzipped file (the digits ship as data/mnist-heldout.bin.gz and data/mnist-train.bin.gz:
// 1.6 MB instead of 7.85) is
// un-gzipped here, by the browser's DecompressionStream, within the same size limit. (A server
// that sent it with Content-Encoding: gzip has un-gzipped it already: then there is no gzip
// header left, and the bytes are used as they are.)
export async function fetchData(url, what, limit = FETCH_LIMIT) {
  const bytes = await fetchBytes(url, what, limit);
  if (bytes.length < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  const fail = (why) => Object.assign(new Error(`could not load the ${what} (${url}): ${why}`), { said: true });
  try {
    return await readLimited(new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip')), limit, fail);
  } catch (e) {
    throw e.said ? e : fail(`it is not a valid gzip file (${e.message || e})`);
  }
}
