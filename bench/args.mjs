// What the bench scripts share: a command-line option, and the median of a few rounds.

/** The value after `--name` on the command line (a string), or `dflt`. */
export const arg = (name, dflt) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : dflt; };

/** The median; of an even count, the mean of the two middle values. */
export const median = (v) => { const s = [...v].sort((x, y) => x - y), h = s.length >> 1; return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2; };
