//! Usage figures aggregated from PromQL samples (`pricing-hooks.md` §4.2, §4.7, §4.8): each
//! function takes `(label, value)` pairs as Prometheus returned them and gives the series to
//! report, sorted by their labels.

use std::collections::BTreeMap;

use crate::os_image::label as os_image_label;

/// Helm releases by `helm_version`: the largest value when several samples share a version.
#[must_use]
pub fn helm_releases<'a>(samples: impl IntoIterator<Item = (&'a str, f64)>) -> BTreeMap<String, f64> {
    let mut by_version: BTreeMap<String, f64> = BTreeMap::new();
    for (version, value) in samples {
        let v = by_version.entry(version.to_string()).or_insert(value);
        *v = v.max(value);
    }
    by_version
}

/// Nodes by OS-image label ([`os_image_label`]), summed over samples that map to one label.
#[must_use]
pub fn os_images<'a>(samples: impl IntoIterator<Item = (&'a str, f64)>) -> BTreeMap<String, f64> {
    let mut by_label: BTreeMap<String, f64> = BTreeMap::new();
    for (os_image, value) in samples {
        *by_label.entry(os_image_label(os_image)).or_default() += value;
    }
    by_label
}

/// Nodes by (cri, version) from `container_runtime_version` ([`split_runtime`]), summed.
#[must_use]
pub fn container_runtimes<'a>(samples: impl IntoIterator<Item = (&'a str, f64)>) -> BTreeMap<(String, String), f64> {
    let mut by_pair: BTreeMap<(String, String), f64> = BTreeMap::new();
    for (runtime, value) in samples {
        let (cri, version) = split_runtime(runtime);
        *by_pair.entry((cri.to_string(), version.to_string())).or_default() += value;
    }
    by_pair
}

/// Splits a `container_runtime_version` at the first `://` into (cri, version); without `://`
/// the whole text is the cri and the version is empty.
#[must_use]
pub fn split_runtime(text: &str) -> (&str, &str) {
    text.split_once("://").unwrap_or((text, ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// §4.11: `helm_version` 3 → 12 and 2 → 1, sorted by version; a duplicate keeps the largest.
    #[test]
    fn helm_releases_by_version() {
        let got = helm_releases([("3", 12.0), ("2", 1.0), ("3", 4.0)]);
        assert_eq!(got.into_iter().collect::<Vec<_>>(), [("2".into(), 1.0), ("3".into(), 12.0)]);
    }

    /// §4.8's example.
    #[test]
    fn container_runtimes_example() {
        let got = container_runtimes([("containerd://1.6.20", 4.0), ("docker://20.10.7", 1.0), ("cri-o", 1.0)]);
        let want = [
            (("containerd".into(), "1.6.20".into()), 4.0),
            (("cri-o".into(), String::new()), 1.0),
            (("docker".into(), "20.10.7".into()), 1.0),
        ];
        assert_eq!(got.into_iter().collect::<Vec<_>>(), want);
    }

    #[test]
    fn os_images_sum_per_label() {
        let got = os_images([("Ubuntu 22.04.3 LTS", 2.0), ("Ubuntu 22.04.1 LTS", 1.0), ("Something Else", 1.0)]);
        assert_eq!(got.get("ubuntu-22.04"), Some(&3.0), "{got:?}");
        assert!((got.values().sum::<f64>() - 4.0).abs() < 1e-9);
    }

    /// pricing-hooks-additions.md §3.5 — also the regression for upstream's MosOS pattern, which
    /// failed the whole run as soon as Prometheus reported a node.
    #[test]
    fn os_images_with_rosa_mosos_opensuse() {
        let got = os_images([
            ("Ubuntu 22.04.3 LTS", 3.0),
            ("Ubuntu 22.04.4 LTS", 2.0),
            ("Red Hat Enterprise Linux Server 7.8 (Maipo)", 1.0),
            ("Flatcar Container Linux by Kinvolk 3510.2.1 (Oklo)", 1.0),
            ("openSUSE Leap 15.5", 2.0),
            ("openSUSE Leap 15.6", 1.0),
            ("ROSA Chrome 12.4", 1.0),
            ("MosOS Arbat 15.5", 4.0),
        ]);
        let want = [
            ("mosos-15", 4.0),
            ("opensuse-15", 3.0),
            ("rhel-7", 1.0),
            ("rosa-12", 1.0),
            ("ubuntu-22.04", 5.0),
            ("unknown", 1.0),
        ];
        assert_eq!(got.into_iter().collect::<Vec<_>>(), want.map(|(l, v)| (l.to_string(), v)));
    }

    #[test]
    fn split_runtime_examples() {
        assert_eq!(split_runtime("containerd://1.6.20"), ("containerd", "1.6.20"));
        assert_eq!(split_runtime("cri-o"), ("cri-o", ""));
        assert_eq!(split_runtime("a://b://c"), ("a", "b://c"));
    }
}
