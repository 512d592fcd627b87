//! Routes and forwarding (`madison-proxy.md` §2–§4).
//!
//! Only two upstream paths can ever be requested: `/api/events/prometheus/<key>` (alert pushes)
//! and `/healthz` (readiness). The backend is dialled at `MADISON_BACKEND` while SNI,
//! certificate name and `Host` are `MADISON_HOST` ([`crate::upstream`]), so no DNS lookup of
//! `MADISON_HOST` ever happens.
//!
//! Both directions are bounded: a client's body by [`BODY_LIMIT`] and
//! [`Limits::client_body_timeout`], the backend's answer by [`Limits::answer_limit`] and the
//! exchange timeout. Bodies are read with `http_body_util::Limited`, frame by frame, so memory
//! never holds more than the limit plus one frame, whatever the peer sends.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use percent_encoding::{percent_decode, utf8_percent_encode, AsciiSet, CONTROLS};
use secret_log::{Field, Level, Logger, Secret};
use serde_json::json;

use crate::config::{human, Config, Limits};
use crate::upstream::{causes, Upstream};

/// Largest accepted body (1 MiB).
pub const BODY_LIMIT: usize = 1_048_576;
/// Logged request bodies are cut here.
pub const LOGGED_BODY_LIMIT: usize = 64 * 1024;
/// What the access log shows instead of the key.
pub const REDACTED_UPSTREAM: &str = "/api/events/prometheus/<redacted>";

/// Characters escaped when the key becomes one path segment.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Hop-by-hop headers (RFC 9110 §7.6.1), never forwarded in either direction; nor is any header
/// a message's own `Connection` header names ([`copy_end_to_end`]). A `static`: a `const` array
/// of header names was built and dropped again at every use, for every header copied.
static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// `X-Forwarded-For`: the client's address is appended.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// What a logged path shows instead of the key, or instead of the whole path when it cannot be
/// shown safely.
const REDACTED: &str = "<redacted>";

/// Rounds of percent-decoding a logged path gets before it is redacted. A path still changing
/// after them (`%25` nested deeper than this) is logged as [`REDACTED`] whole: each round is
/// linear in the path, so the bound keeps the cost linear too.
const DECODE_ROUNDS: usize = 4;

/// Shared state of the handlers.
pub struct AppState {
    upstream: Upstream,
    /// The key, to redact it from logged paths.
    key: Secret<String>,
    /// `/api/events/prometheus/<escaped key>` — holds the key. Parsed once.
    events_uri: Secret<hyper::Uri>,
    healthz_uri: hyper::Uri,
    host: HeaderValue,
    backend: String,
    limits: Limits,
    log: Logger,
    /// Set once shutdown begins: requests still reading their body are answered 503 at once.
    stopping: tokio::sync::watch::Sender<bool>,
}

/// Builds the shared state: the backend client and the two upstream paths.
pub fn state(config: &Config, log: Logger) -> Result<Arc<AppState>, String> {
    tls_client::install_default_provider();
    // The Mozilla roots compiled into the binary plus MADISON_CA_FILE; built even for `http`, so
    // a bad MADISON_CA_FILE is refused at start-up whatever the scheme.
    let roots = tls_client::Roots::Bundled { extra: config.ca_file.clone() };
    let tls = tls_client::client_config(&roots, config.tls_verify).map_err(|e| format!("MADISON_CA_FILE: {e}"))?;
    let tls = match config.scheme {
        crate::config::Scheme::Https => {
            let name = rustls::pki_types::ServerName::try_from(config.host.clone())
                .map_err(|_| "MADISON_HOST is not a valid host name".to_string())?;
            Some((tls, name))
        }
        crate::config::Scheme::Http => None,
    };
    let key = utf8_percent_encode(config.auth_key.expose(), SEGMENT).to_string();
    let host = HeaderValue::from_str(&config.host).map_err(|_| "MADISON_HOST is not a valid host name".to_string())?;
    Ok(Arc::new(AppState {
        upstream: Upstream::new(config.backend.clone(), tls, config.limits),
        key: config.auth_key.clone(),
        events_uri: Secret::new(uri(&format!("/api/events/prometheus/{key}"))?),
        healthz_uri: uri("/healthz")?,
        host,
        backend: config.backend.to_string(),
        limits: config.limits,
        log,
        stopping: tokio::sync::watch::Sender::new(false),
    }))
}

/// An upstream path; the error never shows it (the events path holds the key).
fn uri(text: &str) -> Result<hyper::Uri, String> {
    text.parse().map_err(|_| "MADISON_AUTH_KEY does not make a valid path".to_string())
}

impl AppState {
    /// Begins shutdown: a request still reading its body is answered 503 and its connection
    /// closed; requests already forwarded are not affected.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// The logger.
    #[must_use]
    pub fn log(&self) -> Logger {
        self.log
    }

    /// The limits and timeouts.
    #[must_use]
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    async fn stopped(&self) {
        // The sender lives in `self`, so `wait_for` can only end by seeing `true`.
        let _ = self.stopping.subscribe().wait_for(|s| *s).await;
    }
}

/// A client request as hyper reads it.
pub type Request = hyper::Request<Incoming>;
/// The bodies [`handle`] reads: hyper's, or any other (the in-process tests').
pub trait ClientBody: hyper::body::Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>> {}
impl<B: hyper::body::Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>>> ClientBody for B {}
/// An answer to a client: its body is always whole in memory.
pub type Response = hyper::Response<Full<Bytes>>;

/// The routes: a `match` on the exact path, every method (`POST` is checked by [`alerts`]).
/// A plain `match` rather than a router: it does the same with no path tree, no boxed body and
/// no service stack per request (`docs/internal/decisions.md`, "Performance round 2: madison-proxy").
pub async fn handle<B: ClientBody>(state: &AppState, req: hyper::Request<B>, remote: SocketAddr) -> Response {
    match req.uri().path() {
        "/healthz" => text(StatusCode::OK, "ok"),
        "/readyz" => readyz(state).await,
        "/api/v1/alerts" | "/api/v2/alerts" => alerts(state, req, remote).await,
        _ => {
            refuse(state, &req, StatusCode::BAD_GATEWAY, "path is not forwarded");
            bad_gateway()
        }
    }
}

/// An answer with `body` and, when given, its `Content-Type`.
/// Its length is set here: the listener wraps the body, which hides its size from hyper.
fn answer(status: StatusCode, content_type: Option<&'static str>, body: Bytes) -> Response {
    let mut out = hyper::Response::builder()
        .status(status)
        .header(header::CONTENT_LENGTH, body.len())
        .body(Full::new(body))
        .unwrap_or_default();
    if let Some(t) = content_type {
        out.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(t));
    }
    out
}

fn text(status: StatusCode, body: &'static str) -> Response {
    answer(status, Some("text/plain; charset=utf-8"), Bytes::from_static(body.as_bytes()))
}

fn bad_gateway() -> Response {
    text(StatusCode::BAD_GATEWAY, "bad gateway")
}

/// Why a backend answer was not passed on.
enum AnswerError {
    /// Its body is larger than the limit (declared or as read).
    TooLarge,
    /// An informational status (`101 Switching Protocols`, say): never an answer to what the
    /// proxy sends, which asks for no upgrade; hyper's client passes a 101 on (it ends the
    /// HTTP exchange) and skips any other 1xx before the final status.
    Informational(StatusCode),
    /// The transport failed while reading it.
    Transport(String),
}

impl AnswerError {
    fn describe(&self, limits: &Limits) -> String {
        match self {
            AnswerError::TooLarge => format!("answer body larger than {} bytes", limits.answer_limit),
            AnswerError::Informational(s) => format!("backend answered {s}, which was not asked for"),
            AnswerError::Transport(e) => e.clone(),
        }
    }
}

/// The backend's status, headers and body, the body read up to the answer limit.
async fn read_answer(
    resp: hyper::Response<Incoming>,
    limits: &Limits,
) -> Result<(StatusCode, HeaderMap, Bytes), AnswerError> {
    if resp.status().is_informational() {
        return Err(AnswerError::Informational(resp.status()));
    }
    if hyper::body::Body::size_hint(resp.body()).exact().is_some_and(|n| n > limits.answer_limit as u64) {
        return Err(AnswerError::TooLarge);
    }
    let (parts, body) = resp.into_parts();
    match http_body_util::Limited::new(body, limits.answer_limit).collect().await {
        Ok(c) => Ok((parts.status, parts.headers, c.to_bytes())),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(AnswerError::TooLarge),
        Err(e) => Err(AnswerError::Transport(causes(&*e))),
    }
}

impl AppState {
    /// Sends `req` to the backend and reads its answer: the head within the response timeout
    /// (else `late`, followed by the timeout), the whole exchange within the exchange timeout.
    /// A connection whose answer was read whole goes back to the pool.
    async fn exchange(
        &self,
        req: hyper::Request<Full<Bytes>>,
        late: &str,
    ) -> Result<(StatusCode, HeaderMap, Bytes), String> {
        let limits = &self.limits;
        let exchange = async {
            let (resp, conn) = match tokio::time::timeout(limits.response_timeout, self.upstream.send(req)).await {
                Err(_) => return Err(format!("{late} {}", human(limits.response_timeout))),
                Ok(Err(e)) => return Err(e.describe(limits)),
                Ok(Ok(sent)) => sent,
            };
            let answer = read_answer(resp, limits).await.map_err(|e| e.describe(limits))?;
            self.upstream.give_back(conn);
            Ok(answer)
        };
        match tokio::time::timeout(limits.exchange_timeout, exchange).await {
            Err(_) => Err(format!("timed out after {}", human(limits.exchange_timeout))),
            Ok(r) => r,
        }
    }
}

impl AppState {
    /// A client path as the log shows it: percent-decoded (up to [`DECODE_ROUNDS`] times, until
    /// nothing changes) with the key replaced by [`REDACTED`] before and after every round, so
    /// no spelling of the key (`%53EKRET`, lower-case hex, every byte encoded, `%25` nested)
    /// survives. What is logged is the decoded form, so decoding it again cannot give the key
    /// back; a path that still holds the key after all this, or that keeps changing, is
    /// logged as [`REDACTED`] whole.
    fn loggable<'p>(&self, path: &'p str) -> Cow<'p, str> {
        let key = self.key.expose();
        if !path.contains('%') && !path.contains(key.as_str()) {
            // Nothing to decode and no key: the rounds below would give `path` back unchanged.
            return Cow::Borrowed(path);
        }
        let mut text = redact(path.as_bytes(), key.as_bytes());
        for _ in 0..DECODE_ROUNDS {
            let Cow::Owned(decoded) = Cow::from(percent_decode(&text)) else {
                // Nothing left to decode: this form decodes to itself.
                let shown = String::from_utf8_lossy(&text).into_owned();
                return if key.is_empty() || !shown.contains(key.as_str()) { shown.into() } else { REDACTED.into() };
            };
            text = redact(&decoded, key.as_bytes());
        }
        REDACTED.into()
    }
}

/// `bytes` with every occurrence of `key` replaced by [`REDACTED`].
fn redact(bytes: &[u8], key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        if !key.is_empty() && rest.starts_with(key) {
            out.extend_from_slice(REDACTED.as_bytes());
            rest = &rest[key.len()..];
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    out
}

fn refuse<B>(state: &AppState, req: &hyper::Request<B>, status: StatusCode, reason: &str) {
    state.log.warn(
        "request answered without the backend",
        &[
            ("method", json!(req.method().as_str())),
            ("path", json!(state.loggable(req.uri().path()))),
            ("status", json!(status.as_u16())),
            ("reason", json!(reason)),
        ],
    );
}

async fn readyz(state: &AppState) -> Response {
    let mut req = hyper::Request::new(Full::default());
    *req.uri_mut() = state.healthz_uri.clone();
    req.headers_mut().insert(header::HOST, state.host.clone());
    let outcome = state.exchange(req, "timed out after").await.map(|(status, _, b)| (status.as_u16(), b));
    match outcome {
        Ok((status, body)) => {
            let fields = [("backend", json!(state.backend)), ("status", json!(status))];
            if (200..300).contains(&status) {
                state.log.debug("readiness forwarded", &fields);
            } else {
                state.log.warn("readiness forwarded", &fields);
            }
            // As axum's `IntoResponse` for bytes did before.
            answer(
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
                Some("application/octet-stream"),
                body,
            )
        }
        Err(error) => {
            state
                .log
                .warn("readiness: backend unreachable", &[("backend", json!(state.backend)), ("error", json!(error))]);
            bad_gateway()
        }
    }
}

/// Copies `from`'s end-to-end headers to `to`, except those in `skip`: never a hop-by-hop header
/// ([`HOP_BY_HOP`]) nor any header `from`'s `Connection` header names (RFC 9110 §7.6.1: "a proxy
/// or gateway MUST parse a received Connection header field before a message is forwarded and,
/// for each connection-option in this field, remove any header or trailer field(s) from the
/// message with the same name"). Used alike for requests and for answers.
fn copy_end_to_end(from: &HeaderMap, to: &mut HeaderMap, skip: &[HeaderName]) {
    let listed: Vec<HeaderName> = from
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for (name, value) in from {
        if !HOP_BY_HOP.contains(name) && !skip.contains(name) && !listed.contains(name) {
            to.append(name.clone(), value.clone());
        }
    }
}

/// Request headers to forward: end-to-end ones only, without `Host` and `Content-Length`.
fn forward_headers(incoming: &HeaderMap, remote: Option<SocketAddr>, host: &HeaderValue) -> HeaderMap {
    let mut out = HeaderMap::new();
    copy_end_to_end(incoming, &mut out, &[header::HOST, header::CONTENT_LENGTH, X_FORWARDED_FOR]);
    // The client's `X-Forwarded-For` values, then its address, joined by ", " (as nginx's
    // `$proxy_add_x_forwarded_for`); an empty value is a part too (`, 127.0.0.1`).
    let mut parts: Vec<Cow<str>> =
        incoming.get_all(X_FORWARDED_FOR).iter().filter_map(|v| v.to_str().ok()).map(Cow::Borrowed).collect();
    parts.extend(remote.map(|r| Cow::Owned(r.ip().to_string())));
    if !parts.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&parts.join(", ")) {
            out.insert(X_FORWARDED_FOR, v);
        }
    }
    out.insert(header::HOST, host.clone());
    out
}

/// Why a client's body was not forwarded.
#[derive(Clone, Copy)]
enum BodyError {
    /// Larger than [`BODY_LIMIT`].
    TooLarge,
    /// The client broke the body off or sent a malformed one.
    Broken,
    /// Not complete within the client body timeout.
    TimedOut,
    /// Shutdown began while it was being read.
    Stopping,
}

impl BodyError {
    fn answer(self) -> (StatusCode, &'static str, &'static str) {
        match self {
            BodyError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "body larger than 1 MiB", "payload too large"),
            BodyError::Broken => (StatusCode::BAD_REQUEST, "request body could not be read", "bad request"),
            BodyError::TimedOut => {
                (StatusCode::REQUEST_TIMEOUT, "request body not received in time", "request timeout")
            }
            BodyError::Stopping => {
                (StatusCode::SERVICE_UNAVAILABLE, "shutting down while the body was read", "shutting down")
            }
        }
    }
}

/// Reads the body up to the limit, within the client body timeout, unless shutdown begins.
async fn read_body<B: ClientBody>(state: &AppState, body: B) -> Result<Bytes, BodyError> {
    let read = async {
        match http_body_util::Limited::new(body, BODY_LIMIT).collect().await {
            Ok(c) => Ok(c.to_bytes()),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
            Err(_) => Err(BodyError::Broken),
        }
    };
    tokio::select! {
        r = tokio::time::timeout(state.limits.client_body_timeout, read) => r.unwrap_or(Err(BodyError::TimedOut)),
        () = state.stopped() => Err(BodyError::Stopping),
    }
}

async fn alerts<B: ClientBody>(state: &AppState, req: hyper::Request<B>, remote: SocketAddr) -> Response {
    if req.method() != Method::POST {
        refuse(state, &req, StatusCode::NOT_FOUND, "only POST is forwarded");
        return text(StatusCode::NOT_FOUND, "not found");
    }
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
        refuse(state, &req, StatusCode::PAYLOAD_TOO_LARGE, "body larger than 1 MiB");
        return text(StatusCode::PAYLOAD_TOO_LARGE, "payload too large");
    }
    let started = Instant::now();
    let (client, body) = req.into_parts();
    let (method, path) = (&client.method, state.loggable(client.uri.path()));
    let headers = forward_headers(&client.headers, Some(remote), &state.host);
    let body = match read_body(state, body).await {
        Ok(b) => b,
        Err(e) => {
            let (status, reason, answer) = e.answer();
            state.log.warn(
                "request answered without the backend",
                &[
                    ("method", json!(method.as_str())),
                    ("path", json!(path)),
                    ("status", json!(status.as_u16())),
                    ("reason", json!(reason)),
                ],
            );
            let mut out = text(status, answer);
            if !matches!(e, BodyError::TooLarge) {
                // The rest of the body may never come: do not wait for it, close.
                out.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            return out;
        }
    };
    let mut req = hyper::Request::new(Full::new(body.clone()));
    *req.method_mut() = Method::POST;
    *req.uri_mut() = state.events_uri.expose().clone();
    *req.headers_mut() = headers;
    let outcome = state.exchange(req, "no response headers within").await;
    let truncated = body.len() > LOGGED_BODY_LIMIT;
    // `from_utf8` first: its ASCII fast path checks a push several times faster than the lossy
    // decoder's chunk iterator, which only a body that is not UTF-8 needs. Either way the line
    // borrows the text (`Field`): no copy of the body, no `Value` per field.
    let logged = &body[..body.len().min(LOGGED_BODY_LIMIT)];
    let logged = std::str::from_utf8(logged).map_or_else(|_| String::from_utf8_lossy(logged), Cow::Borrowed);
    let (status, error, response) = match outcome {
        Ok((status, resp_headers, resp_body)) => {
            let mut out = answer(status, None, resp_body);
            copy_end_to_end(&resp_headers, out.headers_mut(), &[header::CONTENT_LENGTH]);
            (status.as_u16(), None, out)
        }
        Err(error) => (502, Some(error), bad_gateway()),
    };
    let remote_text = remote.to_string();
    let mut fields: Vec<(&str, Field)> = Vec::with_capacity(11);
    fields.extend([
        ("method", Field::Str(method.as_str())),
        ("path", Field::Str(&path)),
        ("upstream", Field::Str(REDACTED_UPSTREAM)),
        ("backend", Field::Str(&state.backend)),
        ("status", Field::U64(status.into())),
    ]);
    if let Some(error) = &error {
        fields.push(("error", Field::Str(error)));
    }
    fields.extend([
        ("duration_ms", Field::F64(started.elapsed().as_secs_f64() * 1000.0)),
        ("request_bytes", Field::U64(body.len() as u64)),
        ("remote", Field::Str(&remote_text)),
        ("body", Field::Str(&logged)),
    ]);
    if truncated {
        fields.push(("body_truncated", Field::Bool(true)));
    }
    state.log.log_fields(Level::Info, "forwarded request", &fields);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_and_host_are_replaced() {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("proxy:8080"));
        h.insert("connection", HeaderValue::from_static("keep-alive, x-custom-hop"));
        h.insert("x-custom-hop", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("content-type", HeaderValue::from_static("application/json"));
        h.insert("content-length", HeaderValue::from_static("12"));
        h.insert("x-forwarded-for", HeaderValue::from_static("192.0.2.1"));
        let out = forward_headers(
            &h,
            Some("127.0.0.1:5555".parse().unwrap()),
            &HeaderValue::from_static("madison.flant.com"),
        );
        assert_eq!(out.get("host").unwrap(), "madison.flant.com");
        assert_eq!(out.get("content-type").unwrap(), "application/json");
        assert_eq!(out.get("x-forwarded-for").unwrap(), "192.0.2.1, 127.0.0.1");
        for gone in ["connection", "x-custom-hop", "keep-alive", "content-length"] {
            assert!(out.get(gone).is_none(), "{gone}");
        }
    }

    /// `X-Forwarded-For`: the client's values in order, then its address, joined by ", " — an
    /// empty value is a part too (nginx's `$proxy_add_x_forwarded_for`); no header without parts.
    #[test]
    fn x_forwarded_for_appends_the_address_to_every_client_value() {
        let host = HeaderValue::from_static("madison.flant.com");
        let remote: SocketAddr = "[::1]:5555".parse().unwrap();
        for (values, remote, want) in [
            (vec![], Some(remote), Some("::1")),
            (
                vec!["192.0.2.1", "198.51.100.7, 203.0.113.9"],
                Some(remote),
                Some("192.0.2.1, 198.51.100.7, 203.0.113.9, ::1"),
            ),
            (vec![""], Some(remote), Some(", ::1")),
            (vec!["", "192.0.2.1"], None, Some(", 192.0.2.1")),
            (vec![], None, None),
        ] {
            let mut h = HeaderMap::new();
            for v in &values {
                h.append(X_FORWARDED_FOR, HeaderValue::from_str(v).unwrap());
            }
            let out = forward_headers(&h, remote, &host);
            assert_eq!(out.get(X_FORWARDED_FOR).map(|v| v.to_str().unwrap()), want, "{values:?}");
        }
    }

    /// A loopback listener nobody accepts on, its accept queue full: Linux drops the SYN of any
    /// further connection (`tcp_conn_request`: accept queue full → drop), so connecting to it
    /// hangs until the client gives up — a blackholed backend without leaving 127.0.0.1.
    fn blackhole() -> (std::net::TcpListener, Vec<std::net::TcpStream>) {
        // std cannot set the backlog; tokio's socket can, in a runtime of its own (a thread, so
        // async tests may call this too).
        let listener = std::thread::spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread().enable_io().build().unwrap();
            rt.block_on(async {
                let socket = tokio::net::TcpSocket::new_v4().unwrap();
                socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
                socket.listen(0).unwrap().into_std().unwrap()
            })
        })
        .join()
        .unwrap();
        let addr = listener.local_addr().unwrap();
        let mut queued = Vec::new();
        loop {
            match std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(200)) {
                Ok(s) => queued.push(s),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => break,
                Err(e) => panic!("filling the accept queue: {e}"),
            }
            assert!(queued.len() < 64, "the accept queue never filled");
        }
        (listener, queued)
    }

    fn state_for(backend: std::net::SocketAddr, vars: &[(&str, &str)]) -> Arc<AppState> {
        let backend = backend.to_string();
        let mut all =
            vec![("MADISON_BACKEND", backend.as_str()), ("MADISON_AUTH_KEY", "k"), ("MADISON_SCHEME", "http")];
        all.extend_from_slice(vars);
        let config = Config::from_lookup(|k| all.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_string())).unwrap();
        state(&config, Logger::default()).unwrap()
    }

    fn push() -> hyper::Request<Full<Bytes>> {
        let mut req = hyper::Request::new(Full::new(Bytes::from_static(b"[]")));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = hyper::Uri::from_static("/api/events/prometheus/k");
        req
    }

    #[tokio::test]
    async fn a_connect_timeout_is_named_as_such() {
        let (listener, _queued) = blackhole();
        let s = state_for(
            listener.local_addr().unwrap(),
            &[("MADISON_CONNECT_TIMEOUT", "200ms"), ("MADISON_EXCHANGE_TIMEOUT", "1m")],
        );
        let e = s.exchange(push(), "no response headers within").await.unwrap_err();
        assert_eq!(e, "connect timed out after 200ms");
    }

    #[tokio::test]
    async fn exchange_and_response_timeouts_are_named_as_such() {
        // Accepted, then silence: the connection is up, the shorter of the two timeouts fires.
        for (timeout, other, want) in [
            ("MADISON_EXCHANGE_TIMEOUT", "MADISON_RESPONSE_TIMEOUT", "timed out after 200ms"),
            ("MADISON_RESPONSE_TIMEOUT", "MADISON_EXCHANGE_TIMEOUT", "no response headers within 200ms"),
        ] {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let s = state_for(listener.local_addr().unwrap(), &[(timeout, "200ms"), (other, "1m")]);
            let e = s.exchange(push(), "no response headers within").await.unwrap_err();
            assert_eq!(e, want);
        }
    }

    /// A backend on 127.0.0.1 that answers each request on its first connection `200 {}` with
    /// keep-alive, and reports when the proxy closes that connection.
    fn keep_alive_backend() -> (std::net::SocketAddr, std::sync::mpsc::Receiver<()>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (closed, seen) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            // Bounded: the test fails rather than hangs if the proxy never closes it.
            s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
            let mut buf = [0u8; 4096];
            loop {
                match s.read(&mut buf) {
                    Ok(0) => {
                        let _ = closed.send(());
                        return;
                    }
                    Ok(_) => {
                        s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").unwrap();
                    }
                    Err(_) => return,
                }
            }
        });
        (addr, seen)
    }

    #[tokio::test]
    async fn idle_backend_connections_are_reused_then_closed_after_the_idle_timeout() {
        let (addr, closed) = keep_alive_backend();
        let s = state_for(addr, &[("MADISON_IDLE_TIMEOUT", "300ms")]);
        // The backend serves one connection only: the second push must reuse it.
        for _ in 0..2 {
            let (status, _, body) = s.exchange(push(), "no response headers within").await.unwrap();
            assert_eq!((status, body.as_ref()), (StatusCode::OK, b"{}".as_slice()));
        }
        let closed = tokio::task::spawn_blocking(move || closed.recv_timeout(std::time::Duration::from_secs(10)));
        assert!(closed.await.unwrap().is_ok(), "the idle connection was not closed");
    }

    #[test]
    fn key_is_one_escaped_segment() {
        assert_eq!(utf8_percent_encode("a/b?c#d e%", SEGMENT).to_string(), "a%2Fb%3Fc%23d%20e%25");
        assert_eq!(utf8_percent_encode("testkey", SEGMENT).to_string(), "testkey");
    }
}
