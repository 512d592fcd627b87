//! The OpenAPI schemas: every case of `templates-and-schemas.md` §3.1, judged by addon-operator's
//! own validation and defaulting code (through the operator harness), never by a re-implementation.

use serde_json::{json, Value};

use crate::harness::{module_values, validate, Schema};

/// Asserts addon-operator's verdict on each case: `(schema, module values, valid?)`.
fn check(cases: &[(Schema, Value, bool)]) {
    let verdicts = validate(&cases.iter().map(|(s, v, _)| (*s, v.clone())).collect::<Vec<_>>());
    for ((schema, values, valid), verdict) in cases.iter().zip(verdicts) {
        assert_eq!(verdict.is_none(), *valid, "{schema:?} {values}: {verdict:?}");
    }
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
    use Schema::Config as C;
    let mut cases = vec![
        (
            C,
            json!({"kubeall": {"host": "test.control-plane"}, "metrics": false, "madisonAuthKey": false, "logs": false}),
            true,
        ),
        (C, json!({}), true),
        (
            C,
            json!({"madisonAuthKey": "abc", "metrics": {"url": "https://example.com/rw"}, "logs": {"url": "https://example.com/loki"}}),
            true,
        ),
        (C, json!({"metrics": true, "madisonAuthKey": true, "logs": true}), false),
        (C, json!({"clusterType": "Mixed"}), false),
        (C, json!({"contacts": "ten"}), false),
        (C, json!({"kubeall": {"hots": "typo"}}), false),
        (C, json!({"unknownKey": 1}), false),
        // A misspelt key inside metrics/logs is rejected: the object is closed by addon-operator.
        (C, json!({"metrics": {"ur": "https://example.com/rw"}}), false),
        (C, json!({"logs": {"url": 1}}), false),
    ];
    for bad in [json!({"metrics": true}), json!({"madisonAuthKey": true}), json!({"logs": true})] {
        cases.push((C, bad, false));
    }
    check(&cases);
}

#[test]
fn values_cases() {
    let mut more = internal();
    more["madisonAuthKey"] = json!(false);
    more["licenseKey"] = json!("x");
    more["madison"] = json!({"backends": ["192.0.2.1:443"]});
    let mut cases =
        vec![(Schema::Helm, json!({"internal": internal()}), true), (Schema::Helm, json!({"internal": more}), true)];
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
        cases.push((Schema::Values, json!({"internal": i}), false));
    }
    // IPv6 backends in brackets and a config key inherited through x-extend.
    let mut i = internal();
    i["madison"] = json!({"backends": ["192.0.2.1:443", "[2001:db8::1]:443"]});
    cases.push((Schema::Helm, json!({"internal": i, "kubeall": {"host": "h"}, "metrics": false}), true));
    check(&cases);
}

#[test]
fn required_for_helm_only_before_helm() {
    let mut i = internal();
    i["nodeStats"].as_object_mut().unwrap().remove("masterMinMemory");
    check(&[
        (Schema::Values, json!({"internal": {}}), true),
        (Schema::Helm, json!({"internal": {}}), false),
        (Schema::Values, json!({"internal": i.clone()}), true),
        (Schema::Helm, json!({"internal": i}), false),
    ]);
}

/// The regression of the first release: defaults inside `oneOf` branches were never applied, so a
/// default configuration gave `metrics: {}` and `logs: {}` and billing could not be switched on.
#[test]
fn default_configuration_switches_metrics_and_logs_on() {
    let values = module_values(&json!({}));
    assert_eq!(values["metrics"], json!({"url": "https://connect.deckhouse.io/v1/remote_write"}));
    assert_eq!(values["logs"], json!({"url": "https://connect.deckhouse.io/v1/loki_push"}));
    let off = module_values(&json!({"metrics": false, "logs": false}));
    assert_eq!((off["metrics"].clone(), off["logs"].clone()), (json!(false), json!(false)));
    let custom = module_values(&json!({"metrics": {"url": "https://example.com/rw"}}));
    assert_eq!(custom["metrics"], json!({"url": "https://example.com/rw"}));
    assert_eq!(custom["logs"]["url"], "https://connect.deckhouse.io/v1/loki_push");
}
