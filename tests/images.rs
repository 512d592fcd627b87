//! The module's images against a real registry and real clients: `make publish` into Debian's
//! `docker-registry` on 127.0.0.1, everything pulled back with `skopeo` and unpacked with
//! `umoci`, then checked — the bundle's files and digests, the release image, channel tags, the
//! module hooks' `--config` and golden fixtures from the unpacked bundle in a Deckhouse-like
//! chroot, the Helm release installed from the unpacked bundle by Helm's own code (its Secret
//! under 1 MiB, every module image it pulls resolving to a pushed manifest), madison-proxy
//! forwarding an alert from its unpacked image (uid 65534, read-only root), the pricing image's
//! shell-operator starting from its unpacked image and serving `/metrics` and the hooks' metrics.
//! And reproducibility: `make image` (buildah, from the Dockerfiles) run twice on the same inputs
//! (copied at other times, with other modes) gives the same digests.
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

use serde::Deserialize;
use serde_json::Value;
use sha2::Digest as _;
use test_support::fake::{FakeServer, Reply};
use test_support::tls::TestCa;

use crate::common::root;
use crate::harness::{module_hooks, pricing_hooks};
use crate::proxy::{get, post};

const VERSION: &str = "v0.0.1-e2e";
/// The module's name: the bundle's repository and the ModuleSource's module.
const MODULE_NAME: &str = "flant-integration";
/// Files of the module folder the bundle carries (besides `images_digests.json`, `version.json`).
const BUNDLE_FILES: [&str; 3] = ["module.yaml", "Chart.yaml", ".helmignore"];
/// Directories of the module folder the bundle carries.
const BUNDLE_DIRS: [&str; 4] = ["templates", "openapi", "monitoring", "docs"];
/// Files of the release image besides `version.json`.
const RELEASE_FILES: [&str; 2] = ["module.yaml", "changelog.yaml"];
/// The component images (`images/<name>/Dockerfile`) and their keys in `images_digests.json`.
const COMPONENTS: [(&str, &str); 2] = [("madison-proxy", "madisonProxy"), ("pricing", "pricing")];
/// Longest any process started here may live.
const LIFETIME: &str = "600";
const HOST_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where `make image` puts the static binaries, the tool and shell-operator.
fn bins_dir() -> PathBuf {
    std::env::var_os("IMAGE_BINS").map_or_else(|| root().join("target/x86_64-unknown-linux-gnu/release"), PathBuf::from)
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
    use std::fmt::Write as _;
    sha2::Sha256::digest(data).iter().fold("sha256:".to_string(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// One image of `dist/oci/images.json`.
#[derive(Debug, Deserialize, PartialEq, Eq)]
struct Summary {
    tag: String,
    digest: String,
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
    /// With `user`, the registry wants that user's password (htpasswd, bcrypt).
    fn start(user: Option<(&str, &str)>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = dir.path().join("config.yml");
        let storage = dir.path().join("storage");
        let auth = user.map_or_else(String::new, |(name, password)| {
            // Python's crypt(3) binding writes the bcrypt hash distribution's htpasswd reads.
            let script = "import crypt, sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))";
            let hash = run(Command::new("python3").args(["-W", "ignore", "-c", script, password])).stdout;
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, format!("{name}:{}", String::from_utf8(hash).unwrap())).unwrap();
            format!("auth:\n  htpasswd:\n    realm: test\n    path: {}\n", file.display())
        });
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n{auth}http:\n  addr: 127.0.0.1:{port}\n",
                storage.display()
            ),
        )
        .unwrap();
        let mut cmd = Command::new("timeout");
        cmd.args(["-s", "KILL", LIFETIME, "docker-registry", "serve"]).arg(&config);
        let mut process = Guarded::spawn(&mut cmd, dir.path().join("registry.log"));
        wait_for(30, "the registry's /v2/", || {
            process.assert_running("docker-registry");
            matches!(get(port, "/v2/").map(|r| r.0), Some(200 | 401)).then_some(())
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
    summary: BTreeMap<String, Summary>,
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
    let registry = Registry::start(None);
    let source = format!("127.0.0.1:{}/e2e/modules", registry.port);
    let out = make("publish", &[format!("REGISTRY={source}"), "INSECURE=1".into(), "CHANNELS=alpha stable".into()]);
    let summary: BTreeMap<String, Summary> =
        serde_json::from_slice(&std::fs::read(root().join("dist/oci/images.json")).unwrap()).unwrap();
    assert!(summary.values().all(|s| s.tag == VERSION), "{summary:?}");
    let dir = tempfile::tempdir().unwrap();
    let (layout, unpacked) = (dir.path().join("pulled"), dir.path().join("unpacked"));
    let repo = format!("{source}/{MODULE_NAME}");
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
    let repo = format!("{}/{MODULE_NAME}", p.source);

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
    publish_logs_in_and_never_prints_the_password(&p.summary);
}

/// `make publish`'s pusher (`tools/images/publish.sh`, on the layouts `make image` wrote) against
/// a registry that wants a password: a wrong one fails, the right one pushes; neither reaches
/// stdout or stderr.
fn publish_logs_in_and_never_prints_the_password(summary: &BTreeMap<String, Summary>) {
    const PASSWORD: &str = "pw-images-test-3f9c";
    let registry = Registry::start(Some(("pusher", PASSWORD)));
    let source = format!("127.0.0.1:{}/private", registry.port);
    let publish = |password: &str| {
        Command::new("timeout")
            .args(["300", "tools/images/publish.sh"])
            .env("REGISTRY", &source)
            .env("VERSION", VERSION)
            .env("INSECURE", "1")
            .env("REGISTRY_USER", "pusher")
            .env("REGISTRY_PASSWORD", password)
            .current_dir(root())
            .output()
            .unwrap()
    };
    let wrong = publish("not-the-password");
    let text = format!("{}{}", String::from_utf8_lossy(&wrong.stdout), String::from_utf8_lossy(&wrong.stderr));
    assert!(!wrong.status.success() && text.contains("unauthorized"), "{text}");
    assert!(!text.contains("not-the-password"), "the password is printed: {text}");
    let right = publish(PASSWORD);
    let text = format!("{}{}", String::from_utf8_lossy(&right.stdout), String::from_utf8_lossy(&right.stderr));
    assert!(right.status.success(), "{text}");
    assert!(!text.contains(PASSWORD), "the password is printed: {text}");
    assert!(text.contains("dockerCfg: <base64 dockerconfigjson>"), "{text}");
    let reference = format!("docker://{source}/{MODULE_NAME}:{VERSION}");
    let creds = format!("pusher:{PASSWORD}");
    let raw = skopeo(&["inspect", "--tls-verify=false", "--creds", &creds, "--raw", &reference]).stdout;
    assert_eq!(sha256(&raw), summary["bundle"].digest);
}

fn check_bundle(p: &Published) {
    let rootfs = p.unpacked.join("bundle/rootfs");
    let files = tree(&rootfs);
    for f in BUNDLE_FILES.iter().chain(&["images_digests.json", "version.json"]) {
        assert!(files.contains(&(*f).to_string()), "bundle lacks {f}: {files:?}");
    }
    for d in BUNDLE_DIRS {
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
    assert_eq!(hooks, module_hooks(), "the module hooks and nothing else");
    for h in module_hooks() {
        let path = rootfs.join("hooks").join(h);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o700, 0o700, "{h}: the owner's bits survive Deckhouse's & 0700 mask");
        assert!(std::fs::read(&path).unwrap() == std::fs::read(bins_dir().join(h)).unwrap(), "{h} is the static build");
    }
    let digests: Value = serde_json::from_slice(&std::fs::read(rootfs.join("images_digests.json")).unwrap()).unwrap();
    let want: serde_json::Map<String, Value> =
        COMPONENTS.iter().map(|(name, key)| ((*key).to_string(), p.summary[*name].digest.clone().into())).collect();
    assert_eq!(
        digests,
        Value::Object(want),
        "a flat map of the pushed component digests, keyed as Deckhouse keys them"
    );
    let version: Value = serde_json::from_slice(&std::fs::read(rootfs.join("version.json")).unwrap()).unwrap();
    assert_eq!(version, serde_json::json!({"version": VERSION}));
}

fn check_release(p: &Published) {
    let rootfs = p.unpacked.join("release/rootfs");
    assert_eq!(tree(&rootfs), ["changelog.yaml", "module.yaml", "version.json"]);
    for f in RELEASE_FILES {
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
    for h in module_hooks() {
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
    let module_repo = format!("{}/{MODULE_NAME}@", p.source);
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
    assert_eq!(hooks, pricing_hooks(), "the pricing hooks and nothing else in /hooks");

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
    for h in pricing_hooks() {
        assert!(logs.contains(&format!(r#""msg":"Loaded config","hook":"{h}""#)), "{h} loaded:\n{logs}");
    }
}

/// The pricing image's hooks (`images/pricing/hooks.txt`) are the hooks the CLI previews as the
/// pricing pod's, and each has a folder under `hooks/`.
#[test]
fn pricing_image_carries_the_pricing_hooks() {
    let mut cli: Vec<&str> = flant_integration_cli::hooks::PRICING_HOOKS.iter().map(|(h, _, _)| *h).collect();
    cli.sort_unstable();
    assert_eq!(pricing_hooks(), cli);
    for h in pricing_hooks() {
        assert!(root().join("hooks").join(h).is_dir(), "hooks/{h}");
    }
    assert_eq!(module_hooks().len() + pricing_hooks().len(), crate::common::HOOKS.len());
}

/// Copies `src` (a file or a tree) to `dest`, then gives every copy group-writable modes and
/// `mtime`: inputs as another checkout on another day would have them.
fn copy_at(src: &Path, dest: &Path, mtime: &str) {
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    run(Command::new("cp").arg("-r").arg(src).arg(dest));
    run(Command::new("chmod").args(["-R", "g+w"]).arg(dest));
    run(Command::new("find").arg(dest).args(["-exec", "touch", "-h", "-d", mtime, "{}", "+"]));
}

/// `make image` (buildah, `--timestamp`) from two copies of the inputs made at other times with
/// other modes gives the same four digests; another SOURCE_DATE_EPOCH gives other digests.
#[test]
fn same_inputs_same_digests() {
    // The inputs, built as `make image` builds them, then taken once: the copies below come from
    // this snapshot, so a concurrent `make image` rewriting target/ cannot make them differ.
    run(Command::new("timeout")
        .args(["1200", "make", "-s", "--no-print-directory", "static", "shell-operator"])
        .current_dir(root()));
    let dir = tempfile::Builder::new().prefix("images-repro-").tempdir_in(root().join("target")).unwrap();
    let snapshot = dir.path().join("snapshot");
    for f in BUNDLE_FILES.iter().chain(&BUNDLE_DIRS).chain(&RELEASE_FILES) {
        if !snapshot.join("module").join(f).exists() {
            copy_at(&root().join(f), &snapshot.join("module").join(f), "2001-02-03 04:05:06");
        }
    }
    for h in crate::common::HOOKS.iter().map(|(h, _)| *h).chain(["madison-proxy"]) {
        copy_at(&bins_dir().join(h), &snapshot.join("bins").join(h), "2001-02-03 04:05:06");
    }
    copy_at(
        &root().join("target/pricing-image/shell-operator"),
        &snapshot.join("shell-operator"),
        "2001-02-03 04:05:06",
    );

    let build = |name: &str, mtime: &str, epoch: &str| -> BTreeMap<String, Summary> {
        let inputs = dir.path().join(name);
        copy_at(&snapshot, &inputs, mtime);
        let out = inputs.join("out");
        run(Command::new("timeout")
            .args(["1200", "make", "-s", "--no-print-directory", "image", "VERSION=v1.2.3", "IMAGE_PREREQS="])
            .arg(format!("SOURCE_DATE_EPOCH={epoch}"))
            .arg(format!("MODULE_DIR={}", inputs.join("module").display()))
            .arg(format!("IMAGE_BINS={}", inputs.join("bins").display()))
            .arg(format!("SHELL_OPERATOR={}", inputs.join("shell-operator").display()))
            .arg(format!("OCI_DIR={}", out.display()))
            .arg(format!("IMAGE_WORK={}", inputs.join("work").display()))
            .current_dir(root()));
        serde_json::from_slice(&std::fs::read(out.join("images.json")).unwrap()).unwrap()
    };
    let a = build("a", "2009-02-13 23:31:30", "0");
    let b = build("b", "2023-11-14 22:13:20", "0");
    assert_eq!(a.keys().collect::<Vec<_>>(), ["bundle", "madison-proxy", "pricing", "release"]);
    assert_eq!(a, b, "other mtimes and modes of the inputs change no digest");
    let c = build("c", "2009-02-13 23:31:30", "86400");
    for name in a.keys() {
        assert_ne!(a[name].digest, c[name].digest, "{name}: the timestamp is an input");
    }
}

/// `oss.yaml` names the versions the images carry: shell-operator as `tools/pricing-image/go.mod`
/// pins it, webpki-roots as `Cargo.lock` does, glibc as the build machine links it statically.
#[test]
fn oss_yaml_names_the_versions_the_images_carry() {
    let oss: Vec<Value> = serde_saphyr::from_str(&std::fs::read_to_string(root().join("oss.yaml")).unwrap()).unwrap();
    let version = |id: &str| -> String {
        let p = oss.iter().find(|p| p["id"] == id).unwrap_or_else(|| panic!("oss.yaml has no {id}"));
        for field in ["name", "description", "link", "license"] {
            assert!(p[field].as_str().is_some_and(|s| !s.is_empty()), "{id}: {field}");
        }
        p["version"].as_str().unwrap().to_string()
    };
    let go_mod = std::fs::read_to_string(root().join("tools/pricing-image/go.mod")).unwrap();
    let pinned = go_mod
        .lines()
        .find_map(|l| l.trim().strip_prefix("github.com/flant/shell-operator "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap();
    assert_eq!(version("shell-operator"), pinned);
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).unwrap();
    let locked = lock.split("[[package]]").find(|p| p.contains("name = \"webpki-roots\"\n")).unwrap();
    assert!(locked.contains(&format!("version = \"{}\"\n", version("webpki-roots"))), "{locked}");
    let ldd = String::from_utf8(run(Command::new("ldd").arg("--version")).stdout).unwrap();
    let glibc = ldd.lines().next().unwrap().rsplit(' ').next().unwrap();
    assert_eq!(version("glibc"), glibc, "{ldd}");
    assert_eq!(oss.len(), 3, "each entry checked here");
}
