//! The backend client: hyper's HTTP/1.1 client connections, dialled at `MADISON_BACKEND` (TLS
//! with SNI and certificate name `MADISON_HOST` when the scheme is `https`), kept in a pool of
//! idle connections per worker.
//!
//! Each worker thread has its own [`Upstream`] (its own [`AppState`](crate::AppState)), so the
//! pool is a plain list under an uncontended lock: no URL, no pool key and no map per request,
//! which reqwest and hyper-util's pooled client had (`docs/internal/decisions.md`, "Performance
//! round 2: madison-proxy").
//!
//! * **Connect** (TCP, then the TLS handshake) within [`Limits::connect_timeout`].
//! * **Idle connections** are closed once idle for [`Limits::idle_timeout`]: each one's task
//!   closes it when the pool has not taken it back by then.
//! * **A pooled connection the backend closed** while it was idle (its close not yet seen):
//!   hyper hands the request back unsent and it goes out on the next connection, a fresh one at
//!   the latest — the request is never sent twice.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::config::{human, Backend, Limits};

/// Why a request got no answer from the backend.
#[derive(Debug)]
pub enum SendError {
    /// No connection within the connect timeout.
    ConnectTimeout,
    /// Resolving, connecting or the TLS handshake failed.
    Connect(std::io::Error),
    /// The connection failed while the request was sent or the answer read.
    Http(hyper::Error),
}

impl SendError {
    /// The failure in the access line's words: the causes, never a URL.
    pub fn describe(&self, limits: &Limits) -> String {
        match self {
            SendError::ConnectTimeout => format!("connect timed out after {}", human(limits.connect_timeout)),
            SendError::Connect(e) => match tls_client::verification_failure(e) {
                Some(v) => format!("certificate verify failed: {v}"),
                None => format!("connect: {}", causes(e)),
            },
            SendError::Http(e) => match tls_client::verification_failure(e) {
                Some(v) => format!("certificate verify failed: {v}"),
                None => causes(e),
            },
        }
    }
}

/// An error's message and those of its causes, joined.
pub fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    parts.extend(tls_client::causes(e));
    parts.join(": ")
}

/// Since when a connection has been idle in the pool; `None` while a request uses it. The pool
/// and the connection's task both look at it under its lock, so a connection is never closed for
/// idleness once taken.
type IdleSince = Arc<Mutex<Option<Instant>>>;

/// A connection: hyper's sender and its idle clock. Taken from the pool or made for one
/// request; [`Upstream::give_back`] returns it.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    idle: IdleSince,
}

/// The backend, its TLS settings and the idle connections.
pub struct Upstream {
    backend: Backend,
    tls: Option<(TlsConnector, rustls::pki_types::ServerName<'static>)>,
    limits: Limits,
    pool: Mutex<Vec<Connection>>,
}

impl Upstream {
    /// `tls` is the client configuration and the name for SNI and the certificate, for `https`.
    pub fn new(
        backend: Backend,
        tls: Option<(rustls::ClientConfig, rustls::pki_types::ServerName<'static>)>,
        limits: Limits,
    ) -> Self {
        let tls = tls.map(|(config, name)| (TlsConnector::from(Arc::new(config)), name));
        Self { backend, tls, limits, pool: Mutex::new(Vec::new()) }
    }

    /// Sends `req` and returns the answer's head with its body still to read, and the connection
    /// to give back once the body is read.
    pub async fn send(
        &self,
        mut req: hyper::Request<Full<Bytes>>,
    ) -> Result<(hyper::Response<Incoming>, Connection), SendError> {
        loop {
            let (mut conn, fresh) = match self.take() {
                Some(c) => (c, false),
                None => (self.connect().await?, true),
            };
            if !fresh && conn.sender.ready().await.is_err() {
                continue; // closed while idle
            }
            match conn.sender.try_send_request(req).await {
                Ok(resp) => return Ok((resp, conn)),
                Err(mut e) => match e.take_message() {
                    // Not sent: the connection was closed under it. Try the next one.
                    Some(unsent) if !fresh => req = unsent,
                    _ => return Err(SendError::Http(e.into_error())),
                },
            }
        }
    }

    /// Returns a connection whose answer was read whole to the pool.
    pub fn give_back(&self, conn: Connection) {
        if conn.sender.is_closed() {
            return;
        }
        if let Ok(mut since) = conn.idle.lock() {
            *since = Some(Instant::now());
        }
        if let Ok(mut pool) = self.pool.lock() {
            pool.push(conn);
        }
    }

    /// The most recently used idle connection still open and within the idle timeout.
    fn take(&self) -> Option<Connection> {
        let mut pool = self.pool.lock().ok()?;
        while let Some(conn) = pool.pop() {
            let Ok(mut since) = conn.idle.lock() else { continue };
            if since.is_some_and(|t| t.elapsed() < self.limits.idle_timeout) && !conn.sender.is_closed() {
                *since = None;
                drop(since);
                return Some(conn);
            }
        }
        None
    }

    async fn connect(&self) -> Result<Connection, SendError> {
        match tokio::time::timeout(self.limits.connect_timeout, self.dial()).await {
            Err(_) => Err(SendError::ConnectTimeout),
            Ok(r) => r,
        }
    }

    /// TCP (and TLS) to the backend, then hyper's HTTP/1.1 handshake; the connection's task runs
    /// until the backend or the pool closes it.
    async fn dial(&self) -> Result<Connection, SendError> {
        let Backend { host, port } = &self.backend;
        let tcp = match host.parse::<IpAddr>() {
            Ok(ip) => TcpStream::connect(SocketAddr::new(ip, *port)).await,
            Err(_) => TcpStream::connect((host.as_str(), *port)).await,
        }
        .map_err(SendError::Connect)?;
        let _ = tcp.set_nodelay(true);
        let idle: IdleSince = Arc::new(Mutex::new(None));
        let sender = match &self.tls {
            None => self.handshake(TokioIo::new(tcp), idle.clone()).await?,
            Some((tls, name)) => {
                let stream = tls.connect(name.clone(), tcp).await.map_err(SendError::Connect)?;
                self.handshake(TokioIo::new(stream), idle.clone()).await?
            }
        };
        Ok(Connection { sender, idle })
    }

    async fn handshake<T>(&self, io: T, idle: IdleSince) -> Result<SendRequest<Full<Bytes>>, SendError>
    where
        T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let (sender, conn) = http1::handshake(io).await.map_err(SendError::Http)?;
        let timeout = self.limits.idle_timeout;
        tokio::spawn(async move {
            tokio::pin!(conn);
            let mut wait = timeout;
            loop {
                tokio::select! {
                    _ = conn.as_mut() => return,
                    () = tokio::time::sleep(wait) => {}
                }
                // Idle in the pool for the whole timeout: closed (dropping hyper's connection).
                let since = *idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                match since {
                    Some(t) if t.elapsed() >= timeout => return,
                    Some(t) => wait = timeout.saturating_sub(t.elapsed()),
                    None => wait = timeout,
                }
            }
        });
        Ok(sender)
    }
}
