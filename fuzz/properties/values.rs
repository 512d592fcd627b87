//! The values property (`$VALUES_PATH`, `$CONFIG_VALUES_PATH`), shared by the cargo-fuzz target
//! `values` and the stable `fuzz_smoke` test. The input's first line is a space-separated list of
//! dotted paths, the rest the values file; the file goes through the contract's own
//! `parse_document`, the paths (those given, the hooks' own, every key path of the document and
//! one level below it) through `Values`' lookups.
//!
//! * no panic;
//! * a file that is not JSON gives serde's syntax words only, never the file's strings (the seeds
//!   plant [`MARK`] in them); one that is JSON but not an object names its type;
//! * a lookup agrees with a plain walk of the document: absent or `null` is `None`, a non-object
//!   on the way is an error naming the walked path, a wrong leaf type an error naming the path —
//!   always exactly `<path>: expected <type>, got <type>`, so an error names paths, never values.

use serde_json::Value;
use shell_hook::{parse_document, type_name, DocumentError, Values, ValuesError};

/// The planted secret of the seeds; never in an error.
pub const MARK: &str = "S3CRET";

/// The paths the hooks read.
const HOOK_PATHS: [&str; 9] = [
    "flantIntegration.internal",
    "flantIntegration.internal.licenseKey",
    "flantIntegration.internal.nodeStats",
    "flantIntegration.licenseKey",
    "flantIntegration.madisonAuthKey",
    "global.modules.publicDomainTemplate",
    "global.modulesImages.registry.base",
    "global.modulesImages.registry.dockercfg",
    "global.enabledModules",
];

/// Key paths collected from a document at most; keeps one input's cost linear in its size.
const MAX_PATHS: usize = 256;

/// Checks the property on one input.
pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (given, file) = text.split_once('\n').unwrap_or(("", &text));
    match parse_document(file) {
        Err(DocumentError::NotJson(message)) => {
            assert!(!message.contains(MARK) && !message.contains("3CRE"), "input text in an error: {message}");
            assert!(serde_json::from_str::<Value>(file).is_err(), "valid JSON refused: {message}");
        }
        Err(DocumentError::NotObject(got)) => {
            let v: Value = serde_json::from_str(file).expect("a type is named only for valid JSON");
            assert!(!v.is_object());
            assert_eq!(got, type_name(&v));
        }
        Ok(doc) => {
            assert!(doc.is_object());
            let mut paths: Vec<String> = given.split(' ').map(str::to_string).collect();
            paths.extend(HOOK_PATHS.iter().map(|p| (*p).to_string()));
            key_paths(&doc, "", &mut paths);
            let values = Values::new(&doc);
            for path in &paths {
                lookups(&values, &doc, path);
            }
        }
    }
}

/// Every key path of `v` (and each with one segment more), up to [`MAX_PATHS`].
fn key_paths(v: &Value, prefix: &str, out: &mut Vec<String>) {
    let Value::Object(map) = v else { return };
    for (k, child) in map {
        if out.len() >= MAX_PATHS {
            return;
        }
        let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        out.push(format!("{path}.x"));
        out.push(path.clone());
        key_paths(child, &path, out);
    }
}

/// The plain walk: `Ok(None)` for absent or `null`, `Err((walked path, type))` for a non-object
/// on the way.
fn walk<'a>(root: &'a Value, path: &str) -> Result<Option<&'a Value>, (String, &'static str)> {
    let segments: Vec<&str> = path.split('.').collect();
    let mut node = root;
    for (i, seg) in segments.iter().enumerate() {
        let Some(map) = node.as_object() else {
            let walked = if i == 0 { "values".to_string() } else { segments[..i].join(".") };
            return Err((walked, type_name(node)));
        };
        match map.get(*seg) {
            None | Some(Value::Null) => return Ok(None),
            Some(v) => node = v,
        }
    }
    Ok(Some(node))
}

fn whole(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        let f = v.as_f64()?;
        // Whole and in range, checked first.
        #[allow(clippy::cast_possible_truncation)]
        (f.fract() == 0.0 && f.abs() < 9.2e18).then_some(f as i64)
    })
}

fn strings(v: &Value) -> Option<Vec<&str>> {
    v.as_array()?.iter().map(Value::as_str).collect()
}

/// One path through `get` and every typed getter, against the plain walk.
fn lookups(values: &Values<'_>, root: &Value, path: &str) {
    let expected = walk(root, path);
    let got = values.get(path);
    match (&expected, &got) {
        (Ok(a), Ok(b)) => assert_eq!(a.map(std::ptr::from_ref), b.map(std::ptr::from_ref), "{path}"),
        (Err((walked, ty)), Err(e)) => {
            assert_eq!((e.path.as_str(), e.expected, e.got), (walked.as_str(), "an object", *ty), "{path}");
            assert_message(e);
        }
        _ => panic!("{path}: get {got:?}, walk {expected:?}"),
    }
    let leaf = expected.ok().flatten();
    typed(path, leaf, values.str(path), "a string", Value::as_str);
    typed(path, leaf, values.bool(path), "a boolean", Value::as_bool);
    typed(path, leaf, values.object(path), "an object", Value::as_object);
    typed(path, leaf, values.i64(path), "an integer", whole);
    typed(path, leaf, values.str_list(path), "a list of strings", strings);
}

/// A typed getter: `None` exactly when absent, the value when its type fits, else an error
/// naming `path`.
fn typed<'a, T: PartialEq + std::fmt::Debug>(
    path: &str,
    leaf: Option<&'a Value>,
    got: Result<Option<T>, ValuesError>,
    want_type: &'static str,
    convert: impl Fn(&'a Value) -> Option<T>,
) {
    match got {
        Ok(v) => assert_eq!(v, leaf.and_then(&convert), "{path}"),
        Err(e) => {
            assert_message(&e);
            match leaf {
                // A wrong type at the leaf: the whole path.
                Some(v) => {
                    assert!(convert(v).is_none(), "{path}");
                    assert_eq!((e.path.as_str(), e.expected, e.got), (path, want_type, type_name(v)));
                }
                // A non-object on the way: the walked part, which `get` already checked.
                None => assert_eq!(e.expected, "an object", "{path}"),
            }
        }
    }
}

/// The whole message is the path and two type names.
fn assert_message(e: &ValuesError) {
    assert_eq!(e.to_string(), format!("{}: expected {}, got {}", e.path, e.expected, e.got));
    for ty in [e.expected, e.got] {
        let known =
            ["null", "a boolean", "a number", "a string", "a list", "an object", "an integer", "a list of strings"];
        assert!(known.contains(&ty), "{ty}");
    }
}
