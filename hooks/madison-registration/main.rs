//! `madison-registration`: obtains the cluster's Madison key (`module-hooks.md` §5, decisions
//! 12 and 17).
//!
//! Precedence: no license → no key; the configuration (disabled → `false`, or a key); the key
//! the templates wrote into Secret `d8-monitoring/madison-proxy` (recovery after a restart); the
//! existing enabled key; else register with Connect. Keys are `Secret`s: never logged.

use std::process::ExitCode;

use anyhow::{anyhow, bail, Context as _};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use domain::madison::{is_enabled, key_setting, registration, KeySetting, Registration};
use serde::Serialize;
use serde_json::{json, Value};
use shell_hook::{run, Hook, Input, Reads, Secret, Writes};

const HOOK: Hook = Hook {
    config: include_str!("config.yaml"),
    reads: Reads { values: true, config_values: true },
    writes: Writes { metrics: false, kubernetes: false, values: true },
};

const AUTH_KEY: &str = "/flantIntegration/internal/madisonAuthKey";

/// The registration payload; field order is part of the contract with Connect.
#[derive(Serialize)]
struct Payload<'a> {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
    name: &'a str,
    prometheus_url: String,
    grafana_url: String,
    extra_data: ExtraData,
}

#[derive(Serialize)]
struct ExtraData {
    labels: Option<()>,
}

/// The payload JSON for a domain template and URL schema.
fn payload(domain_template: &str, schema: &str) -> String {
    let p = if domain_template.is_empty() {
        Payload {
            kind: None,
            name: "",
            prometheus_url: "-".into(),
            grafana_url: "-".into(),
            extra_data: ExtraData { labels: None },
        }
    } else {
        let grafana = format!("{schema}://{}", domain_template.replacen("%s", "grafana", 1));
        Payload {
            kind: Some("prometheus"),
            name: "",
            prometheus_url: format!("{grafana}/prometheus"),
            grafana_url: grafana,
            extra_data: ExtraData { labels: None },
        }
    };
    // Serialising plain strings and a unit option cannot fail.
    serde_json::to_string(&p).unwrap_or_default()
}

/// Decodes a base64 Secret field; `None` when absent, empty or undecodable.
fn decode(data: &str) -> Option<String> {
    STANDARD.decode(data).ok().and_then(|b| String::from_utf8(b).ok()).filter(|s| !s.is_empty())
}

fn handle(input: &mut Input<'_>) -> anyhow::Result<()> {
    let values = input.values();
    let license = values.str("flantIntegration.internal.licenseKey")?.unwrap_or_default();
    let current_enabled = is_enabled(values.get("flantIntegration.internal.madisonAuthKey")?);
    let setting = if license.is_empty() {
        KeySetting::Unset
    } else {
        key_setting(input.config_values().get("flantIntegration.madisonAuthKey")?)?
    };
    let recovered = if license.is_empty() || setting != KeySetting::Unset {
        None
    } else {
        let secrets = input.contexts.snapshot::<String>("madison-proxy")?;
        let raw = secrets.items.first().filter(|s| !s.is_empty());
        let key = raw.and_then(|r| decode(r));
        if raw.is_some() && key.is_none() {
            input.log.warn("ignoring undecodable auth-key of Secret d8-monitoring/madison-proxy", &[]);
        }
        key
    };
    match registration(!license.is_empty(), setting, recovered, current_enabled) {
        Registration::RemoveKey => return Ok(input.values_patch.remove(AUTH_KEY)?),
        Registration::Disabled => return Ok(input.values_patch.add(AUTH_KEY, Value::Bool(false))?),
        Registration::Configured(k) => return Ok(input.values_patch.add(AUTH_KEY, Value::from(k))?),
        Registration::Recovered(k) => return Ok(input.values_patch.add(AUTH_KEY, Value::from(k))?),
        Registration::Keep => return Ok(()),
        Registration::Register => {}
    }
    let license = Secret::new(license.to_string());

    let schema_items = input.contexts.snapshot::<String>("prometheus-url-schema")?;
    let schema = match schema_items.items.first().and_then(|s| decode(s)).as_deref() {
        Some("https") => "https",
        _ => "http",
    };
    let template = input.values().str("global.modules.publicDomainTemplate")?.unwrap_or_default().to_string();
    let madison_data = payload(&template, schema);

    let cluster_dns = input.values().str(connect::CLUSTER_DNS_ADDRESS)?;
    let client = connect::Client::from_lookup(|k| input.env.get(k), cluster_dns)
        .map_err(|e| anyhow!("cannot register in madison: {e}"))?;
    let url = client.url("/v1/madison_register");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    match runtime.block_on(client.register(&license, &madison_data)) {
        Ok(reg) if !reg.auth_key.expose().is_empty() => {
            input.values_patch.add(AUTH_KEY, Value::from(reg.auth_key.expose().as_str()))?;
        }
        Ok(reg) => input.log.warn(
            "madison registration returned no key, will retry on the next run",
            &[("url", json!(url)), ("error", json!(reg.error))],
        ),
        Err(e) if e.is_transport() => input.log.warn(
            "cannot reach Connect to register in madison, will retry on the next run",
            &[("url", json!(url)), ("error", json!(e.to_string()))],
        ),
        Err(e) => bail!("cannot register in madison (POST {url}): {e}"),
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

    use super::{handle, payload, HOOK};

    /// In process, the precedence without any network: CONNECT_URL points at a closed port, so a
    /// registration attempt would fail the assertions.
    #[test]
    fn handler_precedence_without_network() {
        let run = |values: serde_json::Value, config: serde_json::Value| {
            TestRun::new(&HOOK)
                .context(
                    json!([{"binding": "beforeHelm", "snapshots": {"madison-proxy": [], "prometheus-url-schema": []}}]),
                )
                .values(values)
                .config_values(config)
                .env("CONNECT_URL", "http://127.0.0.1:1")
                .run(handle)
                .unwrap()
                .values_patch
        };
        let licensed = json!({"flantIntegration": {"internal": {"licenseKey": "k"}}});
        let key = "/flantIntegration/internal/madisonAuthKey";
        assert_eq!(
            run(licensed.clone(), json!({"flantIntegration": {"madisonAuthKey": "abc"}})),
            [json!({"op": "add", "path": key, "value": "abc"})]
        );
        assert_eq!(
            run(licensed.clone(), json!({"flantIntegration": {"madisonAuthKey": false}})),
            [json!({"op": "add", "path": key, "value": false})]
        );
        let kept = json!({"flantIntegration": {"internal": {"licenseKey": "k", "madisonAuthKey": "current"}}});
        assert!(run(kept, json!({})).is_empty(), "an enabled key is kept, no registration");
        let unlicensed = json!({"flantIntegration": {"internal": {"madisonAuthKey": "current"}}});
        assert_eq!(run(unlicensed, json!({})), [json!({"op": "remove", "path": key})]);
    }

    /// In process (spec §5: status ≠ 200 fails the run): a redirect is such a status — the run
    /// fails naming it, writes nothing, and the redirect is not followed.
    #[test]
    fn handler_fails_on_a_redirect() {
        use test_support::fake::{FakeServer, Reply};
        let server = FakeServer::start(|_| Reply::json(307, r#"{"error":"","auth_key":"abc"}"#)).unwrap();
        let err = TestRun::new(&HOOK)
            .context(
                json!([{"binding": "beforeHelm", "snapshots": {"madison-proxy": [], "prometheus-url-schema": []}}]),
            )
            .values(json!({"flantIntegration": {"internal": {"licenseKey": "k"}}}))
            .env("CONNECT_URL", &server.url())
            .run(handle)
            .unwrap_err();
        assert_eq!(
            err,
            format!(
                "cannot register in madison (POST {}/v1/madison_register): HTTP 307: redirects are not followed",
                server.url()
            )
        );
        assert_eq!(server.requests().len(), 1);
    }

    #[test]
    fn payloads() {
        assert_eq!(
            payload("", "http"),
            r#"{"name":"","prometheus_url":"-","grafana_url":"-","extra_data":{"labels":null}}"#
        );
        assert_eq!(
            payload("%s.one.two", "http"),
            r#"{"type":"prometheus","name":"","prometheus_url":"http://grafana.one.two/prometheus","grafana_url":"http://grafana.one.two","extra_data":{"labels":null}}"#
        );
        assert_eq!(
            payload("%s.one.two", "https"),
            r#"{"type":"prometheus","name":"","prometheus_url":"https://grafana.one.two/prometheus","grafana_url":"https://grafana.one.two","extra_data":{"labels":null}}"#
        );
        assert!(payload("%s-%s.x", "http").contains("grafana-%s.x"), "only the first %s is replaced");
    }
}
