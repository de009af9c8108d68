#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| resnet_engine::fuzzing::digits_file(data));
