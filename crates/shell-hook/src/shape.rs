//! How types that hold input documents print in `Debug`: the shape, never the content.

use std::fmt;

/// A JSON value's shape without its content (`<object of 3 keys>`, `<string>`): what the `Debug`
/// impls of types that hold input documents print, since any document may carry a key.
pub(crate) struct Shape<'a>(pub &'a serde_json::Value);

impl fmt::Debug for Shape<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use serde_json::Value;
        match self.0 {
            Value::Null => f.write_str("null"),
            Value::Bool(_) => f.write_str("<boolean>"),
            Value::Number(_) => f.write_str("<number>"),
            Value::String(_) => f.write_str("<string>"),
            Value::Array(a) => write!(f, "<list of {}>", a.len()),
            Value::Object(m) => write!(f, "<object of {} keys>", m.len()),
        }
    }
}
