//! The notes' picture of a conv formula, as data: which grid, which zeros, where the window
//! sits, which cells are outlined and which kernel entries they meet. The page draws it and
//! computes no geometry of its own.
//!
//! - `conv_input_delta` at `(n, i, x, y)` of a conv with kernel `K`, stride `s`, padding `p`:
//!   δ^{l+1}`[n, o]` (`delta.<conv>`, `H'×W'`) with `s−1` zeros put between neighbours
//!   (dilation) and `P = K−1−p` zeros around, on a grid of `(H+K−1)×(W+K−1)` (the conv input's
//!   `H×W`; when the stride skipped the input's last rows, `extra` zero rows and columns more
//!   at the bottom and right); the `K×K` window's top-left cell is `(x, y)` and it holds
//!   ROT180(w`[o, i]`), entry `(r, c)` = `w[o, i, K−1−r, K−1−c]`. δ^{l+1}`[x', y']` sits at grid
//!   `(s·x'+P, s·y'+P)`; the outlined ones are the `(x', y')` whose window covers `(x, y)`
//!   (`a = x+p−s·x'` in `[0, K)`), and each meets the kernel entry `(K−1−a, K−1−b)`.
//! - `conv_forward` at `(n, o, x, y)`: a^l`[n, i]` (the conv input, `H×W`) with `p` zeros
//!   around; the window's top-left cell is `(s·x, s·y)` and it holds w`[o, i]` (not flipped:
//!   PyTorch's conv is a cross-correlation). Nothing is outlined.
//!
//! The channel drawn (`o` for the first, `i` for the second) is the caller's, or else the one
//! of the formula's largest term.

use super::{formula, site, tape, Query};
use crate::{bail, Result, ResNet, Scalar};
use serde::{Deserialize, Serialize};

/// One cell of the picture's grid: a value of the map, or a zero the picture adds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Cell {
    Value(f64),
    /// `"padding"` (the zeros around the map) or `"dilation"` (the zeros put between entries
    /// for the stride).
    Zero(Zero),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Zero {
    Padding,
    Dilation,
}

/// The picture of a `conv_input_delta` or `conv_forward` formula (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Picture {
    /// `"delta"` (for `conv_input_delta`) or `"forward"` (for `conv_forward`).
    pub kind: String,
    pub conv: String,
    /// The map's tape name (`delta.<conv>` or `act.<conv input>`) and its image.
    pub tensor: String,
    pub n: usize,
    /// The map's channel axis as the formula names it (`"o"` or `"i"`), the channel drawn, how
    /// many there are, and the channel of the formula's largest term.
    pub axis: String,
    pub channel: usize,
    pub channels: usize,
    pub largest: usize,
    pub k: usize,
    pub stride: usize,
    pub padding: usize,
    /// Zeros around the map: `K−1−p` (delta) or `p` (forward).
    pub pad: usize,
    /// The map's own rows and columns, before dilation and padding.
    pub map: [usize; 2],
    /// Zero rows (and columns) beyond the padding at the bottom and right (delta only).
    pub extra: usize,
    pub rows: usize,
    pub cols: usize,
    /// `rows × cols`, row-major.
    pub cells: Vec<Cell>,
    /// The smallest and largest value of the map.
    pub range: [f64; 2],
    /// The `K×K` window's top-left cell on the grid: `(x, y)` (delta) or `(s·x, s·y)` (forward).
    pub window: [usize; 2],
    /// Grid cells outlined: the δ^{l+1} cells that reach the explained cell (delta only).
    pub outline: Vec<[usize; 2]>,
    /// The same cells as `(x', y')` of δ^{l+1}.
    pub reach: Vec<[usize; 2]>,
    /// The kernel as drawn, `K×K` row-major: ROT180(w`[o, i]`) (delta) or w`[o, i]`.
    pub kernel: Vec<f64>,
    /// Which `[o, i]` of the conv's weight.
    pub kernel_of: [usize; 2],
    pub rotated: bool,
    /// Entries of the drawn kernel that the outlined cells meet (row, column).
    pub used: Vec<[usize; 2]>,
    /// The largest `|w|` of the drawn kernel.
    pub kernel_max: f64,
}

/// The picture of `q` (a `ConvInputDelta` or `ConvForward` query) on `channel` (`None`: the
/// channel of the largest term).
pub fn picture<T: Scalar>(model: &ResNet<T>, q: &Query, channel: Option<usize>) -> Result<Picture> {
    // the formula checks the query against the tape and finds the largest term
    let top = formula(model, q, 1)?;
    let (delta, conv, n, qc, x, y) = match q {
        Query::ConvInputDelta { conv, n, i, x, y } => (true, conv, *n, *i, *x, *y),
        Query::ConvForward { conv, n, o, x, y } => (false, conv, *n, *o, *x, *y),
        _ => bail!("a picture is drawn for conv_input_delta and conv_forward only, not {}", q.kind()),
    };
    let s = site(model, conv)?;
    let c = s.conv;
    let (k, st, p) = (c.k, c.stride, c.pad);
    let axis = if delta { "o" } else { "i" };
    let channels = if delta { c.c_out } else { c.c_in };
    let largest = top.terms.first().and_then(|t| t.index.iter().find(|(a, _)| a == axis)).map_or(0, |(_, v)| *v);
    let ch = channel.unwrap_or(largest);
    if ch >= channels {
        bail!("{axis} = {ch} is out of range: {conv} has {channels} {} channels", if delta { "output" } else { "input" });
    }
    let tensor = if delta { format!("delta.{conv}") } else { format!("act.{}", s.input) };
    let t = tape(model, &tensor)?;
    let [_, cn, mh, mw] = t.shape[..] else { bail!("{tensor} has shape {:?}, expected [N, C, H, W]", t.shape) };
    let plane = &t.data[(n * cn + ch) * mh * mw..(n * cn + ch + 1) * mh * mw];
    let at = |r: usize, col: usize| plane[r * mw + col].f64();
    let (o, i) = if delta { (ch, qc) } else { (qc, ch) };
    let w = |a: usize, b: usize| c.weight[((o * c.c_in + i) * k + a) * k + b].f64();
    let mut pic = Picture {
        kind: if delta { "delta" } else { "forward" }.into(),
        conv: conv.clone(),
        tensor,
        n,
        axis: axis.into(),
        channel: ch,
        channels,
        largest,
        k,
        stride: st,
        padding: p,
        pad: 0,
        map: [mh, mw],
        extra: 0,
        rows: 0,
        cols: 0,
        cells: vec![],
        range: plane.iter().fold([f64::INFINITY, f64::NEG_INFINITY], |[lo, hi], v| [lo.min(v.f64()), hi.max(v.f64())]),
        window: [0, 0],
        outline: vec![],
        reach: vec![],
        kernel: vec![],
        kernel_of: [o, i],
        rotated: delta,
        used: vec![],
        kernel_max: 0.0,
    };
    if delta {
        let Some(pad) = (k - 1).checked_sub(p) else { bail!("{conv}: padding {p} > K−1 = {}: no picture", k - 1) };
        let [_, _, h, wd] = tape(model, &format!("act.{}", s.input))?.shape[..] else { bail!("the input of {conv} is not [N, C, H, W]") };
        let (rows, cols) = (h + k - 1, wd + k - 1);
        let cell = |r: usize, col: usize| {
            let (Some(rr), Some(cc)) = (r.checked_sub(pad), col.checked_sub(pad)) else { return Cell::Zero(Zero::Padding) };
            if rr > (mh - 1) * st || cc > (mw - 1) * st {
                Cell::Zero(Zero::Padding)
            } else if rr % st != 0 || cc % st != 0 {
                Cell::Zero(Zero::Dilation)
            } else {
                Cell::Value(at(rr / st, cc / st))
            }
        };
        // (x', a) with a = x + p − s·x' in [0, K)
        let span = |pos: usize, len: usize| (0..len).filter(move |&xo| (pos + p).checked_sub(st * xo).is_some_and(|a| a < k));
        let reach: Vec<[usize; 2]> = span(x, mh).flat_map(|xo| span(y, mw).map(move |yo| [xo, yo])).collect();
        pic.outline = reach.iter().map(|&[xo, yo]| [st * xo + pad, st * yo + pad]).collect();
        pic.used = pic.outline.iter().map(|&[r, col]| [r - x, col - y]).collect();
        pic.reach = reach;
        pic.pad = pad;
        pic.extra = rows - (2 * pad + (mh - 1) * st + 1);
        pic.cells = (0..rows).flat_map(|r| (0..cols).map(move |col| (r, col))).map(|(r, col)| cell(r, col)).collect();
        (pic.rows, pic.cols) = (rows, cols);
        pic.window = [x, y];
        pic.kernel = (0..k * k).map(|e| w(k - 1 - e / k, k - 1 - e % k)).collect();
    } else {
        let (rows, cols) = (mh + 2 * p, mw + 2 * p);
        let cell = |r: usize, col: usize| match (r.checked_sub(p), col.checked_sub(p)) {
            (Some(rr), Some(cc)) if rr < mh && cc < mw => Cell::Value(at(rr, cc)),
            _ => Cell::Zero(Zero::Padding),
        };
        pic.pad = p;
        pic.cells = (0..rows).flat_map(|r| (0..cols).map(move |col| (r, col))).map(|(r, col)| cell(r, col)).collect();
        (pic.rows, pic.cols) = (rows, cols);
        pic.window = [st * x, st * y];
        pic.kernel = (0..k * k).map(|e| w(e / k, e % k)).collect();
    }
    pic.kernel_max = pic.kernel.iter().fold(0.0, |m, v| f64::max(m, v.abs()));
    Ok(pic)
}
