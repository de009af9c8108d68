//! Criterion benchmark of the conv lowering alone: `im2col` and `col2im` of one image at the
//! shapes of ResNet-8 on MNIST (stride 1 and 2, 3×3 and 1×1), the memory-bound parts of a conv
//! next to its GEMMs. `cargo bench -p resnet-engine --bench conv_parts`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use resnet_engine::layers::conv::{col2im, im2col, ConvGeom};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("lowering");
    // (name, C, H, O, K, stride, padding) of layer1.0.conv1, layer2.0.conv1, layer2.0.downsample.0, layer3.0.conv2
    for (name, c_in, h, c_out, k, s, p) in [("16x28_k3s1", 16, 28, 16, 3, 1, 1), ("16x28_k3s2", 16, 28, 32, 3, 2, 1), ("16x28_k1s2", 16, 28, 32, 1, 2, 0), ("64x7_k3s1", 64, 7, 64, 3, 1, 1)] {
        let geom = ConvGeom::new(1, c_in, h, h, c_out, k, s, p).unwrap();
        let x: Vec<f32> = (0..geom.in_len()).map(|i| (i % 7) as f32).collect();
        let mut col = vec![0.0f32; geom.ckk() * geom.p()];
        g.throughput(Throughput::Bytes((col.len() * 4) as u64));
        g.bench_function(format!("im2col/{name}"), |b| b.iter(|| im2col(&geom, &x, &mut col)));
        let mut dx = vec![0.0f32; geom.in_len()];
        g.bench_function(format!("col2im/{name}"), |b| b.iter(|| col2im(&geom, &mut col, &mut dx)));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
