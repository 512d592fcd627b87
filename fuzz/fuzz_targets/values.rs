//! Any values file and dotted paths through the contract's `parse_document` and `Values` lookups;
//! the property is `fuzz/properties/values.rs` (shared with the stable `fuzz_smoke` test).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../properties/values.rs"]
mod property;

fuzz_target!(|data: &[u8]| property::check(data));
