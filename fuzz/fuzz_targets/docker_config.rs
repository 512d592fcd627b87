//! Any docker config through license's own reader (the hook's module, compiled in here by path):
//! the first line is the registry host, the rest the config — base64-encoded here so that the JSON
//! reader is reached, and also as given. No panic, no secret in an error.
#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;

#[path = "../../hooks/license/dockercfg.rs"]
mod dockercfg;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (host, config) = text.split_once('\n').unwrap_or(("test.repo", &text));
    let encoded = base64::engine::general_purpose::STANDARD.encode(config.as_bytes());
    for input in [encoded.as_str(), config] {
        match dockercfg::license(input, host) {
            Ok(license) => assert!(!license.expose().is_empty() && license.expose().trim() == license.expose()),
            Err(e) => {
                let message = format!("{e:#}");
                // Errors are our own words, positions and the host, never the config's content.
                let known = [
                    "cannot decode global.modulesImages.registry.dockercfg: invalid base64",
                    "cannot decode docker config JSON at line ",
                    "no credentials for current registry ",
                    "cannot decode base64 \"auth\" field",
                    "unexpected format of \"auth\" field",
                    "licenseKey not set in docker config",
                ];
                assert!(known.iter().any(|k| message.starts_with(k)), "{message}");
            }
        }
    }
});
