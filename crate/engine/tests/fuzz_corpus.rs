//! The fuzz targets' corpus and crash reproducers as ordinary tests: every file under
//! `fuzz/corpus/<target>/` and `fuzz/artifacts/<target>/` is fed to the target's reader
//! (`resnet_engine::fuzzing`), which must answer (an `Err` is fine) without panicking. The
//! corpus is what `cargo fuzz run` kept after its runs (see fuzz/README.md).

use std::path::PathBuf;

#[test]
fn every_corpus_file_and_reproducer_is_read_without_a_panic() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut total = 0;
    for (name, read) in resnet_engine::fuzzing::TARGETS {
        let mut files = 0;
        if name == "model_file" {
            // the pretrained model, the richest valid input (not copied into the corpus)
            read(&std::fs::read(root.join("../models/resnet8-mnist.safetensors")).unwrap());
        }
        for dir in ["corpus", "artifacts"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir).join(name)) else { continue };
            for e in entries {
                let path = e.unwrap().path();
                let bytes = std::fs::read(&path).unwrap();
                let r = std::panic::catch_unwind(|| read(&bytes));
                assert!(r.is_ok(), "{name}: {} made the reader panic", path.display());
                files += 1;
            }
        }
        assert!(files >= 2, "{name}: the corpus has {files} files");
        total += files;
    }
    eprintln!("{total} files read");
}
