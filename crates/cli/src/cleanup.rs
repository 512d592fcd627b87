//! Nothing left behind: the temporary folders `preview` gives the hooks (binding contexts, and
//! for `madison-registration` values holding the license key) are removed when dropped, and on
//! SIGINT, SIGTERM or SIGHUP too.
//!
//! Folders are made by the `tempfile` crate (a random name, created exclusively, mode 0700);
//! files in them are written 0600 ([`write_private`]). Every live folder and every running hook
//! is registered here. [`on_signals`] starts a thread that waits for a signal (the
//! `signal-hook` crate: its handler only records the signal, the work happens on an ordinary
//! thread) and then, holding the registry so no folder or hook can start meanwhile, kills the
//! running hooks, removes the folders, prints one JSON line and exits with 128 + the signal.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use anyhow::Context;

/// What a signal must clean up.
#[derive(Default)]
struct Live {
    folders: Vec<PathBuf>,
    children: Vec<u32>,
}

static LIVE: Mutex<Live> = Mutex::new(Live { folders: Vec::new(), children: Vec::new() });

fn live() -> MutexGuard<'static, Live> {
    // A panic elsewhere never stops the cleanup.
    LIVE.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Starts the thread that cleans up and exits on SIGINT, SIGTERM or SIGHUP.
pub fn on_signals() -> anyhow::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .context("failed to install the signal handlers")?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let mut live = live();
                for pid in live.children.drain(..) {
                    if let Ok(pid) = i32::try_from(pid) {
                        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
                    }
                }
                for folder in live.folders.drain(..) {
                    let _ = std::fs::remove_dir_all(folder);
                }
                let msg = format!("interrupted by signal {signal}: nothing was written");
                let _ = writeln!(std::io::stderr().lock(), "{}", serde_json::json!({"level": "error", "msg": msg}));
                std::process::exit(128 + signal);
            }
        })
        .context("failed to start the signal thread")?;
    Ok(())
}

/// A private temporary folder, removed on drop and on a signal.
pub struct TempDir(Option<tempfile::TempDir>);

impl TempDir {
    /// A fresh folder `flant-integration-<what>-XXXXXX` under the system's temporary folder
    /// (`TMPDIR`), readable by this user only.
    pub fn new(what: &str) -> anyhow::Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        let mut live = live();
        // Created 0700 (tempfile's folders otherwise get the umask's default, 0755).
        let dir = tempfile::Builder::new()
            .prefix(&format!("flant-integration-{what}-"))
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()
            .context("failed to create a temporary folder")?;
        live.folders.push(dir.path().to_path_buf());
        Ok(Self(Some(dir)))
    }

    /// Its path.
    #[must_use]
    pub fn path(&self) -> &Path {
        self.0.as_ref().map_or(Path::new(""), tempfile::TempDir::path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let mut live = live();
        if let Some(dir) = self.0.take() {
            live.folders.retain(|p| p != dir.path());
            let _ = dir.close();
        }
    }
}

/// Writes `bytes` to a new file `path`, readable by this user only (0600).
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("failed to write {}", path.display()))?;
    f.write_all(bytes).with_context(|| format!("failed to write {}", path.display()))
}

/// Runs `cmd` to its end like [`std::process::Command::output`], registered so that a signal
/// kills it before the folders go.
pub fn output(cmd: &mut std::process::Command) -> std::io::Result<std::process::Output> {
    use std::process::Stdio;
    let child = {
        let mut live = live();
        let child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
        live.children.push(child.id());
        child
    };
    let pid = child.id();
    let out = child.wait_with_output();
    live().children.retain(|p| *p != pid);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_and_files_are_private_and_removed() {
        use std::os::unix::fs::PermissionsExt;
        let d = TempDir::new("t").unwrap();
        let path = d.path().to_path_buf();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o700);
        assert!(live().folders.contains(&path));
        write_private(&path.join("f"), b"x").unwrap();
        assert_eq!(std::fs::metadata(path.join("f")).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(write_private(&path.join("f"), b"y").is_err(), "never over an existing file");
        drop(d);
        assert!(!path.exists());
        assert!(!live().folders.contains(&path));
    }
}
