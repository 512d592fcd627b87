//! A recording fake HTTP(S) server on 127.0.0.1 that plays Connect or Madison.
//!
//! Every request is recorded (method, path with query, HTTP version, headers, body, TLS SNI,
//! arrival order) before a handler decides the reply (status, body, optional delay). Served with
//! hyper directly — over rustls when a certificate is given, so the SNI the client sent can be
//! checked. Dropping the value stops the server and aborts open connections.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

use crate::tls::ServerCert;

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Request {
    /// Method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// `HTTP/1.1`, ...
    pub version: String,
    /// Headers, lower-case names, in order.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Bytes,
    /// TLS server name the client sent.
    pub sni: Option<String>,
}

impl Request {
    /// The first value of a header.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// What to answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Body.
    pub body: String,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Wait this long before answering.
    pub delay: Duration,
}

impl Reply {
    /// A JSON reply.
    #[must_use]
    pub fn json(status: u16, body: &str) -> Self {
        Self { status, body: body.into(), content_type: "application/json", delay: Duration::ZERO }
    }

    /// A text reply.
    #[must_use]
    pub fn text(status: u16, body: &str) -> Self {
        Self { status, body: body.into(), content_type: "text/html", delay: Duration::ZERO }
    }

    /// The same reply after a delay.
    #[must_use]
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

/// A running fake server.
pub struct FakeServer {
    /// Where it listens.
    pub addr: SocketAddr,
    tls: bool,
    log: Arc<Mutex<Vec<Request>>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeServer {
    /// Plain HTTP.
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> anyhow::Result<Self> {
        Self::start_inner("127.0.0.1:0", None, Arc::new(handler))
    }

    /// HTTPS with `cert` (HTTP/1.1 only).
    pub fn start_tls(
        cert: &ServerCert,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> anyhow::Result<Self> {
        Self::start_tls_on("127.0.0.1:0", cert, handler)
    }

    /// HTTPS on a given loopback address (e.g. `127.0.0.2:443`, where a rendered manifest points).
    pub fn start_tls_on(
        addr: &str,
        cert: &ServerCert,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> anyhow::Result<Self> {
        crate::tls_server_provider();
        let certs: Vec<_> = rustls_pemfile::certs(&mut cert.cert_pem.as_bytes()).collect::<Result<_, _>>()?;
        let key =
            rustls_pemfile::private_key(&mut cert.key_pem.as_bytes())?.ok_or_else(|| anyhow::anyhow!("no key"))?;
        let mut config = rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(certs, key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Self::start_inner(addr, Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))), Arc::new(handler))
    }

    fn start_inner(addr: &str, tls: Option<tokio_rustls::TlsAcceptor>, handler: Handler) -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let (stop, mut stopped) = oneshot::channel::<()>();
        let (log2, is_tls) = (log.clone(), tls.is_some());
        let thread = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() else {
                return;
            };
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
                loop {
                    let accepted = tokio::select! {
                        a = listener.accept() => a,
                        _ = &mut stopped => break,
                    };
                    let Ok((stream, _)) = accepted else { continue };
                    let (handler, log, tls) = (handler.clone(), log2.clone(), tls.clone());
                    tokio::spawn(async move {
                        match tls {
                            Some(acceptor) => {
                                let Ok(stream) = acceptor.accept(stream).await else { return };
                                let sni = stream.get_ref().1.server_name().map(str::to_string);
                                serve(TokioIo::new(stream), handler, log, sni).await;
                            }
                            None => serve(TokioIo::new(stream), handler, log, None).await,
                        }
                    });
                }
            });
            rt.shutdown_background();
        });
        Ok(Self { addr, tls: is_tls, log, stop: Some(stop), thread: Some(thread) })
    }

    /// `http(s)://127.0.0.1:<port>`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("{}://{}", if self.tls { "https" } else { "http" }, self.addr)
    }

    /// Every request so far, in arrival order.
    #[must_use]
    pub fn requests(&self) -> Vec<Request> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

async fn serve<I>(io: I, handler: Handler, log: Arc<Mutex<Vec<Request>>>, sni: Option<String>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = service_fn(move |req: hyper::Request<Incoming>| {
        let (handler, log, sni) = (handler.clone(), log.clone(), sni.clone());
        async move {
            let (parts, body) = req.into_parts();
            let body = body.collect().await.map(http_body_util::Collected::to_bytes).unwrap_or_default();
            let recorded = Request {
                method: parts.method.to_string(),
                path: parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_string(),
                version: format!("{:?}", parts.version),
                headers: parts
                    .headers
                    .iter()
                    .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                    .collect(),
                body,
                sni,
            };
            if let Ok(mut l) = log.lock() {
                l.push(recorded.clone());
            }
            let reply = handler(&recorded);
            if !reply.delay.is_zero() {
                tokio::time::sleep(reply.delay).await;
            }
            let resp = hyper::Response::builder()
                .status(reply.status)
                .header("content-type", reply.content_type)
                .body(Full::new(Bytes::from(reply.body)))
                .unwrap_or_default();
            Ok::<_, Infallible>(resp)
        }
    });
    let _ = http1::Builder::new().keep_alive(true).serve_connection(io, service).await;
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
