//! The shipped binaries where Deckhouse runs them: static executables, module hooks chrooted.
//!
//! * Every shipped binary (`make static`, `target/x86_64-unknown-linux-gnu/release/`) has no ELF
//!   interpreter: its program headers hold no `PT_INTERP` (read with the `object` crate).
//! * Every module hook's golden fixtures run inside a chroot built like Deckhouse's — the module
//!   folder at its own absolute path, `/tmp` (the operator's temp dir, as Deckhouse binds
//!   `/chroot/tmp`), `/dev/null`, nothing else: no `/etc`, no `/dev/urandom`, no libraries —
//!   executed by addon-operator's own `ShellHook` with `ADDON_OPERATOR_SHELL_CHROOT_DIR` set (the
//!   operator harness, `tools/operators`). The operators' verdict on each case must equal their
//!   verdict on the same case run the ordinary way, which `golden.rs` snapshots.
//! * Inside that chroot: a Madison registration over TLS to the Connect fake, trusted through
//!   `CONNECT_CA_FILE` only, its host name resolved through `global.discovery.clusterDNSAddress`;
//!   and a backends discovery against the loopback DNS server through the same address.
//! * madison-proxy starts in an empty root (no CA bundle) and forwards an alert over TLS.
//!
//! The mounts live in a private mount namespace (`unshare --mount`, as root) that ends with the
//! harness, so nothing is left mounted; the working directory is removed on drop. The cluster DNS
//! address has no port, so a small relay on 127.0.0.1:53 forwards to the test DNS server.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use test_support::dns::{Behaviour, DnsServer};
use test_support::fake::{FakeServer, Reply};
use test_support::tls::TestCa;

use crate::common::{hook_bin, root, HOOKS};
use crate::harness::{harness_bin, module_hooks, Job};

/// Where `make static` puts the shipped executables.
const STATIC_DIR: &str = "target/x86_64-unknown-linux-gnu/release";
/// The module's name: the chroot is `<ADDON_OPERATOR_SHELL_CHROOT_DIR>/flant-integration`.
const MODULE: &str = "flant-integration";
/// The operator's temp dir as the harness and the hooks both see it.
const OPERATOR_TMP: &str = "/tmp/addon-operator";
/// Bound on one harness run (every module-hook fixture, several runs each).
const HARNESS_DEADLINE: Duration = Duration::from_secs(300);
const LICENSE: &str = "s3cr3t-license";
const KEY: &str = "s3cr3t-auth-key";

/// The static executables, built once per test process with `make static` (cargo makes it a
/// no-op when they are fresh). Returns their directory.
fn static_dir() -> PathBuf {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let out = Command::new("make")
            .args(["-s", "static"])
            .current_dir(root())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run make: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    });
    if let Err(e) = built {
        panic!("make static failed:\n{e}");
    }
    root().join(STATIC_DIR)
}

/// The effective uid, from `/proc/self/status` (`Uid: real effective saved fs`).
fn euid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

pub(crate) fn require_root() {
    assert!(
        euid() == Some(0),
        "the chroot tests need root (mount namespaces, bind mounts, chroot): run them as root, as CI does"
    );
}

// ---------------------------------------------------------------------------------------------
// Static executables

/// Whether an ELF file has a `PT_INTERP` program header (i.e. needs a dynamic loader).
fn has_interpreter(data: &[u8]) -> Result<bool, object::read::Error> {
    use object::read::elf::{FileHeader as _, ProgramHeader as _};
    let header = object::elf::FileHeader64::<object::Endianness>::parse(data)?;
    let endian = header.endian()?;
    Ok(header.program_headers(endian, data)?.iter().any(|ph| ph.p_type(endian) == object::elf::PT_INTERP))
}

#[test]
fn shipped_binaries_have_no_elf_interpreter() {
    let dir = static_dir();
    let shipped: Vec<&str> = HOOKS.iter().map(|(name, _)| *name).chain(["madison-proxy"]).collect();
    for name in &shipped {
        let data = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!has_interpreter(&data).unwrap(), "{name} has an ELF interpreter: it is not static");
    }
    // The check itself: the ordinary (dynamic) build of the same hook does have one.
    let dynamic = std::fs::read(hook_bin("license")).unwrap();
    assert!(has_interpreter(&dynamic).unwrap(), "a dynamically linked build must show PT_INTERP");
}

// ---------------------------------------------------------------------------------------------
// A Deckhouse-like chroot

/// A working directory under `target/tmp` holding the module folder, the chroot dir and the
/// directory bound as the operator's temp dir.
struct Chroot {
    work: tempfile::TempDir,
}

impl Chroot {
    /// The module folder with every module hook's static executable in `hooks/` and the schemas
    /// in `openapi/` (the harness reads them from the module dir, as addon-operator does).
    fn new() -> Self {
        require_root();
        let bins = static_dir();
        let this = Self::empty();
        let hooks = this.module().join("hooks");
        std::fs::create_dir_all(&hooks).unwrap();
        for &hook in module_hooks() {
            std::fs::copy(bins.join(hook), hooks.join(hook)).unwrap();
            // Downloaded modules are unpacked with modes masked to the owner (& 0700).
            set_mode(&hooks.join(hook), 0o700);
        }
        copy_dir(&root().join("openapi"), &this.module().join("openapi"));
        this.prepare_jail();
        this
    }

    /// The module folder is an unpacked bundle image, as Deckhouse's downloader puts it on disk:
    /// its hooks and schemas are the ones that were published.
    fn of_bundle(rootfs: &Path) -> Self {
        require_root();
        let this = Self::empty();
        copy_dir(rootfs, &this.module());
        for &hook in module_hooks() {
            set_mode(&this.hook(hook), 0o700);
        }
        this.prepare_jail();
        this
    }

    fn empty() -> Self {
        let work = tempfile::Builder::new().prefix("chroot-").tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let this = Self { work };
        std::fs::create_dir_all(this.module()).unwrap();
        this
    }

    fn prepare_jail(&self) {
        let this = self;
        std::fs::create_dir_all(this.work.path().join("chroot-tmp")).unwrap();
        let jail = this.jail();
        for dir in ["tmp", "dev"] {
            std::fs::create_dir_all(jail.join(dir)).unwrap();
        }
        std::fs::write(jail.join("dev/null"), "").unwrap();
        std::fs::create_dir_all(jail.join(this.module().strip_prefix("/").unwrap())).unwrap();
    }

    /// The module folder (what Deckhouse unpacks the bundle into).
    fn module(&self) -> PathBuf {
        self.work.path().join("modules").join(MODULE)
    }

    /// `ADDON_OPERATOR_SHELL_CHROOT_DIR`.
    fn chroot_dir(&self) -> PathBuf {
        self.work.path().join("chroot")
    }

    /// The root a module hook sees.
    fn jail(&self) -> PathBuf {
        self.chroot_dir().join(MODULE)
    }

    /// A hook's executable in the module folder.
    fn hook(&self, name: &str) -> PathBuf {
        self.module().join("hooks").join(name)
    }

    /// Writes a file into the module folder, the only place a file is visible in the chroot.
    fn module_file(&self, name: &str, content: &str) -> PathBuf {
        let p = self.module().join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    /// Everything in the chroot's root directory, by name.
    fn jail_entries(&self) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(self.jail()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        names.sort();
        names
    }

    /// Runs harness jobs with module hooks chrooted, inside a private mount namespace:
    /// `chroot-tmp` bound on the operator's temp dir outside and inside the chroot, the module
    /// folder on its own path inside the chroot, `/dev/null` on the chroot's.
    fn run(&self, jobs: &[Job]) -> Vec<Value> {
        // The operator's temp dir ($5, under /tmp) is the same directory outside and inside the
        // chroot. Only that directory is bound, never the whole /tmp: a checkout that itself lives
        // under /tmp (the work dir, the harness binary) must stay visible to the harness.
        const SCRIPT: &str = r#"set -eu
mkdir -p "$5" "$2$5"
mount --bind "$1" "$5"
mount --bind "$1" "$2$5"
mount --rbind "$3" "$2$3"
mount --bind /dev/null "$2/dev/null"
exec "$4" run
"#;
        let request = request(&self.module(), Path::new(OPERATOR_TMP), Some(&self.chroot_dir()), jobs);
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "sh", "-c", SCRIPT, "sh"])
            .arg(self.work.path().join("chroot-tmp"))
            .arg(self.jail())
            .arg(self.module())
            .arg(harness_bin())
            .arg(OPERATOR_TMP);
        let out = bounded(cmd, request.to_string().as_bytes(), HARNESS_DEADLINE);
        results(&out, jobs.len())
    }
}

/// The harness request (`tools/operators/README.md`).
fn request(module_dir: &Path, tmp_dir: &Path, chroot: Option<&Path>, jobs: &[Job]) -> Value {
    json!({
        "module_dir": module_dir,
        "tmp_dir": tmp_dir,
        "chroot": chroot.map(|p| p.display().to_string()).unwrap_or_default(),
        "jobs": jobs.iter().map(|j| json!({
            "id": j.id,
            "operator": "addon",
            "binary": j.binary,
            "case_dir": j.case_dir,
            "env": j.env,
        })).collect::<Vec<_>>(),
    })
}

fn results(out: &Output, jobs: usize) -> Vec<Value> {
    assert!(out.status.success(), "operator harness failed: {}", String::from_utf8_lossy(&out.stderr));
    let results: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(results.len(), jobs, "the harness answered every job");
    results
}

/// Runs a command with a clean environment (as the Rust harness client does), `input` on stdin,
/// killed when `deadline` passes.
fn bounded(mut cmd: Command, input: &[u8], deadline: Duration) -> Output {
    cmd.env_clear()
        .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("cannot start unshare (util-linux)");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let Ok(out) = rx.recv_timeout(deadline) else {
        kill(pid);
        let _ = waiter.join();
        panic!("the chrooted harness run did not end within {deadline:?}");
    };
    waiter.join().unwrap();
    out.unwrap()
}

fn kill(pid: u32) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap());
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// Every fixture case of the module hooks, as harness jobs for `binary(hook)`.
fn module_hook_jobs(binary: impl Fn(&str) -> PathBuf) -> Vec<Job> {
    let mut jobs = Vec::new();
    for &hook in module_hooks() {
        let dir = root().join("tests/fixtures").join(hook);
        let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("binding_context.json").exists())
            .collect();
        cases.sort();
        for case in cases {
            jobs.push(Job::for_case(hook, &binary(hook).display().to_string(), &case));
        }
    }
    jobs
}

/// A verdict without what differs by design between two runs of the same case: the binary's path
/// in addon-operator's batch-hook probe message.
fn comparable(v: &Value, binary: &Path) -> Value {
    let mut v = v.clone();
    if let Some(probe) = v.get("batch_probe").and_then(Value::as_str) {
        v["batch_probe"] = Value::from(probe.replace(&binary.display().to_string(), "<hook>"));
    }
    v
}

#[test]
fn module_hooks_pass_their_golden_fixtures_in_a_deckhouse_chroot() {
    golden_fixtures_pass_in(&Chroot::new());
}

/// The published bundle's own hooks, pulled back and unpacked (`images.rs`), through every module
/// hook's golden fixtures in the Deckhouse-like chroot.
pub(crate) fn bundle_hooks_pass_their_golden_fixtures_in_a_deckhouse_chroot(bundle_rootfs: &Path) {
    golden_fixtures_pass_in(&Chroot::of_bundle(bundle_rootfs));
}

/// Every module hook's fixtures run chrooted by addon-operator; each verdict equals the verdict on
/// the same case run the ordinary way (what golden.rs snapshots).
fn golden_fixtures_pass_in(chroot: &Chroot) {
    let chrooted = module_hook_jobs(|hook| chroot.hook(hook));
    assert!(chrooted.len() > 50, "every module hook's fixtures: {}", chrooted.len());
    let verdicts = chroot.run(&chrooted);
    // Nothing but the module's path, /tmp and /dev/null exists in the hooks' root.
    let top = chroot.module().components().nth(1).unwrap().as_os_str().to_string_lossy().into_owned();
    let mut expected = vec!["dev".to_string(), "tmp".to_string(), top];
    expected.sort();
    // A checkout under /tmp puts the module path under the chroot's /tmp too.
    expected.dedup();
    assert_eq!(chroot.jail_entries(), expected, "the chroot holds only the module path, /tmp and /dev");

    // The same cases the ordinary way (the dynamic binaries golden.rs snapshots, no chroot).
    let plain = module_hook_jobs(|hook| PathBuf::from(hook_bin(hook)));
    let tmp = tempfile::tempdir().unwrap();
    let reference = crate::harness::run(&plain, tmp.path(), None);

    let mut differ = Vec::new();
    for (((job, got), plain_job), want) in chrooted.iter().zip(&verdicts).zip(&plain).zip(&reference) {
        assert!(got.get("harness_error").is_none(), "{}: {}", job.id, got["harness_error"]);
        assert!(got["run"].is_object(), "{}: addon-operator did not run the hook: {got}", job.id);
        if comparable(got, &job.binary) != comparable(want, &plain_job.binary) {
            differ.push(format!("{}:\n  chroot: {got}\n  plain:  {want}", job.id));
        }
    }
    assert!(differ.is_empty(), "verdicts differ inside the chroot:\n{}", differ.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Connect over TLS and DNS discovery, in the chroot

/// A UDP relay on 127.0.0.1:53 to a test DNS server: the cluster DNS address is an IP without a
/// port, the test server listens on a free port. Waits for the port when another test run holds
/// it; stops on drop.
struct DnsRelay {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DnsRelay {
    fn start(upstream: SocketAddr) -> Self {
        let deadline = Instant::now() + Duration::from_secs(120);
        let socket = loop {
            match UdpSocket::bind("127.0.0.1:53") {
                Ok(s) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("cannot bind 127.0.0.1:53 for the cluster DNS relay: {e}"),
            }
        };
        socket.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !stop2.load(Ordering::Relaxed) {
                let Ok((n, client)) = socket.recv_from(&mut buf) else { continue };
                let Ok(up) = UdpSocket::bind("127.0.0.1:0") else { continue };
                let _ = up.set_read_timeout(Some(Duration::from_secs(2)));
                let mut answer = [0u8; 4096];
                if up.send_to(&buf[..n], upstream).is_ok() {
                    if let Ok(m) = up.recv(&mut answer) {
                        let _ = socket.send_to(&answer[..m], client);
                    }
                }
            }
        });
        Self { stop, thread: Some(thread) }
    }
}

impl Drop for DnsRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A harness job for a copy of a committed fixture case (its generated binding context) with
/// other values and env.
fn custom_case(chroot: &Chroot, hook: &str, from: &str, name: &str, values: &Value, env: Value) -> Job {
    let dir = chroot.work.path().join("cases").join(hook).join(name);
    copy_dir(&root().join("tests/fixtures").join(hook).join(from), &dir);
    std::fs::write(dir.join("values.json"), values.to_string()).unwrap();
    let _ = std::fs::remove_file(dir.join("env.yaml"));
    Job { id: format!("{hook}/{name}"), hook: hook.into(), binary: chroot.hook(hook), case_dir: Some(dir), env }
}

fn values_patch(verdict: &Value) -> &Value {
    assert!(verdict["run"].is_object(), "not run: {verdict}");
    &verdict["run"]["values_patch"]
}

fn logged(verdict: &Value) -> String {
    verdict["run"]["log"].to_string()
}

#[test]
fn registration_over_tls_and_discovery_by_cluster_dns_in_a_deckhouse_chroot() {
    let chroot = Chroot::new();
    let ca = TestCa::new("chroot test CA").unwrap();
    let cert = ca.server_cert(&["connect.test"], &[]).unwrap();
    let reply = Reply::json(200, &format!(r#"{{"error":"","auth_key":"{KEY}"}}"#));
    let connect = FakeServer::start_tls(&cert, move |_| reply.clone()).unwrap();
    let dns = DnsServer::start(
        &[("connect.test", &["127.0.0.1"]), ("madison-direct.flant.com", &["192.0.2.1", "2001:db8::1"])],
        Behaviour::Answer,
    )
    .unwrap();
    let _relay = DnsRelay::start(dns.addr);
    let ca_file = chroot.module_file("connect-ca.crt", &ca.ca_pem);
    let url = format!("https://connect.test:{}", connect.addr.port());

    let global = json!({"discovery": {"clusterDNSAddress": "127.0.0.1"}});
    let internal = json!({"licenseKey": LICENSE});
    let values = json!({"global": global, "flantIntegration": {"internal": internal}});
    let no_dns = json!({"global": {}, "flantIntegration": {"internal": {"licenseKey": LICENSE}}});
    let jobs = vec![
        custom_case(
            &chroot,
            "madison-registration",
            "connect-down",
            "tls-with-ca-file",
            &values,
            json!({"CONNECT_URL": url, "CONNECT_CA_FILE": ca_file}),
        ),
        custom_case(
            &chroot,
            "madison-registration",
            "connect-down",
            "tls-without-ca-file",
            &values,
            json!({"CONNECT_URL": url}),
        ),
        custom_case(&chroot, "madison-backends-discovery", "no-license", "cluster-dns", &values, json!({})),
        custom_case(&chroot, "madison-backends-discovery", "no-license", "no-dns-server", &no_dns, json!({})),
    ];
    let v = chroot.run(&jobs);

    // 1. Registration: the name through the cluster DNS address, TLS trusted by CONNECT_CA_FILE.
    assert_eq!(
        values_patch(&v[0]),
        &json!([{"op": "add", "path": "/flantIntegration/internal/madisonAuthKey", "value": KEY}]),
        "{}",
        v[0]
    );
    let requests = connect.requests();
    assert!(!requests.is_empty(), "Connect was reached");
    assert_eq!(requests[0].path, "/v1/madison_register");
    assert_eq!(requests[0].sni.as_deref(), Some("connect.test"));
    assert!(dns.questions().iter().any(|(n, _)| n == "connect.test"), "{:?}", dns.questions());
    // 2. The test CA is not among the compiled-in roots: without the file, verification fails.
    assert!(values_patch(&v[1]).is_null(), "{}", v[1]);
    assert!(logged(&v[1]).contains("certificate verify failed"), "{}", logged(&v[1]));
    assert_eq!(connect.requests().len(), 1, "no request without a verified connection");
    // 3. Discovery: A and AAAA of madison-direct.flant.com through the cluster DNS address.
    assert_eq!(
        values_patch(&v[2]),
        &json!([{"op": "add", "path": "/flantIntegration/internal/madison/backends",
                 "value": ["192.0.2.1:443", "[2001:db8::1]:443"]}]),
        "{}",
        v[2]
    );
    assert!(dns.questions().iter().any(|(n, _)| n == "madison-direct.flant.com"), "{:?}", dns.questions());
    // 4. No resolv.conf and no cluster DNS address: an error line naming both, values unchanged.
    assert!(values_patch(&v[3]).is_null(), "{}", v[3]);
    assert!(logged(&v[3]).contains("no DNS server"), "{}", logged(&v[3]));
    for verdict in &v {
        assert!(!logged(verdict).contains(LICENSE), "a secret reached the operator's log: {verdict}");
    }
}

// ---------------------------------------------------------------------------------------------
// madison-proxy without a CA bundle

/// madison-proxy chrooted in an empty root (only `/dev/null` and `/tmp`), in its own mount
/// namespace; killed on drop.
struct ChrootedProxy {
    child: Child,
    _work: tempfile::TempDir,
}

impl ChrootedProxy {
    fn start(env: &[(&str, String)], ca_pem: &str) -> Self {
        const SCRIPT: &str = r#"set -eu
mount -t tmpfs tmpfs "$1/tmp"
mount --bind /dev/null "$1/dev/null"
exec chroot "$1" /madison-proxy
"#;
        require_root();
        let work = tempfile::Builder::new().prefix("proxy-root-").tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let jail = work.path();
        for dir in ["tmp", "dev"] {
            std::fs::create_dir_all(jail.join(dir)).unwrap();
        }
        std::fs::write(jail.join("dev/null"), "").unwrap();
        std::fs::write(jail.join("ca.crt"), ca_pem).unwrap();
        std::fs::copy(static_dir().join("madison-proxy"), jail.join("madison-proxy")).unwrap();
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "sh", "-c", SCRIPT, "sh"])
            .arg(jail)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        Self { child, _work: work }
    }

    /// The proxy's stderr so far is only readable after it ended; used in failure messages.
    fn stop(mut self) -> String {
        kill(self.child.id());
        let _ = self.child.wait();
        let mut err = String::new();
        if let Some(mut s) = self.child.stderr.take() {
            let _ = s.read_to_string(&mut err);
        }
        err
    }
}

impl Drop for ChrootedProxy {
    fn drop(&mut self) {
        kill(self.child.id());
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request on a fresh connection; the status code, or `None` when not connected.
fn http_status(port: u16, request: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(request.as_bytes()).ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

#[test]
fn madison_proxy_starts_without_a_ca_bundle_and_forwards_over_tls() {
    let ca = TestCa::new("proxy chroot CA").unwrap();
    let cert = ca.server_cert(&["madison.flant.com"], &[]).unwrap();
    let madison = FakeServer::start_tls(&cert, |_| Reply::json(200, "{}")).unwrap();
    let port = test_support::http::closed_port().unwrap();
    let proxy = ChrootedProxy::start(
        &[
            ("MADISON_BACKEND", madison.addr.to_string()),
            ("MADISON_AUTH_KEY", KEY.to_string()),
            ("MADISON_CA_FILE", "/ca.crt".to_string()),
            ("LISTEN_HOST", "127.0.0.1".to_string()),
            ("LISTEN_PORT", port.to_string()),
        ],
        &ca.ca_pem,
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let healthz = "GET /healthz HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n\r\n";
    let mut up = false;
    while !up && Instant::now() < deadline {
        up = http_status(port, healthz) == Some(200);
        if !up {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    if !up {
        let stderr = proxy.stop();
        panic!("madison-proxy did not answer /healthz in its empty root: {stderr}");
    }
    let alert = "POST /api/v2/alerts HTTP/1.1\r\nHost: proxy\r\nContent-Type: application/json\r\n\
                 Content-Length: 2\r\nConnection: close\r\n\r\n[]";
    assert_eq!(http_status(port, alert), Some(200), "forwarded over TLS verified by MADISON_CA_FILE");
    let got = madison.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, format!("/api/events/prometheus/{KEY}"));
    assert_eq!(got[0].sni.as_deref(), Some("madison.flant.com"));
    drop(proxy);
}
