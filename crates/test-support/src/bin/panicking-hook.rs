//! A test-only hook whose handler records a metric and then panics, to prove that the run loop
//! turns a panic into one JSON error line, exit code 1 and untouched output files. It lives in
//! test-support, never in a hooks directory.

use std::process::ExitCode;

use shell_hook::{run, Hook, Input, Reads, Writes};

const HOOK: Hook = Hook {
    config: "configVersion: v1\nonStartup: 1\n",
    reads: Reads { values: false, config_values: false },
    writes: Writes { metrics: true, kubernetes: false, values: false },
};

#[allow(clippy::unnecessary_wraps)] // the Handler signature is fallible
fn handle(input: &mut Input<'_>) -> anyhow::Result<()> {
    input.metrics.expire("group_panic");
    let items: Vec<u32> = Vec::new();
    let _ = items[usize::from(!input.contexts.is_empty())];
    Ok(())
}

fn main() -> ExitCode {
    run(&HOOK, handle)
}
