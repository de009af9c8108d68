//! Criterion benchmark of one ResNet-8 training step (forward, backward, SGD update) on real
//! digits at batch 32 and 64, and of eval-mode inference.
//! `cargo bench -p resnet-engine --bench train_step`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use resnet_engine::data::Dataset;
use resnet_engine::model::Mode;
use resnet_engine::optim::OptimizerConfig;
use resnet_engine::train::Trainer;
use resnet_engine::{Config, ResNet};

fn bench(c: &mut Criterion) {
    let data = Dataset::mnist();
    let mut g = c.benchmark_group("resnet8_mnist");
    g.sample_size(20);
    for batch in [32usize, 64] {
        g.throughput(Throughput::Elements(batch as u64));
        let model = ResNet::new(&Config::default(), 1).unwrap();
        let mut t = Trainer::new(model, OptimizerConfig::sgd(0.01, 0.9, 5e-4), batch, 1).unwrap();
        g.bench_function(format!("train_step/b{batch}"), |b| b.iter(|| t.step(&data).unwrap()));
        let (x, _) = data.batch(&(0..batch).collect::<Vec<_>>());
        g.bench_function(format!("inference/b{batch}"), |b| b.iter(|| t.model.forward(&x, Mode::Eval).unwrap().data[0]));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
