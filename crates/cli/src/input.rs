//! The one reader of every CLI input: dump files and the files of dump folders, `-` (stdin),
//! `--values`, `--config-values`, `--env` and `--agent-config`.
//!
//! A regular file, a device (`/dev/zero`), a FIFO or a `<(…)` stream are read alike: through
//! `Read::take(limit + 1)` into a buffer that never grows past `limit + 1` bytes, so one byte
//! more than the limit is the refusal, whatever the file's metadata says (a FIFO or a device
//! reports no size, a growing file reports a stale one). Memory for an input is bounded by its
//! limit, never by what the other end sends.
//!
//! Errors name the input (its path, or `stdin`) and never quote its content.

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Context};

/// The largest dump source accepted (a file, a file of a folder, stdin): 256 MiB.
pub const MAX_DUMP: u64 = 256 * 1024 * 1024;
/// The largest settings file accepted (`--values`, `--config-values`, `--env`,
/// `--agent-config`): 16 MiB — addon-operator's values of a large cluster are a few MiB.
pub const MAX_SETTINGS: u64 = 16 * 1024 * 1024;

/// Set once stdin was read: a second `-` would silently read nothing.
static STDIN_READ: AtomicBool = AtomicBool::new(false);

/// The name an input has in messages: its path, or `stdin` for `-`.
#[must_use]
pub fn name(path: &Path) -> String {
    if is_stdin(path) {
        "stdin".into()
    } else {
        path.display().to_string()
    }
}

fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Reads `path` (`-` is stdin, which can be read once) whole, refusing it past `limit` bytes.
pub fn read(path: &Path, limit: u64) -> anyhow::Result<Vec<u8>> {
    let name = name(path);
    if is_stdin(path) {
        if STDIN_READ.swap(true, Ordering::SeqCst) {
            bail!("stdin (`-`) can be read only once");
        }
        return read_from(std::io::stdin().lock(), &name, limit);
    }
    let file = std::fs::File::open(path).with_context(|| format!("failed to read {name}"))?;
    // The size a regular file reports is only the first reservation (a FIFO or a device reports
    // 0, a growing file a stale size): what is read is still bounded by `limit` alone.
    let size = file.metadata().map_or(0, |m| m.len());
    read_sized(file, &name, limit, size)
}

/// [`read`], as UTF-8 text.
pub fn read_text(path: &Path, limit: u64) -> anyhow::Result<String> {
    let bytes = read(path, limit)?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        anyhow::anyhow!("{}: not UTF-8 text (invalid byte at offset {at})", name(path))
    })
}

/// Reads `r` to its end into a buffer of at most `limit + 1` bytes; one byte more than `limit`
/// is an error.
pub fn read_from(r: impl Read, name: &str, limit: u64) -> anyhow::Result<Vec<u8>> {
    read_sized(r, name, limit, 0)
}

/// [`read_from`], the buffer reserved at once for `size` bytes (a regular file's size; 0 for a
/// source of unknown size: the limit), never more than `limit + 1`, so a dump is read into one
/// allocation instead of a doubling series of them and their copies (issue 20).
fn read_sized(r: impl Read, name: &str, limit: u64, size: u64) -> anyhow::Result<Vec<u8>> {
    // A file already known to be too large is refused before any memory is reserved for it.
    if size > limit {
        bail!("{name}: more than the {limit} bytes accepted ({})", human(limit));
    }
    let cap = usize::try_from(limit.saturating_add(1)).unwrap_or(usize::MAX);
    let mut r = r.take(limit.saturating_add(1));
    // One reservation, never grown by reallocation: of the file's size, or, for a source of unknown
    // size (a pipe, a device, stdin), of the limit. A reservation is address space, not memory:
    // pages are used only as bytes arrive. Growing by doubling instead would copy: mimalloc (the
    // CLI's allocator) reallocates a large block by allocating the new one beside the old, so
    // 128 MiB → 256 MiB would hold 384 MiB at once (issue 20; tests/hardening.rs's memory cap).
    let first = if size > 0 { usize::try_from(size).unwrap_or(usize::MAX).min(cap) } else { cap };
    let mut buf: Vec<u8> = Vec::new();
    buf.try_reserve_exact(first).with_context(|| format!("failed to read {name}: out of memory"))?;
    // std reads straight into the reservation, a bounded slice at a time, and grows the buffer
    // only past it (a file that grew while read); `take` yields at most `cap` bytes in all.
    r.read_to_end(&mut buf).with_context(|| format!("failed to read {name}"))?;
    if buf.len() as u64 > limit {
        bail!("{name}: more than the {limit} bytes accepted ({})", human(limit));
    }
    Ok(buf)
}

/// A settings file (`--values`, `--config-values`, `--env`): a JSON or YAML mapping read through
/// [`read_text`] with [`MAX_SETTINGS`]. These files hold the license key, the Madison key and
/// proxy passwords, so a parse error names the file and the position only ([`syntax_error`]).
pub fn read_mapping(path: &Path) -> anyhow::Result<serde_json::Value> {
    let text = read_text(path, MAX_SETTINGS)?;
    // JSON is read as JSON: a YAML parser would fold a raw NEL in a string into a space.
    let v: serde_json::Value = if text.trim_start().starts_with('{') {
        serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!("{}: not YAML or JSON at line {}, column {}", name(path), e.line(), e.column())
        })?
    } else {
        serde_saphyr::from_str(&text).map_err(|e| syntax_error(&name(path), "not YAML or JSON", &e))?
    };
    if !v.is_object() {
        bail!("{}: expected a mapping", name(path));
    }
    Ok(v)
}

/// A parse error of a file that may hold a secret: `<name>: <what> at line L, column C`. The
/// parser's own message is left out — it may quote the input (a source snippet, an `invalid type:
/// string "…"`), and the input may be a license key.
#[must_use]
pub fn syntax_error(name: &str, what: &str, e: &serde_saphyr::Error) -> anyhow::Error {
    match e.location() {
        Some(l) => anyhow::anyhow!("{name}: {what} at line {}, column {}", l.line(), l.column()),
        None => anyhow::anyhow!("{name}: {what}"),
    }
}

fn human(bytes: u64) -> String {
    format!("{} MiB", bytes >> 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_read_and_one_byte_more_refused() {
        assert_eq!(read_from(&[7u8; 100][..], "x", 100).unwrap().len(), 100);
        let e = read_from(&[7u8; 101][..], "x", 100).unwrap_err().to_string();
        assert_eq!(e, "x: more than the 100 bytes accepted (0 MiB)");
        assert!(read_from(&[][..], "x", 0).unwrap().is_empty());
        assert!(read_from(&[1u8][..], "x", 0).is_err());
    }

    #[test]
    fn a_files_size_is_one_reservation_and_never_more_than_the_limit() {
        let input = vec![7u8; 100_000];
        let b = read_sized(&input[..], "x", 1 << 20, 100_000).unwrap();
        assert_eq!((b.len(), b.capacity()), (100_000, 100_000));
        // A size that lies (a file that grew or shrank) changes nothing but the first reservation.
        assert_eq!(read_sized(&input[..], "x", 1 << 20, 10).unwrap().len(), 100_000);
        let b = read_sized(&[7u8; 10][..], "x", 100, 100).unwrap();
        assert!(b.len() == 10 && b.capacity() <= 101, "{}", b.capacity());
        // A file whose size is over the limit is refused at once: nothing reserved, nothing read.
        let e = read_sized(std::io::repeat(b'x'), "x", 100, 1 << 40).unwrap_err().to_string();
        assert!(e.starts_with("x: more than the 100 bytes accepted"), "{e}");
        assert!(read_sized(&[7u8; 101][..], "x", 100, 0).is_err());
    }

    #[test]
    fn an_endless_source_costs_at_most_the_limit() {
        let limit = 3 * 64 * 1024 + 5;
        // std::io::repeat never ends, like /dev/zero.
        let e = read_from(std::io::repeat(b'x'), "endless", limit).unwrap_err().to_string();
        assert!(e.starts_with("endless: more than the"), "{e}");
        // The buffer of an input at the limit holds at most the limit + 1.
        let b = read_from(std::io::repeat(b'x').take(limit), "at-limit", limit).unwrap();
        assert_eq!(b.len() as u64, limit);
        assert!(b.capacity() as u64 <= limit + 1, "{}", b.capacity());
    }

    #[test]
    fn text_errors_quote_no_content() {
        let dir = std::env::temp_dir().join(format!("fi-input-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("bad");
        std::fs::write(&p, b"secret\xff").unwrap();
        let e = read_text(&p, 100).unwrap_err().to_string();
        assert!(e.ends_with("not UTF-8 text (invalid byte at offset 6)") && !e.contains("secret"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
