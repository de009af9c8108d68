//! Timing of each conv layer on its own (forward; backward = dW and dx), with the shapes the
//! model has at a batch size, for the CLI's `bench` and the browser's bench page. The clock is
//! passed in (`Instant` natively, `performance.now()` in the browser), in milliseconds.

use crate::layers::conv::ConvGeom;
use crate::model::Mode;
use crate::{Result, ResNet, Scalar, Tensor};
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct ConvTiming {
    pub layer: String,
    pub input: Vec<usize>,
    pub kernel: [usize; 4],
    pub stride: usize,
    pub forward_ms: f64,
    pub backward_ms: f64,
    pub forward_gflops: f64,
    pub backward_gflops: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Median time of `reps` runs of `f` after one untimed run, in ms.
pub fn time_ms(reps: usize, now: &dyn Fn() -> f64, mut f: impl FnMut()) -> f64 {
    f();
    median((0..reps.max(1)).map(|_| {
        let t = now();
        f();
        now() - t
    }).collect())
}

/// Time of one run of `f`, in ms: the median over 3 rounds of the mean of `reps` back-to-back
/// runs (so a coarse clock — browsers round `performance.now()` to 0.1 ms on pages that are
/// not cross-origin isolated — still measures sub-millisecond work).
pub fn time_ms_batched(reps: usize, now: &dyn Fn() -> f64, mut f: impl FnMut()) -> f64 {
    f();
    median((0..3).map(|_| {
        let t = now();
        for _ in 0..reps.max(1) {
            f();
        }
        (now() - t) / reps.max(1) as f64
    }).collect())
}

/// Times every conv layer of `model` on inputs of batch `x` (`[N, C, S, S]`).
pub fn conv_layers(model: &mut ResNet<f32>, x: &Tensor<f32>, reps: usize, now: &dyn Fn() -> f64) -> Result<Vec<ConvTiming>> {
    model.forward(x, Mode::Train)?;
    let mut out = vec![];
    for conv in model.convs() {
        let xin = model.tape.get(&format!("act.{}", model.conv_input_name(&conv.name)?))?;
        let g: ConvGeom = conv.geom(&xin.shape)?;
        let mut y = vec![0.0f32; g.n * g.out_len()];
        let fwd = time_ms_batched(reps, now, || f32::conv_forward(&g, &xin.data, &conv.weight, None, &mut y));
        let (mut dx, mut dw) = (vec![0.0f32; xin.data.len()], vec![0.0f32; conv.weight.len()]);
        let bwd = time_ms_batched(reps, now, || f32::conv_backward(&g, &xin.data, &conv.weight, &y, Some(&mut dx), &mut dw, None));
        let flops = g.forward_flops();
        out.push(ConvTiming {
            layer: conv.name.clone(),
            input: xin.shape.clone(),
            kernel: [g.c_out, g.c_in, g.k, g.k],
            stride: g.stride,
            forward_ms: fwd,
            backward_ms: bwd,
            forward_gflops: flops / fwd / 1e6,
            backward_gflops: 2.0 * flops / bwd / 1e6,
        });
    }
    Ok(out)
}
