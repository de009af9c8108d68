//! Files the engine did not write: `state_dict`s from an independent writer
//! (`tools/write-state-dict.py`, Python standard library only, no metadata) open as the member
//! their names and shapes describe, the option-A-or-plain ambiguity is reported and resolved by
//! a choice of shortcut, and a wrong file is refused with the reason.

use resnet_engine::io::{file_arch, load_model, load_model_as};
use resnet_engine::model::Mode;
use resnet_engine::{Config, Shortcut, Tensor};
use std::path::PathBuf;
use std::process::Command;

/// Runs the writer with `args`; returns the file's bytes.
fn write(tag: &str, args: &[&str]) -> Vec<u8> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::env::temp_dir().join(format!("rp-foreign-{}-{tag}.safetensors", std::process::id()));
    let status = Command::new("python3")
        .arg(root.join("tools/write-state-dict.py"))
        .args(args)
        .arg("--out")
        .arg(&out)
        .status()
        .expect("python3 runs (the test needs it; scripts/setup.sh installs it)");
    assert!(status.success(), "the writer failed for {args:?}");
    let bytes = std::fs::read(&out).unwrap();
    std::fs::remove_file(&out).ok();
    bytes
}

fn runs(config: &Config, bytes: &[u8], shortcut: Option<Shortcut>) {
    let mut m = load_model_as(bytes, shortcut).unwrap_or_else(|e| panic!("{}: {e}", config.label()));
    assert_eq!(&m.config, config);
    let x = Tensor::new(&[2, 1, 28, 28], vec![0.1; 2 * 784]).unwrap();
    let logits = m.forward(&x, Mode::Eval).unwrap();
    assert!(logits.data.iter().all(|v| v.is_finite()));
}

#[test]
fn a_resnet20_state_dict_opens_as_resnet20() {
    let bytes = write("r20", &["--depth", "20"]);
    let want = Config::from_arch_id("resnet20").unwrap();
    let arch = file_arch(&bytes).unwrap();
    assert_eq!((arch.config.as_ref(), arch.source.as_str()), (Some(&want), "tensors"));
    runs(&want, &bytes, None);
    // a choice that contradicts the tensors is refused
    let e = load_model_as(&bytes, Some(Shortcut::None)).map(|_| ()).unwrap_err().0;
    assert!(e.contains("fit ResNet-20, not none shortcuts"), "{e}");
}

#[test]
fn plain20_and_option_a_cannot_be_told_apart_until_the_user_says() {
    let bytes = write("p20", &["--depth", "20", "--shortcut", "none"]);
    let arch = file_arch(&bytes).unwrap();
    assert!(arch.config.is_none());
    let kinds: Vec<Shortcut> = arch.candidates.iter().map(|c| c.shortcut).collect();
    assert_eq!(kinds, [Shortcut::Identity, Shortcut::None]);
    assert!(arch.source.contains("Plain-20") && arch.source.contains("identity shortcuts"), "{}", arch.source);
    let e = load_model(&bytes).map(|_| ()).unwrap_err().0;
    assert!(e.contains("--shortcut identity or none"), "{e}");
    runs(&Config::from_arch_id("plain20").unwrap(), &bytes, Some(Shortcut::None));
    runs(&Config::from_arch_id("resnet20-a").unwrap(), &bytes, Some(Shortcut::Identity));
}

#[test]
fn members_without_bn_and_other_widths_open_too() {
    for (args, id) in [(&["--depth", "14", "--no-bn"][..], "resnet14-nobn"), (&["--depth", "8", "--width", "8"][..], "resnet8-w8"), (&["--depth", "32", "--width", "32"][..], "resnet32-w32")] {
        let bytes = write(id, args);
        runs(&Config::from_arch_id(id).unwrap(), &bytes, None);
    }
}

#[test]
fn a_wrong_state_dict_is_refused_with_the_reason() {
    let e = load_model(&write("miss", &["--depth", "20", "--drop", "layer2.1.bn1.running_var"])).map(|_| ()).unwrap_err().0;
    assert!(e.contains("missing") && e.contains("layer2.1.bn1.running_var"), "{e}");
    let e = load_model(&write("shape", &["--depth", "20", "--reshape", "layer3.2.conv2.weight=64x64x5x5"])).map(|_| ()).unwrap_err().0;
    assert!(e.contains("layer3.2.conv2.weight: shape [64, 64, 5, 5] in the file, the model needs [64, 64, 3, 3]"), "{e}");
    let e = load_model(&write("fc", &["--depth", "20", "--drop", "fc.weight"])).map(|_| ()).unwrap_err().0;
    assert!(e.contains("fc.weight") && e.contains("missing"), "{e}");
}
