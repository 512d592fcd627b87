//! `madison-revoke`: detects an archived project and switches the integration off
//! (`module-hooks.md` §6).
//!
//! On `401` with `{"error": "Archived setup"}` from the status endpoint it creates ConfigMap
//! `d8-monitoring/madison-revoked-project` (`CreateIfNotExists`) and removes both internal keys;
//! `license` then keeps the license key removed until someone deletes the ConfigMap. Every other
//! answer, and any transport failure, leaves everything as it is. A redirect (never followed: the
//! key would be re-sent elsewhere) or an answer over `connect::MAX_BODY_BYTES` cannot be judged:
//! one warning naming the cause, nothing written, exit 0 — the spec's "exit 0 except on bad
//! input". A failing run would be retried by addon-operator at the head of the module queue,
//! re-sending the license and the key to a misbehaving Connect and holding the queue.

use std::process::ExitCode;

use anyhow::{anyhow, Context as _};
use domain::madison::{enabled_key, key_setting, KeySetting};
use serde_json::{json, Value};
use shell_hook::{run, Hook, Input, KubeOperation, Reads, Secret, Writes};

const HOOK: Hook = Hook {
    config: include_str!("config.yaml"),
    reads: Reads { values: true, config_values: true },
    writes: Writes { metrics: false, kubernetes: true, values: true },
};

const ARCHIVED: &str = "Archived setup";

fn revoked_config_map() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "madison-revoked-project",
            "namespace": "d8-monitoring",
            "labels": {"heritage": "flant-integration"}
        }
    })
}

fn handle(input: &mut Input<'_>) -> anyhow::Result<()> {
    let values = input.values();
    let license = values.str("flantIntegration.internal.licenseKey")?.unwrap_or_default();
    if license.is_empty() {
        return Ok(());
    }
    let setting = key_setting(input.config_values().get("flantIntegration.madisonAuthKey")?)?;
    if setting == KeySetting::Disabled {
        return Ok(());
    }
    let Some(key) = enabled_key(values.get("flantIntegration.internal.madisonAuthKey")?) else {
        return Ok(());
    };
    let (license, key) = (Secret::new(license.to_string()), Secret::new(key.to_string()));

    let cluster_dns = input.values().str(connect::CLUSTER_DNS_ADDRESS)?;
    let client = connect::Client::from_lookup(|k| input.env.get(k), cluster_dns)
        .map_err(|e| anyhow!("cannot check the madison status: {e}"))?;
    let url = client.url("/v1/madison_status");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    let answer = match runtime.block_on(client.status(&license, &key)) {
        Ok(a) => a,
        // A transport failure, a redirect (never followed: it would re-send the key; its
        // `Location` is not shown) or an answer over the limit: nothing to act on, so nothing is
        // done and the run succeeds — a failed run would be retried at once with the same POST.
        Err(e) => {
            let msg = if e.is_transport() {
                "cannot check the madison status"
            } else {
                "cannot judge Connect's madison status answer, nothing done"
            };
            input.log.warn(msg, &[("url", json!(url)), ("error", json!(e.to_string()))]);
            return Ok(());
        }
    };
    if answer.code != 401 {
        input.log.debug("madison status checked", &[("status", json!(answer.code))]);
        return Ok(());
    }
    let Some(body) = answer.body else {
        input.log.warn("madison status answered 401 with a body that is not JSON", &[("url", json!(url))]);
        return Ok(());
    };
    if body.get("error").and_then(Value::as_str) != Some(ARCHIVED) {
        input.log.debug("madison status answered 401", &[("error", body.get("error").cloned().unwrap_or(Value::Null))]);
        return Ok(());
    }
    input.kube.push(KubeOperation::CreateIfNotExists { object: revoked_config_map(), subresource: None });
    input.values_patch.remove("/flantIntegration/internal/madisonAuthKey")?;
    input.values_patch.remove("/flantIntegration/internal/licenseKey")?;
    input.log.info("project is archived, disabling the integration", &[]);
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

    /// In process: nothing to check without a license, a disabled configuration or an enabled key;
    /// Connect down (a closed port) is tolerated — no output, exit 0.
    #[test]
    fn handler_checks_only_an_enabled_key_and_tolerates_connect_down() {
        let run = |values: serde_json::Value, config: serde_json::Value| {
            TestRun::new(&HOOK)
                .context(json!([{"binding": "madison_revoke", "type": "Schedule"}]))
                .values(values)
                .config_values(config)
                .env("CONNECT_URL", "http://127.0.0.1:1")
                .run(handle)
        };
        let enabled = json!({"flantIntegration": {"internal": {"licenseKey": "k", "madisonAuthKey": "a"}}});
        for (values, config) in [
            (json!({"flantIntegration": {"internal": {"madisonAuthKey": "a"}}}), json!({})),
            (enabled.clone(), json!({"flantIntegration": {"madisonAuthKey": false}})),
            (json!({"flantIntegration": {"internal": {"licenseKey": "k"}}}), json!({})),
            (enabled, json!({})),
        ] {
            let out = run(values, config).unwrap();
            assert!(out.kubernetes.is_empty() && out.values_patch.is_empty());
        }
    }

    /// In process (spec §6: exit 0 except on bad input): a redirect — even one carrying an
    /// "Archived setup" body — and an answer over `connect::MAX_BODY_BYTES` are not judged:
    /// the handler succeeds with no output, and nothing follows the redirect.
    #[test]
    fn handler_ignores_answers_it_cannot_judge() {
        use test_support::fake::{FakeServer, Reply};
        let archived = r#"{"error":"Archived setup"}"#;
        let oversized = format!("{archived}{}", " ".repeat(connect::MAX_BODY_BYTES));
        for (name, reply) in [
            ("307 redirect", Reply::json(307, archived)),
            ("308 redirect", Reply::json(308, archived)),
            ("answer over the limit", Reply::json(401, &oversized)),
        ] {
            let server = FakeServer::start(move |_| reply.clone()).unwrap();
            let out = TestRun::new(&HOOK)
                .context(json!([{"binding": "madison_revoke", "type": "Schedule"}]))
                .values(json!({"flantIntegration": {"internal": {"licenseKey": "k", "madisonAuthKey": "a"}}}))
                .env("CONNECT_URL", &server.url())
                .run(handle)
                .unwrap_or_else(|e| panic!("{name}: the run must not fail: {e}"));
            assert!(out.kubernetes.is_empty() && out.values_patch.is_empty(), "{name}: {out:?}");
            assert_eq!(server.requests().len(), 1, "{name}: one request, the redirect not followed");
        }
    }
}
