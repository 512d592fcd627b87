//! The routes in process ([`madison_proxy::handle`]), beside the end-to-end tests of the binary in
//! `tests/proxy.rs`: routing, local answers, the body limit and forwarding, without a listener
//! for the proxy itself. The backend, where one is needed, is a plain-HTTP axum server on
//! 127.0.0.1 that this test owns (`MADISON_SCHEME=http`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::{to_bytes, Body};
use axum::http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use madison_proxy::{handle, state, AppState, Config, Limits, BODY_LIMIT};
use secret_log::{Level, Logger};

const KEY: &str = "s3cr3t-auth-key";

fn router(backend: &str) -> Arc<AppState> {
    let vars: HashMap<&str, &str> =
        [("MADISON_BACKEND", backend), ("MADISON_AUTH_KEY", KEY), ("MADISON_SCHEME", "http")].into_iter().collect();
    let config = Config::from_lookup(|k| vars.get(k).map(|v| (*v).to_string())).unwrap();
    state(&config, Logger::new(Level::Error)).unwrap()
}

async fn call(s: Arc<AppState>, method: Method, path: &str, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
    let req = Request::builder().method(method).uri(path).body(Full::new(body.into())).unwrap();
    let resp = handle(&s, req, "127.0.0.1:5555".parse().unwrap()).await;
    let status = resp.status();
    (status, resp.into_body().collect().await.unwrap().to_bytes().to_vec())
}

/// What the backend saw: (method, path, body) per request.
type Seen = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

/// A backend that records every request and answers 200.
async fn backend() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().fallback(move |req: Request<Body>| {
        let record = record.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = to_bytes(body, usize::MAX).await.unwrap().to_vec();
            record.lock().unwrap().push((parts.method.to_string(), parts.uri.path().to_string(), body));
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, seen)
}

#[tokio::test]
async fn local_routes_never_reach_the_backend() {
    // Nothing listens on port 1: any forwarding would fail as a 502 from the transport.
    let (status, body) = call(router("127.0.0.1:1"), Method::GET, "/healthz", vec![]).await;
    assert_eq!((status, body.as_slice()), (StatusCode::OK, b"ok".as_slice()));
    let (status, _) = call(router("127.0.0.1:1"), Method::GET, "/api/v2/alerts", vec![]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "alerts are POST only");
    let (status, _) = call(router("127.0.0.1:1"), Method::POST, "/api/v3/alerts", vec![]).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "unknown paths are not forwarded");
}

#[tokio::test]
async fn alerts_are_forwarded_to_the_keyed_path() {
    let (addr, seen) = backend().await;
    let (status, _) = call(router(&addr), Method::POST, "/api/v2/alerts", br#"[{"labels":{}}]"#.to_vec()).await;
    assert_eq!(status, StatusCode::OK);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, "POST");
    assert_eq!(seen[0].1, format!("/api/events/prometheus/{KEY}"));
    assert_eq!(seen[0].2, br#"[{"labels":{}}]"#);
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_before_forwarding() {
    let (addr, seen) = backend().await;
    let (status, _) = call(router(&addr), Method::POST, "/api/v1/alerts", vec![b'x'; BODY_LIMIT + 1]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(seen.lock().unwrap().is_empty(), "nothing reached the backend");
}

#[tokio::test]
async fn an_unreachable_backend_is_a_502_without_the_key() {
    let (status, body) = call(router("127.0.0.1:1"), Method::POST, "/api/v1/alerts", b"[]".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(!String::from_utf8_lossy(&body).contains(KEY));
}

#[tokio::test]
async fn backend_answers_over_the_answer_limit_are_a_502() {
    let limit = Limits::default().answer_limit;
    let app = axum::Router::new().fallback(move || async move { vec![b'x'; limit + 1] });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (status, body) = call(router(&addr), Method::POST, "/api/v2/alerts", b"[]".to_vec()).await;
    assert_eq!((status, body.as_slice()), (StatusCode::BAD_GATEWAY, b"bad gateway".as_slice()));
    let (status, _) = call(router(&addr), Method::GET, "/readyz", vec![]).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "readiness answers are capped too");
}
