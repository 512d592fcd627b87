//! The OpenAPI schemas: every case of `templates-and-schemas.md` §3.1, validated with a JSON-schema
//! validator the way addon-operator applies them.

use serde_json::{json, Value};
use test_support::openapi::{errors, validator, Mode};

use crate::common::root;

fn check(file: &str, mode: Mode, instance: &Value, valid: bool) {
    let v = validator(&root().join("openapi"), file, mode).unwrap();
    let errs = errors(&v, instance);
    assert_eq!(errs.is_empty(), valid, "{file} {instance}: {errs:?}");
}

fn internal() -> Value {
    json!({
        "releaseChannel": "test", "bundle": "Default", "cloudProvider": "TestCloud",
        "controlPlaneVersion": "1.23", "clusterType": "Static",
        "nodeStats": {"minimalKubeletVersion": "1.23", "staticNodesCount": 0, "mastersCount": 3,
                      "masterIsDedicated": true, "masterMinCPU": 4, "masterMinMemory": 8_265_010_916_i64},
        "terraformManagerEnabled": true
    })
}

#[test]
fn config_values_cases() {
    let c = "config-values.yaml";
    check(
        c,
        Mode::Patch,
        &json!({"kubeall": {"host": "test.control-plane"}, "metrics": false, "madisonAuthKey": false, "logs": false}),
        true,
    );
    check(c, Mode::Patch, &json!({}), true);
    check(
        c,
        Mode::Patch,
        &json!({"madisonAuthKey": "abc", "metrics": {"url": "https://example.com/rw"}, "logs": {"url": "https://example.com/loki"}}),
        true,
    );
    check(c, Mode::Patch, &json!({"metrics": true, "madisonAuthKey": true, "logs": true}), false);
    for bad in [json!({"metrics": true}), json!({"madisonAuthKey": true}), json!({"logs": true})] {
        check(c, Mode::Patch, &bad, false);
    }
    check(c, Mode::Patch, &json!({"clusterType": "Mixed"}), false);
    check(c, Mode::Patch, &json!({"contacts": "ten"}), false);
    check(c, Mode::Patch, &json!({"kubeall": {"hots": "typo"}}), false);
    check(c, Mode::Patch, &json!({"unknownKey": 1}), false);
}

#[test]
fn values_cases() {
    let v = "values.yaml";
    check(v, Mode::Helm, &json!({"internal": internal()}), true);
    let mut more = internal();
    more["madisonAuthKey"] = json!(false);
    more["licenseKey"] = json!("x");
    more["madison"] = json!({"backends": ["192.0.2.1:443"]});
    check(v, Mode::Helm, &json!({"internal": more}), true);
    for (path, bad) in [
        ("/clusterType", json!("Other")),
        ("/nodeStats/masterMinCPU", json!("4")),
        ("/madison/backends", json!(["192.0.2.1"])),
        ("/madison/backends", json!(["1.1.1.1:443", "1.1.1.2:443", "1.1.1.3:443", "1.1.1.4:443"])),
        ("/madison/backends", json!(["[2001:DB8::1]:443"])),
        ("/madisonAuthKey", json!(true)),
        ("/licenseKee", json!("typo")),
    ] {
        let mut i = internal();
        i["madison"] = json!({});
        let (parent, key) = path.rsplit_once('/').unwrap();
        let target = if parent.is_empty() { &mut i } else { i.pointer_mut(parent).unwrap() };
        target[key] = bad;
        check(v, Mode::Patch, &json!({"internal": i}), false);
    }
    // IPv6 backends in brackets and a config key inherited through x-extend.
    let mut i = internal();
    i["madison"] = json!({"backends": ["192.0.2.1:443", "[2001:db8::1]:443"]});
    check(v, Mode::Helm, &json!({"internal": i, "kubeall": {"host": "h"}, "metrics": false}), true);
}

#[test]
fn required_for_helm_only_before_helm() {
    let v = "values.yaml";
    check(v, Mode::Patch, &json!({"internal": {}}), true);
    check(v, Mode::Helm, &json!({"internal": {}}), false);
    let mut i = internal();
    i["nodeStats"].as_object_mut().unwrap().remove("masterMinMemory");
    check(v, Mode::Patch, &json!({"internal": i.clone()}), true);
    check(v, Mode::Helm, &json!({"internal": i}), false);
}
