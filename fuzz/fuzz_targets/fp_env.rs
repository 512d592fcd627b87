//! Any `FP_*` environment through cluster-metrics' own reader (the hook compiled in by path);
//! the property is `fuzz/properties/fp_env.rs` (shared with the stable `fuzz_smoke` test).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../properties/fp_env.rs"]
mod property;

fuzz_target!(|data: &[u8]| property::check(data));
