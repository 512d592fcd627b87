//! The module's images against a real registry and real clients: `make publish` into Debian's
//! `docker-registry` on 127.0.0.1, everything pulled back with `skopeo` and unpacked with
//! `umoci`, then checked — the bundle's files and digests, the release image, channel tags, the
//! module hooks' `--config` and golden fixtures from the unpacked bundle in a Deckhouse-like
//! chroot, the Helm release installed from the unpacked bundle by Helm's own code (its Secret
//! under 1 MiB, every module image it pulls resolving to a pushed manifest), madison-proxy
//! forwarding an alert from its unpacked image (uid 65534, read-only root), the pricing image's
//! shell-operator starting from its unpacked image and serving `/metrics` and the hooks' metrics.
//! And reproducibility: the builder run twice on the same inputs (copied at other times, with
//! other modes) gives the same digests.
//!
//! `make test` builds the images first (`make image`); the registry test runs `make publish`,
//! which is then warm. Every server listens on 127.0.0.1 only and is killed when its owner drops;
//! every process started here also runs under `timeout`, so none outlives a killed test.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use oci_image::module::{self, MODULE_HOOKS, PRICING_HOOKS};
use serde_json::Value;
use test_support::fake::{FakeServer, Reply};
use test_support::tls::TestCa;

use crate::common::root;
use crate::proxy::{get, post};

const VERSION: &str = "v0.0.1-e2e";
/// Longest any process started here may live.
const LIFETIME: &str = "600";
const HOST_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where `make image` puts the static binaries, the tool and shell-operator.
fn bins_dir() -> PathBuf {
    std::env::var_os("IMAGE_BINS").map_or_else(|| root().join("target/x86_64-unknown-linux-gnu/release"), PathBuf::from)
}

fn tool() -> PathBuf {
    let t = root().join("target/tool/oci-image");
    assert!(t.exists(), "{} is missing: run `make image` (make test does) first", t.display());
    t
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn sha256(data: &[u8]) -> String {
    oci_image::sha256_digest(data)
}

/// Polls `check` every 50 ms until it returns `Some` or `secs` pass.
fn wait_for<T>(secs: u64, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A free port on 127.0.0.1 (bound, then released).
fn free_port() -> u16 {
    test_support::http::closed_port().unwrap()
}

/// A process killed (with its `timeout` guard) when dropped.
pub(crate) struct Guarded {
    child: Child,
    log: PathBuf,
}

impl Guarded {
    fn spawn(cmd: &mut Command, log: PathBuf) -> Self {
        let file = std::fs::File::create(&log).unwrap();
        cmd.stdin(Stdio::null()).stdout(file.try_clone().unwrap()).stderr(file);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        Self { child, log }
    }

    pub(crate) fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) fn assert_running(&mut self, what: &str) {
        assert!(self.child.try_wait().unwrap().is_none(), "{what} exited:\n{}", self.logs());
    }
}

impl Drop for Guarded {
    /// SIGTERM to `timeout`, which passes it on to its command (SIGKILL would orphan the command);
    /// SIGKILL only if nothing has exited after 10 s.
    fn drop(&mut self) {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Debian's docker-registry on 127.0.0.1 with storage in a temporary directory.
struct Registry {
    process: Guarded,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = dir.path().join("config.yml");
        let storage = dir.path().join("storage");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                storage.display()
            ),
        )
        .unwrap();
        let mut cmd = Command::new("timeout");
        cmd.args(["-s", "KILL", LIFETIME, "docker-registry", "serve"]).arg(&config);
        let mut process = Guarded::spawn(&mut cmd, dir.path().join("registry.log"));
        wait_for(30, "the registry's /v2/", || {
            process.assert_running("docker-registry");
            (get(port, "/v2/").map(|r| r.0) == Some(200)).then_some(())
        });
        Self { process, port, _dir: dir }
    }
}

/// `skopeo` against the plain-HTTP test registry.
fn skopeo(args: &[&str]) -> Output {
    run(Command::new("timeout").args(["120", "skopeo"]).args(args))
}

/// Pulls `reference` into the OCI layout `layout` as `name` and unpacks it to `unpacked/name`.
fn pull_and_unpack(reference: &str, layout: &Path, name: &str, unpacked: &Path) -> PathBuf {
    let dest = format!("oci:{}:{name}", layout.display());
    skopeo(&["copy", "--quiet", "--src-tls-verify=false", &format!("docker://{reference}"), &dest]);
    let bundle = unpacked.join(name);
    run(Command::new("timeout")
        .args(["120", "umoci", "unpack", "--image"])
        .arg(format!("{}:{name}", layout.display()))
        .arg(&bundle));
    bundle
}

/// Every path under `dir`, relative, sorted, directories with a trailing `/`.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, rel: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(base.join(rel)).unwrap() {
            let e = e.unwrap();
            let rel = rel.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                out.push(format!("{}/", rel.display()));
                walk(base, &rel, out);
            } else {
                out.push(rel.display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, Path::new(""), &mut out);
    out.sort();
    out
}

/// The process (found through /proc) whose root directory is `rootfs` and whose command is `exe`.
pub(crate) fn process_in(rootfs: &Path, exe: &str) -> Option<u32> {
    let rootfs = rootfs.canonicalize().ok()?;
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let root_link = std::fs::read_link(e.path().join("root")).ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let arg0 = cmdline.split(|b| *b == 0).next()?;
        (root_link == rootfs && arg0 == exe.as_bytes()).then_some(pid)
    })
}

/// `Uid:` (real, effective, saved, fs) of a process.
fn uids(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status.lines().find_map(|l| l.strip_prefix("Uid:")).unwrap().split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Mount options of `/` as the process sees it.
fn root_mount_options(pid: u32) -> String {
    let info = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    info.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .rfind(|f| f.len() > 5 && f[4] == "/")
        .map(|f| f[5].to_string())
        .unwrap()
}

/// Runs the unpacked image at `bundle` (umoci's `config.json` gives args, env, user) in a mount
/// namespace: its rootfs bind-mounted read-only, `/dev/null` from the host, `tmp` (a host
/// directory) writable at `/tmp`, then `chroot` as the image's user. `env` is added to the
/// image's environment.
pub(crate) fn run_image(bundle: &Path, tmp: &Path, env: &[(&str, String)], log: PathBuf) -> Guarded {
    let spec: Value = serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    let process = &spec["process"];
    let user = format!("{}:{}", process["user"]["uid"], process["user"]["gid"]);
    let rootfs = bundle.join("rootfs");
    for dir in ["dev", "tmp"] {
        std::fs::create_dir_all(rootfs.join(dir)).unwrap();
    }
    std::fs::File::create(rootfs.join("dev/null")).unwrap();
    let script = r#"set -e
R="$1"; T="$2"; U="$3"; shift 3
mount --bind "$R" "$R"
mount -o remount,bind,ro "$R"
mount --bind /dev/null "$R/dev/null"
mount --bind "$T" "$R/tmp"
exec chroot --userspec="$U" "$R" "$@""#;
    let mut cmd = Command::new("timeout");
    cmd.args(["-s", "KILL", LIFETIME, "unshare", "--mount", "--propagation", "private", "--fork", "--kill-child"])
        .args(["--", "sh", "-c", script, "sh"])
        .arg(&rootfs)
        .arg(tmp)
        .arg(&user)
        .args(process["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()))
        .env_clear()
        .env("PATH", HOST_PATH);
    for kv in process["env"].as_array().unwrap() {
        let (k, v) = kv.as_str().unwrap().split_once('=').unwrap();
        cmd.env(k, v);
    }
    cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    Guarded::spawn(&mut cmd, log)
}

/// What `make publish` produced and where the pulled images were unpacked.
struct Published {
    registry: Registry,
    source: String,
    stdout: String,
    summary: BTreeMap<String, module::Summary>,
    unpacked: PathBuf,
    _dir: tempfile::TempDir,
}

fn make(target: &str, args: &[String]) -> Output {
    run(Command::new("timeout")
        .args(["1200", "make", "-s", "--no-print-directory", target])
        .arg(format!("VERSION={VERSION}"))
        .args(args)
        .current_dir(root()))
}

fn publish_and_pull() -> Published {
    // Built before the registry starts, so a cold build does not count against its lifetime.
    make("image", &[]);
    let registry = Registry::start();
    let source = format!("127.0.0.1:{}/e2e/modules", registry.port);
    let out = make("publish", &[format!("REGISTRY={source}"), "INSECURE=1".into(), "CHANNELS=alpha stable".into()]);
    let summary: BTreeMap<String, module::Summary> =
        serde_json::from_slice(&std::fs::read(root().join("dist/oci/images.json")).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (layout, unpacked) = (dir.path().join("pulled"), dir.path().join("unpacked"));
    let repo = format!("{source}/{}", module::MODULE_NAME);
    for (name, reference) in [
        ("bundle", format!("{repo}:{VERSION}")),
        ("release", format!("{repo}/release:{VERSION}")),
        ("madison-proxy", format!("{repo}@{}", summary["madison-proxy"].digest)),
        ("pricing", format!("{repo}@{}", summary["pricing"].digest)),
    ] {
        let raw = skopeo(&["inspect", "--tls-verify=false", "--raw", &format!("docker://{reference}")]).stdout;
        assert_eq!(sha256(&raw), summary[name].digest, "{reference}: the registry serves the layout's manifest");
        pull_and_unpack(&reference, &layout, name, &unpacked);
    }
    Published { registry, source, stdout: String::from_utf8(out.stdout).unwrap(), summary, unpacked, _dir: dir }
}

#[test]
fn published_images_pulled_back_unpacked_and_run() {
    let p = publish_and_pull();
    let repo = format!("{}/{}", p.source, module::MODULE_NAME);

    // The ModuleSource printed for the user.
    let docs: Vec<Value> = serde_saphyr::from_multiple(&p.stdout).unwrap();
    assert_eq!(docs[0]["kind"], "ModuleSource", "{}", p.stdout);
    assert_eq!(docs[0]["spec"]["registry"]["repo"].as_str(), Some(p.source.as_str()));
    assert_eq!(docs[0]["spec"]["registry"]["scheme"], "HTTP");
    assert_eq!(docs[1]["kind"], "ModuleConfig");

    // Release tags: the version and each channel, one manifest.
    let tags: Value = serde_json::from_slice(
        &skopeo(&["list-tags", "--tls-verify=false", &format!("docker://{repo}/release")]).stdout,
    )
    .unwrap();
    let mut tags: Vec<&str> = tags["Tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    tags.sort_unstable();
    assert_eq!(tags, ["alpha", "stable", VERSION]);
    for channel in ["alpha", "stable"] {
        let raw =
            skopeo(&["inspect", "--tls-verify=false", "--raw", &format!("docker://{repo}/release:{channel}")]).stdout;
        assert_eq!(sha256(&raw), p.summary["release"].digest, "channel {channel}");
    }

    check_bundle(&p);
    check_release(&p);
    module_hooks_answer_config_in_a_chroot(&p.unpacked.join("bundle/rootfs"));
    chart_loads_from_the_bundle_as_addon_operator_loads_it(&p.unpacked.join("bundle/rootfs"));
    release_from_the_bundle_pulls_only_pushed_images(&p);
    crate::chroot::bundle_hooks_pass_their_golden_fixtures_in_a_deckhouse_chroot(&p.unpacked.join("bundle/rootfs"));
    madison_proxy_forwards_from_its_image(&p.unpacked.join("madison-proxy"));
    pricing_operator_starts_from_its_image(&p.unpacked.join("pricing"));
    drop(p.registry.process);
}

fn check_bundle(p: &Published) {
    let rootfs = p.unpacked.join("bundle/rootfs");
    let files = tree(&rootfs);
    for f in module::BUNDLE_FILES.iter().chain(&["images_digests.json", "version.json"]) {
        assert!(files.contains(&(*f).to_string()), "bundle lacks {f}: {files:?}");
    }
    for d in module::BUNDLE_DIRS {
        assert!(files.contains(&format!("{d}/")), "bundle lacks {d}/");
        for f in tree(&root().join(d)) {
            if !f.ends_with('/') {
                let (ours, theirs) =
                    (std::fs::read(root().join(d).join(&f)).unwrap(), std::fs::read(rootfs.join(d).join(&f)).unwrap());
                assert!(ours == theirs, "{d}/{f} differs in the bundle");
            }
        }
    }
    let hooks: Vec<&str> = files.iter().filter_map(|f| f.strip_prefix("hooks/")).filter(|f| !f.is_empty()).collect();
    assert_eq!(hooks, MODULE_HOOKS, "the module hooks and nothing else");
    for h in MODULE_HOOKS {
        let path = rootfs.join("hooks").join(h);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o700, 0o700, "{h}: the owner's bits survive Deckhouse's & 0700 mask");
        assert!(std::fs::read(&path).unwrap() == std::fs::read(bins_dir().join(h)).unwrap(), "{h} is the static build");
    }
    let digests: Value = serde_json::from_slice(&std::fs::read(rootfs.join("images_digests.json")).unwrap()).unwrap();
    assert_eq!(
        digests,
        serde_json::json!({"madisonProxy": p.summary["madison-proxy"].digest, "pricing": p.summary["pricing"].digest}),
        "a flat map of the pushed component digests"
    );
    let version: Value = serde_json::from_slice(&std::fs::read(rootfs.join("version.json")).unwrap()).unwrap();
    assert_eq!(version, serde_json::json!({"version": VERSION}));
}

fn check_release(p: &Published) {
    let rootfs = p.unpacked.join("release/rootfs");
    assert_eq!(tree(&rootfs), ["changelog.yaml", "module.yaml", "version.json"]);
    for f in module::RELEASE_FILES {
        assert!(std::fs::read(rootfs.join(f)).unwrap() == std::fs::read(root().join(f)).unwrap(), "{f}");
    }
}

/// Every module hook of the unpacked bundle prints its config in a chroot holding only the
/// module folder, an empty `/tmp` and `/dev/null` (no `/etc`, no `/lib`, no `/dev/urandom`).
fn module_hooks_answer_config_in_a_chroot(bundle_rootfs: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let chroot = dir.path();
    for d in ["module", "tmp", "dev"] {
        std::fs::create_dir_all(chroot.join(d)).unwrap();
    }
    std::fs::File::create(chroot.join("dev/null")).unwrap();
    for h in MODULE_HOOKS {
        let script = r#"set -e
C="$1"; M="$2"; H="$3"
mount --bind "$M" "$C/module"
mount -o remount,bind,ro "$C/module"
mount --bind /dev/null "$C/dev/null"
exec chroot "$C" "/module/hooks/$H" --config"#;
        let out = run(Command::new("timeout")
            .args([
                "60",
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "--fork",
                "--kill-child",
                "--",
                "sh",
                "-c",
                script,
                "sh",
            ])
            .arg(chroot)
            .arg(bundle_rootfs)
            .arg(h)
            .env_clear()
            .env("PATH", HOST_PATH));
        let want = std::fs::read_to_string(root().join("hooks").join(h).join("config.yaml")).unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{h} --config from the bundle");
    }
}

/// addon-operator loads the module folder with Helm's chart loader (`loader.Load`), which honours
/// `.helmignore`; everything it loads goes into the Helm release (at most 1 MiB). Loaded here by
/// Helm's own Go code (`helm-python-sdk`, the template tests' engine) from the unpacked bundle.
fn chart_loads_from_the_bundle_as_addon_operator_loads_it(bundle_rootfs: &Path) {
    let python = root().join("target/venv/bin/python");
    assert!(python.exists(), "{} is missing: run `make deps` (make test does)", python.display());
    let script = r#"
import json, sys, helm_python
c = helm_python.Chart.load(sys.argv[1])
size = lambda d: len(d.get("data") or "") if isinstance(d.get("data"), (str, bytes)) else len(json.dumps(d.get("data")))
print(json.dumps({"templates": sorted(t["name"] for t in c.templates),
                  "files": sorted(f["name"] for f in c.files),
                  "bytes": sum(size(x) for x in c.templates + c.files)}))
"#;
    let out = run(Command::new("timeout").arg("120").arg(&python).args(["-c", script]).arg(bundle_rootfs));
    let loaded: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names = |k: &str| -> Vec<String> {
        loaded[k].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
    };
    let (templates, files) = (names("templates"), names("files"));
    assert!(!templates.is_empty() && templates.iter().all(|t| t.starts_with("templates/")), "{templates:?}");
    assert!(files.iter().all(|f| f.starts_with("monitoring/")), ".helmignore keeps everything else out: {files:?}");
    let bytes = loaded["bytes"].as_u64().unwrap();
    assert!(bytes < 1024 * 1024, "the chart's files take {bytes} bytes, over Helm's 1 MiB release limit");
}

/// The release addon-operator would install from the unpacked bundle (the operator harness runs
/// Helm's own install into Helm's Secrets storage, as addon-operator's helm3lib does), with the
/// values Deckhouse gives an external module: its registry injected (the test registry), the
/// bundle's `images_digests.json` as `global.modulesImages.digests.flantIntegration`, Madison on so
/// that madison-proxy renders too. The stored release Secret stays under the API's 1 MiB; every
/// image of the module's own registry resolves there to a manifest that was pushed; every other
/// image is Deckhouse's (its registry, its digests).
fn release_from_the_bundle_pulls_only_pushed_images(p: &Published) {
    let rootfs = p.unpacked.join("bundle/rootfs");
    let python = root().join("target/venv/bin/python");
    let out = run(Command::new("timeout")
        .args(["120"])
        .arg(&python)
        .args(["-c", "import json, test_images as t; print(json.dumps(t.madison_values()))"])
        .current_dir(root().join("tests/templates")));
    let mut values: Value = serde_json::from_slice(&out.stdout).unwrap();
    let host = p.source.split('/').next().unwrap();
    let dockercfg = base64_encode(format!(r#"{{"auths":{{"{host}":{{}}}}}}"#).as_bytes());
    values["flantIntegration"]["registry"] =
        serde_json::json!({"base": p.source, "dockercfg": dockercfg, "scheme": "http"});
    let digests: Value = serde_json::from_slice(&std::fs::read(rootfs.join("images_digests.json")).unwrap()).unwrap();
    values["global"]["modulesImages"]["digests"]["flantIntegration"] = digests;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("values.json");
    std::fs::write(&file, values.to_string()).unwrap();

    let out = run(Command::new("timeout")
        .arg("120")
        .arg(crate::harness::harness_bin())
        .arg("release")
        .arg("--chart")
        .arg(&rootfs)
        .arg(&file));
    let release: Value = serde_json::from_slice(&out.stdout).unwrap();
    let bytes = release["bytes"].as_u64().unwrap();
    assert!(bytes < 1024 * 1024, "the release Secret takes {bytes} bytes, over the API's 1 MiB");

    let manifest = release["manifest"].as_str().unwrap();
    let mut refs = Vec::new();
    for doc in serde_saphyr::from_multiple::<Value>(manifest).unwrap() {
        collect_images(&doc, &mut refs);
    }
    refs.sort();
    refs.dedup();
    let module_repo = format!("{}/{}@", p.source, module::MODULE_NAME);
    let deckhouse = values["global"]["modulesImages"]["registry"]["base"].as_str().unwrap().to_string();
    let global = &values["global"]["modulesImages"]["digests"];
    let pushed: Vec<&str> = p.summary.values().map(|s| s.digest.as_str()).collect();
    let mut module_images = 0;
    for r in &refs {
        if let Some(digest) = r.strip_prefix(&module_repo) {
            let raw = skopeo(&["inspect", "--tls-verify=false", "--raw", &format!("docker://{r}")]).stdout;
            assert_eq!(sha256(&raw), digest, "{r}: the registry serves that manifest");
            assert!(pushed.contains(&digest), "{r} is not one of the pushed images {pushed:?}");
            module_images += 1;
        } else {
            let digest =
                r.strip_prefix(&format!("{deckhouse}@")).unwrap_or_else(|| panic!("{r}: neither ours nor Deckhouse's"));
            let known = global
                .as_object()
                .unwrap()
                .iter()
                .filter(|(m, _)| *m != "flantIntegration")
                .any(|(_, images)| images.as_object().unwrap().values().any(|d| d == digest));
            assert!(known, "{r}: not a digest from Deckhouse's global.modulesImages.digests");
        }
    }
    assert_eq!(module_images, 2, "pricing and madison-proxy from the module's registry: {refs:?}");
}

/// Every `image` of a container or init container in a rendered object.
fn collect_images(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "containers" || k == "initContainers" {
                    for c in x.as_array().into_iter().flatten() {
                        out.extend(c["image"].as_str().map(String::from));
                    }
                }
                collect_images(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_images(x, out)),
        _ => {}
    }
}

fn base64_encode(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn madison_proxy_forwards_from_its_image(bundle: &Path) {
    let spec: Value = serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        (spec["process"]["user"]["uid"].as_u64(), spec["process"]["user"]["gid"].as_u64()),
        (Some(65534), Some(65534))
    );
    let rootfs = bundle.join("rootfs");
    assert!(rootfs.join(module::CA_BUNDLE_PATH).is_file(), "the image carries a CA bundle");

    let ca = TestCa::new("images test CA").unwrap();
    let cert = ca.server_cert(&["madison.flant.com"], &[]).unwrap();
    let madison = FakeServer::start_tls(&cert, |r| {
        if r.path == "/api/events/prometheus/imagekey" {
            Reply::json(200, "{}")
        } else {
            Reply::text(500, "unexpected")
        }
    })
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::copy(ca.ca_file(), tmp.path().join("ca.crt")).unwrap();
    let port = free_port();
    let log = tmp.path().join("proxy.log");
    let env = [
        ("LISTEN_HOST", "127.0.0.1".to_string()),
        ("LISTEN_PORT", port.to_string()),
        ("MADISON_BACKEND", madison.addr.to_string()),
        ("MADISON_AUTH_KEY", "imagekey".to_string()),
        ("MADISON_CA_FILE", "/tmp/ca.crt".to_string()),
    ];
    let mut proxy = run_image(bundle, tmp.path(), &env, log);
    wait_for(30, "madison-proxy /healthz", || {
        proxy.assert_running("madison-proxy");
        (get(port, "/healthz").map(|r| r.0) == Some(200)).then_some(())
    });
    let pid = process_in(&rootfs, "/madison-proxy").expect("the proxy process, chrooted in its rootfs");
    assert_eq!(uids(pid), "65534 65534 65534 65534", "runs as 65534");
    assert!(root_mount_options(pid).split(',').any(|o| o == "ro"), "read-only root");

    let body = br#"[{"labels":{"alertname":"ImageTest"},"annotations":{}}]"#;
    assert_eq!(post(port, "/api/v2/alerts", body).map(|r| r.0), Some(200), "{}", proxy.logs());
    let seen = madison.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/api/events/prometheus/imagekey");
    assert_eq!(seen[0].header("host"), Some("madison.flant.com"));
    assert_eq!(seen[0].sni.as_deref(), Some("madison.flant.com"));
    assert_eq!(&seen[0].body[..], &body[..]);
}

fn pricing_operator_starts_from_its_image(bundle: &Path) {
    let spec: Value = serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(spec["process"]["args"], serde_json::json!(["/shell-operator", "start"]));
    assert_eq!(spec["process"]["user"]["uid"].as_u64(), Some(65534));
    let rootfs = bundle.join("rootfs");
    let hooks: Vec<String> = tree(&rootfs.join("hooks"));
    assert_eq!(hooks, PRICING_HOOKS, "the pricing hooks and nothing else in /hooks");

    // No cluster: the kubeconfig names a closed loopback port. shell-operator builds its clients
    // without contacting the API, loads every hook's config, serves its HTTP port and runs the
    // onStartup hook (cluster-metrics); only the Kubernetes bindings keep retrying.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let api = free_port();
    let mut kubeconfig = std::fs::File::create(tmp.path().join("kubeconfig")).unwrap();
    write!(
        kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters: [{{name: none, cluster: {{server: 'http://127.0.0.1:{api}'}}}}]\nusers: [{{name: none, user: {{}}}}]\ncontexts: [{{name: none, context: {{cluster: none, user: none}}}}]\ncurrent-context: none\n"
    )
    .unwrap();
    std::fs::set_permissions(tmp.path().join("kubeconfig"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let port = free_port();
    let env = [
        ("SHELL_OPERATOR_LISTEN_ADDRESS", "127.0.0.1".to_string()),
        ("SHELL_OPERATOR_LISTEN_PORT", port.to_string()),
        ("DEBUG_UNIX_SOCKET", "/tmp/shell-operator-debug.socket".to_string()),
        ("KUBE_CONFIG", "/tmp/kubeconfig".to_string()),
        ("TMPDIR", "/tmp".to_string()),
        ("FP_RELEASE_CHANNEL", "Alpha".to_string()),
        ("FP_BUNDLE", "Default".to_string()),
        ("FP_MASTERS_COUNT", "3".to_string()),
    ];
    let log = tmp.path().join("operator.log");
    let mut operator = run_image(bundle, tmp.path(), &env, log);
    let metrics = wait_for(60, "shell-operator /metrics", || {
        operator.assert_running("shell-operator");
        get(port, "/metrics").filter(|r| r.0 == 200 && r.1.contains("shell_operator_")).map(|r| r.1)
    });
    assert!(metrics.contains("shell_operator_live_ticks"), "{metrics}");
    let pid = process_in(&rootfs, "/shell-operator").expect("shell-operator, chrooted in its rootfs");
    assert_eq!(uids(pid), "65534 65534 65534 65534");
    let hook_metrics = wait_for(60, "cluster-metrics' metrics on /metrics/hooks", || {
        operator.assert_running("shell-operator");
        get(port, "/metrics/hooks").map(|r| r.1).filter(|b| b.contains("flant_pricing_cluster_info{"))
    });
    assert!(hook_metrics.contains(r#"release_channel="Alpha""#), "{hook_metrics}\n{}", operator.logs());
    assert!(hook_metrics.contains("flant_pricing_masters_count{"), "{hook_metrics}");
    let logs = operator.logs();
    for h in PRICING_HOOKS {
        assert!(logs.contains(&format!(r#""msg":"Loaded config","hook":"{h}""#)), "{h} loaded:\n{logs}");
    }
}

/// Copies the module files to `dest`, then gives every copy `mtime` and group-writable modes.
fn copy_module(dest: &Path, mtime: &str) {
    for f in module::BUNDLE_FILES.iter().chain(&module::RELEASE_FILES) {
        std::fs::copy(root().join(f), dest.join(f)).unwrap();
    }
    for d in module::BUNDLE_DIRS.iter().chain(&module::OPTIONAL_BUNDLE_DIRS) {
        if root().join(d).is_dir() {
            run(Command::new("cp").arg("-r").arg(root().join(d)).arg(dest));
        }
    }
    run(Command::new("chmod").args(["-R", "g+w"]).arg(dest));
    run(Command::new("find").arg(dest).args(["-exec", "touch", "-h", "-d", mtime, "{}", "+"]));
}

#[test]
fn same_inputs_same_digests() {
    let shell_operator = root().join("target/pricing-image/shell-operator");
    assert!(shell_operator.exists(), "run `make image` first");
    let dir = tempfile::tempdir().unwrap();
    let build = |name: &str, mtime: &str, created: &str| -> Value {
        let module = dir.path().join(format!("module-{name}"));
        std::fs::create_dir_all(&module).unwrap();
        copy_module(&module, mtime);
        let out = dir.path().join(format!("out-{name}"));
        run(Command::new(tool())
            .args(["build", "--version", "v1.2.3", "--created", created, "--module-dir"])
            .arg(&module)
            .arg("--bins")
            .arg(bins_dir())
            .arg("--shell-operator")
            .arg(&shell_operator)
            .arg("--out")
            .arg(&out));
        serde_json::from_slice(&std::fs::read(out.join("images.json")).unwrap()).unwrap()
    };
    let a = build("a", "2001-02-03 04:05:06", "0");
    let b = build("b", "2023-11-14 22:13:20", "0");
    assert_eq!(a, b, "other mtimes and modes of the inputs change no digest");
    let c = build("c", "2001-02-03 04:05:06", "86400");
    for name in ["bundle", "release", "madison-proxy", "pricing"] {
        assert_ne!(a[name]["digest"], c[name]["digest"], "{name}: the timestamp is an input");
    }
}
