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
//! ```no_run
//! # async fn demo() -> Result<(), dns_discovery::Error> {
//! let server = dns_discovery::Nameserver::from_env(Some("10.222.0.10"))?;
//! let resolver = dns_discovery::Resolver::new(&server, dns_discovery::TIMEOUT)?;
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
/// Timeout of one lookup (each family).
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Failures choosing a server or resolving a name. Messages never contain more than the name,
/// the server and the DNS answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// `DNS_SERVER` is not `ip:port`.
    #[error("DNS_SERVER {0:?} is not ip:port")]
    DnsServer(String),
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
    #[error("timed out after {}s", .0.as_secs())]
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
        assert_eq!(
            Error::ClusterDnsAddress("kube-dns".into()).to_string(),
            "global.discovery.clusterDNSAddress \"kube-dns\" is not an IP address"
        );
        assert_eq!(
            Nameserver::Cluster("10.222.0.10".parse().unwrap()).to_string(),
            "10.222.0.10:53 (global.discovery.clusterDNSAddress)"
        );
    }
}
