//! `madison-backends-discovery`: the Madison backend addresses madison-proxy connects to
//! (`module-hooks.md` §4, decisions 11, 14, 18, 19).
//!
//! Target: the cluster proxy's host and port when one is configured, else `MADISON_DIRECT_NAME`
//! (default `madison-direct.flant.com`) on 443. Names are resolved for A and AAAA by the
//! `dns-discovery` crate: the server in `DNS_SERVER`, else `/etc/resolv.conf`, else — inside
//! Deckhouse's chroot, which has no `/etc` — the cluster DNS address from the values
//! (`global.discovery.clusterDNSAddress`, port 53). Addresses are formatted `ip:port` / `[ipv6]:port`,
//! de-duplicated, sorted as strings and cut to three, so the Deployments do not churn. Each lookup
//! is bounded by `DNS_TIMEOUT` seconds (default 5). Any discovery failure is logged and leaves the
//! values as they are (the schedule binding also has `allowFailure`); an unusable `DNS_TIMEOUT` is
//! a configuration error (exit 1).

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use domain::madison::backends;

use anyhow::{anyhow, bail, Context as _};
use connect::ProxySetting;
use dns_discovery::Nameserver;
use serde_json::{json, Value};
use shell_hook::{run, Env, Hook, Input, Logger, Reads, Values, Writes};

const HOOK: Hook = Hook {
    config: include_str!("config.yaml"),
    reads: Reads { values: true, config_values: true },
    writes: Writes { metrics: false, kubernetes: false, values: true },
};

const BACKENDS: &str = "/flantIntegration/internal/madison/backends";
const DEFAULT_NAME: &str = "madison-direct.flant.com";
/// Where to connect: a host (name or IP) and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    host: url::Host,
    port: u16,
}

/// The configured proxy, if any: values `global.clusterConfiguration.proxy` first, then config
/// values `global.modules.proxy`; httpsProxy before httpProxy within a source. A setting is parsed
/// with or without a scheme (`https://` assumed for httpsProxy, `http://` for httpProxy) by
/// `connect::ProxySetting`, whose errors name the setting's path and never its value (it may hold
/// a password); user information is dropped, the port defaults from the scheme.
fn proxy_target(values: &Values<'_>, config: &Values<'_>) -> anyhow::Result<Option<Target>> {
    for (source, prefix) in [(values, "global.clusterConfiguration.proxy"), (config, "global.modules.proxy")] {
        for (key, scheme) in [("httpsProxy", "https"), ("httpProxy", "http")] {
            let path = format!("{prefix}.{key}");
            if let Some(v) = source.str(&path)?.filter(|v| !v.is_empty()) {
                let setting = ProxySetting::parse(&path, v, scheme)?;
                return Ok(Some(Target { host: setting.host().clone(), port: setting.port() }));
            }
        }
    }
    Ok(None)
}

/// Resolves a name for A and AAAA through the server `dns_discovery` chooses (`DNS_SERVER`,
/// `/etc/resolv.conf`, or the cluster DNS address); one failing family is tolerated with a warning.
async fn resolve(
    name: &str,
    cluster_dns: Option<&str>,
    timeout: Duration,
    env: &Env,
    log: Logger,
) -> anyhow::Result<Vec<IpAddr>> {
    let server = Nameserver::from_lookup(|k| env.get(k), cluster_dns)?;
    log.debug("resolving", &[("name", json!(name)), ("server", json!(server.to_string()))]);
    let found = dns_discovery::Resolver::new(&server, timeout)?.lookup(name).await?;
    if let Some(e) = &found.failed_family {
        log.warn(
            "one address family failed to resolve, using the other",
            &[("name", json!(name)), ("error", json!(e.to_string()))],
        );
    }
    Ok(found.addrs)
}

/// The target: the configured proxy, else `MADISON_DIRECT_NAME` on 443.
fn target(input: &Input<'_>) -> anyhow::Result<Target> {
    if let Some(t) = proxy_target(&input.values(), &input.config_values())? {
        return Ok(t);
    }
    let name = input.env.non_empty("MADISON_DIRECT_NAME").unwrap_or_else(|| DEFAULT_NAME.into());
    let host = url::Host::parse(&name).map_err(|e| anyhow!("MADISON_DIRECT_NAME {name:?}: {e}"))?;
    Ok(Target { host, port: 443 })
}

/// The backend list for a target; `cluster_dns` is `global.discovery.clusterDNSAddress`, `timeout`
/// bounds each lookup (`DNS_TIMEOUT`).
fn discover(
    target: &Target,
    cluster_dns: Option<&str>,
    timeout: Duration,
    env: &Env,
    log: Logger,
) -> anyhow::Result<Vec<String>> {
    let addrs = match &target.host {
        url::Host::Ipv4(ip) => vec![IpAddr::V4(*ip)],
        url::Host::Ipv6(ip) => vec![IpAddr::V6(*ip)],
        url::Host::Domain(name) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("failed to start the async runtime")?;
            runtime.block_on(resolve(name, cluster_dns, timeout, env, log))?
        }
    };
    let list = backends(addrs, target.port);
    if list.is_empty() {
        bail!("no usable address");
    }
    Ok(list)
}

fn handle(input: &mut Input<'_>) -> anyhow::Result<()> {
    // A configuration error, not a discovery failure: the hook fails (exit 1) whatever the values.
    let timeout = dns_discovery::timeout_from_lookup(|k| input.env.get(k))?;
    let values = input.values();
    let license = values.str("flantIntegration.internal.licenseKey")?.unwrap_or_default();
    let current = values.get("flantIntegration.internal.madison.backends")?.cloned();
    if license.is_empty() {
        input.values_patch.remove(BACKENDS)?;
        return Ok(());
    }
    let failed = |log: Logger, target: Option<&str>, e: &anyhow::Error| {
        let mut fields = Vec::with_capacity(2);
        if let Some(t) = target {
            fields.push(("target", json!(t)));
        }
        fields.push(("error", json!(format!("{e:#}"))));
        log.error("cannot discover madison backends, keeping the current ones", &fields);
    };
    let target = match target(input) {
        Ok(t) => t,
        Err(e) => {
            failed(input.log, None, &e);
            return Ok(());
        }
    };
    let shown = target.host.to_string();
    let cluster_dns = match values.str(dns_discovery::CLUSTER_DNS_ADDRESS) {
        Ok(v) => v,
        Err(e) => {
            failed(input.log, Some(&shown), &e.into());
            return Ok(());
        }
    };
    match discover(&target, cluster_dns, timeout, &input.env, input.log) {
        Ok(list) => {
            let new = Value::from(list);
            if current.as_ref() != Some(&new) {
                input.log.info("madison backends discovered", &[("target", json!(shown)), ("backends", new.clone())]);
            }
            input.values_patch.add(BACKENDS, new)?;
        }
        Err(e) => failed(input.log, Some(&shown), &e),
    }
    Ok(())
}

fn main() -> ExitCode {
    run(&HOOK, handle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shell_hook::testing::TestRun;

    /// In process: an IP proxy gives the backend without any DNS query (DNS_SERVER points at a
    /// closed port, so a query would fail); no license removes the backends.
    #[test]
    fn handler_backends_from_an_ip_proxy_and_none_without_license() {
        let values = json!({"global": {"clusterConfiguration": {"proxy": {"httpsProxy": "https://u:pw@192.0.2.10:3129"}}},
                            "flantIntegration": {"internal": {"licenseKey": "k", "madison": {}}}});
        let out = TestRun::new(&HOOK)
            .context(json!([{"binding": "beforeHelm", "snapshots": {}}]))
            .values(values)
            .env("DNS_SERVER", "127.0.0.1:1")
            .run(handle)
            .unwrap();
        assert_eq!(
            out.values_patch,
            [json!({"op": "add", "path": "/flantIntegration/internal/madison/backends", "value": ["192.0.2.10:3129"]})]
        );
        let none = TestRun::new(&HOOK)
            .context(json!([{"binding": "beforeHelm", "snapshots": {}}]))
            .values(json!({"flantIntegration": {"internal": {"madison": {"backends": ["192.0.2.1:443"]}}}}))
            .run(handle)
            .unwrap();
        assert_eq!(none.values_patch, [json!({"op": "remove", "path": "/flantIntegration/internal/madison/backends"})]);
    }

    /// Issue 10: an unparsable proxy setting with a password fails naming the setting, never its
    /// value; the handler then leaves the values as they are.
    #[test]
    fn issue_10_unparsable_proxy_is_not_echoed() {
        let bad = "http://u:PASSWORD@proxy host:3128";
        for (values, config, path) in [
            (
                json!({"global": {"clusterConfiguration": {"proxy": {"httpProxy": bad}}}}),
                json!({}),
                "global.clusterConfiguration.proxy.httpProxy",
            ),
            (
                json!({}),
                json!({"global": {"modules": {"proxy": {"httpsProxy": "u:PASSWORD@[::1"}}}}),
                "global.modules.proxy.httpsProxy",
            ),
        ] {
            let e = proxy_target(&Values::new(&values), &Values::new(&config)).unwrap_err();
            let text = format!("{e:#}");
            assert!(text.starts_with(&format!("cannot parse proxy setting {path}: ")), "{text}");
            assert!(!text.contains("PASSWORD") && !text.contains("u:"), "{text}");
        }
        let values = json!({"global": {"clusterConfiguration": {"proxy": {"httpProxy": bad}}},
                            "flantIntegration": {"internal": {"licenseKey": "k", "madison": {"backends": ["192.0.2.1:443"]}}}});
        let out = TestRun::new(&HOOK)
            .context(json!([{"binding": "beforeHelm", "snapshots": {}}]))
            .values(values)
            .env("DNS_SERVER", "127.0.0.1:1")
            .run(handle)
            .unwrap();
        assert!(out.values_patch.is_empty());
    }

    /// Issue 11: an unusable `DNS_TIMEOUT` fails the hook naming the variable, never the value, and
    /// writes no patch; with or without a license, before any DNS question.
    #[test]
    fn issue_11_bad_dns_timeout_is_a_configuration_error() {
        for (timeout, license) in [("0", "k"), ("61", "k"), ("abc123", "k"), ("-5", "")] {
            let values = json!({"flantIntegration": {"internal": {"licenseKey": license, "madison": {"backends": ["192.0.2.1:443"]}}}});
            let e = TestRun::new(&HOOK)
                .context(json!([{"binding": "beforeHelm", "snapshots": {}}]))
                .values(values)
                .env("DNS_SERVER", "127.0.0.1:1")
                .env("DNS_TIMEOUT", timeout)
                .run(handle)
                .unwrap_err();
            assert_eq!(e, "DNS_TIMEOUT must be a number of seconds above 0 and at most 60", "{timeout}");
        }
    }
}
