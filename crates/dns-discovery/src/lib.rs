//! DNS for the module hooks, which addon-operator runs chrooted with no `/etc`.
//!
//! Deckhouse runs every module hook in a chroot holding only the module directory, `/tmp` and
//! `/dev/null` (`hook-contract.md`, "Where the hooks actually run"): there is no
//! `/etc/resolv.conf` and no `/etc/hosts`, and a static glibc binary cannot load the NSS modules
//! `getaddrinfo` needs. So the hooks never use the system resolver library; they ask a DNS server
//! themselves (hickory-resolver, UDP with TCP fallback), chosen by [`Nameserver::choose`]:
//!
//! 1. `DNS_SERVER` (`ip:port`) when set — tests and debugging;
//! 2. else `/etc/resolv.conf` when it exists — servers, search list and options as written there
//!    (a hook run by hand, or an addon-operator without a chroot);
//! 3. else the cluster DNS address from the values, `global.discovery.clusterDNSAddress`, port 53
//!    — Deckhouse's global discovery puts the kube-dns Service address there; this is the path
//!    taken inside Deckhouse's chroot;
//! 4. else an error naming all three.
//!
//! Names are looked up for A and AAAA; one family failing while the other answers is reported in
//! [`Addresses::failed_family`] instead of failing the lookup (the discovery hook logs it).
//! With `DNS_SERVER` or the cluster address a name is absolute (no search list) and no hosts file
//! is read.
//!
//! Each family's lookup is one attempt bounded by `DNS_TIMEOUT` seconds ([`timeout_from_lookup`]:
//! fractions allowed, above 0 and at most [`MAX_TIMEOUT`], 60 s; unset or empty gives
//! [`TIMEOUT`], 5 s). Tests set it low so a silent server is given up on quickly; an unusable
//! value is [`Error::DnsTimeout`], which names the variable and not the value. Like `DNS_SERVER`
//! it is read through the caller's lookup function (a hook's `Input::env`), never from the
//! process environment behind the caller's back.
//!
//! ```no_run
//! # async fn demo() -> Result<(), dns_discovery::Error> {
//! let server = dns_discovery::Nameserver::from_env(Some("10.222.0.10"))?;
//! let timeout = dns_discovery::timeout_from_lookup(|k| std::env::var(k).ok())?;
//! let resolver = dns_discovery::Resolver::new(&server, timeout)?;
//! let found = resolver.lookup("madison-direct.flant.com").await?;
//! println!("{:?}", found.addrs);
//! # Ok(())
//! # }
//! ```

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};

/// `DNS_SERVER`: `ip:port` of the one server to ask (tests, debugging).
pub const ENV_DNS_SERVER: &str = "DNS_SERVER";
/// The system resolver configuration, used when it exists.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";
/// The values path of the cluster DNS address (Deckhouse global discovery).
pub const CLUSTER_DNS_ADDRESS: &str = "global.discovery.clusterDNSAddress";
/// `DNS_TIMEOUT`: seconds one lookup may take (each family; fractions allowed), default [`TIMEOUT`].
pub const ENV_DNS_TIMEOUT: &str = "DNS_TIMEOUT";
/// Default timeout of one lookup (each family), when `DNS_TIMEOUT` is unset or empty.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// The largest `DNS_TIMEOUT` accepted: the hooks run in addon-operator's module queues, where a
/// longer wait would hold the queue.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);

/// Failures choosing a server or resolving a name. Messages never contain more than the name,
/// the server and the DNS answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// `DNS_SERVER` is not `ip:port`.
    #[error("DNS_SERVER {0:?} is not ip:port")]
    DnsServer(String),
    /// `DNS_TIMEOUT` is not a number of seconds above 0 and at most [`MAX_TIMEOUT`]. The value is
    /// not shown: the message is the same for every bad value.
    #[error("DNS_TIMEOUT must be a number of seconds above 0 and at most {}", MAX_TIMEOUT.as_secs())]
    DnsTimeout,
    /// The cluster DNS address in the values is not an IP address.
    #[error("global.discovery.clusterDNSAddress {0:?} is not an IP address")]
    ClusterDnsAddress(String),
    /// Neither `DNS_SERVER`, `/etc/resolv.conf` nor the cluster DNS address is there.
    #[error("no DNS server: DNS_SERVER is unset, /etc/resolv.conf does not exist and global.discovery.clusterDNSAddress is not set")]
    NoNameserver,
    /// `/etc/resolv.conf` exists but cannot be used.
    #[error("cannot read the system resolver configuration: {0}")]
    ResolvConf(String),
    /// The resolver could not be built.
    #[error("cannot build the DNS resolver: {0}")]
    Build(String),
    /// The name does not exist.
    #[error("NXDOMAIN")]
    NxDomain,
    /// No answer in time.
    #[error("timed out after {}", seconds(*.0))]
    Timeout(Duration),
    /// Any other DNS failure (server failure, refused, network error), as hickory describes it.
    #[error("{0}")]
    Lookup(String),
}

/// Which server is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Nameserver {
    /// `DNS_SERVER`.
    Explicit(SocketAddr),
    /// `/etc/resolv.conf`.
    ResolvConf,
    /// `global.discovery.clusterDNSAddress`, port 53.
    Cluster(IpAddr),
}

impl Nameserver {
    /// The server by the rule of the crate docs: `dns_server` (the value of `DNS_SERVER`), else
    /// `resolv_conf` when that file exists, else `cluster_dns` (the values' cluster DNS address).
    /// Empty strings count as unset.
    pub fn choose(dns_server: Option<&str>, resolv_conf: &Path, cluster_dns: Option<&str>) -> Result<Self, Error> {
        if let Some(server) = dns_server.filter(|s| !s.is_empty()) {
            return server.parse().map(Nameserver::Explicit).map_err(|_| Error::DnsServer(server.to_string()));
        }
        if resolv_conf.exists() {
            return Ok(Nameserver::ResolvConf);
        }
        match cluster_dns.map(str::trim).filter(|s| !s.is_empty()) {
            Some(addr) => addr.parse().map(Nameserver::Cluster).map_err(|_| Error::ClusterDnsAddress(addr.to_string())),
            None => Err(Error::NoNameserver),
        }
    }

    /// [`Nameserver::choose`] with `DNS_SERVER` from the environment and [`RESOLV_CONF`].
    pub fn from_env(cluster_dns: Option<&str>) -> Result<Self, Error> {
        Self::from_lookup(|k| std::env::var(k).ok(), cluster_dns)
    }

    /// [`Nameserver::from_env`] with `DNS_SERVER` read from `get` (a hook's `Input::env`).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>, cluster_dns: Option<&str>) -> Result<Self, Error> {
        let env = get(ENV_DNS_SERVER);
        Self::choose(env.as_deref(), Path::new(RESOLV_CONF), cluster_dns)
    }
}

/// Parses a `DNS_TIMEOUT` value: seconds, fractions allowed, above 0 and at most [`MAX_TIMEOUT`]
/// (surrounding white space ignored).
pub fn parse_timeout(text: &str) -> Result<Duration, Error> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= MAX_TIMEOUT.as_secs_f64())
        .map(Duration::from_secs_f64)
        .filter(|d| !d.is_zero())
        .ok_or(Error::DnsTimeout)
}

/// The lookup timeout from `DNS_TIMEOUT` read through `get` (a hook's `Input::env`, the same
/// seam as [`Nameserver::from_lookup`]): unset or empty gives [`TIMEOUT`].
pub fn timeout_from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Duration, Error> {
    match get(ENV_DNS_TIMEOUT).filter(|v| !v.is_empty()) {
        Some(text) => parse_timeout(&text),
        None => Ok(TIMEOUT),
    }
}

/// A duration as seconds for messages: `5s`, `0.3s`, `1.25s` (milliseconds at most).
fn seconds(d: Duration) -> String {
    let text = format!("{:.3}", d.as_secs_f64());
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}s")
}

impl std::fmt::Display for Nameserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Nameserver::Explicit(addr) => write!(f, "{addr} (DNS_SERVER)"),
            Nameserver::ResolvConf => f.write_str(RESOLV_CONF),
            Nameserver::Cluster(ip) => write!(f, "{} ({CLUSTER_DNS_ADDRESS})", SocketAddr::new(*ip, 53)),
        }
    }
}

/// What a lookup found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Addresses {
    /// IPv4 addresses first, then IPv6, as the server sent them.
    pub addrs: Vec<IpAddr>,
    /// When one family failed and the other answered with addresses: the failure.
    pub failed_family: Option<Error>,
}

/// A resolver asking one [`Nameserver`].
#[derive(Debug)]
pub struct Resolver {
    inner: hickory_resolver::Resolver<TokioRuntimeProvider>,
    absolute: bool,
    timeout: Duration,
}

impl Resolver {
    /// A resolver for `server`; `timeout` bounds each family's lookup (one attempt).
    pub fn new(server: &Nameserver, timeout: Duration) -> Result<Self, Error> {
        let provider = TokioRuntimeProvider::default();
        let one = |ip: IpAddr, port: u16| {
            let mut ns = NameServerConfig::udp_and_tcp(ip);
            for c in &mut ns.connections {
                c.port = port;
            }
            hickory_resolver::Resolver::builder_with_config(
                ResolverConfig::from_name_servers(vec![ns]),
                provider.clone(),
            )
        };
        let (mut builder, absolute) = match server {
            Nameserver::Explicit(addr) => (one(addr.ip(), addr.port()), true),
            Nameserver::Cluster(ip) => (one(*ip, 53), true),
            Nameserver::ResolvConf => {
                let builder = hickory_resolver::Resolver::builder(provider.clone())
                    .map_err(|e| Error::ResolvConf(e.to_string()))?;
                (builder, false)
            }
        };
        let opts: &mut ResolverOpts = builder.options_mut();
        opts.timeout = timeout;
        opts.attempts = 1;
        if absolute {
            opts.use_hosts_file = ResolveHosts::Never;
            opts.ndots = 0;
        }
        let inner = builder.build().map_err(|e| Error::Build(e.to_string()))?;
        Ok(Self { inner, absolute, timeout })
    }

    /// Looks `name` up for A and AAAA at once.
    pub async fn lookup(&self, name: &str) -> Result<Addresses, Error> {
        let fqdn = if self.absolute && !name.ends_with('.') { format!("{name}.") } else { name.to_string() };
        let both = async {
            tokio::join!(
                self.inner.lookup(fqdn.as_str(), RecordType::A),
                self.inner.lookup(fqdn.as_str(), RecordType::AAAA)
            )
        };
        // hickory bounds each attempt; this bounds the pair, TCP fallback included.
        let (a, aaaa) = tokio::time::timeout(self.timeout + Duration::from_secs(1), both)
            .await
            .map_err(|_| Error::Timeout(self.timeout))?;
        match (family(a, self.timeout), family(aaaa, self.timeout)) {
            (Ok(mut v4), Ok(v6)) => {
                v4.extend(v6);
                Ok(Addresses { addrs: v4, failed_family: None })
            }
            (Ok(addrs), Err(e)) | (Err(e), Ok(addrs)) if !addrs.is_empty() => {
                Ok(Addresses { addrs, failed_family: Some(e) })
            }
            (Err(e), _) | (_, Err(e)) => Err(e),
        }
    }
}

/// What one record type gave: addresses (none for NOERROR without records), or why not.
fn family(result: Result<hickory_resolver::lookup::Lookup, NetError>, timeout: Duration) -> Result<Vec<IpAddr>, Error> {
    match result {
        Ok(lookup) => Ok(lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                _ => None,
            })
            .collect()),
        Err(NetError::Dns(DnsError::NoRecordsFound(nr))) if nr.response_code == ResponseCode::NoError => Ok(Vec::new()),
        Err(NetError::Dns(DnsError::NoRecordsFound(nr))) if nr.response_code == ResponseCode::NXDomain => {
            Err(Error::NxDomain)
        }
        Err(NetError::Timeout) => Err(Error::Timeout(timeout)),
        Err(e) => Err(Error::Lookup(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_is_chosen_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("resolv.conf");
        let none = dir.path().join("absent");
        std::fs::write(&conf, "nameserver 192.0.2.53\n").unwrap();
        let pick = |env: Option<&str>, path: &Path, cluster: Option<&str>| Nameserver::choose(env, path, cluster);
        assert_eq!(
            pick(Some("127.0.0.1:5353"), &conf, Some("10.222.0.10")),
            Ok(Nameserver::Explicit("127.0.0.1:5353".parse().unwrap()))
        );
        assert_eq!(pick(Some(""), &conf, Some("10.222.0.10")), Ok(Nameserver::ResolvConf));
        assert_eq!(pick(None, &none, Some("10.222.0.10")), Ok(Nameserver::Cluster("10.222.0.10".parse().unwrap())));
        assert_eq!(pick(None, &none, Some(" fd00::a ")), Ok(Nameserver::Cluster("fd00::a".parse().unwrap())));
        assert_eq!(pick(None, &none, Some("")), Err(Error::NoNameserver));
        assert_eq!(pick(None, &none, None), Err(Error::NoNameserver));
        assert_eq!(pick(Some("localhost"), &conf, None), Err(Error::DnsServer("localhost".into())));
        assert_eq!(pick(None, &none, Some("kube-dns")), Err(Error::ClusterDnsAddress("kube-dns".into())));
    }

    #[test]
    fn messages_name_the_input() {
        assert_eq!(Error::DnsServer("localhost".into()).to_string(), "DNS_SERVER \"localhost\" is not ip:port");
        assert_eq!(Error::Timeout(TIMEOUT).to_string(), "timed out after 5s");
        assert_eq!(Error::Timeout(Duration::from_millis(300)).to_string(), "timed out after 0.3s");
        assert_eq!(Error::Timeout(Duration::from_millis(1250)).to_string(), "timed out after 1.25s");
        assert_eq!(Error::Timeout(Duration::from_secs(60)).to_string(), "timed out after 60s");
        assert_eq!(
            Error::ClusterDnsAddress("kube-dns".into()).to_string(),
            "global.discovery.clusterDNSAddress \"kube-dns\" is not an IP address"
        );
        assert_eq!(
            Nameserver::Cluster("10.222.0.10".parse().unwrap()).to_string(),
            "10.222.0.10:53 (global.discovery.clusterDNSAddress)"
        );
    }

    /// Issue 11: `DNS_TIMEOUT` sets the lookup timeout, read through the caller's lookup; the
    /// default stays 5 s; bad values are one message that names the variable, not the value.
    #[test]
    fn issue_11_timeout_is_configurable() {
        let with = |v: Option<&str>| timeout_from_lookup(|k| v.filter(|_| k == ENV_DNS_TIMEOUT).map(String::from));
        assert_eq!(with(None), Ok(TIMEOUT));
        assert_eq!(with(Some("")), Ok(TIMEOUT));
        assert_eq!(TIMEOUT, Duration::from_secs(5));
        assert_eq!(with(Some("0.3")), Ok(Duration::from_millis(300)));
        assert_eq!(with(Some(" 2 ")), Ok(Duration::from_secs(2)));
        assert_eq!(with(Some("60")), Ok(MAX_TIMEOUT));
        assert_eq!(with(Some("1e1")), Ok(Duration::from_secs(10)));
        for bad in ["0", "-1", "60.001", "61", "1e9", "NaN", "inf", "5s", "five", "0x10", " ", "1e-12"] {
            assert_eq!(with(Some(bad)), Err(Error::DnsTimeout), "{bad:?}");
        }
        let message = with(Some("s3cr3t")).unwrap_err().to_string();
        assert_eq!(message, "DNS_TIMEOUT must be a number of seconds above 0 and at most 60");
        // Another variable is not read as the timeout.
        assert_eq!(timeout_from_lookup(|k| (k == ENV_DNS_SERVER).then(|| "0".to_string())), Ok(TIMEOUT));
    }

    /// The timeout given to the resolver bounds a lookup against a server that never answers,
    /// and the error reports the timeout in effect.
    #[tokio::test]
    async fn a_silent_server_times_out_with_the_timeout_in_effect() {
        // A bound UDP socket nobody reads: the query is never answered.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let server = Nameserver::Explicit(silent.local_addr().unwrap());
        let timeout = parse_timeout("0.2").unwrap();
        let resolver = Resolver::new(&server, timeout).unwrap();
        assert_eq!(resolver.lookup("madison-direct.flant.com").await, Err(Error::Timeout(timeout)));
    }
}
