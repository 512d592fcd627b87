//! A small authoritative DNS server on 127.0.0.1 (UDP) for discovery tests.
//!
//! It speaks the real wire protocol (messages encoded and decoded with hickory-proto), answers A
//! and AAAA questions from a table, answers NXDOMAIN for names it does not know (or `NOERROR`
//! with no answer when the name exists with other types only), can be told to never answer
//! (timeouts), and records every question it received.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{RData, Record, RecordType};

/// How the server behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Answer from the table (NXDOMAIN for unknown names).
    Answer,
    /// Never answer.
    Silent,
    /// Answer A questions from the table and AAAA questions with SERVFAIL.
    FailAaaa,
}

/// A running DNS server.
pub struct DnsServer {
    /// Where it listens (UDP).
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    questions: Arc<Mutex<Vec<(String, RecordType)>>>,
}

impl DnsServer {
    /// Starts a server; `records` maps a lower-case name (without the trailing dot) to addresses.
    pub fn start(records: &[(&str, &[&str])], behaviour: Behaviour) -> anyhow::Result<Self> {
        let mut table: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
        for (name, addrs) in records {
            let parsed: Result<Vec<IpAddr>, _> = addrs.iter().map(|a| a.parse()).collect();
            table.entry(name.to_lowercase()).or_default().extend(parsed?);
        }
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.set_read_timeout(Some(Duration::from_millis(50)))?;
        let addr = socket.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let questions = Arc::new(Mutex::new(Vec::new()));
        let (stop2, questions2) = (stop.clone(), questions.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !stop2.load(Ordering::Relaxed) {
                let Ok((n, peer)) = socket.recv_from(&mut buf) else { continue };
                let Ok(query) = Message::from_vec(&buf[..n]) else { continue };
                if let Some(q) = query.queries.first() {
                    if let Ok(mut log) = questions2.lock() {
                        log.push((q.name().to_string().trim_end_matches('.').to_lowercase(), q.query_type()));
                    }
                }
                if behaviour == Behaviour::Silent {
                    continue;
                }
                if let Some(resp) = answer(&query, &table, behaviour) {
                    let _ = socket.send_to(&resp, peer);
                }
            }
        });
        Ok(Self { addr, stop, thread: Some(thread), questions })
    }

    /// Every question so far as (name without trailing dot, type).
    #[must_use]
    pub fn questions(&self) -> Vec<(String, RecordType)> {
        self.questions.lock().map(|q| q.clone()).unwrap_or_default()
    }
}

fn answer(query: &Message, table: &BTreeMap<String, Vec<IpAddr>>, behaviour: Behaviour) -> Option<Vec<u8>> {
    let q = query.queries.first()?;
    let name = q.name().to_string().trim_end_matches('.').to_lowercase();
    let mut resp = Message::response(query.metadata.id, query.metadata.op_code);
    resp.metadata.authoritative = true;
    resp.metadata.recursion_desired = query.metadata.recursion_desired;
    resp.metadata.recursion_available = true;
    resp.add_query(q.clone());
    if behaviour == Behaviour::FailAaaa && q.query_type() == RecordType::AAAA {
        resp.metadata.response_code = ResponseCode::ServFail;
        return resp.to_vec().ok();
    }
    match table.get(&name) {
        None => resp.metadata.response_code = ResponseCode::NXDomain,
        Some(addrs) => {
            for ip in addrs {
                let rdata = match (ip, q.query_type()) {
                    (IpAddr::V4(v4), RecordType::A) => RData::A(A(*v4)),
                    (IpAddr::V6(v6), RecordType::AAAA) => RData::AAAA(AAAA(*v6)),
                    _ => continue,
                };
                resp.add_answer(Record::from_rdata(q.name().clone(), 60, rdata));
            }
        }
    }
    resp.to_vec().ok()
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
