//! A bounded load-and-fault check of madison-proxy on loopback (`madison-proxy.md` §6, last row).
//!
//! 1 200 alert pushes from 24 concurrent senders go through the proxy to a fake backend that is
//! slow (0–9 ms per request) and rejects every push whose id is divisible by 7 (HTTP 500) or
//! 11 (HTTP 503). Every push carries a unique id. Checked: every push is answered; the backend
//! received every id exactly once (nothing lost, nothing duplicated: the proxy never retries);
//! exactly the rejected ids came back to their sender as the backend's error status; the others
//! got 200. The run is bounded by a deadline and stops by itself. Timing is measured by
//! `make bench`, not here.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use test_support::fake::{FakeServer, Reply};

use crate::proxy::{post, ProxyProcess};

const PUSHES: usize = 1_200;
const SENDERS: usize = 24;

fn expected_status(id: usize) -> u16 {
    if id % 7 == 0 {
        500
    } else if id % 11 == 0 {
        503
    } else {
        200
    }
}

fn id_of(body: &[u8]) -> Option<usize> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v[0]["labels"]["id"].as_str()?.parse().ok()
}

#[test]
fn concurrent_pushes_through_a_slow_failing_backend() {
    let backend = FakeServer::start(|r| {
        let id = id_of(&r.body).unwrap_or(0);
        let delay = Duration::from_millis((id % 10) as u64);
        match expected_status(id) {
            200 => Reply::json(200, "{}"),
            code => Reply::json(code, r#"{"error":"rejected"}"#),
        }
        .after(delay)
    })
    .unwrap();
    let proxy = ProxyProcess::start(&backend.addr.to_string(), &[("LOG_LEVEL", "warn")]);
    let next = Arc::new(AtomicUsize::new(1));
    let answers: Arc<Mutex<BTreeMap<usize, Option<u16>>>> = Arc::new(Mutex::new(BTreeMap::new()));
    let deadline = Instant::now() + Duration::from_secs(120);
    let senders: Vec<_> = (0..SENDERS)
        .map(|_| {
            let (next, answers, port) = (next.clone(), answers.clone(), proxy.port);
            std::thread::spawn(move || loop {
                let id = next.fetch_add(1, Ordering::Relaxed);
                if id > PUSHES || Instant::now() > deadline {
                    break;
                }
                let body = format!(
                    r#"[{{"labels":{{"alertname":"Load","id":"{id}"}},"annotations":{{"summary":"push {id}"}}}}]"#
                );
                let status = post(port, "/api/v2/alerts", body.as_bytes()).map(|(s, _)| s);
                answers.lock().unwrap().insert(id, status);
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    assert!(Instant::now() <= deadline, "the check must finish within its deadline");
    let answers = answers.lock().unwrap().clone();
    assert_eq!(answers.len(), PUSHES, "every push was sent");
    let mut received: BTreeMap<usize, usize> = BTreeMap::new();
    for r in backend.requests() {
        *received.entry(id_of(&r.body).expect("every forwarded body is intact")).or_default() += 1;
    }
    let mut rejected = 0;
    for (id, status) in &answers {
        let want = expected_status(*id);
        assert_eq!(*status, Some(want), "push {id}: the sender gets the backend's answer");
        assert_eq!(received.get(id), Some(&1), "push {id} reached the backend exactly once");
        if want != 200 {
            rejected += 1;
        }
    }
    assert_eq!(received.len(), PUSHES, "nothing lost, nothing invented");
    assert!(rejected > 200, "the fault mix was exercised ({rejected} rejections)");
}
