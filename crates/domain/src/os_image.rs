//! The OS image label of `flant_pricing_node_os_image_count` (`pricing-hooks.md` §4.7,
//! decisions 2 and 15).
//!
//! The distro is the first table row whose pattern matches the lower-cased, trimmed text; the
//! version is the first version number after the pattern, reduced to its major (Ubuntu keeps
//! `major.minor`) and accepted only if listed. Everything else is `unknown`.

/// The label for anything not recognised.
pub const UNKNOWN: &str = "unknown";

enum Pattern {
    Contains(&'static [&'static str]),
    StartsWith(&'static str),
}

enum Versions {
    Major(&'static [&'static str]),
    MajorMinor(&'static [&'static str]),
    Unversioned,
}

struct Distro {
    pattern: Pattern,
    prefix: &'static str,
    versions: Versions,
}

/// The accepted lists are the single place to extend when a new release is supported.
const DISTROS: &[Distro] = &[
    Distro {
        pattern: Pattern::Contains(&["red hat enterprise linux"]),
        prefix: "rhel",
        versions: Versions::Major(&["7", "8", "9", "10"]),
    },
    Distro { pattern: Pattern::Contains(&["centos"]), prefix: "centos", versions: Versions::Major(&["7", "8"]) },
    Distro {
        pattern: Pattern::Contains(&["debian"]),
        prefix: "debian",
        versions: Versions::Major(&["10", "11", "12", "13"]),
    },
    Distro {
        pattern: Pattern::Contains(&["ubuntu"]),
        prefix: "ubuntu",
        versions: Versions::MajorMinor(&["18.04", "20.04", "22.04", "24.04"]),
    },
    Distro { pattern: Pattern::Contains(&["rocky"]), prefix: "rocky", versions: Versions::Major(&["8", "9", "10"]) },
    Distro {
        pattern: Pattern::Contains(&["almalinux"]),
        prefix: "almalinux",
        versions: Versions::Major(&["8", "9", "10"]),
    },
    Distro {
        pattern: Pattern::Contains(&["redos", "red os"]),
        prefix: "redos",
        versions: Versions::Major(&["7", "8"]),
    },
    // pricing-hooks-additions.md §3.4: ROSA, MosOS and openSUSE (upstream's MosOS pattern lacks a
    // closing parenthesis and fails the whole run; this is its evident intent).
    Distro { pattern: Pattern::Contains(&["rosa"]), prefix: "rosa", versions: Versions::Major(&["7", "12"]) },
    Distro { pattern: Pattern::Contains(&["mosos"]), prefix: "mosos", versions: Versions::Major(&["15"]) },
    Distro { pattern: Pattern::Contains(&["opensuse"]), prefix: "opensuse", versions: Versions::Major(&["15"]) },
    Distro {
        pattern: Pattern::StartsWith("alt "),
        prefix: "altlinux",
        versions: Versions::Major(&["8", "9", "10", "11"]),
    },
    Distro { pattern: Pattern::Contains(&["astra"]), prefix: "astra", versions: Versions::Unversioned },
];

/// Where the pattern ends in `text`, if it matches.
fn match_end(pattern: &Pattern, text: &str) -> Option<usize> {
    match pattern {
        Pattern::Contains(needles) => needles.iter().filter_map(|n| text.find(n).map(|p| p + n.len())).min(),
        Pattern::StartsWith(prefix) => text.starts_with(prefix).then_some(prefix.len()),
    }
}

/// The first version number (`\d+(\.\d+)*`) in `text`.
fn first_version(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let start = bytes.iter().position(u8::is_ascii_digit)?;
    let mut end = start;
    loop {
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
        if end + 1 < bytes.len() && bytes[end] == b'.' && bytes[end + 1].is_ascii_digit() {
            end += 1;
        } else {
            break;
        }
    }
    Some(&text[start..end])
}

/// Maps an `os_image` text to its label.
#[must_use]
pub fn label(os_image: &str) -> String {
    let text = os_image.trim().to_lowercase();
    let Some((distro, end)) = DISTROS.iter().find_map(|d| match_end(&d.pattern, &text).map(|e| (d, e))) else {
        return UNKNOWN.to_string();
    };
    let (accepted, keep_minor) = match distro.versions {
        Versions::Unversioned => return distro.prefix.to_string(),
        Versions::Major(list) => (list, false),
        Versions::MajorMinor(list) => (list, true),
    };
    let Some(version) = first_version(&text[end..]) else {
        return UNKNOWN.to_string();
    };
    let mut parts = version.split('.');
    let major = parts.next().unwrap_or_default();
    let reduced = if keep_minor {
        match parts.next() {
            Some(minor) => format!("{major}.{minor}"),
            None => major.to_string(),
        }
    } else {
        major.to_string()
    };
    if accepted.contains(&reduced.as_str()) {
        format!("{}-{reduced}", distro.prefix)
    } else {
        UNKNOWN.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::label;

    #[test]
    fn spec_table() {
        let rows = [
            ("Ubuntu 22.04.3 LTS", "ubuntu-22.04"),
            ("Ubuntu 20.04.6 LTS", "ubuntu-20.04"),
            ("Ubuntu 24.04 LTS", "ubuntu-24.04"),
            ("Ubuntu 24.04.1 LTS", "ubuntu-24.04"),
            ("Ubuntu 18.04.6 LTS", "ubuntu-18.04"),
            ("Ubuntu 16.04.7 LTS", "unknown"),
            ("Ubuntu 24.10", "unknown"),
            ("CentOS Linux 7 (Core)", "centos-7"),
            ("CentOS Stream 8", "centos-8"),
            ("Red Hat Enterprise Linux Server 7.8 (Maipo)", "rhel-7"),
            ("Red Hat Enterprise Linux 8.6 (Ootpa)", "rhel-8"),
            ("Red Hat Enterprise Linux 9.4 (Plow)", "rhel-9"),
            ("Red Hat Enterprise Linux 10.0 (Coughlan)", "rhel-10"),
            ("Red Hat Enterprise Linux CoreOS 415.92.202402201450-0", "unknown"),
            ("Debian GNU/Linux 11 (bullseye)", "debian-11"),
            ("Debian GNU/Linux 12 (bookworm)", "debian-12"),
            ("Debian GNU/Linux 13 (trixie)", "debian-13"),
            ("Debian GNU/Linux 9 (stretch)", "unknown"),
            ("Rocky Linux 8.9 (Green Obsidian)", "rocky-8"),
            ("Rocky Linux 9.1 (Blue Onyx)", "rocky-9"),
            ("Rocky Linux 10.0 (Red Quartz)", "rocky-10"),
            ("AlmaLinux 8.7 (Stone Smilodon)", "almalinux-8"),
            ("AlmaLinux 9.4 (Seafoam Ocelot)", "almalinux-9"),
            ("AlmaLinux 10.0 (Purple Lion)", "almalinux-10"),
            ("RedOS 7.3", "redos-7"),
            ("RED OS MUROM (7.3.2)", "redos-7"),
            ("RED OS 8", "redos-8"),
            ("ALT Server 10.1 (Mendelevium)", "altlinux-10"),
            ("ALT Linux p10", "altlinux-10"),
            ("ALT 8 SP Server 11100-01", "altlinux-8"),
            ("Astra Linux 1.7 x86-64", "astra"),
            ("Astra Linux CE 2.12.45", "astra"),
            ("Flatcar Container Linux by Kinvolk 3510.2.1 (Oklo)", "unknown"),
            ("openSUSE Leap 15.5", "opensuse-15"),
            // pricing-hooks-additions.md §3.4
            ("ROSA Enterprise Linux Server 7.9", "rosa-7"),
            ("ROSA Enterprise Linux Server 7.3", "rosa-7"),
            ("ROSA Chrome 12.4", "rosa-12"),
            ("ROSA Fresh Desktop 12.5.1", "rosa-12"),
            ("ROSA Fresh 12.7", "rosa-12"),
            ("ROSA Enterprise Linux Server 6.6", "unknown"),
            ("ROSA Linux 2021.1", "unknown"),
            ("MosOS Arbat 15.5", "mosos-15"),
            ("MosOS Arbat 15.6", "mosos-15"),
            ("openSUSE Leap 15.6", "opensuse-15"),
            ("openSUSE Leap 16.0", "unknown"),
            ("openSUSE Leap Micro 5.5", "unknown"),
            ("openSUSE Tumbleweed", "unknown"),
            ("SUSE Linux Enterprise Server 15 SP5", "unknown"),
            ("MOS OS Arbat 15.5", "unknown"),
            ("", "unknown"),
            ("  Ubuntu 22.04.3 LTS  ", "ubuntu-22.04"),
            ("Ubuntu", "unknown"),
        ];
        for (input, want) in rows {
            assert_eq!(label(input), want, "{input:?}");
        }
    }
}
