//! Any bytes as the provider cluster configuration, through cloud-layout's own parser (the hook's
//! module, compiled in here by path): no panic, and an error never quotes the document.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../hooks/cloud-layout/layout.rs"]
#[allow(dead_code)]
mod layout;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = layout::parse(data) {
        let text = e.to_string();
        assert!(text.starts_with("cannot parse provider cluster configuration as YAML"));
        assert!(text.chars().all(|c| c.is_ascii_alphanumeric() || c == ' '), "{text}");
    }
});
