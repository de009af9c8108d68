//! `resnet-playground`: train, inspect and benchmark the ResNet from the command line, on the
//! same engine the browser runs.

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use resnet_engine::data::{Dataset, Split};
use resnet_engine::model::Mode;
use resnet_engine::optim::OptimizerConfig;
use resnet_engine::train::{cosine_lr, evaluate, Trainer};
use resnet_engine::{io, Config, ResNet};
use std::path::PathBuf;
use std::process::ExitCode;

mod bench;

#[derive(Parser)]
#[command(name = "resnet-playground", version, about = "A ResNet you can see through: train it, dump every backprop tensor, benchmark it")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Opt {
    Sgd,
    Adam,
}

#[derive(Subcommand)]
enum Cmd {
    /// Train ResNet-8 on the 8,000 training digits; report held-out accuracy; write the model.
    Train {
        #[arg(long, default_value_t = 10)]
        epochs: u64,
        #[arg(long, default_value_t = 32)]
        batch: usize,
        /// Peak learning rate (cosine-decayed to 0 over the run unless --constant-lr).
        #[arg(long)]
        lr: Option<f64>,
        #[arg(long, value_enum, default_value_t = Opt::Sgd)]
        optimizer: Opt,
        /// SGD momentum.
        #[arg(long, default_value_t = 0.9)]
        momentum: f64,
        #[arg(long, default_value_t = 5e-4)]
        weight_decay: f64,
        #[arg(long)]
        constant_lr: bool,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value = "model.safetensors")]
        out: PathBuf,
    },
    /// One training-mode forward + backward of a batch (no update); writes loss, gradients,
    /// conv activations and deltas, logits and BN running statistics.
    Grads {
        #[arg(long)]
        weights: PathBuf,
        /// safetensors with `images` f32 [N,1,28,28] (fed as given) and `labels` i64 [N].
        #[arg(long)]
        batch: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Writes digits of the dataset as a `grads` batch: `images` f32 [N,1,28,28] (normalised as
    /// the training pipeline does) and `labels` i64 [N].
    Batch {
        /// Index of the first digit (8000–9999 are the held-out ones).
        #[arg(long, default_value_t = 8000)]
        from: usize,
        #[arg(long, default_value_t = 8)]
        count: usize,
        #[arg(long)]
        out: PathBuf,
    },
    /// Loss and accuracy of a model on the 2,000 held-out digits (and the training split).
    Eval {
        #[arg(long)]
        weights: PathBuf,
    },
    /// Training and inference images/s at batch 32 and 64, and per-layer conv time and GFLOP/s.
    Bench {
        #[arg(long, value_delimiter = ',', default_value = "32,64")]
        batches: Vec<usize>,
        #[arg(long, default_value_t = 5)]
        warmup: usize,
        #[arg(long, default_value_t = 30)]
        steps: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse().cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

fn read(path: &PathBuf) -> AnyResult<Vec<u8>> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()).into())
}

fn write(path: &PathBuf, bytes: &[u8]) -> AnyResult<()> {
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()).into())
}

fn run(cmd: Cmd) -> AnyResult<()> {
    match cmd {
        Cmd::Train { epochs, batch, lr, optimizer, momentum, weight_decay, constant_lr, seed, out } => {
            let data = Dataset::mnist();
            let opt = match optimizer {
                Opt::Sgd => OptimizerConfig::sgd(lr.unwrap_or(0.1), momentum, weight_decay),
                Opt::Adam => OptimizerConfig::adam(lr.unwrap_or(2e-3), weight_decay),
            };
            let model = ResNet::new(&Config::default(), seed)?;
            let mut t = Trainer::new(model, opt, batch, seed)?;
            let per_epoch = t.steps_per_epoch(&data) as u64;
            let total = per_epoch * epochs;
            println!(
                "ResNet-8, {} parameters; {} training / {} held-out digits; {:?}, batch {batch}, {epochs} epochs",
                t.model.num_parameters(),
                data.n_train,
                data.len() - data.n_train,
                opt.kind
            );
            for epoch in 0..epochs {
                let bar = ProgressBar::new(per_epoch);
                bar.set_style(ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg}").unwrap().progress_chars("=> "));
                bar.set_prefix(format!("{}/{epochs}", epoch + 1));
                let (mut loss, mut acc) = (0.0, 0.0);
                let start = std::time::Instant::now();
                for i in 0..per_epoch {
                    if !constant_lr {
                        t.opt.config.lr = cosine_lr(opt.lr, t.opt.step, total);
                    }
                    let s = t.step(&data)?;
                    loss += s.loss;
                    acc += s.accuracy;
                    bar.inc(1);
                    if i % 10 == 0 {
                        let ips = (i + 1) as f64 * batch as f64 / start.elapsed().as_secs_f64();
                        bar.set_message(format!("loss {:.4}  {ips:.0} img/s", loss / (i + 1) as f64));
                    }
                }
                bar.finish_and_clear();
                let (tl, ta) = evaluate(&mut t.model, &data, Split::Test, 250)?;
                println!(
                    "epoch {}/{epochs}: train loss {:.4} acc {:.2}% | held-out loss {tl:.4} acc {:.2}% | {:.0} img/s",
                    epoch + 1,
                    loss / per_epoch as f64,
                    100.0 * acc / per_epoch as f64,
                    100.0 * ta,
                    (per_epoch as usize * batch) as f64 / start.elapsed().as_secs_f64()
                );
            }
            write(&out, &io::save_model(&t.model))?;
            println!("wrote {}", out.display());
        }
        Cmd::Grads { weights, batch, out } => {
            let mut model = io::load_model(&read(&weights)?)?;
            let (x, labels) = io::load_batch(&read(&batch)?, &model.config)?;
            model.forward(&x, Mode::Train)?;
            model.backward(&labels)?;
            let mut names: Vec<String> = vec!["loss".into(), "act.fc".into(), "delta.fc".into()];
            let tape = model.tape.list();
            names.extend(tape.iter().map(|t| t.0.clone()).filter(|n| n.starts_with("grad.") || n.starts_with("running.")));
            for c in model.convs() {
                names.push(format!("act.{}", c.name));
                names.push(format!("delta.{}", c.name));
            }
            write(&out, &io::tape_to_safetensors(&model.tape, &names)?)?;
            println!("loss {:.6}; wrote {} tensors to {}", model.tape.get("loss")?.data[0], names.len(), out.display());
        }
        Cmd::Batch { from, count, out } => {
            let data = Dataset::mnist();
            if count == 0 || from + count > data.len() {
                return Err(format!("digits {from}..{} are outside 0..{}", from + count, data.len()).into());
            }
            let (x, labels) = data.batch(&(from..from + count).collect::<Vec<_>>());
            write(&out, &io::save_batch(&x, &labels))?;
            println!("wrote {count} digits (labels {labels:?}) to {}", out.display());
        }
        Cmd::Eval { weights } => {
            let mut model = io::load_model(&read(&weights)?)?;
            let data = Dataset::mnist();
            for split in [Split::Test, Split::Train] {
                let (loss, acc) = evaluate(&mut model, &data, split, 250)?;
                let n = data.indices(split).len();
                println!("{:<9} {n:>5} digits: loss {loss:.4}, accuracy {:.2}%", format!("{split:?}").replace("Test", "held-out"), 100.0 * acc);
            }
        }
        Cmd::Bench { batches, warmup, steps, json } => bench::run(&batches, warmup, steps, json)?,
    }
    Ok(())
}
