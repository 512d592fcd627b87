//! The text of a file that nobody changes while the process reads it, mapped instead of read.
//!
//! Reading a 16 MB binding context into fresh memory costs ≈ 17 ms of CPU on a VM (≈ 4 µs per
//! new page); a mapping of the page cache ≈ 2 ms (`docs/internal/decisions.md`, "Performance
//! round 4: the hooks' binding context"). The hooks read their binding context with
//! [`read_unchanging`] only when the operator handed it over (`BINDING_CONTEXT_PATH`): the
//! operators write a fresh file per run and remove it only after the hook has exited.

use std::fs::File;
use std::io;
use std::path::Path;

/// The text of the file at `path`, kept until the process exits.
///
/// **Precondition:** nothing changes or truncates the file while the process runs (a change
/// would show under the returned text; a truncation ends the process with `SIGBUS`). Only call
/// it on a file whose writer guarantees that — never on a file a user names.
///
/// A regular file is mapped; what cannot be mapped (a pipe, a device, procfs's files) is read.
/// Text that is not UTF-8 fails as `read_to_string` does.
///
/// # Errors
/// The file cannot be opened or read, or its text is not UTF-8.
pub fn read_unchanging(path: &Path) -> io::Result<&'static str> {
    let file = File::open(path)?;
    let Some(map) = map(&file) else {
        return Ok(io::read_to_string(file)?.leak());
    };
    let map: &'static memmap2::Mmap = Box::leak(Box::new(map));
    std::str::from_utf8(map)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "stream did not contain valid UTF-8"))
}

/// A private read-only mapping of `file`, or `None` where the kernel cannot map it (a pipe, a
/// device, procfs's files, whose content is made as they are read) and it must be read.
#[expect(unsafe_code, reason = "mapping a file is unsafe; see read_unchanging's precondition")]
fn map(file: &File) -> Option<memmap2::Mmap> {
    // SAFETY: `map_copy_read_only` is unsafe because another process could change or truncate
    // the file while it is mapped. `read_unchanging`'s callers pass only files whose writer
    // guarantees it does not (its precondition): shell-operator and addon-operator write a new
    // file per hook run and remove it after the hook has exited.
    unsafe { memmap2::MmapOptions::new().map_copy_read_only(file) }.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A regular file is mapped; anything else is read, and gives what `read_to_string` gives:
    /// the same text, the same errors.
    #[test]
    fn mapped_or_read_the_text_is_the_files() {
        let dir = std::env::temp_dir().join(format!("mapped-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (text, empty, latin1) = (dir.join("bc.json"), dir.join("empty.json"), dir.join("latin1.json"));
        std::fs::write(&text, "[{\"binding\":\"nodes\",\"type\":\"Group\"}]").unwrap();
        std::fs::write(&empty, "").unwrap();
        std::fs::write(&latin1, b"[\"caf\xe9\"]").unwrap();
        assert!(map(&File::open(&text).unwrap()).is_some(), "a regular file is mapped");
        // A device and procfs's files (length 0, made as they are read) cannot be mapped: read.
        for path in [text.as_path(), &empty, Path::new("/dev/null"), Path::new("/proc/self/cmdline")] {
            let (ours, std) = (read_unchanging(path).unwrap(), std::fs::read_to_string(path).unwrap());
            assert_eq!(ours, std, "{}", path.display());
        }
        assert!(!read_unchanging(Path::new("/proc/self/cmdline")).unwrap().is_empty());
        let (ours, std) = (read_unchanging(&latin1).unwrap_err(), std::fs::read_to_string(&latin1).unwrap_err());
        assert_eq!((ours.kind(), ours.to_string()), (std.kind(), std.to_string()));
        assert_eq!(read_unchanging(&dir.join("missing")).unwrap_err().kind(), io::ErrorKind::NotFound);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
