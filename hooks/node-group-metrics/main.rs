//! `node-group-metrics`: whether every managed node is up to date (`pricing-hooks.md` §8).

use std::process::ExitCode;

use shell_hook::{run, Hook, Input, Reads, Writes};

const HOOK: Hook = Hook {
    config: include_str!("config.yaml"),
    reads: Reads { values: false, config_values: false },
    writes: Writes { metrics: true, kubernetes: false, values: false },
};

const GROUP: &str = "group_node_group_metrics";
const ALL_UP_TO_DATE: &str = "flant_pricing_all_managed_nodes_up_to_date";

fn handle(input: &mut Input<'_>) -> anyhow::Result<()> {
    let ngs = input.contexts.snapshot::<f64>("ngs")?;
    input.metrics.expire(GROUP);
    if let Some(min) = ngs.items.iter().copied().reduce(f64::min) {
        input.metrics.set(ALL_UP_TO_DATE, GROUP, min, Vec::<(String, String)>::new());
    }
    Ok(())
}

fn main() -> ExitCode {
    run(&HOOK, handle)
}
