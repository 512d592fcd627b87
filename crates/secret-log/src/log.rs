//! The JSON-lines logger on stderr.
//!
//! One object per line: `level`, `msg`, then short flat fields. shell-operator keeps `level` and
//! `msg` of such lines and prefixes other keys with `hook_`, so field names stay short and stable.
//! stdout is never written here: it belongs to `--config`.

use std::io::Write;

use serde_json::{Map, Value};

/// Severity of a log line, ordered from chatty to quiet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Details for debugging a run.
    Debug,
    /// Normal progress.
    Info,
    /// Something unexpected that the hook tolerated.
    Warn,
    /// A failure (fatal, or tolerated by policy such as a failed Prometheus query).
    Error,
}

impl Level {
    /// The wire name of the level.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }

    /// Parses `LOG_LEVEL` text case-insensitively; unknown text means `info`.
    #[must_use]
    pub fn parse(text: &str) -> Level {
        match text.trim().to_ascii_lowercase().as_str() {
            "debug" | "trace" => Level::Debug,
            "warn" | "warning" => Level::Warn,
            "error" | "fatal" => Level::Error,
            _ => Level::Info,
        }
    }
}

/// Writes JSON log lines to stderr at or above a minimum level, bounded in size.
#[derive(Debug, Clone, Copy)]
pub struct Logger {
    min: Level,
    limits: Limits,
}

/// How long a log line may get: each string, and the whole line, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest string (message, field value, key), cut on a character boundary.
    pub max_string: usize,
    /// The longest line; a longer one keeps only `level`, `msg` and the field names.
    pub max_line: usize,
}

impl Limits {
    /// The hooks' limits: well under shell-operator's 10 000-character cut.
    pub const HOOK: Limits = Limits { max_string: MAX_STRING, max_line: MAX_LINE };
}

impl Default for Logger {
    fn default() -> Self {
        Self { min: Level::Info, limits: Limits::HOOK }
    }
}

impl Logger {
    /// A logger with an explicit minimum level.
    #[must_use]
    pub fn new(min: Level) -> Self {
        Self { min, limits: Limits::HOOK }
    }

    /// A logger whose level comes from `LOG_LEVEL`.
    #[must_use]
    pub fn from_env() -> Self {
        let min = std::env::var(LOG_LEVEL).ok().map_or(Level::Info, |v| Level::parse(&v));
        Self { min, limits: Limits::HOOK }
    }

    /// The same logger with other size limits (madison-proxy's access lines carry up to 64 KiB of
    /// request body, as its spec asks; they are not read by shell-operator).
    #[must_use]
    pub fn with_limits(self, limits: Limits) -> Self {
        Self { limits, ..self }
    }

    /// Whether lines of `level` are written.
    #[must_use]
    pub fn enabled(&self, level: Level) -> bool {
        level >= self.min
    }

    /// Renders one line (without the newline); exposed for tests and for the proxy's access log.
    ///
    /// Lines are bounded whatever a server or an input put into them: every string is cut at
    /// [`MAX_STRING`] bytes and a line still longer than [`MAX_LINE`] keeps only `level`, `msg` and
    /// its field names; either way the line gets `"truncated": true`. (shell-operator itself cuts
    /// lines at 10 000 characters, mid-JSON.)
    #[must_use]
    pub fn render(level: Level, msg: &str, fields: &[(&str, Value)]) -> String {
        Self::render_limited(Limits::HOOK, level, msg, fields)
    }

    /// [`Logger::render`] with explicit limits.
    #[must_use]
    pub fn render_limited(limits: Limits, level: Level, msg: &str, fields: &[(&str, Value)]) -> String {
        let mut line = Vec::new();
        Self::render_into(&mut line, limits, level, msg, fields);
        String::from_utf8(line).unwrap_or_default()
    }

    /// Renders one line into `out` (cleared first), written straight from the fields: no map,
    /// no copy of a value (madison-proxy renders an access line with up to 64 KiB of body per
    /// request; `docs/internal/decisions.md`, "Performance round 3: madison-proxy"). The same
    /// text as serialising the map `level`, `msg`, fields…, `truncated`: when a key repeats (or
    /// is one of those three), the map itself is built, for its rule (the last value wins, at the
    /// first key's place).
    fn render_into<V: AsField>(out: &mut Vec<u8>, limits: Limits, level: Level, msg: &str, fields: &[(&str, V)]) {
        out.clear();
        let max = limits.max_string;
        let mut cut = false;
        let plain = fields.iter().enumerate().all(|(i, (k, _))| {
            !matches!(*k, "level" | "msg" | "truncated") && fields[..i].iter().all(|(other, _)| other != k)
        });
        if plain {
            out.extend_from_slice(b"{\"level\":\"");
            out.extend_from_slice(level.as_str().as_bytes());
            out.extend_from_slice(b"\",\"msg\":");
            write_capped(out, msg, max, &mut cut);
            for (k, v) in fields {
                out.push(b',');
                write_str(out, k);
                out.push(b':');
                match v.as_field() {
                    Field::Str(s) => write_capped(out, s, max, &mut cut),
                    Field::Json(Value::String(s)) => write_capped(out, s, max, &mut cut),
                    Field::U64(n) => {
                        let _ = serde_json::to_writer(&mut *out, &n);
                    }
                    Field::F64(n) => {
                        let _ = serde_json::to_writer(&mut *out, &n);
                    }
                    Field::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
                    Field::Json(v @ (Value::Array(_) | Value::Object(_))) => {
                        let _ = serde_json::to_writer(&mut *out, &capped_value(v, max, &mut cut));
                    }
                    Field::Json(other) => {
                        let _ = serde_json::to_writer(&mut *out, other);
                    }
                }
            }
            if cut {
                out.extend_from_slice(b",\"truncated\":true");
            }
            out.push(b'}');
        } else {
            let mut map = Map::with_capacity(fields.len() + 3);
            map.insert("level".into(), Value::from(level.as_str()));
            map.insert("msg".into(), Value::from(capped(msg, max, &mut cut)));
            for (k, v) in fields {
                map.insert((*k).to_string(), capped_value(&v.as_field().to_value(), max, &mut cut));
            }
            if cut {
                map.insert("truncated".into(), Value::Bool(true));
            }
            let _ = serde_json::to_writer(&mut *out, &Value::Object(map));
        }
        if out.len() <= limits.max_line {
            return;
        }
        out.clear();
        let mut small = Map::new();
        small.insert("level".into(), Value::from(level.as_str()));
        small.insert("msg".into(), Value::from(capped(msg, max, &mut cut)));
        small.insert("fields".into(), fields.iter().map(|(k, _)| Value::from(*k)).collect());
        small.insert("truncated".into(), Value::Bool(true));
        let _ = serde_json::to_writer(&mut *out, &Value::Object(small));
    }

    /// Writes a line at `level` if enabled: rendered into this thread's reused buffer, then
    /// written whole to stderr with one `write` (as nginx writes each access line). A line of at
    /// most `PIPE_BUF` bytes is one atomic write even on a pipe (pipe(7)), so such lines take no
    /// lock between threads; a longer line can be split by the kernel, so it is written alone
    /// ([`WRITING`]). Write errors on stderr are ignored: there is nowhere left to report them.
    pub fn log(&self, level: Level, msg: &str, fields: &[(&str, Value)]) {
        self.log_any(level, msg, fields);
    }

    /// [`Logger::log`] with borrowed [`Field`]s: no `Value` built, no string copied (madison-proxy's
    /// access line, one per push, with up to 64 KiB of body).
    pub fn log_fields(&self, level: Level, msg: &str, fields: &[(&str, Field<'_>)]) {
        self.log_any(level, msg, fields);
    }

    fn log_any<V: AsField>(&self, level: Level, msg: &str, fields: &[(&str, V)]) {
        if !self.enabled(level) {
            return;
        }
        let write = |line: &mut Vec<u8>| {
            Self::render_into(line, self.limits, level, msg, fields);
            line.push(b'\n');
            emit(line);
        };
        let reused = LINE
            .try_with(|line| {
                let Ok(mut line) = line.try_borrow_mut() else { return false };
                write(&mut line);
                // An occasional long line does not keep its buffer.
                if line.capacity() > KEPT_LINE_BUFFER {
                    *line = Vec::new();
                }
                true
            })
            .unwrap_or(false);
        // The thread's buffer is gone (thread exit) or in use: a buffer of this line's own.
        if !reused {
            write(&mut Vec::new());
        }
    }

    /// Logs at `debug`.
    pub fn debug(&self, msg: &str, fields: &[(&str, Value)]) {
        self.log(Level::Debug, msg, fields);
    }

    /// Logs at `info`.
    pub fn info(&self, msg: &str, fields: &[(&str, Value)]) {
        self.log(Level::Info, msg, fields);
    }

    /// Logs at `warn`.
    pub fn warn(&self, msg: &str, fields: &[(&str, Value)]) {
        self.log(Level::Warn, msg, fields);
    }

    /// Logs at `error`.
    pub fn error(&self, msg: &str, fields: &[(&str, Value)]) {
        self.log(Level::Error, msg, fields);
    }
}

/// A field's value borrowed from the caller, logged as the `Value` it names would be
/// ([`Field::to_value`]) without building it: [`Logger::log_fields`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Field<'a> {
    /// A JSON string, cut at the string limit as any other.
    Str(&'a str),
    /// A JSON number.
    U64(u64),
    /// A JSON number; not finite, `null` (as `serde_json`).
    F64(f64),
    /// `true` or `false`.
    Bool(bool),
    /// Any JSON value.
    Json(&'a Value),
}

impl Field<'_> {
    /// The value this field is logged as.
    #[must_use]
    pub fn to_value(self) -> Value {
        match self {
            Field::Str(s) => Value::from(s),
            Field::U64(n) => Value::from(n),
            Field::F64(n) => Value::from(n),
            Field::Bool(b) => Value::Bool(b),
            Field::Json(v) => v.clone(),
        }
    }
}

/// What a line's field values can be: owned `Value`s ([`Logger::log`]) or borrowed [`Field`]s.
trait AsField {
    fn as_field(&self) -> Field<'_>;
}

impl AsField for Value {
    fn as_field(&self) -> Field<'_> {
        match self {
            Value::String(s) => Field::Str(s),
            other => Field::Json(other),
        }
    }
}

impl AsField for Field<'_> {
    fn as_field(&self) -> Field<'_> {
        *self
    }
}

/// Log level: `debug`, `info` (default), `warn`, `error`; case-insensitive.
pub const LOG_LEVEL: &str = "LOG_LEVEL";

/// The longest string a log line carries, in bytes (cut on a character boundary).
pub const MAX_STRING: usize = 1024;
/// The longest log line, in bytes.
pub const MAX_LINE: usize = 8192;

thread_local! {
    /// The line being rendered, reused by the next line of the same thread.
    static LINE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Capacity of [`LINE`] kept after a line (an access line with its body fits).
const KEPT_LINE_BUFFER: usize = 16 * 1024;

/// The most bytes one `write` to a pipe puts in it whole, never interleaved with another writer
/// (`PIPE_BUF`, pipe(7); 4096 on Linux).
const PIPE_BUF: usize = 4096;

/// Held shared while a line of at most [`PIPE_BUF`] bytes is written (such writers never wait on
/// each other) and exclusively while a longer one is, so no line is ever spliced into another.
static WRITING: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Writes one whole line to stderr.
fn emit(line: &[u8]) {
    let write = || match stderr_fd() {
        Some(mut fd) => {
            let _ = fd.write_all(line);
        }
        None => {
            let _ = std::io::stderr().lock().write_all(line);
        }
    };
    if line.len() <= PIPE_BUF {
        let _shared = WRITING.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        write();
    } else {
        let _alone = WRITING.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        write();
    }
}

/// stderr as a file of its own (a duplicate of descriptor 2): written without std's lock on
/// `Stderr`, which two threads logging at once contended for (`futex` calls on every other
/// access line in madison-proxy). `None` if it cannot be duplicated.
fn stderr_fd() -> Option<&'static std::fs::File> {
    static FD: std::sync::OnceLock<Option<std::fs::File>> = std::sync::OnceLock::new();
    FD.get_or_init(|| {
        use std::os::fd::AsFd;
        std::io::stderr().as_fd().try_clone_to_owned().ok().map(std::fs::File::from)
    })
    .as_ref()
}

/// `s` as a JSON string.
fn write_str(out: &mut Vec<u8>, s: &str) {
    let _ = serde_json::to_writer(&mut *out, s);
}

/// `s` as a JSON string, cut as [`capped`] cuts it, without copying it first.
fn write_capped(out: &mut Vec<u8>, s: &str, max: usize, cut: &mut bool) {
    let Some(kept) = kept(s, max, cut) else { return write_str(out, s) };
    write_str(out, kept);
    out.pop(); // the closing quote
    out.extend_from_slice("…\"".as_bytes());
}

fn capped(s: &str, max: usize, cut: &mut bool) -> String {
    kept(s, max, cut).map_or_else(|| s.to_string(), |kept| format!("{kept}…"))
}

/// What is kept of `s` when it is longer than `max` bytes (its start up to a character boundary;
/// `cut` set), or `None` when it fits.
fn kept<'s>(s: &'s str, max: usize, cut: &mut bool) -> Option<&'s str> {
    if s.len() <= max {
        return None;
    }
    *cut = true;
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Some(&s[..end])
}

fn capped_value(v: &Value, max: usize, cut: &mut bool) -> Value {
    match v {
        Value::String(s) => Value::from(capped(s, max, cut)),
        Value::Array(a) => Value::Array(a.iter().map(|v| capped_value(v, max, cut)).collect()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (capped(k, max, cut), capped_value(v, max, cut))).collect())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::{Level, Logger, MAX_LINE, MAX_STRING};
    use serde_json::json;

    #[test]
    fn renders_level_msg_then_fields() {
        let line = Logger::render(Level::Warn, "a \"quoted\"\nthing", &[("count", json!(2))]);
        assert_eq!(line, r#"{"level":"warn","msg":"a \"quoted\"\nthing","count":2}"#);
    }

    /// Regression: text from Connect's `error`, node annotations and Prometheus errors reached log
    /// lines uncapped (10 MB lines seen).
    #[test]
    fn lines_are_bounded() {
        let huge = "é".repeat(5_000_000);
        let line = Logger::render(Level::Error, &huge, &[("error", json!(huge)), ("n", json!(1))]);
        assert!(line.len() <= MAX_LINE, "{}", line.len());
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["truncated"], true);
        assert!(v["msg"].as_str().unwrap().len() <= MAX_STRING + "…".len());
        assert_eq!(v["n"], 1);
        let many: Vec<(&str, serde_json::Value)> = (0..40).map(|_| ("f", json!("x".repeat(MAX_STRING)))).collect();
        let wide = Logger::render(Level::Info, "m", &[("a", json!(vec!["y".repeat(900); 50]))]);
        assert!(wide.len() <= MAX_LINE && wide.contains("\"fields\":[\"a\"]"), "{wide}");
        assert!(Logger::render(Level::Info, "m", &many).len() <= MAX_LINE);
        let short = Logger::render(Level::Info, "ok", &[("k", json!("v"))]);
        assert!(!short.contains("truncated"));
    }

    /// The line written straight from the fields is the text of the map the logger built before:
    /// cut strings, nested values, numbers, and repeated or reserved keys (the map's rule).
    #[test]
    fn renders_as_the_map_of_its_fields() {
        let long = "é".repeat(MAX_STRING);
        let cases: Vec<Vec<(&str, serde_json::Value)>> = vec![
            vec![("a", json!(1.5)), ("b", json!(null)), ("c", json!("x\u{1}\"y")), ("d", json!(long))],
            vec![("a", json!([long, 2])), ("b", json!({"k": long}))],
            vec![("a", json!(1)), ("b", json!(2)), ("a", json!(3))],
            vec![("msg", json!("other")), ("level", json!(7))],
            vec![("truncated", json!(false)), ("c", json!(long))],
        ];
        for fields in cases {
            let mut cut = false;
            let mut map = serde_json::Map::new();
            map.insert("level".into(), json!("info"));
            map.insert("msg".into(), json!("m"));
            for (k, v) in &fields {
                map.insert((*k).to_string(), super::capped_value(v, MAX_STRING, &mut cut));
            }
            if cut {
                map.insert("truncated".into(), json!(true));
            }
            let want = serde_json::Value::Object(map).to_string();
            assert_eq!(Logger::render(Level::Info, "m", &fields), want);
        }
    }

    /// A line of borrowed fields is the line of the values they name: strings (cut ones too),
    /// numbers, a float that is not finite, booleans, nested values, and repeated or reserved keys.
    #[test]
    fn borrowed_fields_render_as_their_values() {
        use super::Field;
        let long = "é".repeat(MAX_STRING);
        let nested = json!({"k": [long, 1]});
        let long_value = json!(long);
        let cases: Vec<Vec<(&str, Field)>> = vec![
            vec![("a", Field::Str("x\u{1}\"y")), ("b", Field::U64(u64::MAX)), ("c", Field::F64(0.1))],
            vec![
                ("a", Field::F64(f64::NAN)),
                ("b", Field::Bool(true)),
                ("c", Field::Bool(false)),
                ("d", Field::Str(&long)),
            ],
            vec![("a", Field::Json(&nested)), ("b", Field::Json(&serde_json::Value::Null))],
            vec![("a", Field::U64(1)), ("a", Field::Str(&long)), ("msg", Field::Bool(true))],
            vec![("e", Field::Json(&long_value))],
        ];
        for fields in cases {
            let values: Vec<(&str, serde_json::Value)> = fields.iter().map(|(k, f)| (*k, f.to_value())).collect();
            let mut line = Vec::new();
            Logger::render_into(&mut line, super::Limits::HOOK, Level::Info, "m", &fields);
            assert_eq!(String::from_utf8(line).unwrap(), Logger::render(Level::Info, "m", &values));
        }
        // And two lines written out, independent of either renderer.
        let line = |fields: &[(&str, Field)]| {
            let mut line = Vec::new();
            Logger::render_into(&mut line, super::Limits::HOOK, Level::Info, "m", fields);
            String::from_utf8(line).unwrap()
        };
        let numbers = [
            ("a", Field::U64(u64::MAX)),
            ("b", Field::F64(0.1)),
            ("c", Field::F64(f64::NAN)),
            ("d", Field::Bool(true)),
        ];
        assert_eq!(line(&numbers), r#"{"level":"info","msg":"m","a":18446744073709551615,"b":0.1,"c":null,"d":true}"#);
        let kept = "é".repeat(MAX_STRING / 2);
        assert_eq!(
            line(&[("a", Field::Json(&nested)), ("e", Field::Json(&long_value))]),
            format!(r#"{{"level":"info","msg":"m","a":{{"k":["{kept}…",1]}},"e":"{kept}…","truncated":true}}"#)
        );
    }

    /// Lines longer than `PIPE_BUF` from two threads reach a pipe whole: each line read back is
    /// one JSON object (the test binary re-runs itself as the logging child, its stderr a pipe).
    #[test]
    fn long_lines_from_two_threads_reach_a_pipe_whole() {
        const CHILD: &str = "SECRET_LOG_PIPE_CHILD";
        let logger = Logger::new(Level::Info).with_limits(super::Limits { max_string: 1 << 16, max_line: 1 << 18 });
        if std::env::var_os(CHILD).is_some() {
            std::thread::scope(|s| {
                for t in ["a", "b"] {
                    s.spawn(move || {
                        for i in 0..200 {
                            // Long lines and short ones, as madison-proxy's access and warning lines.
                            let body = t.repeat(if i % 2 == 0 { 20_000 } else { 100 });
                            logger.info("line", &[("thread", json!(t)), ("i", json!(i)), ("body", json!(body))]);
                        }
                    });
                }
            });
            return;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "log::tests::long_lines_from_two_threads_reach_a_pipe_whole", "--nocapture"])
            .env(CHILD, "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        assert!(out.status.success());
        let lines: Vec<serde_json::Value> = String::from_utf8(out.stderr)
            .unwrap()
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("a spliced line ({e}): {l:.200}")))
            .collect();
        assert_eq!(lines.len(), 400);
    }

    #[test]
    fn parses_levels_case_insensitively() {
        assert_eq!(Level::parse("DEBUG"), Level::Debug);
        assert_eq!(Level::parse("Warn"), Level::Warn);
        assert_eq!(Level::parse("nonsense"), Level::Info);
        assert!(Logger::new(Level::Warn).enabled(Level::Error));
        assert!(!Logger::new(Level::Warn).enabled(Level::Info));
    }
}
