//! Any HTTP status and body through `prometheus_query::decode_answer`: no panic, and a success
//! keeps only finite values.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (status, body) = match data {
        [a, b, rest @ ..] => (u16::from_le_bytes([*a, *b]) % 600, rest),
        _ => (200, data),
    };
    if let Ok(answer) = prometheus_query::decode_answer(status, body) {
        assert_eq!(status, 200);
        assert!(answer.samples.iter().all(|s| s.value.is_finite()));
    }
});
