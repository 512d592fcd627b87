//! What the metrics agent does with the served series, read from its configuration: the
//! scrape's target labels (`job`, `instance`, `honor_labels: false`), the job's
//! `metric_relabel_configs`, the `external_labels` (expanded from the environment, as
//! `--enable-feature=expand-external-labels` does) and each remote write's
//! `write_relabel_configs`. Every rule comes from the configuration; [`crate::relabel`] only
//! knows Prometheus's relabel semantics.
//!
//! The configuration is [`RENDERED`] (what Helm renders from `templates/pricing/_agent-config.tpl`,
//! kept equal to a fresh render by `tests/datapath.rs`) with the cluster's UUID, license key and
//! URL put in, or the cluster's own `prometheus.yml` (`--agent-config`).

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use serde::Deserialize;
use serde_json::Value;

use crate::hooks::Series;
use crate::redact;
use crate::relabel::{self, Labels, RawRule, Rule};

/// The agent configuration Helm renders, with the placeholders [`UUID_PLACEHOLDER`] and
/// [`LICENSE_PLACEHOLDER`].
pub const RENDERED: &str = include_str!("agent-config.yaml");
/// Stands for `global.discovery.clusterUUID` in [`RENDERED`].
pub const UUID_PLACEHOLDER: &str = "@CLUSTER_UUID@";
/// Stands for `flantIntegration.internal.licenseKey` in [`RENDERED`].
pub const LICENSE_PLACEHOLDER: &str = "@LICENSE_KEY@";
/// The scrape job of shell-operator's `/metrics/hooks` in the pricing pod.
pub const PRICING_JOB: &str = "flant-pricing";

#[derive(Debug, Deserialize)]
struct Config {
    #[serde(default)]
    global: Global,
    #[serde(default)]
    scrape_configs: Vec<ScrapeConfig>,
    #[serde(default)]
    remote_write: Vec<RemoteWrite>,
}

#[derive(Debug, Default, Deserialize)]
struct Global {
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    scrape_interval: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ScrapeConfig {
    job_name: String,
    #[serde(default)]
    honor_labels: bool,
    #[serde(default)]
    static_configs: Vec<StaticConfig>,
    #[serde(default)]
    metric_relabel_configs: Vec<RawRule>,
}

#[derive(Debug, Deserialize)]
struct StaticConfig {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct RemoteWrite {
    url: String,
    #[serde(default)]
    write_relabel_configs: Vec<RawRule>,
    authorization: Option<Authorization>,
    proxy_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Authorization {
    #[serde(rename = "type")]
    kind: Option<String>,
    credentials: Option<String>,
}

/// The agent's pipeline for the pricing job, compiled.
#[derive(Debug)]
pub struct Agent {
    job: String,
    target: String,
    target_labels: BTreeMap<String, String>,
    honor_labels: bool,
    metric_rules: Vec<Rule>,
    external_labels: BTreeMap<String, String>,
    write_rules: Vec<Rule>,
    /// Where the samples are written (without user information, [`redact::url`]).
    pub url: String,
    /// `Authorization` type (`Bearer`), if any; the credentials are never kept.
    pub authorization: Option<String>,
    /// The proxy, if any (without user information).
    pub proxy_url: Option<String>,
    /// How often the agent scrapes (and so sends): `global.scrape_interval` (Prometheus's default 1m).
    pub scrape_interval: String,
}

/// The cluster's settings that the rendered configuration takes.
#[derive(Debug, Default)]
pub struct Settings<'a> {
    /// `global.discovery.clusterUUID`.
    pub cluster_uuid: Option<&'a str>,
    /// Whether a license key is set (the key itself never enters the preview).
    pub license: bool,
    /// `flantIntegration.metrics.url`.
    pub url: Option<&'a str>,
    /// The proxy the chart renders (`fi.proxyURL`: `global.clusterConfiguration.proxy.httpsProxy`,
    /// else `.httpProxy`).
    pub proxy: Option<&'a str>,
}

/// Whether the chart refuses to render the agent configuration with `c` in a setting: Helm's
/// `toYaml` (sigs.k8s.io/yaml: `encoding/json`, then go-yaml) cannot write DEL, the C1 controls
/// other than NEL, U+FFFE or U+FFFF (`encoding/json` writes them raw, go-yaml's reader refuses
/// them) and writes NEL raw, read back as a line break; `templates/pricing/_agent-config.tpl`
/// fails unless its text reads back as the configuration built. `tests/cli.rs` checks that the
/// preview and Helm agree on every hostile string of `tests/templates/test_control_chars.py`.
#[must_use]
pub fn yaml_cannot_carry(c: char) -> bool {
    matches!(c, '\u{7f}'..='\u{9f}' | '\u{fffe}' | '\u{ffff}')
}

/// Refuses, as the chart does, to render the agent configuration with a setting holding a
/// character YAML cannot carry ([`yaml_cannot_carry`]). `settings` are `(name, value)`; the
/// message names the setting and the character, never the value.
pub fn check_renderable(settings: &[(&str, Option<&str>)]) -> anyhow::Result<()> {
    for (name, value) in settings {
        if let Some(c) = value.and_then(|v| v.chars().find(|c| yaml_cannot_carry(*c))) {
            bail!(
                "the chart cannot render the metrics agent's configuration: {name} holds U+{:04X}, a character YAML cannot carry (Helm fails the same way)",
                u32::from(c)
            );
        }
    }
    Ok(())
}

/// What stands for the cluster UUID when no values give it.
pub const UNKNOWN_UUID: &str = "<global.discovery.clusterUUID>";

impl Agent {
    /// The rendered configuration ([`RENDERED`]) for a cluster's settings.
    pub fn rendered(settings: &Settings<'_>) -> anyhow::Result<Self> {
        let mut config: Value = serde_saphyr::from_str(RENDERED).context("the embedded agent configuration")?;
        put(&mut config, UUID_PLACEHOLDER, settings.cluster_uuid.unwrap_or(UNKNOWN_UUID));
        put(&mut config, LICENSE_PLACEHOLDER, "<license key>");
        if let Some(rw) = config["remote_write"].get_mut(0).and_then(Value::as_object_mut) {
            if !settings.license {
                // The template renders no authorization without a license key.
                rw.remove("authorization");
            }
            if let Some(url) = settings.url {
                rw.insert("url".into(), url.into());
            }
            if let Some(proxy) = settings.proxy {
                rw.insert("proxy_url".into(), proxy.into());
            }
        }
        Self::from_config(serde_json::from_value(config).context("the embedded agent configuration")?)
    }

    /// A `prometheus.yml` as the cluster has it (Secret `d8-flant-integration/prometheus-agent-config`).
    /// It holds the license key: a parse error gives the position only, never the parser's
    /// source snippet.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let config: Config = serde_saphyr::from_str(text).map_err(|e| {
            crate::input::syntax_error("agent configuration", "not a Prometheus configuration the preview reads", &e)
        })?;
        Self::from_config(config)
    }

    fn from_config(config: Config) -> anyhow::Result<Self> {
        let job = config
            .scrape_configs
            .into_iter()
            .find(|j| j.job_name == PRICING_JOB)
            .with_context(|| format!("agent configuration: no scrape job {PRICING_JOB}"))?;
        let [rw] = <[RemoteWrite; 1]>::try_from(config.remote_write).map_err(|v| {
            anyhow::anyhow!("agent configuration: {} remote_write entries, the preview reads one", v.len())
        })?;
        let static_config = job.static_configs.into_iter().next().context("agent configuration: no static target")?;
        let Some(target) = static_config.targets.into_iter().next() else {
            bail!("agent configuration: the {PRICING_JOB} job has no target");
        };
        Ok(Self {
            job: job.job_name,
            target,
            target_labels: static_config.labels,
            honor_labels: job.honor_labels,
            metric_rules: relabel::compile(&job.metric_relabel_configs).context("metric_relabel_configs")?,
            scrape_interval: config.global.scrape_interval.unwrap_or_else(|| "1m".into()),
            external_labels: config.global.external_labels,
            write_rules: relabel::compile(&rw.write_relabel_configs).context("write_relabel_configs")?,
            url: redact::url(&rw.url),
            authorization: rw
                .authorization
                .filter(|a| a.credentials.is_some())
                .map(|a| a.kind.unwrap_or("Bearer".into())),
            proxy_url: rw.proxy_url.as_deref().map(redact::url),
        })
    }

    /// The samples that leave the pod for these served series, sorted by name and labels;
    /// `env` expands the external labels (`${NODE_NAME}`; an unset variable stays as written).
    #[must_use]
    pub fn samples(&self, served: &[Series], env: &dyn Fn(&str) -> Option<String>) -> Vec<Sample> {
        let external: BTreeMap<String, String> =
            self.external_labels.iter().map(|(k, v)| (k.clone(), expand(v, env))).collect();
        let mut out = Vec::new();
        for s in served {
            // The scrape: empty label values are no labels; target labels win unless honor_labels.
            let mut labels: Labels =
                s.labels.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.clone(), v.clone())).collect();
            let mut target = self.target_labels.clone();
            target.insert("job".into(), self.job.clone());
            target.insert("instance".into(), self.target.clone());
            for (k, v) in target {
                if v.is_empty() {
                    continue;
                }
                match labels.get(&k) {
                    Some(_) if self.honor_labels => {}
                    Some(existing) => {
                        let existing = existing.clone();
                        labels.insert(format!("exported_{k}"), existing);
                        labels.insert(k, v);
                    }
                    None => {
                        labels.insert(k, v);
                    }
                }
            }
            labels.insert("__name__".into(), s.name.clone());
            let Some(mut labels) = relabel::process(labels, &self.metric_rules) else { continue };
            // Remote write: external labels where the series has none of that name, then the
            // write relabelling.
            for (k, v) in &external {
                labels.entry(k.clone()).or_insert_with(|| v.clone());
            }
            let Some(mut labels) = relabel::process(labels, &self.write_rules) else { continue };
            let name = labels.remove("__name__").unwrap_or_default();
            out.push(Sample { name, labels, value: s.value });
        }
        out.sort_by(|a, b| (&a.name, &a.labels).cmp(&(&b.name, &b.labels)));
        out
    }
}

/// One sample as the remote write carries it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Sample {
    /// Metric name.
    pub name: String,
    /// Labels (without `__name__`).
    pub labels: BTreeMap<String, String>,
    /// Value (a whole number below 2^53 is written without a fraction, as shell-operator does).
    #[serde(serialize_with = "number")]
    pub value: f64,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's signature
fn number<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    #[allow(clippy::cast_possible_truncation)] // checked: whole and below 2^53
    if v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 {
        s.serialize_i64(*v as i64)
    } else {
        s.serialize_f64(*v)
    }
}

/// Replaces every string equal to `placeholder` in `v`.
fn put(v: &mut Value, placeholder: &str, with: &str) {
    match v {
        Value::String(s) if s == placeholder => *s = with.to_string(),
        Value::Array(a) => a.iter_mut().for_each(|x| put(x, placeholder, with)),
        Value::Object(m) => m.values_mut().for_each(|x| put(x, placeholder, with)),
        _ => {}
    }
}

/// `$VAR` / `${VAR}` from `env`; an unset variable stays as written (the preview cannot know
/// which node's pod sends).
fn expand(s: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        // (variable name, bytes of the reference after the `$`)
        let (name, len) = if let Some(b) = after.strip_prefix('{') {
            b.find('}').map_or(("", 0), |j| (&b[..j], j + 2))
        } else {
            let n = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
            (&after[..n], n)
        };
        match env(name).filter(|_| !name.is_empty()) {
            Some(v) => out.push_str(&v),
            None => out.push_str(&rest[i..=i + len]),
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_labels_expand_from_the_environment() {
        let env = |k: &str| (k == "NODE_NAME").then(|| "n1".to_string());
        assert_eq!(expand("${NODE_NAME}", &env), "n1");
        assert_eq!(expand("a-$NODE_NAME-b", &env), "a-n1-b");
        assert_eq!(expand("${OTHER}", &env), "${OTHER}");
        assert_eq!(expand("x$", &env), "x$");
    }

    /// Issue 19: a broken configuration's error shows the position, never the parser's snippet
    /// (it printed `credentials: <license key>`), nor a value quoted by a type error.
    #[test]
    fn parse_errors_quote_nothing() {
        for text in [
            "remote_write:\n- url: x\n  authorization:\n    credentials: SECRET\n  proxy_url: [\n",
            "scrape_configs:\n- job_name: flant-pricing\n  honor_labels: SECRET\n",
        ] {
            let e = format!("{:#}", Agent::parse(text).unwrap_err());
            assert!(
                e.starts_with("agent configuration: not a Prometheus configuration the preview reads at line "),
                "{e}"
            );
            assert!(!e.contains("SECRET") && !e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn settings_yaml_cannot_carry_are_refused_by_name() {
        assert!(check_renderable(&[("a", Some("https://x/\u{85}")), ("b", None)]).is_err());
        let e = check_renderable(&[("a", Some("ok")), ("global.x", Some("SECRET\u{7f}"))]).unwrap_err().to_string();
        assert!(e.contains("global.x holds U+007F") && !e.contains("SECRET"), "{e}");
        let fine = "\u{0}\t\n\u{a0}\u{2028}\u{feff}\u{fffd}\u{1f600}\"'\\";
        assert!(check_renderable(&[("a", Some(fine))]).is_ok(), "{fine:?}");
    }

    #[test]
    fn the_rendered_pipeline() {
        let agent =
            Agent::rendered(&Settings { cluster_uuid: Some("u-1"), license: true, ..Settings::default() }).unwrap();
        assert_eq!((agent.authorization.as_deref(), agent.scrape_interval.as_str()), (Some("Bearer"), "5m"));
        let served = [
            Series {
                name: "flant_pricing_nodes".into(),
                labels: BTreeMap::from([
                    ("hook".into(), "node-metrics".into()),
                    ("type".into(), "vm".into()),
                    ("e".into(), String::new()),
                ]),
                value: 4.0,
            },
            Series { name: "shell_operator_x".into(), labels: BTreeMap::new(), value: 1.0 },
        ];
        let got = agent.samples(&served, &|_| Some("node-a".into()));
        assert_eq!(got.len(), 1);
        let want: BTreeMap<String, String> =
            [("__replica__", "node-a"), ("cluster_uuid", "u-1"), ("job", "flant-pricing"), ("type", "vm")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        assert_eq!((got[0].name.as_str(), &got[0].labels, got[0].value), ("flant_pricing_nodes", &want, 4.0));
        let proxied = Agent::rendered(&Settings {
            url: Some("https://u:url-pw@rw.example/w"),
            proxy: Some("http://u:proxy-pw@p:3128"),
            ..Settings::default()
        })
        .unwrap();
        assert_eq!(
            (proxied.url.as_str(), proxied.proxy_url.as_deref()),
            ("https://rw.example/w", Some("http://p:3128"))
        );
        let unlicensed = Agent::rendered(&Settings::default()).unwrap();
        assert_eq!(unlicensed.authorization, None);
        assert!(Agent::parse("scrape_configs: []\n").unwrap_err().to_string().contains("no scrape job"));
    }
}
