//! A fault-injecting, recording HTTP front for Prometheus on 127.0.0.1.
//!
//! Every request is recorded (path, `Authorization` header, PromQL text). A request whose query
//! contains a rule's substring gets that rule's fault; all others are forwarded unchanged to the
//! real Prometheus behind it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::http::TestServer;

/// What the front does instead of forwarding.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and a plain-text body.
    Status(u16),
    /// Answer 200 with this body.
    Body(String),
    /// Answer like Prometheus does for a bad query: HTTP 400, `status: error`.
    PrometheusError(String),
    /// Wait this long, then forward.
    Delay(Duration),
}

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Request path.
    pub path: String,
    /// `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The `query` parameter.
    pub query: String,
}

#[derive(Clone)]
struct Shared {
    upstream: Option<String>,
    rules: Arc<Vec<(String, Fault)>>,
    log: Arc<Mutex<Vec<Recorded>>>,
    http: reqwest::Client,
    /// (requests in flight now, the most ever in flight at once).
    in_flight: Arc<Mutex<(usize, usize)>>,
}

/// Decrements the in-flight count when a request is done, whatever way it ends.
struct InFlight(Arc<Mutex<(usize, usize)>>);

impl InFlight {
    fn enter(counter: &Arc<Mutex<(usize, usize)>>) -> Self {
        if let Ok(mut c) = counter.lock() {
            c.0 += 1;
            c.1 = c.1.max(c.0);
        }
        Self(counter.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut c) = self.0.lock() {
            c.0 -= 1;
        }
    }
}

/// The running front.
pub struct Front {
    server: TestServer,
    log: Arc<Mutex<Vec<Recorded>>>,
    in_flight: Arc<Mutex<(usize, usize)>>,
}

impl Front {
    /// Starts a front for `upstream` (a Prometheus base URL; `None` answers 502 to anything that
    /// matches no rule) with `rules` (query substring → fault, first match wins).
    pub fn start(upstream: Option<String>, rules: Vec<(&str, Fault)>) -> anyhow::Result<Self> {
        tls_client::install_default_provider();
        let log = Arc::new(Mutex::new(Vec::new()));
        let in_flight = Arc::new(Mutex::new((0, 0)));
        let shared = Shared {
            upstream,
            rules: Arc::new(rules.into_iter().map(|(k, f)| (k.to_string(), f)).collect()),
            log: log.clone(),
            http: reqwest::Client::builder().no_proxy().build()?,
            in_flight: in_flight.clone(),
        };
        let router = axum::Router::new().fallback(handle).with_state(shared);
        Ok(Self { server: TestServer::start(router)?, log, in_flight })
    }

    /// Base URL of the front.
    #[must_use]
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The largest number of requests that were in flight at the same time.
    #[must_use]
    pub fn max_in_flight(&self) -> usize {
        self.in_flight.lock().map(|c| c.1).unwrap_or_default()
    }

    /// Every request so far.
    #[must_use]
    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

fn query_param(uri: &Uri) -> String {
    let q = uri.query().unwrap_or_default();
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == "query")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

async fn handle(State(s): State<Shared>, uri: Uri, headers: HeaderMap, _body: Bytes) -> Response {
    let _in_flight = InFlight::enter(&s.in_flight);
    let query = query_param(&uri);
    if let Ok(mut log) = s.log.lock() {
        log.push(Recorded {
            path: uri.path().to_string(),
            authorization: headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string),
            query: query.clone(),
        });
    }
    let fault = s.rules.iter().find(|(k, _)| query.contains(k.as_str())).map(|(_, f)| f.clone());
    match fault {
        Some(Fault::Status(code)) => {
            return (StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), "injected failure")
                .into_response()
        }
        Some(Fault::Body(body)) => return (StatusCode::OK, body).into_response(),
        Some(Fault::PrometheusError(text)) => {
            let body = serde_json::json!({"status": "error", "errorType": "bad_data", "error": text}).to_string();
            return (StatusCode::BAD_REQUEST, [("content-type", "application/json")], body).into_response();
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        None => {}
    }
    let Some(upstream) = &s.upstream else {
        return (StatusCode::BAD_GATEWAY, "no upstream").into_response();
    };
    let target = format!("{upstream}{}", uri.path_and_query().map_or("/", |p| p.as_str()));
    match s.http.get(target).send().await {
        Ok(resp) => {
            let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let body = resp.bytes().await.unwrap_or_default();
            (status, [("content-type", "application/json")], body).into_response()
        }
        Err(_) => (StatusCode::BAD_GATEWAY, "upstream failed").into_response(),
    }
}
