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

/// Writes JSON log lines to stderr at or above a minimum level.
#[derive(Debug, Clone, Copy)]
pub struct Logger {
    min: Level,
}

impl Default for Logger {
    fn default() -> Self {
        Self { min: Level::Info }
    }
}

impl Logger {
    /// A logger with an explicit minimum level.
    #[must_use]
    pub fn new(min: Level) -> Self {
        Self { min }
    }

    /// A logger whose level comes from `LOG_LEVEL`.
    #[must_use]
    pub fn from_env() -> Self {
        let min = crate::env::var(crate::env::LOG_LEVEL).map_or(Level::Info, |v| Level::parse(&v));
        Self { min }
    }

    /// Whether lines of `level` are written.
    #[must_use]
    pub fn enabled(&self, level: Level) -> bool {
        level >= self.min
    }

    /// Renders one line (without the newline); exposed for tests and for the proxy's access log.
    #[must_use]
    pub fn render(level: Level, msg: &str, fields: &[(&str, Value)]) -> String {
        let mut map = Map::with_capacity(fields.len() + 2);
        map.insert("level".into(), Value::from(level.as_str()));
        map.insert("msg".into(), Value::from(msg));
        for (k, v) in fields {
            map.insert((*k).to_string(), v.clone());
        }
        Value::Object(map).to_string()
    }

    /// Writes a line at `level` if enabled. Write errors on stderr are ignored: there is nowhere
    /// left to report them.
    pub fn log(&self, level: Level, msg: &str, fields: &[(&str, Value)]) {
        if !self.enabled(level) {
            return;
        }
        let mut line = Self::render(level, msg, fields);
        line.push('\n');
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
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

#[cfg(test)]
mod tests {
    use super::{Level, Logger};
    use serde_json::json;

    #[test]
    fn renders_level_msg_then_fields() {
        let line = Logger::render(Level::Warn, "a \"quoted\"\nthing", &[("count", json!(2))]);
        assert_eq!(line, r#"{"level":"warn","msg":"a \"quoted\"\nthing","count":2}"#);
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
