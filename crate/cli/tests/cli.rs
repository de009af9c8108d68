//! The CLI as a user runs it: the committed model's accuracy, `grads` against the float64
//! reference model, readable errors, and (the long one) default training reaching 98 %.

use resnet_engine::data::Dataset;
use resnet_engine::model::Mode;
use resnet_engine::{io, ResNet};
use std::path::PathBuf;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_resnet-playground"))
}

fn committed_model() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/resnet8-mnist.safetensors")
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rp-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The "held-out 2000 digits: ... accuracy 98.55%" line of `eval` or the last `train` epoch.
fn held_out_accuracy(out: &str) -> f64 {
    let line = out.lines().filter(|l| l.contains("held-out")).last().unwrap_or_else(|| panic!("no held-out line in {out}"));
    let pct = line.rsplit("acc").next().unwrap();
    let num: String = pct.chars().skip_while(|c| !c.is_ascii_digit()).take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    num.parse().unwrap_or_else(|_| panic!("no accuracy in {line}"))
}

#[test]
fn committed_model_classifies_98_percent_of_held_out_digits() {
    let out = bin().args(["eval", "--weights"]).arg(committed_model()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("2000 digits"), "{text}");
    let acc = held_out_accuracy(&text);
    assert!(acc >= 98.0, "held-out accuracy {acc}%\n{text}");
}

/// `grads` writes every tensor the issue names, and each equals the float64 reference model
/// (naive convolutions, f64 everywhere) to 1e-3 relative (max abs error / max |expected|).
#[test]
fn grads_matches_the_float64_reference() {
    let data = Dataset::mnist();
    let (x, labels) = data.batch(&(8000..8012).collect::<Vec<_>>());
    let batch = tmp("batch.safetensors");
    std::fs::write(&batch, io::save_batch(&x, &labels)).unwrap();
    let out_path = tmp("grads.safetensors");
    let out = bin().args(["grads", "--weights"]).arg(committed_model()).arg("--batch").arg(&batch).arg("--out").arg(&out_path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let bytes = std::fs::read(&out_path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let model = io::load_model(&std::fs::read(committed_model()).unwrap()).unwrap();
    let mut reference: ResNet<f64> = model.cast();
    reference.forward(&x.to_f64(), Mode::Train).unwrap();
    reference.backward(&labels).unwrap();

    let mut expected: Vec<String> = vec!["loss".into(), "act.fc".into(), "delta.fc".into()];
    for (name, _, _, trainable) in model.params() {
        if trainable {
            expected.push(format!("grad.{name}"));
        }
    }
    for c in model.convs() {
        expected.push(format!("act.{}", c.name));
        expected.push(format!("delta.{}", c.name));
    }
    let bns = ["bn1", "layer1.0.bn1", "layer1.0.bn2", "layer2.0.bn1", "layer2.0.bn2", "layer2.0.downsample.1", "layer3.0.bn1", "layer3.0.bn2", "layer3.0.downsample.1"];
    for b in bns {
        expected.push(format!("running.{b}.running_mean"));
        expected.push(format!("running.{b}.running_var"));
    }
    assert_eq!(model.convs().len(), 9);
    assert_eq!(expected.len(), 3 + (9 + 2 * 9 + 2) + 2 * 9 + 2 * 9, "loss+fc, grads of 9 convs, 9 BNs, fc; act+delta of 9 convs; running stats");
    let mut names: Vec<String> = file.names().into_iter().map(String::from).collect();
    names.sort();
    let mut want = expected.clone();
    want.sort();
    assert_eq!(names, want, "exactly the named tensors");

    for name in &expected {
        let t = file.tensor(name).unwrap();
        assert_eq!(t.dtype(), safetensors::Dtype::F32, "{name}");
        let got: Vec<f32> = t.data().chunks(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        let want = reference.tape.get(name).unwrap();
        assert_eq!(t.shape(), &want.shape[..], "{name}");
        let scale = want.data.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-12);
        let err = got.iter().zip(&want.data).map(|(&a, &b)| (a as f64 - b).abs()).fold(0.0, f64::max) / scale;
        assert!(err < 1e-3, "{name}: relative error {err:.2e}");
    }
    assert_eq!(file.tensor("act.conv1").unwrap().shape(), &[12, 16, 28, 28]);
    assert_eq!(file.tensor("delta.layer3.0.downsample.0").unwrap().shape(), &[12, 64, 7, 7]);
    assert_eq!(file.tensor("loss").unwrap().shape(), &[] as &[usize]);
}

#[test]
fn bad_files_give_readable_errors() {
    let junk = tmp("junk.safetensors");
    std::fs::write(&junk, b"this is not a safetensors file").unwrap();
    let out = bin().args(["eval", "--weights"]).arg(&junk).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: ") && err.len() < 400, "{err}");
    let out = bin().args(["eval", "--weights", "/nonexistent/model.safetensors"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/model.safetensors"));
}

/// The bar: default `train` reaches ≥ 98 % on the held-out digits (≈ 1.5 min here).
#[test]
fn default_training_reaches_98_percent() {
    let path = tmp("trained.safetensors");
    let out = bin().args(["train", "--out"]).arg(&path).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let acc = held_out_accuracy(&text);
    assert!(acc >= 98.0, "held-out accuracy {acc}%\n{text}");
    assert!(io::load_model(&std::fs::read(&path).unwrap()).is_ok());
}

/// Another member end to end: `train --arch plain20` (one epoch), `eval` reads the member from
/// the file, `--arch resnet20` on it is refused with the reason, `grads` writes the same tensor
/// names for it, and `--shortcut` settles a metadata-free file.
#[test]
fn plain20_trains_evaluates_and_explains_from_the_cli() {
    let path = tmp("plain20.safetensors");
    let out = bin().args(["train", "--arch", "plain20", "--epochs", "1", "--out"]).arg(&path).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.starts_with("Plain-20, 269434 parameters"), "{text}");
    assert!(held_out_accuracy(&text) >= 90.0, "{text}");

    let out = bin().args(["eval", "--weights"]).arg(&path).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Plain-20"));
    let out = bin().args(["eval", "--arch", "resnet20", "--weights"]).arg(&path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("layer2.0.downsample.0.weight") && err.contains("read as ResNet-20"), "{err}");

    // the same file without metadata: option A or plain, until --shortcut says
    let model = io::load_model(&std::fs::read(&path).unwrap()).unwrap();
    let bare = tmp("plain20-bare.safetensors");
    std::fs::write(&bare, io::save_tensors(&model.params().into_iter().map(|(n, s, d, _)| (n, resnet_engine::Tensor::new(&s, d).unwrap())).collect::<Vec<_>>())).unwrap();
    let out = bin().args(["eval", "--weights"]).arg(&bare).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--shortcut identity or none"));
    let batch = tmp("b4.safetensors");
    let (x, labels) = Dataset::mnist().batch(&[8000, 8001, 8002, 8003]);
    std::fs::write(&batch, io::save_batch(&x, &labels)).unwrap();
    let grads = tmp("plain20-grads.safetensors");
    let out = bin().args(["grads", "--shortcut", "none", "--weights"]).arg(&bare).arg("--batch").arg(&batch).arg("--out").arg(&grads).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&grads).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for name in ["loss", "act.fc", "delta.fc", "act.layer3.2.conv2", "delta.layer1.0.conv1", "grad.layer2.1.conv1.weight", "running.layer3.2.bn2.running_var"] {
        assert!(file.tensor(name).is_ok(), "{name} missing");
    }
    assert!(file.tensor("delta.layer2.0.downsample.0").is_err(), "a plain net has no shortcut");
}

/// A reader that goes away (`resnet-playground bench | head -0`): the CLI ends as other Unix
/// tools do, by SIGPIPE, without a panic. The pipe is closed before the first line is written
/// (the benchmark runs for a while before it prints), so the write always finds it closed.
#[cfg(unix)]
#[test]
fn a_closed_pipe_ends_the_cli_without_a_panic() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let mut child = bin().args(["bench", "--steps", "1", "--batches", "2"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.signal(), Some(13), "{:?}: {err}", out.status);
}
