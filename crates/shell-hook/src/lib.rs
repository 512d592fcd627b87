//! The shell-operator / addon-operator hook I/O contract, implemented once.
//!
//! A hook of this project is a small binary: a `config.yaml` embedded in it and one handler. Its
//! `main` is a single call to [`run`]; this crate does the rest: `--config`, reading
//! `$BINDING_CONTEXT_PATH` and the values files, typed snapshot access, collecting metrics,
//! Kubernetes operations and values patches, and writing them only after the handler succeeded.
//!
//! # Binding contexts
//! [`BindingContexts`] validates every element and derives the effective state from the last
//! state-carrying context; [`BindingContexts::snapshot`] deserialises `filterResult`s into a typed
//! struct, naming the binding, the item and the field on error. A hook that reads large snapshots
//! runs with [`run_state`] instead of [`run`]: its state type (one [`Snapshot`] field per binding)
//! is read in the same single pass that validates the file ([`BindingContexts::parse_state`]);
//! a snapshot that is only counted is folded into a [`Tally`] as it is read.
//!
//! # Outputs
//! [`Metrics`] (canonical JSON lines, groups, `expire`/`set`), [`KubeOperations`] (the nine
//! operator operations), [`ValuesPatch`] (`add`/`remove` under `/flantIntegration/` only, missing
//! ancestors added, no-op when unchanged).
//!
//! # Example
//! ```no_run
//! use shell_hook::{run, Hook, Input, Reads, Writes};
//!
//! const HOOK: Hook = Hook {
//!     config: "configVersion: v1\nonStartup: 1\n",
//!     reads: Reads { values: false, config_values: false },
//!     writes: Writes { metrics: true, kubernetes: false, values: false },
//! };
//!
//! fn handle(input: &mut Input<'_>) -> anyhow::Result<()> {
//!     input.metrics.expire("group_example");
//!     input.metrics.set("example_metric", "group_example", 1.0, [("kind", "demo")]);
//!     Ok(())
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     run(&HOOK, handle)
//! }
//! ```

mod config;
mod context;
pub mod env;
mod output;
mod run;
mod shape;
mod tally;
#[cfg(feature = "testing")]
pub mod testing;
mod values;

pub use config::{
    ConfigVersion, FieldExpression, FieldOperator, FieldSelector, HookConfig, KubernetesBinding, LabelExpression,
    LabelOperator, LabelSelector, NameSelector, NamespaceSelector, ScheduleBinding, Settings, WatchEvent,
};
pub use context::{BindingContext, BindingContexts, ContextError, ContextType, Snapshot};
pub use env::Env;
pub use output::kube::{KubeOperation, KubeOperations, ObjectRef, PatchFlags};
pub use output::metrics::{format_value, MetricOperation, Metrics};
pub use output::values::{escape as escape_pointer_token, PatchError, ValuesOperation, ValuesPatch, MODULE_ROOT};
pub use run::{run, run_state, Handler, Hook, Input, Reads, StateHandler, Writes};
pub use secret_log::Secret;
pub use secret_log::{Level, Logger};
pub use tally::{Members, Tally};
pub use values::{parse_document, type_name, DocumentError, Values, ValuesError};
