//! A real Kubernetes control plane for tests: etcd, kube-apiserver and kube-controller-manager
//! built from the Go module proxy (`make kube`, `tools/kube/`), on free 127.0.0.1 ports, with a
//! throwaway PKI, RBAC on and a temporary data directory.
//!
//! * [`ControlPlane::start`]: a control plane owned by the value — every process killed by its
//!   PID and the data removed when it is dropped; [`ControlPlane::shared`]: one per test process
//!   for tests that only read or dry-run (its processes die with the test process);
//! * the API server: `--authorization-mode=Node,RBAC`, `--endpoint-reconciler-type=none`, an admin
//!   bearer token (`--token-auth-file`, group `system:masters`), service-account signing keys so
//!   that TokenRequest works; kube-controller-manager runs the controllers that create each
//!   namespace's default ServiceAccount and `kube-root-ca.crt`, and that delete namespaces;
//! * [`ControlPlane::kubectl`]: kubectl built from the same module and version as the server — the
//!   client the tests state their requests with (`apply --server-side --validate=strict`, `create
//!   token`, `get -o json`), so what a test asserts is what the real client and server say.
//!
//! Every process is started by `setpriv --pdeathsig KILL` from a keeper thread that lives as long
//! as its owner: when the test process dies, so do the servers.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;

use crate::tls::TestCa;

/// The Kubernetes release the control plane is built from (tools/kube/go.mod).
pub const KUBERNETES_VERSION: &str = "v1.36.3";
/// The etcd release (tools/kube/etcd/go.mod).
pub const ETCD_VERSION: &str = "v3.6.16";
/// The admin user's name; its group is `system:masters`.
pub const ADMIN_USER: &str = "test-admin";
/// How long a process started here may wait for the API server to be ready.
const READY_SECS: u64 = 120;

/// Where `make kube` puts etcd, kube-apiserver, kube-controller-manager and kubectl.
#[must_use]
pub fn bin_dir() -> PathBuf {
    std::env::var_os("KUBE_BIN_DIR")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/kube"), PathBuf::from)
}

/// A process started by a keeper thread with `setpriv --pdeathsig KILL` (so it dies with the
/// thread), killed by its PID and reaped when the value is dropped.
pub struct Process {
    /// Its process id.
    pub pid: u32,
    /// Its combined stdout and stderr.
    pub log: PathBuf,
    name: String,
    status: Arc<Mutex<Option<ExitStatus>>>,
    stop: Option<mpsc::Sender<()>>,
    keeper: Option<JoinHandle<()>>,
}

impl Process {
    /// Starts `cmd` (its program, args, env and working directory; stdio goes to `log`).
    pub fn spawn(name: &str, cmd: &Command, log: &Path) -> anyhow::Result<Self> {
        let file = std::fs::File::create(log).with_context(|| format!("create {}", log.display()))?;
        let mut wrapped = Command::new("setpriv");
        wrapped.args(["--pdeathsig", "KILL", "--"]).arg(cmd.get_program()).args(cmd.get_args());
        if let Some(dir) = cmd.get_current_dir() {
            wrapped.current_dir(dir);
        }
        wrapped.env_clear();
        for (k, v) in cmd.get_envs() {
            if let Some(v) = v {
                wrapped.env(k, v);
            }
        }
        wrapped.stdin(Stdio::null()).stdout(file.try_clone()?).stderr(file);
        let status = Arc::new(Mutex::new(None));
        let (stop, stopped) = mpsc::channel::<()>();
        let (started, pid) = mpsc::channel::<anyhow::Result<u32>>();
        let seen = status.clone();
        let what = name.to_string();
        let keeper = std::thread::spawn(move || {
            let mut child: Child = match wrapped.spawn() {
                Ok(c) => c,
                Err(e) => {
                    let _ = started.send(Err(anyhow::anyhow!("cannot start {what}: {e}")));
                    return;
                }
            };
            let _ = started.send(Ok(child.id()));
            // This thread lives until the owner stops it: the child's parent-death signal is
            // bound to it.
            loop {
                match stopped.recv_timeout(Duration::from_millis(100)) {
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
                    Err(RecvTimeoutError::Timeout) => {
                        if let Ok(Some(s)) = child.try_wait() {
                            if let Ok(mut st) = seen.lock() {
                                *st = Some(s);
                            }
                        }
                    }
                }
            }
            let _ = child.kill();
            let _ = child.wait();
        });
        let pid = pid.recv().context("the keeper thread")??;
        Ok(Self { pid, log: log.to_path_buf(), name: name.into(), status, stop: Some(stop), keeper: Some(keeper) })
    }

    /// Its exit status, once it has exited.
    #[must_use]
    pub fn exited(&self) -> Option<ExitStatus> {
        self.status.lock().ok().and_then(|s| *s)
    }

    /// Its log so far.
    #[must_use]
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Fails (with the log's tail) when it has exited.
    pub fn check_running(&self) -> anyhow::Result<()> {
        if let Some(s) = self.exited() {
            let logs = self.logs();
            let tail: String =
                logs.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
            bail!("{} exited ({s}):\n{tail}", self.name);
        }
        Ok(())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(k) = self.keeper.take() {
            let _ = k.join();
        }
    }
}

/// A running control plane.
pub struct ControlPlane {
    /// `https://127.0.0.1:<port>`.
    pub server: String,
    /// The admin kubeconfig (bearer token of [`ADMIN_USER`], group `system:masters`).
    pub kubeconfig: PathBuf,
    /// The cluster CA certificate (PEM file): it signed the serving certificate.
    pub ca_file: PathBuf,
    /// The admin bearer token.
    pub admin_token: String,
    /// The service-account issuer (`--service-account-issuer`).
    pub issuer: String,
    // Dropped in this order: the controller manager, the API server, etcd, then the files.
    controller_manager: Process,
    apiserver: Process,
    // Held so that they are dropped (killed, removed) with the value.
    _etcd: Process,
    _ca: TestCa,
    dir: tempfile::TempDir,
}

fn free_port() -> anyhow::Result<u16> {
    crate::http::closed_port()
}

/// 48 hex digits from /dev/urandom: a test token only needs to be unguessable by other local users.
fn random_token() -> anyhow::Result<String> {
    let mut b = [0u8; 24];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut b)?;
    Ok(b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    }))
}

impl ControlPlane {
    /// Starts etcd, kube-apiserver and kube-controller-manager and waits until the API server
    /// answers `/readyz` and the `default` namespace has its ServiceAccount.
    pub fn start() -> anyhow::Result<Self> {
        Self::start_in(tempfile::Builder::new().prefix("control-plane-").tempdir()?)
    }

    /// One control plane for the whole test process, started on first use — for tests that only
    /// read, dry-run or work in namespaces of their own. Its processes die with the test process
    /// (parent-death signal); its directory is under `target/kube/shared/<pid>`, removed by the
    /// next run once that process is gone.
    pub fn shared() -> &'static Self {
        static SHARED: OnceLock<ControlPlane> = OnceLock::new();
        SHARED.get_or_init(|| {
            let parent = bin_dir().join("shared");
            if let Ok(entries) = std::fs::read_dir(&parent) {
                for e in entries.flatten() {
                    let alive = e.file_name().to_str().is_some_and(|p| Path::new("/proc").join(p).exists());
                    if !alive {
                        let _ = std::fs::remove_dir_all(e.path());
                    }
                }
            }
            let dir = std::fs::create_dir_all(&parent)
                .and_then(|()| {
                    tempfile::Builder::new()
                        .prefix(&format!("{}", std::process::id()))
                        .rand_bytes(0)
                        .tempdir_in(&parent)
                })
                .expect("the shared control plane's directory");
            Self::start_in(dir).expect("the shared control plane starts")
        })
    }

    fn start_in(dir: tempfile::TempDir) -> anyhow::Result<Self> {
        let bins = bin_dir();
        for b in ["etcd", "kube-apiserver", "kube-controller-manager", "kubectl"] {
            if !bins.join(b).exists() {
                bail!("{} is missing: run `make kube` (make test does)", bins.join(b).display());
            }
        }
        let d = dir.path();
        let (client, peer, secure) = (free_port()?, free_port()?, free_port()?);
        let etcd_url = format!("http://127.0.0.1:{client}");
        let mut etcd = Command::new(bins.join("etcd"));
        etcd.args(["--name", "default", "--log-level", "warn", "--unsafe-no-fsync"])
            .arg(format!("--data-dir={}", d.join("etcd").display()))
            .arg(format!("--listen-client-urls={etcd_url}"))
            .arg(format!("--advertise-client-urls={etcd_url}"))
            .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer}"))
            .arg(format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer}"))
            .arg(format!("--initial-cluster=default=http://127.0.0.1:{peer}"))
            .env("PATH", "/usr/bin:/bin");
        let etcd = Process::spawn("etcd", &etcd, &d.join("etcd.log"))?;

        // The PKI: a CA, the serving certificate, the service-account signing key.
        let ca = TestCa::new("control-plane-ca")?;
        let serving = ca.server_cert(
            &[
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
            &[std::net::Ipv4Addr::LOCALHOST.into(), std::net::Ipv4Addr::new(10, 96, 0, 1).into()],
        )?;
        // The signing key and, for verification, its public key (the server reads only public
        // keys from --service-account-key-file).
        let (sa_key, sa_pub) = (d.join("service-account.key"), d.join("service-account.pub"));
        let key = rcgen::KeyPair::generate()?;
        std::fs::write(&sa_key, key.serialize_pem())?;
        std::fs::write(&sa_pub, key.public_key_pem())?;
        let admin_token = random_token()?;
        let tokens = d.join("tokens.csv");
        std::fs::write(&tokens, format!("{admin_token},{ADMIN_USER},{ADMIN_USER},system:masters\n"))?;
        let issuer = "https://kubernetes.default.svc.cluster.local".to_string();
        let server = format!("https://127.0.0.1:{secure}");
        let kubeconfig = d.join("admin.kubeconfig");
        write_kubeconfig(&kubeconfig, &server, &ca.ca_file(), &admin_token)?;

        let mut api = Command::new(bins.join("kube-apiserver"));
        api.arg(format!("--etcd-servers={etcd_url}"))
            .args(["--bind-address=127.0.0.1", "--advertise-address=127.0.0.1"])
            .arg(format!("--secure-port={secure}"))
            .arg(format!("--cert-dir={}", d.join("apiserver").display()))
            .arg(format!("--tls-cert-file={}", serving.cert_file.display()))
            .arg(format!("--tls-private-key-file={}", serving.key_file.display()))
            .arg(format!("--client-ca-file={}", ca.ca_file().display()))
            .arg(format!("--token-auth-file={}", tokens.display()))
            .args(["--authorization-mode=Node,RBAC", "--endpoint-reconciler-type=none"])
            .arg(format!("--service-account-issuer={issuer}"))
            .arg(format!("--service-account-key-file={}", sa_pub.display()))
            .arg(format!("--service-account-signing-key-file={}", sa_key.display()))
            .args(["--service-cluster-ip-range=10.96.0.0/24", "--enable-priority-and-fairness=false"])
            .args(["--profiling=false", "--v=0"])
            .env("PATH", "/usr/bin:/bin");
        let apiserver = Process::spawn("kube-apiserver", &api, &d.join("kube-apiserver.log"))?;

        let mut kcm = Command::new(bins.join("kube-controller-manager"));
        kcm.arg(format!("--kubeconfig={}", kubeconfig.display()))
            .arg(
                "--controllers=serviceaccount-controller,root-ca-certificate-publisher-controller,namespace-controller",
            )
            .arg(format!("--root-ca-file={}", ca.ca_file().display()))
            .args(["--leader-elect=false", "--secure-port=0", "--v=0"])
            .env("PATH", "/usr/bin:/bin");
        // Started once the API server is ready (it would only retry before).
        let home = d.to_path_buf();
        poll("the API server's /readyz", || {
            etcd.check_running()?;
            apiserver.check_running()?;
            Ok(run_kubectl(&kubeconfig, &home, &["get", "--raw", "/readyz"], None).ok().filter(|r| r.trim() == "ok"))
        })?;
        let controller_manager =
            Process::spawn("kube-controller-manager", &kcm, &d.join("kube-controller-manager.log"))?;
        let cp = Self {
            server,
            kubeconfig,
            ca_file: ca.ca_file(),
            admin_token,
            issuer,
            controller_manager,
            apiserver,
            _etcd: etcd,
            _ca: ca,
            dir,
        };
        poll("the default ServiceAccount", || {
            cp.controller_manager.check_running()?;
            Ok(cp.kubectl(&["get", "serviceaccount", "default", "-n", "default", "-o", "name"]).ok())
        })?;
        Ok(cp)
    }

    /// The temporary directory (logs of etcd, kube-apiserver, kube-controller-manager).
    #[must_use]
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The API server's log so far.
    #[must_use]
    pub fn apiserver_log(&self) -> String {
        self.apiserver.logs()
    }

    /// Runs kubectl with the admin kubeconfig: its stdout, or an error with its stderr.
    pub fn kubectl(&self, args: &[&str]) -> anyhow::Result<String> {
        self.kubectl_as(&self.kubeconfig, args, None)
    }

    /// Runs kubectl with the admin kubeconfig and `stdin`.
    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> anyhow::Result<String> {
        self.kubectl_as(&self.kubeconfig, args, Some(stdin))
    }

    /// Runs kubectl with `kubeconfig` (another user's, see [`ControlPlane::write_kubeconfig`]).
    pub fn kubectl_as(&self, kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> anyhow::Result<String> {
        run_kubectl(kubeconfig, self.dir.path(), args, stdin)
    }

    /// Server-side apply of `yaml` (one or more documents) with strict field validation: the API
    /// server rejects unknown and duplicate fields. `dry_run`: validated and admitted, not stored.
    pub fn apply(&self, yaml: &str, dry_run: bool) -> anyhow::Result<String> {
        let mut args =
            vec!["apply", "--server-side", "--field-manager=tests", "--validate=strict", "--force-conflicts"];
        if dry_run {
            args.push("--dry-run=server");
        }
        args.extend(["-f", "-"]);
        self.kubectl_stdin(&args, yaml)
    }

    /// `kubectl get <args> -o json`, parsed.
    pub fn get(&self, args: &[&str]) -> anyhow::Result<Value> {
        let mut a = vec!["get"];
        a.extend_from_slice(args);
        a.extend(["-o", "json"]);
        Ok(serde_json::from_str(&self.kubectl(&a)?)?)
    }

    /// Applies CRD manifests and waits until each is Established.
    pub fn apply_crds(&self, yaml: &str) -> anyhow::Result<()> {
        let out = self.apply(yaml, false)?;
        for line in out.lines() {
            // "customresourcedefinition.apiextensions.k8s.io/<name> serverside-applied"
            if let Some(name) = line.split_whitespace().next().filter(|n| n.starts_with("customresourcedefinition")) {
                self.kubectl(&["wait", "--for=condition=Established", "--timeout=60s", name])?;
            }
        }
        Ok(())
    }

    /// A token of ServiceAccount `namespace/name` from the TokenRequest API (audience: the
    /// API server), valid for `seconds`.
    pub fn token(&self, namespace: &str, name: &str, seconds: u64) -> anyhow::Result<String> {
        let duration = format!("--duration={seconds}s");
        Ok(self.kubectl(&["create", "token", name, "-n", namespace, &duration])?.trim().to_string())
    }

    /// Writes a kubeconfig for this server that authenticates with `token`.
    pub fn write_kubeconfig(&self, path: &Path, token: &str) -> anyhow::Result<()> {
        write_kubeconfig(path, &self.server, &self.ca_file, token)
    }

    /// Whether the user of `kubeconfig` may `verb` the `resource` (`kubectl auth can-i`, i.e. a
    /// SelfSubjectAccessReview judged by the RBAC authorizer).
    pub fn can_i(
        &self,
        kubeconfig: &Path,
        verb: &str,
        resource: &str,
        namespace: Option<&str>,
    ) -> anyhow::Result<bool> {
        let mut args = vec!["auth", "can-i", verb, resource];
        if let Some(ns) = namespace {
            args.extend(["-n", ns]);
        }
        let out = Command::new(bin_dir().join("kubectl"))
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .args(&args)
            .env_clear()
            .env("HOME", self.dir.path())
            .output()?;
        match String::from_utf8_lossy(&out.stdout).trim() {
            "yes" => Ok(true),
            "no" => Ok(false),
            other => bail!("kubectl auth can-i: {other} {}", String::from_utf8_lossy(&out.stderr)),
        }
    }
}

/// Polls `f` every 200 ms until it gives `Some`, for up to two minutes.
pub fn poll<T>(what: &str, mut f: impl FnMut() -> anyhow::Result<Option<T>>) -> anyhow::Result<T> {
    let deadline = Instant::now() + Duration::from_secs(READY_SECS);
    loop {
        if let Some(v) = f()? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out after {READY_SECS}s waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// kubectl with `kubeconfig`, no proxy and `home` as its home (cache): stdout, or an error with
/// its stderr.
fn run_kubectl(kubeconfig: &Path, home: &Path, args: &[&str], stdin: Option<&str>) -> anyhow::Result<String> {
    let mut child = Command::new(bin_dir().join("kubectl"))
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("start kubectl")?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("kubectl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8(out.stdout)?)
}

fn write_kubeconfig(path: &Path, server: &str, ca: &Path, token: &str) -> anyhow::Result<()> {
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {server}\n    certificate-authority: {}\nusers:\n- name: test\n  user:\n    token: {token}\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: test\ncurrent-context: test\n",
        ca.display()
    );
    std::fs::write(path, text).with_context(|| format!("write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The control plane starts, RBAC judges a ServiceAccount's TokenRequest token (no rights
    /// until bound, then exactly the bound ones), and dropping it kills every process.
    #[test]
    fn control_plane_with_rbac_and_token_requests() {
        let cp = ControlPlane::start().unwrap();
        let version: Value = serde_json::from_str(&cp.kubectl(&["version", "-o", "json"]).unwrap()).unwrap();
        assert_eq!(version["serverVersion"]["gitVersion"], KUBERNETES_VERSION);
        cp.kubectl(&["create", "namespace", "t"]).unwrap();
        cp.kubectl(&["create", "serviceaccount", "reader", "-n", "t"]).unwrap();
        let token = cp.token("t", "reader", 600).unwrap();
        let kubeconfig = cp.dir().join("reader.kubeconfig");
        cp.write_kubeconfig(&kubeconfig, &token).unwrap();
        assert!(cp.can_i(&cp.kubeconfig, "list", "nodes", None).unwrap(), "the admin may");
        assert!(!cp.can_i(&kubeconfig, "list", "nodes", None).unwrap(), "RBAC: no rights until bound");
        let err = cp.kubectl_as(&kubeconfig, &["get", "nodes"], None).unwrap_err();
        assert!(err.to_string().contains("forbidden"), "{err}");
        cp.kubectl(&["create", "clusterrole", "node-reader", "--verb=list", "--resource=nodes"]).unwrap();
        cp.kubectl(&[
            "create",
            "clusterrolebinding",
            "node-reader",
            "--clusterrole=node-reader",
            "--serviceaccount=t:reader",
        ])
        .unwrap();
        poll("the binding to take effect", || Ok(cp.can_i(&kubeconfig, "list", "nodes", None)?.then_some(()))).unwrap();
        assert!(!cp.can_i(&kubeconfig, "watch", "nodes", None).unwrap(), "only the bound verb");
        cp.kubectl_as(&kubeconfig, &["get", "nodes"], None).unwrap();
        // kube-controller-manager publishes the CA for pods and creates default ServiceAccounts.
        poll("kube-root-ca.crt in t", || Ok(cp.get(&["configmap", "kube-root-ca.crt", "-n", "t"]).ok())).unwrap();
        cp.get(&["serviceaccount", "default", "-n", "t"]).unwrap();
        let pids = [cp._etcd.pid, cp.apiserver.pid, cp.controller_manager.pid];
        let dir = cp.dir().to_path_buf();
        drop(cp);
        for pid in pids {
            assert!(!Path::new(&format!("/proc/{pid}")).exists(), "process {pid} is gone");
        }
        assert!(!dir.exists(), "the data directory is removed");
    }
}
