//! Any bytes as `$BINDING_CONTEXT_PATH` through the contract's own parser and typed snapshots;
//! the property is `fuzz/properties/binding_context.rs` (shared with the stable `fuzz_smoke` test).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../properties/binding_context.rs"]
mod property;

fuzz_target!(|data: &[u8]| property::check(data));
