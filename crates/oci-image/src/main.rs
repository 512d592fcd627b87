//! `oci-image`: builds the module's OCI layouts and pushes them; the Makefile's `image` and
//! `publish` targets call it.
//!
//! ```text
//! oci-image build   --module-dir DIR --bins DIR --shell-operator FILE --version vX.Y.Z --out DIR
//!                   [--created SECONDS] [--allow-missing]
//! oci-image publish --layouts DIR --registry HOST[:PORT]/PATH --version vX.Y.Z
//!                   [--insecure] [--channels alpha,beta,...]
//! ```
//!
//! `--created` defaults to `SOURCE_DATE_EPOCH`, else 0. `publish` takes credentials from
//! `REGISTRY_USER` and `REGISTRY_PASSWORD` (anonymous without them). Progress and the digests go
//! to stderr (`build` writes them to `<out>/images.json`); stdout carries only the ModuleSource
//! `publish` prints, so `make publish ... | kubectl apply -f -` works.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use oci_client::secrets::RegistryAuth;
use oci_image::{module, publish};

const USAGE: &str = "usage:
  oci-image build   --module-dir DIR --bins DIR --shell-operator FILE --version vX.Y.Z --out DIR [--created SECONDS] [--allow-missing]
  oci-image publish --layouts DIR --registry HOST[:PORT]/PATH --version vX.Y.Z [--insecure] [--channels alpha,beta]";

/// `--name value` pairs and `--flag`s.
struct Args {
    values: BTreeMap<String, String>,
    flags: Vec<String>,
}

impl Args {
    fn parse(args: &[String], flags: &[&str]) -> anyhow::Result<Self> {
        let mut values = BTreeMap::new();
        let mut seen = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let Some(name) = a.strip_prefix("--") else { bail!("unexpected argument {a:?}\n{USAGE}") };
            if flags.contains(&name) {
                seen.push(name.to_string());
            } else {
                let v = it.next().with_context(|| format!("--{name} needs a value"))?;
                values.insert(name.to_string(), v.clone());
            }
        }
        Ok(Self { values, flags: seen })
    }

    fn take(&mut self, name: &str) -> anyhow::Result<String> {
        self.values.remove(name).with_context(|| format!("--{name} is required\n{USAGE}"))
    }

    fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }

    fn done(self) -> anyhow::Result<()> {
        match self.values.keys().next() {
            Some(k) => bail!("unknown option --{k}\n{USAGE}"),
            None => Ok(()),
        }
    }
}

fn build(mut args: Args) -> anyhow::Result<()> {
    let created = match args.values.remove("created").or_else(|| std::env::var("SOURCE_DATE_EPOCH").ok()) {
        Some(s) => s.trim().parse().with_context(|| format!("--created/SOURCE_DATE_EPOCH: {s:?} is not seconds"))?,
        None => 0,
    };
    let inputs = module::Inputs {
        module_dir: PathBuf::from(args.take("module-dir")?),
        bins_dir: PathBuf::from(args.take("bins")?),
        shell_operator: PathBuf::from(args.take("shell-operator")?),
        version: args.take("version")?,
        created,
        allow_missing: args.flag("allow-missing"),
    };
    let out = PathBuf::from(args.take("out")?);
    args.done()?;
    let built = module::build(&inputs).context("failed to build the images")?;
    let mut err = std::io::stderr().lock();
    for m in &built.missing {
        writeln!(err, "oci-image: warning: {} is missing; the images lack it", m.display())?;
    }
    let summary = module::write(&built, &out).with_context(|| format!("failed to write {}", out.display()))?;
    for (name, s) in summary {
        writeln!(err, "{name:<14} {}  {}", s.digest, out.join(&name).display())?;
    }
    Ok(())
}

fn publish_cmd(mut args: Args) -> anyhow::Result<()> {
    let layouts = PathBuf::from(args.take("layouts")?);
    let registry = args.take("registry")?;
    let version = args.take("version")?;
    let channels: Vec<String> = args
        .values
        .remove("channels")
        .unwrap_or_default()
        .split([',', ' '])
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect();
    let insecure = args.flag("insecure");
    args.done()?;
    let auth = match (std::env::var("REGISTRY_USER"), std::env::var("REGISTRY_PASSWORD")) {
        (Ok(u), Ok(p)) if !u.is_empty() => RegistryAuth::Basic(u, p),
        _ => RegistryAuth::Anonymous,
    };
    let target = publish::Target::parse(&registry, insecure, auth)?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let pushed = runtime
        .block_on(publish::publish(&layouts, &target, &version, &channels))
        .with_context(|| format!("failed to publish to {registry}"))?;
    let mut err = std::io::stderr().lock();
    for (reference, digest) in &pushed {
        writeln!(err, "pushed {reference}  ({digest})")?;
    }
    writeln!(err, "\nApply this in the cluster to install {} from {}:\n", module::MODULE_NAME, target.source())?;
    std::io::stdout().lock().write_all(publish::module_source_yaml(&target).as_bytes())?;
    Ok(())
}

fn run() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.split_first() {
        Some((cmd, rest)) if cmd == "build" => build(Args::parse(rest, &["allow-missing"])?),
        Some((cmd, rest)) if cmd == "publish" => publish_cmd(Args::parse(rest, &["insecure"])?),
        Some((cmd, _)) if cmd == "--help" || cmd == "-h" => {
            writeln!(std::io::stdout(), "{USAGE}")?;
            Ok(())
        }
        _ => bail!("{USAGE}"),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "oci-image: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
