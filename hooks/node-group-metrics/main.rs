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

#[cfg(test)]
mod tests {
    use serde_json::json;
    use shell_hook::testing::TestRun;

    use super::{handle, HOOK};

    #[test]
    fn the_least_up_to_date_group_decides_and_no_group_means_no_series() {
        let out = TestRun::new(&HOOK).snapshots([("ngs", vec![json!(1), json!(0), json!(1)])]).run(handle).unwrap();
        assert_eq!(
            out.metrics,
            [
                json!({"action": "expire", "group": "group_node_group_metrics"}),
                json!({"action": "set", "group": "group_node_group_metrics", "name": "flant_pricing_all_managed_nodes_up_to_date", "value": 0, "labels": {}}),
            ]
        );
        let none = TestRun::new(&HOOK).snapshots([("ngs", vec![])]).run(handle).unwrap();
        assert_eq!(none.metrics.len(), 1, "only the expire line");
    }
}
