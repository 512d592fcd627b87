//! In-process handler tests: build an [`Input`](crate::Input) from JSON, call the handler, read
//! what it recorded — no subprocess, no files (module-sdk's input-builder layer).
//!
//! Enabled by the `testing` feature (hooks get it as a dev-dependency). The handler runs through
//! the same code path as in production ([`run`](crate::run) → parse → call → serialise); only the
//! file reading and writing around it is left out. Use this layer for the rules a handler applies;
//! use the golden fixtures (`tests/golden.rs`) for what the operators see.
//!
//! ```
//! use serde_json::json;
//! use shell_hook::testing::TestRun;
//! use shell_hook::{Hook, Input, Reads, Writes};
//!
//! const HOOK: Hook = Hook {
//!     config: "configVersion: v1\nonStartup: 1\n",
//!     reads: Reads { values: false, config_values: false },
//!     writes: Writes { metrics: true, kubernetes: false, values: false },
//! };
//! fn handle(input: &mut Input<'_>) -> anyhow::Result<()> {
//!     input.metrics.set("example", "g", 1.0, [("k", "v")]);
//!     Ok(())
//! }
//! let out = TestRun::new(&HOOK).context(json!([{"binding": "onStartup"}])).run(handle).unwrap();
//! assert_eq!(out.metrics[0]["name"], "example");
//! ```

use serde_json::{json, Value};

use crate::context::BindingContexts;
use crate::run::{call, Handler, Hook, StateHandler};
use secret_log::{Level, Logger};

/// Builds the inputs of one handler call.
#[derive(Clone)]
pub struct TestRun<'h> {
    hook: &'h Hook,
    contexts: Value,
    values: Option<Value>,
    config_values: Option<Value>,
    env: std::collections::BTreeMap<String, String>,
}

/// What a successful call recorded, parsed back from the serialised outputs.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Metric operations, one JSON object each, in order.
    pub metrics: Vec<Value>,
    /// Kubernetes operations, in order.
    pub kubernetes: Vec<Value>,
    /// Values patch operations (empty when nothing changed).
    pub values_patch: Vec<Value>,
    /// `false` when the binding context array was empty and the handler was not called.
    pub called: bool,
}

impl<'h> TestRun<'h> {
    /// A run of `hook` with no contexts yet; values and config values default as in production
    /// (`{}` when the hook reads them).
    #[must_use]
    pub fn new(hook: &'h Hook) -> Self {
        Self { hook, contexts: json!([]), values: None, config_values: None, env: std::collections::BTreeMap::new() }
    }

    /// The binding context array, as the operator writes it.
    #[must_use]
    pub fn context(mut self, contexts: Value) -> Self {
        self.contexts = contexts;
        self
    }

    /// A one-context run: a `Group` context (group `main`) whose snapshots hold these filter
    /// results, binding by binding — the shape shell-operator gives grouped kubernetes bindings.
    #[must_use]
    pub fn snapshots<'a>(mut self, bindings: impl IntoIterator<Item = (&'a str, Vec<Value>)>) -> Self {
        let snapshots: serde_json::Map<String, Value> = bindings
            .into_iter()
            .map(|(name, items)| {
                let items = items.into_iter().map(|f| json!({ "filterResult": f })).collect();
                (name.to_string(), Value::Array(items))
            })
            .collect();
        let binding = snapshots.keys().next_back().cloned().unwrap_or_default();
        self.contexts = json!([{ "binding": binding, "type": "Group", "groupName": "main", "snapshots": snapshots }]);
        self
    }

    /// Module values (`$VALUES_PATH`).
    #[must_use]
    pub fn values(mut self, values: Value) -> Self {
        self.values = Some(values);
        self
    }

    /// Config values (`$CONFIG_VALUES_PATH`).
    #[must_use]
    pub fn config_values(mut self, values: Value) -> Self {
        self.config_values = Some(values);
        self
    }

    /// Sets a variable of the hook's environment ([`Env`](crate::env::Env)); nothing else of the
    /// process environment is visible to the handler.
    #[must_use]
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.insert(name.into(), value.into());
        self
    }

    /// Calls the handler; `Err` carries the message the run loop would log as its error line.
    pub fn run(self, handler: Handler) -> Result<Outcome, String> {
        let text = self.contexts.to_string();
        let contexts = BindingContexts::parse(&text).map_err(|e| format!("bad binding context: {e}"))?;
        self.call(contexts, handler)
    }

    /// Calls a [`run_state`](crate::run_state) handler, the state read as in production
    /// ([`BindingContexts::parse_state`]); the context text is leaked, as the process keeps it.
    pub fn run_state<S: serde::Deserialize<'static> + Default>(
        self,
        handler: StateHandler<S>,
    ) -> Result<Outcome, String> {
        let text: &'static str = self.contexts.to_string().leak();
        let (contexts, state) =
            BindingContexts::parse_state::<S>(text).map_err(|e| format!("{:#}", crate::run::state_error(e)))?;
        self.call(contexts, move |input: &mut crate::Input<'static>| handler(input, state))
    }

    fn call<'a>(
        self,
        contexts: BindingContexts<'a>,
        handler: impl FnOnce(&mut crate::Input<'a>) -> anyhow::Result<()>,
    ) -> Result<Outcome, String> {
        let default = |read: bool, v: Option<Value>| match v {
            Some(v) => v,
            None if read => json!({}),
            None => Value::Null,
        };
        let values = default(self.hook.reads.values, self.values);
        let config_values = default(self.hook.reads.config_values, self.config_values);
        let log = Logger::new(Level::Error);
        let env = crate::env::Env::fixed(self.env);
        let out = call(self.hook, handler, log, contexts, values, config_values, env).map_err(|e| format!("{e:#}"))?;
        let Some(out) = out else { return Ok(Outcome::default()) };
        let lines = |text: Option<String>| -> Vec<Value> {
            text.unwrap_or_default().lines().map(|l| serde_json::from_str(l).expect("outputs are JSON lines")).collect()
        };
        let values_patch = match out.values_patch.as_deref() {
            Some(t) if !t.trim().is_empty() => serde_json::from_str(t).expect("the values patch is a JSON array"),
            _ => Vec::new(),
        };
        Ok(Outcome { metrics: lines(out.metrics), kubernetes: lines(out.kubernetes), values_patch, called: true })
    }
}
