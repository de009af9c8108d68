use resnet_engine::{data::Dataset, optim::OptimizerConfig, train::Trainer, Config, ResNet};
fn main() {
    let data = Dataset::mnist();
    let args: Vec<f64> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let model = ResNet::new(&Config::default(), 1).unwrap();
    let mut t = Trainer::new(model, OptimizerConfig::sgd(args[0], 0.9, 5e-4), 32, 1).unwrap();
    let t0 = std::time::Instant::now();
    for i in 0..args[1] as usize {
        match t.step(&data) { Ok(s) => if i % 10 == 0 { println!("{i} {:.3} {:.2}", s.loss, s.accuracy) }, Err(e) => { println!("{i} {e}"); break } }
    }
    println!("{:.1} img/s", args[1] * 32.0 / t0.elapsed().as_secs_f64());
}
