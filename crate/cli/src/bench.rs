//! `resnet-playground bench`: images/s of a training step (forward + backward + SGD update)
//! and of eval-mode inference, and each conv layer's forward and backward time and GFLOP/s,
//! on real digits. Medians over `steps` timed repetitions after `warmup` untimed ones; the
//! module-by-module profiles of a step and of an inference pass are means.

use resnet_engine::bench::{clock_ms, conv_layers, module_profile, time_ms, Pass};
use resnet_engine::data::Dataset;
use resnet_engine::model::Mode;
use resnet_engine::optim::OptimizerConfig;
use resnet_engine::train::Trainer;
use resnet_engine::{Config, ResNet};
use serde_json::{json, Value};
use std::time::Instant;

pub fn run(config: &Config, batches: &[usize], warmup: usize, steps: usize, as_json: bool) -> Result<(), Box<dyn std::error::Error>> {
    let data = Dataset::mnist();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let origin = Instant::now();
    let now = move || origin.elapsed().as_secs_f64() * 1e3;
    let mut results = vec![];
    for &b in batches {
        let model = ResNet::new(config, 1)?;
        let mut t = Trainer::new(model, OptimizerConfig::sgd(0.05, 0.9, 0.0), b, 1)?;
        for _ in 0..warmup {
            t.step(&data)?;
        }
        let train_ms = time_ms(steps, &now, || {
            t.step(&data).expect("training step");
        });
        let (x, labels) = data.batch(&(0..b).collect::<Vec<_>>());
        let infer_ms = time_ms(steps, &now, || {
            t.model.forward(&x, Mode::Eval).expect("forward");
        });
        let layers = conv_layers(&mut t.model, &x, steps, &now)?;
        let profile = module_profile(&mut t, &x, &labels, steps, clock_ms, Pass::Step)?;
        let infer_profile = module_profile(&mut t, &x, &labels, steps, clock_ms, Pass::Inference)?;
        results.push(json!({
            "batch": b,
            "train_images_per_s": b as f64 / train_ms * 1e3,
            "infer_images_per_s": b as f64 / infer_ms * 1e3,
            "train_step_ms": train_ms,
            "conv_layers": layers,
            "step_profile": profile,
            "infer_profile": infer_profile,
        }));
    }
    let out = json!({ "engine": "native", "arch": config.arch_id(), "model": config.label(), "threads": threads, "steps": steps, "results": results });
    if as_json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_table(&out);
    }
    Ok(())
}

fn print_table(out: &Value) {
    println!("{}, native engine, {} threads, median of {} steps", out["model"].as_str().unwrap_or("?"), out["threads"], out["steps"]);
    for r in out["results"].as_array().unwrap() {
        println!(
            "\nbatch {}: training {:.0} images/s ({:.1} ms/step), inference {:.0} images/s",
            r["batch"], r["train_images_per_s"].as_f64().unwrap(), r["train_step_ms"].as_f64().unwrap(), r["infer_images_per_s"].as_f64().unwrap()
        );
        // where a step and an inference pass go, by module kind (forward + backward, or the
        // forward alone; kinds under 0.5 % of the pass are left to "other"; means)
        for (key, what) in [("step_profile", "a profiled step"), ("infer_profile", "a profiled inference pass")] {
            let profile = &r[key];
            let step = profile["step_ms"].as_f64().unwrap();
            let kinds: Vec<(&str, f64)> = profile["kinds"].as_array().unwrap().iter().map(|k| (k[0].as_str().unwrap(), k[1].as_f64().unwrap())).filter(|k| k.1 >= 0.005 * step).collect();
            let rest = step - kinds.iter().map(|k| k.1).sum::<f64>();
            let parts: Vec<String> = kinds.iter().map(|k| format!("{} {:.1}", k.0, k.1)).collect();
            println!("  {what}, {step:.1} ms (means): {}, other {rest:.1} ms", parts.join(", "));
            // where the pool's threads waited in it (the leader at its loops' ends, the helpers
            // without an item, summed: the pass's serial code and loop ends)
            let ms = |k: &str| profile[k].as_f64().unwrap_or(0.0);
            println!("    its {:.0} loops: the leader waited {:.2} ms at their ends, the helpers {:.2} ms in all without an item", ms("loops"), ms("leader_wait_ms"), ms("helper_idle_ms"));
            // the serial code in it (the leader outside its loops) and the leader's waits for
            // the helpers' last items: their sums over the modules and the five largest shares
            let largest = |what: &str| -> (f64, String) {
                let mut shares: Vec<(String, f64)> = profile["modules"].as_array().unwrap().iter().flat_map(|m| {
                    let name = m["module"].as_str().unwrap_or("?");
                    [("forward", "fwd"), ("backward", "bwd")].map(|(dir, short)| (format!("{name} {short}"), m[format!("{dir}_{what}_ms")].as_f64().unwrap_or(0.0)))
                }).collect();
                let sum = shares.iter().map(|s| s.1).sum();
                shares.sort_by(|a, b| b.1.total_cmp(&a.1));
                (sum, shares.iter().take(5).filter(|s| s.1 > 0.0).map(|s| format!("{} {:.2}", s.0, s.1)).collect::<Vec<_>>().join(", "))
            };
            let ((in_modules, serial), (_, waits)) = (largest("serial"), largest("wait"));
            println!("    its serial code {:.2} ms: in the modules {in_modules:.2} ({serial}), outside them {:.2}", ms("serial_ms"), ms("serial_ms") - in_modules);
            println!("    the leader's waits, the largest: {waits}");
        }
        println!("  {:<24} {:>16} {:>10} {:>8} {:>10} {:>8}", "conv", "input", "fwd ms", "GFLOP/s", "bwd ms", "GFLOP/s");
        for l in r["conv_layers"].as_array().unwrap() {
            println!(
                "  {:<24} {:>16} {:>10.3} {:>8.1} {:>10.3} {:>8.1}",
                l["layer"].as_str().unwrap(),
                l["input"].to_string(),
                l["forward_ms"].as_f64().unwrap(),
                l["forward_gflops"].as_f64().unwrap(),
                l["backward_ms"].as_f64().unwrap(),
                l["backward_gflops"].as_f64().unwrap()
            );
        }
    }
}
