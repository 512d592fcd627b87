//! `flant-integration`, the user-facing tool: look before anything is sent.
//!
//! It reads Kubernetes objects exactly as `kubectl get … -o yaml|json` prints them and explains
//! what the module would bill and what would leave the cluster, using the hooks' own configs
//! (their selectors and jq filters, evaluated in process by [jaq](https://github.com/01mf02/jaq)),
//! the one implementation of every billing rule, the [`domain`] crate, and — for `preview` — the
//! pricing hooks' own binaries and the agent configuration the chart renders.
//!
//! # Modules
//! * [`input`]: the one bounded reader of every input (files, devices, FIFOs, stdin alike);
//! * [`live`]: live mode — the objects the hooks bind and the module's values, read from the
//!   cluster with kube-rs;
//! * [`objects`]: reading dumps (YAML documents, JSON, `kind: List`, folders, stdin);
//! * [`snapshot`]: a hook binding's selection and jq filter applied to the objects, as
//!   shell-operator builds snapshots;
//! * [`bill`]: every node with its billing type and the rule that decided it, and the totals
//!   the four billing metrics will carry;
//! * [`cleanup`]: private temporary folders, removed on drop and on SIGINT/SIGTERM/SIGHUP;
//! * [`hooks`]: the pricing hooks' binaries run as shell-operator runs them, and its metric storage;
//! * [`relabel`], [`agent`]: the metrics agent's relabelling, read from its configuration;
//! * [`redact`]: what is shown of a URL (never its user information);
//! * [`preview`]: what would leave the cluster — samples, the Madison registration, the logs;
//! * [`prometheus`]: `preview`'s options for the Prometheus the two PromQL hooks ask.

pub mod agent;
pub mod bill;
pub mod cleanup;
pub mod hooks;
pub mod input;
pub mod live;
pub mod objects;
mod parallel;
pub mod preview;
pub mod prometheus;
pub mod redact;
pub mod relabel;
pub mod selector;
pub mod snapshot;

/// The JSON output of `bill` and `preview`: `body`'s fields, then `skipped` (objects skipped for
/// their kind), then — live mode, only when something could not be read — `not_read`,
/// pretty-printed with a final newline. Written straight from the structs into `out` (buffered):
/// neither a tree nor the whole text of the output is held (issue 20: the text of a million
/// nodes' bill is hundreds of MiB, and a growing buffer is briefly twice that).
pub fn write_json_with_skipped<T: serde::Serialize>(
    out: impl std::io::Write,
    body: &T,
    skipped: &std::collections::BTreeMap<String, usize>,
    not_read: &[String],
) -> std::io::Result<()> {
    #[derive(serde::Serialize)]
    struct WithSkipped<'a, T> {
        #[serde(flatten)]
        body: &'a T,
        skipped: &'a std::collections::BTreeMap<String, usize>,
        #[serde(skip_serializing_if = "<[String]>::is_empty")]
        not_read: &'a [String],
    }
    use std::io::Write as _;
    let mut out = std::io::BufWriter::new(out);
    serde_json::to_writer_pretty(&mut out, &WithSkipped { body, skipped, not_read })?;
    out.write_all(b"\n")?;
    out.flush()
}
