//! The run loop: CLI, input loading, the handler call, write-on-success, exit codes.
//!
//! `main` of every hook is one call to [`run`]. The loop
//! 1. parses the arguments (`--config`, run mode, or the local debugging mode);
//! 2. in run mode resolves every input and output path from the environment *before* running, so a
//!    missing variable fails without side effects;
//! 3. parses the binding contexts and values, calls the handler with fresh collectors, catching
//!    panics;
//! 4. only when the handler returned `Ok`, serialises every collector and writes the files.
//!
//! Any failure ends with exactly one JSON error line on stderr and exit code 1.

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::{anyhow, bail, Context as _};
use serde_json::Value;

use crate::context::{BindingContexts, ContextError};
use crate::env;
use crate::output::kube::KubeOperations;
use crate::output::metrics::Metrics;
use crate::output::values::ValuesPatch;
use crate::values::{DocumentError, Values};
use secret_log::Logger;

/// What a hook reads besides the binding contexts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reads {
    /// `$VALUES_PATH` (module hooks).
    pub values: bool,
    /// `$CONFIG_VALUES_PATH` (module hooks).
    pub config_values: bool,
}

/// Which outputs a hook may write.
#[derive(Debug, Clone, Copy, Default)]
pub struct Writes {
    /// `$METRICS_PATH`.
    pub metrics: bool,
    /// `$KUBERNETES_PATCH_PATH`.
    pub kubernetes: bool,
    /// `$VALUES_JSON_PATCH_PATH`.
    pub values: bool,
}

/// A hook: its embedded config and its declared inputs and outputs.
#[derive(Debug, Clone, Copy)]
pub struct Hook {
    /// The hook's `config.yaml`, embedded with `include_str!`.
    pub config: &'static str,
    /// Inputs besides the binding contexts.
    pub reads: Reads,
    /// Outputs.
    pub writes: Writes,
}

/// Everything a handler gets: inputs, a logger and the three collectors. `Debug` never prints
/// the values or the snapshots' content (they hold the license and Madison keys).
pub struct Input<'a> {
    /// The parsed binding contexts and their effective state.
    pub contexts: BindingContexts<'a>,
    /// Module values (`Value::Null` unless the hook reads them).
    pub values: Value,
    /// Config values (`Value::Null` unless the hook reads them).
    pub config_values: Value,
    /// The stderr logger.
    pub log: Logger,
    /// The environment the hook reads its own settings from (`FP_*`, `PROMETHEUS_*`, …).
    pub env: crate::env::Env,
    /// Metric operations.
    pub metrics: Metrics,
    /// Kubernetes operations.
    pub kube: KubeOperations,
    /// Values patch.
    pub values_patch: ValuesPatch,
}

impl std::fmt::Debug for Input<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("contexts", &self.contexts)
            .field("values", &crate::shape::Shape(&self.values))
            .field("config_values", &crate::shape::Shape(&self.config_values))
            .field("env", &self.env)
            .field("metrics", &self.metrics)
            .field("kube", &self.kube)
            .field("values_patch", &self.values_patch)
            .finish_non_exhaustive()
    }
}

impl Input<'_> {
    /// Typed access to the module values.
    #[must_use]
    pub fn values(&self) -> Values<'_> {
        Values::new(&self.values)
    }

    /// Typed access to the config values.
    #[must_use]
    pub fn config_values(&self) -> Values<'_> {
        Values::new(&self.config_values)
    }
}

/// A handler: computes all outputs from the inputs.
pub type Handler = for<'a, 'b> fn(&'b mut Input<'a>) -> anyhow::Result<()>;

struct Paths {
    binding_context: PathBuf,
    /// The operator wrote the binding context for this run and removes it only after the hook
    /// has exited (`BINDING_CONTEXT_PATH`), so it may be mapped; a file named by
    /// `--binding-context` may be rewritten while the hook runs, so it is read.
    handed_over: bool,
    values: Option<PathBuf>,
    config_values: Option<PathBuf>,
    metrics: Option<PathBuf>,
    kubernetes: Option<PathBuf>,
    values_patch: Option<PathBuf>,
}

enum Mode {
    Config,
    Run(Paths),
}

static PANIC_MESSAGE: Mutex<Option<String>> = Mutex::new(None);

/// A handler of a hook that reads its snapshots into its own state type `S` (see [`run_state`]).
pub type StateHandler<S> = fn(&mut Input<'static>, S) -> anyhow::Result<()>;

/// Runs a hook as the operators do and returns the process exit code.
#[must_use]
pub fn run(hook: &Hook, handler: Handler) -> ExitCode {
    run_with(hook, |text| Ok((BindingContexts::parse(text).context("bad binding context")?, handler)))
}

/// [`run`] for a hook that reads large snapshots: the binding context file is parsed and its
/// state read into `S` in one pass ([`BindingContexts::parse_state`]), and the handler gets both.
/// The file's text lives until the process exits (a hook's run is the process's life), so `S`
/// borrows its strings from it.
#[must_use]
pub fn run_state<S: serde::Deserialize<'static> + Default>(hook: &Hook, handler: StateHandler<S>) -> ExitCode {
    run_with(hook, |text| {
        let (contexts, state) = BindingContexts::parse_state::<S>(text).map_err(state_error)?;
        Ok((contexts, move |input: &mut Input<'static>| handler(input, state)))
    })
}

/// An error of [`BindingContexts::parse_state`] as the run loop reports it: a bad file as
/// [`run`] does, a bad snapshot item as the handler's own `snapshot` call would.
pub(crate) fn state_error(e: ContextError) -> anyhow::Error {
    match e {
        ContextError::BadItem { .. } => anyhow::Error::new(e),
        _ => anyhow::Error::new(e).context("bad binding context"),
    }
}

/// The run loop around one way of parsing the binding context file into contexts and a call.
fn run_with<F>(
    hook: &Hook,
    start: impl FnOnce(&'static str) -> anyhow::Result<(BindingContexts<'static>, F)>,
) -> ExitCode
where
    F: FnOnce(&mut Input<'static>) -> anyhow::Result<()>,
{
    let log = Logger::from_env();
    panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(ToString::to_string)
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let place = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        if let Ok(mut slot) = PANIC_MESSAGE.lock() {
            *slot = Some(format!("{msg}{place}"));
        }
    }));
    let result = panic::catch_unwind(AssertUnwindSafe(|| run_inner(hook, start, log)));
    let result = result.unwrap_or_else(|_| {
        let msg = PANIC_MESSAGE.lock().ok().and_then(|mut m| m.take()).unwrap_or_default();
        Err(anyhow!("hook panicked: {msg}"))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log.error(&format!("{e:#}"), &[]);
            ExitCode::FAILURE
        }
    }
}

fn run_inner<F>(
    hook: &Hook,
    start: impl FnOnce(&'static str) -> anyhow::Result<(BindingContexts<'static>, F)>,
    log: Logger,
) -> anyhow::Result<()>
where
    F: FnOnce(&mut Input<'static>) -> anyhow::Result<()>,
{
    match parse_args(hook, std::env::args_os().skip(1))? {
        Mode::Config => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(hook.config.as_bytes()).context("failed to write the config to stdout")?;
            out.flush().context("failed to write the config to stdout")?;
            Ok(())
        }
        Mode::Run(paths) => execute(hook, start, log, &paths),
    }
}

fn parse_args(hook: &Hook, args: impl Iterator<Item = std::ffi::OsString>) -> anyhow::Result<Mode> {
    use clap::{Arg, ArgAction, Command};
    let cmd = Command::new("hook")
        .no_binary_name(true)
        .disable_help_flag(true)
        .disable_version_flag(true)
        .arg(Arg::new("config").long("config").action(ArgAction::SetTrue))
        .arg(Arg::new("binding-context").long("binding-context").value_parser(clap::value_parser!(PathBuf)))
        .arg(Arg::new("values").long("values").value_parser(clap::value_parser!(PathBuf)))
        .arg(Arg::new("config-values").long("config-values").value_parser(clap::value_parser!(PathBuf)))
        .arg(Arg::new("out").long("out").value_parser(clap::value_parser!(PathBuf)));
    let m = cmd.try_get_matches_from(args).map_err(|e| {
        let text = e.to_string();
        let first = text.lines().next().unwrap_or("invalid arguments").trim_start_matches("error: ");
        anyhow!("invalid arguments: {first}")
    })?;
    let bc = m.get_one::<PathBuf>("binding-context").cloned();
    let values = m.get_one::<PathBuf>("values").cloned();
    let config_values = m.get_one::<PathBuf>("config-values").cloned();
    let out = m.get_one::<PathBuf>("out").cloned();
    if m.get_flag("config") {
        if bc.is_some() || values.is_some() || config_values.is_some() || out.is_some() {
            bail!("invalid arguments: --config takes no other argument");
        }
        return Ok(Mode::Config);
    }
    if let Some(bc) = bc {
        let dir = out.unwrap_or_else(|| PathBuf::from("."));
        let w = hook.writes;
        return Ok(Mode::Run(Paths {
            binding_context: bc,
            handed_over: false,
            values: values.filter(|_| hook.reads.values),
            config_values: config_values.filter(|_| hook.reads.config_values),
            metrics: w.metrics.then(|| dir.join("metrics.json")),
            kubernetes: w.kubernetes.then(|| dir.join("kubernetes.json")),
            values_patch: w.values.then(|| dir.join("values.json")),
        }));
    }
    if values.is_some() || config_values.is_some() || out.is_some() {
        bail!("invalid arguments: --values, --config-values and --out need --binding-context");
    }
    let need = |name: &str| -> anyhow::Result<PathBuf> {
        match env::var(name) {
            Some(v) if !v.is_empty() => Ok(PathBuf::from(v)),
            _ => bail!("environment variable {name} is not set"),
        }
    };
    let w = hook.writes;
    let r = hook.reads;
    Ok(Mode::Run(Paths {
        binding_context: need(env::BINDING_CONTEXT_PATH)?,
        handed_over: true,
        values: if r.values { Some(need(env::VALUES_PATH)?) } else { None },
        config_values: if r.config_values { Some(need(env::CONFIG_VALUES_PATH)?) } else { None },
        metrics: if w.metrics { Some(need(env::METRICS_PATH)?) } else { None },
        kubernetes: if w.kubernetes { Some(need(env::KUBERNETES_PATCH_PATH)?) } else { None },
        values_patch: if w.values { Some(need(env::VALUES_JSON_PATCH_PATH)?) } else { None },
    }))
}

fn read_json_object(path: &Path, what: &str) -> anyhow::Result<Value> {
    let text = fs::read_to_string(path).with_context(|| format!("failed to read {what} {}", path.display()))?;
    crate::values::parse_document(&text).map_err(|e| match e {
        DocumentError::NotJson(m) => anyhow!("{what} {} is not valid JSON: {m}", path.display()),
        DocumentError::NotObject(got) => anyhow!("{what} {}: expected a JSON object, got {got}", path.display()),
    })
}

fn execute<F>(
    hook: &Hook,
    start: impl FnOnce(&'static str) -> anyhow::Result<(BindingContexts<'static>, F)>,
    log: Logger,
    paths: &Paths,
) -> anyhow::Result<()>
where
    F: FnOnce(&mut Input<'static>) -> anyhow::Result<()>,
{
    // Read once, kept until the process exits: the contexts and a typed state borrow from it.
    let text = if paths.handed_over {
        // shell-operator v1.20.2 and addon-operator v1.24.4 write a new file per run and remove
        // it after the hook has exited: `mapped_file`'s precondition
        // (`docs/internal/decisions.md`, "Performance round 4: the hooks' binding context").
        mapped_file::read_unchanging(&paths.binding_context)
    } else {
        fs::read_to_string(&paths.binding_context).map(|t| &*t.leak())
    }
    .with_context(|| format!("failed to read binding context {}", paths.binding_context.display()))?;
    let (contexts, handler) = start(text)?;
    let values = match &paths.values {
        Some(p) => read_json_object(p, "values file")?,
        None if hook.reads.values => Value::Object(serde_json::Map::new()),
        None => Value::Null,
    };
    let config_values = match &paths.config_values {
        Some(p) => read_json_object(p, "config values file")?,
        None if hook.reads.config_values => Value::Object(serde_json::Map::new()),
        None => Value::Null,
    };
    let Some(files) = call(hook, handler, log, contexts, values, config_values, crate::env::Env::process())? else {
        return Ok(());
    };
    let outputs = [
        (&paths.metrics, files.metrics),
        (&paths.kubernetes, files.kubernetes),
        (&paths.values_patch, files.values_patch),
    ];
    write_all(outputs.iter().filter_map(|(p, c)| Some((p.as_deref()?, c.as_deref()?))))
}

/// The serialised outputs of one successful handler call, as the operator's files hold them
/// (`None`: the hook does not declare that output).
#[derive(Debug, Default)]
pub(crate) struct Outputs {
    pub(crate) metrics: Option<String>,
    pub(crate) kubernetes: Option<String>,
    pub(crate) values_patch: Option<String>,
}

/// Calls the handler on parsed inputs with fresh collectors and serialises what it recorded.
/// `None`: the binding context array is empty, so there is nothing to do and nothing to write.
pub(crate) fn call<'a>(
    hook: &Hook,
    handler: impl FnOnce(&mut Input<'a>) -> anyhow::Result<()>,
    log: Logger,
    contexts: BindingContexts<'a>,
    values: Value,
    config_values: Value,
    env: crate::env::Env,
) -> anyhow::Result<Option<Outputs>> {
    if contexts.is_empty() {
        log.debug("empty binding context: nothing to do", &[]);
        return Ok(None);
    }
    let values_patch = ValuesPatch::new(&values);
    let mut input = Input {
        contexts,
        values,
        config_values,
        log,
        env,
        metrics: Metrics::new(log),
        kube: KubeOperations::default(),
        values_patch,
    };
    handler(&mut input)?;

    // Serialise everything first: a serialisation error writes nothing.
    let w = hook.writes;
    let mut out = Outputs::default();
    if w.metrics {
        out.metrics = Some(input.metrics.to_json_lines());
    } else if !input.metrics.is_empty() {
        bail!("hook produced metrics but does not declare them");
    }
    if w.kubernetes {
        out.kubernetes = Some(input.kube.to_json_lines().context("failed to serialise Kubernetes operations")?);
    } else if !input.kube.is_empty() {
        bail!("hook produced Kubernetes operations but does not declare them");
    }
    if w.values {
        out.values_patch = Some(input.values_patch.to_json().context("failed to serialise the values patch")?);
    } else if !input.values_patch.is_empty() {
        bail!("hook produced a values patch but does not declare it");
    }
    Ok(Some(out))
}

/// Writes every output or none: each goes to a temporary file beside its target first, and only
/// when all of them are written are they renamed into place. A full disk or a failing write
/// leaves the operator's files as the operator created them (empty), so a failed run has no
/// side effects.
fn write_all<'a>(files: impl Iterator<Item = (&'a Path, &'a str)>) -> anyhow::Result<()> {
    let mut staged: Vec<(PathBuf, &Path)> = Vec::new();
    let result = (|| {
        for (path, content) in files {
            let mut tmp = path.as_os_str().to_owned();
            tmp.push(format!(".{}.tmp", std::process::id()));
            let tmp = PathBuf::from(tmp);
            staged.push((tmp.clone(), path));
            fs::write(&tmp, content).with_context(|| format!("failed to write {}", path.display()))?;
        }
        for (tmp, path) in &staged {
            fs::rename(tmp, path).with_context(|| format!("failed to write {}", path.display()))?;
        }
        Ok(())
    })();
    if result.is_err() {
        for (tmp, _) in &staged {
            let _ = fs::remove_file(tmp);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOOK: Hook = Hook {
        config: "configVersion: v1\n",
        reads: Reads { values: false, config_values: false },
        writes: Writes { metrics: true, kubernetes: false, values: false },
    };

    fn args<'a>(list: &'a [&'a str]) -> impl Iterator<Item = std::ffi::OsString> + 'a {
        list.iter().map(std::ffi::OsString::from)
    }

    #[test]
    fn config_and_unknown_arguments() {
        assert!(matches!(parse_args(&HOOK, args(&["--config"])).unwrap(), Mode::Config));
        for bad in [&["hook", "list"][..], &["--help"], &["--config", "--out", "x"], &["--values", "v"]] {
            let e = parse_args(&HOOK, args(bad)).err().unwrap().to_string();
            assert!(e.starts_with("invalid arguments"), "{bad:?}: {e}");
            assert!(!e.contains('\n'));
        }
    }

    /// Every type that holds input documents formats without their content: a `{:?}` in a log
    /// line or an error can never print the license or Madison key.
    #[test]
    fn debug_never_prints_input_content() {
        const SECRET: &str = "PlAnTeD-s3cr3t";
        let text = serde_json::json!([{
            "binding": "main", "type": "Group", "groupName": "main",
            "snapshots": {"secrets": [{"filterResult": {"key": SECRET}}]},
        }, {
            "binding": "secrets", "type": "Synchronization", "objects": [{"object": {"data": SECRET}}],
        }])
        .to_string();
        let values = serde_json::json!({"flantIntegration": {"internal": {"licenseKey": SECRET}}});
        let contexts = BindingContexts::parse(&text).unwrap();
        let mut patch = ValuesPatch::new(&values);
        patch.add("/flantIntegration/internal/madisonAuthKey", Value::from(SECRET)).unwrap();
        let log = Logger::new(secret_log::Level::Error);
        let rendered = [
            format!("{contexts:?}"),
            format!("{:?}", contexts.contexts()),
            format!("{patch:?}"),
            format!("{:?}", patch.operations()),
            format!("{:?}", crate::values::Values::new(&values)),
        ];
        let input = Input {
            contexts,
            values: values.clone(),
            config_values: values.clone(),
            log,
            env: crate::env::Env::fixed([("FP_X", SECRET)]),
            metrics: Metrics::new(log),
            kube: KubeOperations::default(),
            values_patch: patch,
        };
        for text in rendered.iter().chain([&format!("{input:?}"), &format!("{input:#?}")]) {
            assert!(!text.contains(SECRET), "a secret reached Debug: {text}");
        }
        // The structure stays readable.
        assert!(format!("{input:?}").contains("/flantIntegration/internal/madisonAuthKey"));
    }

    /// Regression (a full disk left a partial file; a later failing write left earlier outputs
    /// written): outputs are staged and renamed only when every one was written.
    #[test]
    fn a_failing_write_leaves_every_output_as_it_was() {
        let dir = std::env::temp_dir().join(format!("shell-hook-write-all-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let metrics = dir.join("metrics.json");
        fs::write(&metrics, "").unwrap();
        let unwritable = dir.join("missing-dir").join("values.json");
        let err =
            write_all([(metrics.as_path(), "{\"x\":1}\n"), (unwritable.as_path(), "[]")].into_iter()).unwrap_err();
        assert!(format!("{err:#}").contains("values.json"), "{err:#}");
        assert_eq!(fs::read_to_string(&metrics).unwrap(), "", "the first output was not touched");
        let left: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("metrics.json")], "no temporary file is left");
        write_all([(metrics.as_path(), "{\"x\":1}\n")].into_iter()).unwrap();
        assert_eq!(fs::read_to_string(&metrics).unwrap(), "{\"x\":1}\n");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn local_mode_names_output_files_in_the_out_dir() {
        let Mode::Run(p) = parse_args(&HOOK, args(&["--binding-context", "bc.json", "--out", "o"])).unwrap() else {
            panic!("expected run mode")
        };
        assert_eq!(p.binding_context, PathBuf::from("bc.json"));
        assert_eq!(p.metrics, Some(PathBuf::from("o/metrics.json")));
        assert_eq!(p.kubernetes, None);
    }
}
