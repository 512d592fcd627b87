//! Golden fixtures: `tests/fixtures/<hook>/<case>/` through the compiled hook, one snapshot each.
//!
//! A case holds `binding_context.json` and optionally `values.json`, `config_values.json`,
//! `env.yaml` (a `null` value unsets a variable) and `notes.md` (what the case proves; becomes the
//! snapshot description). Every run is also checked against the contract (`Run::assert_contract`).
//! All cases run before the test fails, so one run reports every broken case.
//! `GOLDEN_FILTER=<hook>/<case>` runs one case.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::common::{root, run_hook, RunInput, HOOKS};

#[test]
fn golden_fixtures() {
    let filter = std::env::var("GOLDEN_FILTER").ok();
    let fixtures = root().join("tests/fixtures");
    let mut cases = Vec::new();
    for (hook, _) in HOOKS {
        let dir = fixtures.join(hook);
        assert!(dir.is_dir(), "hook {hook} has no fixtures");
        let mut hook_cases: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("binding_context.json").exists())
            .collect();
        hook_cases.sort();
        assert!(!hook_cases.is_empty(), "hook {hook} has no fixture case");
        for case in hook_cases {
            cases.push((*hook, case));
        }
    }
    let mut failed = Vec::new();
    let mut ran = 0;
    for (hook, case) in &cases {
        let case_name = case.file_name().unwrap().to_string_lossy().into_owned();
        let id = format!("{hook}/{case_name}");
        if filter.as_deref().is_some_and(|f| f != id) {
            continue;
        }
        ran += 1;
        let result = catch_unwind(AssertUnwindSafe(|| {
            let input = RunInput::from_case(case);
            let run = run_hook(hook, &input);
            run.assert_contract();
            check_values_patch(&input, &run);
            let mut settings = insta::Settings::clone_current();
            settings.set_prepend_module_to_snapshot(false);
            settings.set_input_file(case.join("binding_context.json"));
            settings.set_omit_expression(true);
            if let Ok(notes) = std::fs::read_to_string(case.join("notes.md")) {
                settings.set_description(notes.trim());
            }
            settings.bind(|| insta::assert_snapshot!(format!("{hook}__{case_name}"), run.record()));
        }));
        if result.is_err() {
            failed.push(id);
        }
    }
    assert!(ran > 0, "no fixture matched {filter:?}");
    assert!(failed.is_empty(), "failing fixtures: {failed:#?}");
}

/// Secret values used by fixtures; none may ever appear on stderr.
const SECRETS: [&str; 3] = ["TeStLiCeNsE", "s3cr3t-license", "s3cr3t-auth-key"];

/// A values patch must apply cleanly to the input values (RFC 6902, `json-patch`) and, when the
/// run succeeded, the resulting module values must validate against `openapi/values.yaml`.
fn check_values_patch(input: &RunInput, run: &crate::common::Run) {
    for secret in SECRETS {
        assert!(!run.stderr.contains(secret), "a secret reached stderr: {}", run.stderr);
    }
    let Some(values) = &input.values else { return };
    let mut doc = values.clone();
    if let Some(patch) = run.values_patch() {
        let patch: json_patch::Patch = serde_json::from_value(patch).expect("values patch is RFC 6902");
        json_patch::patch(&mut doc, &patch).expect("values patch applies to the input values");
    }
    if run.code == 0 {
        let validator = test_support::openapi::validator(
            &crate::common::root().join("openapi"),
            "values.yaml",
            test_support::openapi::Mode::Patch,
        )
        .unwrap();
        let module = doc.get("flantIntegration").cloned().unwrap_or_else(|| serde_json::json!({}));
        let errors = test_support::openapi::errors(&validator, &module);
        assert!(errors.is_empty(), "resulting values do not validate against openapi/values.yaml: {errors:?}");
    }
}
