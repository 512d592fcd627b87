//! The two things every binary of the project shares, in a leaf crate with no dependency beyond
//! serde (uv-redacted style): [`Secret`], a value whose `Debug` and `Display` print `<redacted>`,
//! and [`Logger`], one bounded JSON object per line on stderr.
//!
//! The hook contract (`shell-hook`), the network clients (`connect`, `prometheus-query`) and the
//! long-running `madison-proxy` depend on this crate, not on each other, so the proxy links no
//! CLI parser and no YAML.
//!
//! ```
//! use secret_log::{Level, Logger, Secret};
//! let key = Secret::new("TeStLiCeNsE".to_string());
//! assert_eq!(format!("{key:?}"), "<redacted>");
//! let line = Logger::render(Level::Info, "registered", &[("key", serde_json::json!(key.to_string()))]);
//! assert_eq!(line, r#"{"level":"info","msg":"registered","key":"<redacted>"}"#);
//! ```

mod log;
mod secret;

pub use log::{Field, Level, Limits, Logger, LOG_LEVEL, MAX_LINE, MAX_STRING};
pub use secret::Secret;
