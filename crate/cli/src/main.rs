//! `resnet-playground`: train, inspect and benchmark the ResNet from the command line, on the
//! same engine the browser runs.

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use resnet_engine::data::{Dataset, Split};
use resnet_engine::model::Mode;
use resnet_engine::optim::{OptimizerConfig, OptimizerKind};
use resnet_engine::train::{cosine_lr, evaluate, Trainer, SETTINGS};
use resnet_engine::graph::WIDTHS;
use resnet_engine::{io, Config, ResNet, Shortcut};
use std::path::PathBuf;
use std::process::ExitCode;

mod bench;

#[derive(Parser)]
#[command(name = "resnet-playground", version, about = "A ResNet you can see through: train it, dump every backprop tensor, benchmark it")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// Which member of the family: `--arch` names one (resnet8, resnet20, plain20, resnet56, …;
/// `-a`, `-w8`, `-nobn` suffixes as on the page), the other flags change it.
#[derive(clap::Args, Clone, Default)]
struct Arch {
    /// resnet<depth> or plain<depth>, depth 6n+2 = 8, 14, 20, … 56 [train, bench default: resnet8;
    /// grads, eval: the weights file's]
    #[arg(long)]
    arch: Option<String>,
    /// projection (1×1 conv where the shape changes), identity (option A) or none (a plain net);
    /// alone, it says which of the two a weights file without metadata is
    #[arg(long)]
    shortcut: Option<String>,
    /// Base width: 8, 16 or 32 (stages ×1, ×2, ×4)
    #[arg(long)]
    width: Option<usize>,
    /// No BatchNorm (every conv gets a bias)
    #[arg(long)]
    no_bn: bool,
}

impl Arch {
    /// Whether the flags name a member (rather than leave it to a weights file).
    fn given(&self) -> bool {
        self.arch.is_some() || self.width.is_some() || self.no_bn
    }

    fn shortcut(&self) -> AnyResult<Option<Shortcut>> {
        Ok(self.shortcut.as_deref().map(Shortcut::parse).transpose()?)
    }

    fn config(&self) -> AnyResult<Config> {
        let mut c = Config::from_arch_id(self.arch.as_deref().unwrap_or("resnet8"))?;
        if let Some(s) = self.shortcut()? {
            c.shortcut = s;
        }
        if let Some(w) = self.width {
            if !WIDTHS.contains(&w) {
                return Err(format!("--width must be one of {WIDTHS:?}, not {w}").into());
            }
            c = Config::family(c.blocks[0], w, c.shortcut, c.batchnorm);
        }
        if self.no_bn {
            c.batchnorm = false;
        }
        c.validate()?;
        Ok(c)
    }

    /// The model in a weights file: of the member the flags name, or the one the file says
    /// (or its tensors tell; `--shortcut` settles option A against plain).
    fn load(&self, bytes: &[u8]) -> AnyResult<ResNet<f32>> {
        if self.given() {
            let mut m = ResNet::new(&self.config()?, 0)?;
            io::load_weights_into(&mut m, bytes).map_err(|e| format!("{e} (read as {})", m.config.label()))?;
            Ok(m)
        } else {
            Ok(io::load_model_as(bytes, self.shortcut()?)?)
        }
    }
}

/// SGD's momentum in the engine's settings.
const fn sgd_momentum() -> f64 {
    match SETTINGS.sgd.kind {
        OptimizerKind::Sgd { momentum } => momentum,
        OptimizerKind::Adam { .. } => 0.0,
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Opt {
    Sgd,
    Adam,
}

#[derive(Subcommand)]
enum Cmd {
    /// Train a ResNet (ResNet-8 unless --arch) on the 8,000 training digits; report held-out
    /// accuracy; write the model.
    Train {
        #[command(flatten)]
        arch: Arch,
        #[arg(long, default_value_t = SETTINGS.cli.epochs)]
        epochs: u64,
        #[arg(long, default_value_t = SETTINGS.defaults.batch)]
        batch: usize,
        /// Peak learning rate (cosine-decayed to 0 over the run unless --constant-lr) [default:
        /// 0.1 for SGD, 0.002 for Adam]
        #[arg(long)]
        lr: Option<f64>,
        #[arg(long, value_enum, default_value_t = Opt::Sgd)]
        optimizer: Opt,
        /// SGD momentum.
        #[arg(long, default_value_t = sgd_momentum())]
        momentum: f64,
        /// Weight decay [default: SGD 0.0005, Adam 0]
        #[arg(long)]
        weight_decay: Option<f64>,
        #[arg(long)]
        constant_lr: bool,
        #[arg(long, default_value_t = SETTINGS.defaults.seed)]
        seed: u64,
        #[arg(long, default_value = "model.safetensors")]
        out: PathBuf,
    },
    /// One training-mode forward + backward of a batch (no update); writes loss, gradients,
    /// conv activations and deltas, logits and BN running statistics.
    Grads {
        #[arg(long)]
        weights: PathBuf,
        #[command(flatten)]
        arch: Arch,
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
        #[command(flatten)]
        arch: Arch,
    },
    /// Compare mode (as the page's): models trained side by side from one seed on the same
    /// batches; prints each one's training loss (mean of the last 10 steps) and held-out
    /// accuracy every `--every` steps, and the gradient flow's ‖∂C/∂w‖ of its first and last
    /// layer.
    Compare {
        /// Models, comma-separated (`plain20,resnet20`), or a lesson (`plain-vs-resnet`, `degradation`).
        models: String,
        #[arg(long, default_value_t = 300)]
        steps: u64,
        #[arg(long, default_value_t = 50)]
        every: u64,
        #[arg(long, default_value_t = SETTINGS.defaults.batch)]
        batch: usize,
        #[arg(long, default_value_t = SETTINGS.defaults.lr)]
        lr: f64,
        #[arg(long, default_value_t = SETTINGS.defaults.seed)]
        seed: u64,
        /// Held-out digits each evaluation uses (the page's 500).
        #[arg(long, default_value_t = 500)]
        heldout: usize,
    },
    /// Training and inference images/s at batch 32 and 64, and per-layer conv time and GFLOP/s.
    Bench {
        #[command(flatten)]
        arch: Arch,
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
    quiet_on_closed_pipe();
    match run(Cli::parse().cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `resnet-playground bench | head`: when the reader goes away, end quietly as other Unix
/// tools do (the default action of SIGPIPE), not with a panic in `println!` (Rust ignores
/// SIGPIPE, so the write fails and `println!` panics).
fn quiet_on_closed_pipe() {
    #[cfg(unix)]
    {
        unsafe extern "C" {
            fn signal(signum: i32, handler: usize) -> usize;
        }
        const SIGPIPE: i32 = 13;
        const SIG_DFL: usize = 0;
        // SAFETY: restores the signal's default action before any thread starts.
        unsafe { signal(SIGPIPE, SIG_DFL) };
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
        Cmd::Train { arch, epochs, batch, lr, optimizer, momentum, weight_decay, constant_lr, seed, out } => {
            let data = Dataset::mnist();
            let opt = match optimizer {
                Opt::Sgd => OptimizerConfig::sgd(lr.unwrap_or(SETTINGS.cli.lr_sgd), momentum, weight_decay.unwrap_or(SETTINGS.sgd.weight_decay)),
                Opt::Adam => OptimizerConfig { lr: lr.unwrap_or(SETTINGS.cli.lr_adam), weight_decay: weight_decay.unwrap_or(SETTINGS.adam.weight_decay), ..SETTINGS.adam },
            };
            let model = ResNet::new(&arch.config()?, seed)?;
            let mut t = Trainer::new(model, opt, batch, seed)?;
            let per_epoch = t.steps_per_epoch(&data) as u64;
            let total = per_epoch * epochs;
            println!(
                "{}, {} parameters; {} training / {} held-out digits; {:?}, batch {batch}, {epochs} epochs",
                t.model.config.label(),
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
        Cmd::Grads { weights, arch, batch, out } => {
            let mut model = arch.load(&read(&weights)?)?;
            let (x, labels) = io::load_batch(&read(&batch)?, &model.config)?;
            model.forward(&x, Mode::Train)?;
            model.backward(&labels)?;
            let fc = model.graph.fc().name.clone();
            let mut names: Vec<String> = vec!["loss".into(), format!("act.{fc}"), format!("delta.{fc}")];
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
        Cmd::Eval { weights, arch } => {
            let mut model = arch.load(&read(&weights)?)?;
            println!("{}, {} parameters", model.config.label(), model.num_parameters());
            let data = Dataset::mnist();
            for split in [Split::Test, Split::Train] {
                let (loss, acc) = evaluate(&mut model, &data, split, 250)?;
                let n = data.indices(split).len();
                println!("{:<9} {n:>5} digits: loss {loss:.4}, accuracy {:.2}%", format!("{split:?}").replace("Test", "held-out"), 100.0 * acc);
            }
        }
        Cmd::Bench { arch, batches, warmup, steps, json } => bench::run(&arch.config()?, &batches, warmup, steps, json)?,
        Cmd::Compare { models, steps, every, batch, lr, seed, heldout } => compare(&models, steps, every.max(1), batch, lr, seed, heldout)?,
    }
    Ok(())
}

fn compare(models: &str, steps: u64, every: u64, batch: usize, lr: f64, seed: u64, heldout: usize) -> AnyResult<()> {
    use resnet_engine::compare::{Comparison, LESSONS};
    let ids: Vec<String> = match LESSONS.iter().find(|l| l.id == models) {
        Some(l) => l.members.iter().map(|s| s.to_string()).collect(),
        None => models.split(',').map(|s| s.trim().to_string()).collect(),
    };
    let data = Dataset::mnist();
    let opt = OptimizerConfig { lr, ..SETTINGS.sgd };
    opt.validate()?;
    let mut c = Comparison::new(&ids, opt, batch, seed)?;
    let start = std::time::Instant::now();
    let now = || start.elapsed().as_secs_f64() * 1e3;
    let names: Vec<String> = c.members.iter().map(|m| m.label.clone()).collect();
    println!("{} from seed {seed}, SGD lr {lr} momentum 0.9, batch {batch}, the same batches for each", names.join(" | "));
    println!("{:>6}  {}", "step", names.iter().map(|n| format!("{n:>28}")).collect::<String>());
    println!("{:>6}  {}", "", names.iter().map(|_| format!("{:>28}", "train loss · held-out acc")).collect::<String>());
    while c.step < steps {
        c.step(&data, &now)?;
        if c.step % every == 0 || c.step == steps {
            let evals = c.evaluate(&data, heldout)?;
            let cells: String = c
                .members
                .iter()
                .zip(&evals)
                .map(|(m, e)| {
                    let tail = &m.curve[m.curve.len().saturating_sub(10)..];
                    let loss = tail.iter().map(|p| p.loss).sum::<f64>() / tail.len().max(1) as f64;
                    match e {
                        Some(e) => format!("{:>28}", format!("{loss:.3} · {:.1}%", 100.0 * e.accuracy)),
                        None => format!("{:>28}", "stopped"),
                    }
                })
                .collect();
            println!("{:>6}  {cells}", c.step);
        }
    }
    for m in &c.members {
        let (Some(first), Some(last)) = (m.flow.first(), m.flow.last()) else { continue };
        let l = m.layers.len() - 1;
        println!(
            "{}: ‖∂C/∂w‖ of {} / {}: {:.2e} / {:.2e} at step {}, {:.2e} / {:.2e} at step {}; {:.0} images/s{}",
            m.label, m.layers[0], m.layers[l], first.layers[0].grad, first.layers[l].grad, first.step, last.layers[0].grad, last.layers[l].grad, last.step,
            m.images as f64 / (m.active_ms / 1e3),
            m.stopped.as_ref().map(|s| format!(" ({s})")).unwrap_or_default()
        );
    }
    Ok(())
}
