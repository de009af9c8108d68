//! `resnet-playground bench`: images/s of a training step (forward + backward + SGD update)
//! and of eval-mode inference, and each conv layer's forward and backward time and GFLOP/s,
//! on real digits. Medians over `steps` timed repetitions after `warmup` untimed ones.

use resnet_engine::data::Dataset;
use resnet_engine::layers::conv::ConvGeom;
use resnet_engine::model::Mode;
use resnet_engine::optim::OptimizerConfig;
use resnet_engine::train::Trainer;
use resnet_engine::{Config, ResNet, Scalar};
use serde_json::{json, Value};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn time(warmup: usize, steps: usize, mut f: impl FnMut()) -> f64 {
    (0..warmup).for_each(|_| f());
    median((0..steps.max(1)).map(|_| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64()
    }).collect())
}

pub fn run(batches: &[usize], warmup: usize, steps: usize, as_json: bool) -> Result<(), Box<dyn std::error::Error>> {
    let data = Dataset::mnist();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut results = vec![];
    for &b in batches {
        let model = ResNet::new(&Config::default(), 1)?;
        let mut t = Trainer::new(model, OptimizerConfig::sgd(0.01, 0.9, 5e-4), b, 1)?;
        let train_s = time(warmup, steps, || {
            t.step(&data).expect("training step");
        });
        let (x, _) = data.batch(&(0..b).collect::<Vec<_>>());
        let infer_s = time(warmup, steps, || {
            t.model.forward(&x, Mode::Eval).expect("forward");
        });
        // Per conv layer, with the shapes of this batch (the tape of the last forward).
        t.model.forward(&x, Mode::Train)?;
        let mut layers = vec![];
        for conv in t.model.convs() {
            let input = if conv.name == "conv1" { "act.input".to_string() } else { conv_input(&t.model, &conv.name) };
            let xin = t.model.tape.get(&input)?.clone();
            let g: ConvGeom = conv.geom(&xin.shape)?;
            let mut y = vec![0.0f32; g.n * g.out_len()];
            let fwd = time(2, steps, || f32::conv_forward(&g, &xin.data, &conv.weight, None, &mut y));
            let (mut dx, mut dw) = (vec![0.0f32; xin.data.len()], vec![0.0f32; conv.weight.len()]);
            let bwd = time(2, steps, || f32::conv_backward(&g, &xin.data, &conv.weight, &y, Some(&mut dx), &mut dw, None));
            let flops = g.forward_flops();
            layers.push(json!({
                "layer": conv.name, "in": xin.shape, "kernel": [g.c_out, g.c_in, g.k, g.k], "stride": g.stride,
                "forward_ms": fwd * 1e3, "backward_ms": bwd * 1e3,
                "forward_gflops": flops / fwd / 1e9, "backward_gflops": 2.0 * flops / bwd / 1e9,
            }));
        }
        results.push(json!({
            "batch": b,
            "train_images_per_s": b as f64 / train_s,
            "infer_images_per_s": b as f64 / infer_s,
            "train_step_ms": train_s * 1e3,
            "conv_layers": layers,
        }));
    }
    let out = json!({ "engine": "native", "threads": threads, "steps": steps, "results": results });
    if as_json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_table(&out);
    }
    Ok(())
}

/// The tape name of a conv's input.
fn conv_input(model: &ResNet<f32>, conv: &str) -> String {
    for (i, blk) in model.blocks.iter().enumerate() {
        let block_in = if i == 0 { "act.relu".to_string() } else { format!("act.{}", model.blocks[i - 1].name) };
        if conv == blk.conv1.name || blk.downsample.as_ref().is_some_and(|d| d.0.name == conv) {
            return block_in;
        }
        if conv == blk.conv2.name {
            return format!("act.{}.relu1", blk.name);
        }
    }
    "act.input".into()
}

fn print_table(out: &Value) {
    println!("native engine, {} threads, median of {} steps", out["threads"], out["steps"]);
    for r in out["results"].as_array().unwrap() {
        println!(
            "\nbatch {}: training {:.0} images/s ({:.1} ms/step), inference {:.0} images/s",
            r["batch"], r["train_images_per_s"].as_f64().unwrap(), r["train_step_ms"].as_f64().unwrap(), r["infer_images_per_s"].as_f64().unwrap()
        );
        println!("  {:<24} {:>16} {:>10} {:>8} {:>10} {:>8}", "conv", "input", "fwd ms", "GFLOP/s", "bwd ms", "GFLOP/s");
        for l in r["conv_layers"].as_array().unwrap() {
            println!(
                "  {:<24} {:>16} {:>10.3} {:>8.1} {:>10.3} {:>8.1}",
                l["layer"].as_str().unwrap(),
                l["in"].to_string(),
                l["forward_ms"].as_f64().unwrap(),
                l["forward_gflops"].as_f64().unwrap(),
                l["backward_ms"].as_f64().unwrap(),
                l["backward_gflops"].as_f64().unwrap()
            );
        }
    }
}
