//! A loopback TCP server that answers at the byte level, for fault tests.
//!
//! [`RawServer`] reads each HTTP/1.1 request on a connection (first line, headers, a
//! `Content-Length` body), records it, and answers with the next [`Answer`] of its script — or
//! its standing answer once the script is spent: a complete answer (the connection then takes
//! the next request), a body that never ends, a huge declared length, a close-delimited body,
//! raw bytes that are not HTTP, or no answer at all. [`Loopback`] is the accept loop under it,
//! for a test that plays something else (a proxy) with its own handler.
//!
//! Everything is std (threads and a `TcpListener` on 127.0.0.1) and bounded in time: a server
//! accepts for [`LIFETIME`] at most; every read and write on a connection times out after
//! [`IO_TIMEOUT`], and a streamed answer stops after that long too. Dropping the value stops
//! accepting, closes every connection and joins the threads.

use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a server accepts connections; after that it closes them all.
pub const LIFETIME: Duration = Duration::from_secs(120);
/// The read and write timeout on every connection, and the longest a streamed answer lasts.
pub const IO_TIMEOUT: Duration = Duration::from_secs(20);
/// A message's first line and headers together are at most this long.
const MAX_HEAD: u64 = 64 << 10;
/// A message's `Content-Length` body is at most this long.
const MAX_BODY: usize = 16 << 20;
/// The size of each piece of a streamed body (a chunk, when chunked).
const CHUNK: usize = 64 << 10;

/// An accept loop on 127.0.0.1: each connection is handed, blocking and with [`IO_TIMEOUT`] on
/// reads and writes, to `handler` on a thread of its own. Stops after [`LIFETIME`] or on drop,
/// closing every connection it accepted.
pub struct Loopback {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Loopback {
    /// Listens on a free port of 127.0.0.1.
    pub fn start(handler: impl Fn(TcpStream) + Send + Sync + 'static) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let handler = Arc::new(handler);
        let thread = std::thread::spawn(move || {
            let until = Instant::now() + LIFETIME;
            let (mut open, mut workers) = (Vec::new(), Vec::new());
            while !stopped.load(Ordering::SeqCst) && Instant::now() < until {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
                let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
                let Ok(handle) = stream.try_clone() else { continue };
                open.push(handle);
                let handler = handler.clone();
                workers.push(std::thread::spawn(move || handler(stream)));
            }
            drop(listener);
            for s in &open {
                let _ = s.shutdown(Shutdown::Both);
            }
            for w in workers {
                let _ = w.join();
            }
        });
        Ok(Self { addr, stop, thread: Some(thread) })
    }

    /// `http://127.0.0.1:<port>`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One HTTP/1.1 message as read: its first line, its headers, its `Content-Length` body.
#[derive(Debug, Clone)]
pub struct Message {
    /// The request or status line, without its line end.
    pub line: String,
    /// Headers as sent (names in their case, names and values trimmed), in order.
    pub headers: Vec<(String, String)>,
    /// The body (empty without `Content-Length`).
    pub body: Vec<u8>,
}

impl Message {
    /// The request target: the first line's second word.
    #[must_use]
    pub fn target(&self) -> &str {
        self.line.split_whitespace().nth(1).unwrap_or_default()
    }

    /// The first value of a header, the name matched in any case.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The message as it goes on the wire: the line, the headers as they are, a blank line, the body.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut text = format!("{}\r\n", self.line);
        for (k, v) in &self.headers {
            let _ = write!(text, "{k}: {v}\r\n");
        }
        let mut bytes = (text + "\r\n").into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// Reads one message; `None` at the end of the stream, on an error or timeout, or past the
/// limits (64 KiB of line and headers, 16 MiB of body).
pub fn read_message(r: &mut impl BufRead) -> Option<Message> {
    let mut budget = MAX_HEAD;
    let mut next_line = || {
        let mut line = String::new();
        let n = r.by_ref().take(budget).read_line(&mut line).ok()?;
        budget -= n as u64;
        line.ends_with('\n').then(|| line.trim_end_matches(['\r', '\n']).to_string())
    };
    let line = next_line()?;
    let mut headers = Vec::new();
    loop {
        let h = next_line()?;
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut message = Message { line, headers, body: Vec::new() };
    let length: usize = message.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    if length > MAX_BODY {
        return None;
    }
    message.body = vec![0; length];
    r.read_exact(&mut message.body).ok()?;
    Some(message)
}

/// How a streamed answer's body is framed, and how long it is.
#[derive(Clone, Copy, Debug)]
pub enum Framing {
    /// `Transfer-Encoding: chunked`, 64 KiB chunks that never end (the peer goes, or the time is up).
    Endless,
    /// `Content-Length: n`, then up to `n` bytes.
    Declared(u64),
    /// `Connection: close` and no length: `n` bytes, then the connection closes.
    CloseDelimited(u64),
}

/// What the server answers to one request.
#[derive(Clone, Debug)]
pub enum Answer {
    /// `HTTP/1.1 <status>`, the headers, `Content-Length` and the body; the connection then
    /// takes the next request.
    Full {
        /// The status line after the version: `200 OK`.
        status: String,
        /// Headers before `Content-Length`.
        headers: Vec<(String, String)>,
        /// The body.
        body: Vec<u8>,
    },
    /// `HTTP/1.1 200 OK`, the headers and the framing's header, then a body of `start` followed
    /// by `fill` bytes, in 64 KiB pieces, as long as the framing says; then the connection closes.
    Stream {
        /// Headers before the framing's own.
        headers: Vec<(String, String)>,
        /// How the body is delimited and how long it is.
        framing: Framing,
        /// The body's first bytes (its first chunk, when chunked).
        start: Vec<u8>,
        /// The byte the rest of the body is made of.
        fill: u8,
    },
    /// These bytes as they are (not HTTP, say), then the connection closes.
    Raw(Vec<u8>),
    /// No answer: reads until the peer goes or a read times out, then closes.
    Stall,
}

fn pairs(headers: &[(&str, &str)]) -> Vec<(String, String)> {
    headers.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
}

impl Answer {
    /// [`Answer::Full`]: `full("307 Redirect", &[("Location", "/x")], "")`.
    #[must_use]
    pub fn full(status: &str, headers: &[(&str, &str)], body: impl AsRef<[u8]>) -> Self {
        Self::Full { status: status.to_string(), headers: pairs(headers), body: body.as_ref().to_vec() }
    }

    /// [`Answer::Stream`]: `stream(&[], Framing::Endless, b"{", b' ')`.
    #[must_use]
    pub fn stream(headers: &[(&str, &str)], framing: Framing, start: &[u8], fill: u8) -> Self {
        Self::Stream { headers: pairs(headers), framing, start: start.to_vec(), fill }
    }

    /// Writes the answer; whether the connection stays for another request.
    fn write(&self, out: &mut TcpStream, reader: &mut impl Read) -> bool {
        match self {
            Self::Full { status, headers, body } => {
                let mut bytes = head(status, headers);
                let _ = write!(bytes, "Content-Length: {}\r\n\r\n", body.len());
                let mut bytes = bytes.into_bytes();
                bytes.extend_from_slice(body);
                out.write_all(&bytes).is_ok()
            }
            Self::Stream { headers, framing, start, fill } => {
                stream(out, headers, *framing, start, *fill);
                false
            }
            Self::Raw(bytes) => {
                let _ = out.write_all(bytes);
                false
            }
            Self::Stall => {
                let _ = io::copy(reader, &mut io::sink());
                false
            }
        }
    }
}

fn head(status: &str, headers: &[(String, String)]) -> String {
    let mut text = format!("HTTP/1.1 {status}\r\n");
    for (k, v) in headers {
        let _ = write!(text, "{k}: {v}\r\n");
    }
    text
}

fn stream(out: &mut TcpStream, headers: &[(String, String)], framing: Framing, start: &[u8], fill: u8) {
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut text = head("200 OK", headers);
    let (chunked, length) = match framing {
        Framing::Endless => {
            text.push_str("Transfer-Encoding: chunked\r\n\r\n");
            (true, u64::MAX)
        }
        Framing::Declared(n) => {
            let _ = write!(text, "Content-Length: {n}\r\n\r\n");
            (false, n)
        }
        Framing::CloseDelimited(n) => {
            text.push_str("Connection: close\r\n\r\n");
            (false, n)
        }
    };
    // A chunk of these bytes, when chunked; an empty chunk would end the body, so none is sent.
    let piece = |bytes: &[u8]| {
        if !chunked {
            bytes.to_vec()
        } else if bytes.is_empty() {
            Vec::new()
        } else {
            [format!("{:x}\r\n", bytes.len()).as_bytes(), bytes, b"\r\n"].concat()
        }
    };
    let mut bytes = text.into_bytes();
    bytes.extend(piece(start));
    if out.write_all(&bytes).is_err() {
        return;
    }
    let whole = piece(&vec![fill; CHUNK]);
    let mut left = length.saturating_sub(start.len() as u64);
    while left > 0 && Instant::now() < deadline {
        let n = usize::try_from(left).map_or(CHUNK, |left| left.min(CHUNK));
        let wrote = if n == CHUNK { out.write_all(&whole) } else { out.write_all(&piece(&vec![fill; n])) };
        if wrote.is_err() {
            return;
        }
        left -= n as u64;
    }
}

/// A raw HTTP/1.1 server on 127.0.0.1 (see the module doc): answers requests in arrival order
/// by its script, then with its standing answer; records every request it read whole.
pub struct RawServer {
    /// Where it listens.
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Message>>>,
    _server: Loopback,
}

impl RawServer {
    /// Answers every request with `answer`.
    pub fn start(answer: Answer) -> io::Result<Self> {
        Self::scripted(Vec::new(), answer)
    }

    /// Answers the first requests (on whichever connection) with `script`, in order, then
    /// every other request with `then`.
    pub fn scripted(script: Vec<Answer>, then: Answer) -> io::Result<Self> {
        let seen: Arc<Mutex<Vec<Message>>> = Arc::default();
        let (recorded, script) = (seen.clone(), Mutex::new(script.into_iter()));
        let server = Loopback::start(move |stream| serve(stream, &script, &then, &recorded))?;
        Ok(Self { addr: server.addr, seen, _server: server })
    }

    /// `http://127.0.0.1:<port>`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request read whole so far, in arrival order.
    #[must_use]
    pub fn requests(&self) -> Vec<Message> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

fn serve(mut out: TcpStream, script: &Mutex<std::vec::IntoIter<Answer>>, then: &Answer, seen: &Mutex<Vec<Message>>) {
    let Ok(read_half) = out.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    while let Some(request) = read_message(&mut reader) {
        if let Ok(mut s) = seen.lock() {
            s.push(request);
        }
        let answer = script.lock().ok().and_then(|mut s| s.next()).unwrap_or_else(|| then.clone());
        if !answer.write(&mut out, &mut reader) {
            let _ = out.shutdown(Shutdown::Both);
            return;
        }
    }
}
