//! The listener: client connections accepted under a cap, served over HTTP/1.1 with the client
//! timeouts, and a shutdown that drains complete requests without waiting on stalled clients.
//!
//! Built on hyper's own connection builder rather than `axum::serve`: hyper's
//! `header_read_timeout` (with hyper-util's tokio timer) bounds the request line and headers, and
//! a per-connection `graceful_shutdown` lets each connection be closed or drained on its own —
//! `axum::serve` exposes neither. The cap is a tokio `Semaphore` taken before `accept`, so
//! excess connections wait in the kernel's listen backlog instead of being refused.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use secret_log::Logger;

use crate::config::{human, Config};
use crate::proxy::{handle, state, AppState, Request};

/// After a failed `accept` (for example out of file descriptors) the loop waits this long.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How [`serve`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Every complete in-flight request finished within the shutdown timeout.
    Drained,
    /// The shutdown timeout passed; the requests still running were aborted.
    DeadlineReached,
}

/// Requests of one connection that are being handled or whose response is still being written.
struct Busy(Arc<AtomicUsize>);

impl Busy {
    fn enter(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A connection handed from the acceptor to a worker, with its slot under the cap.
type Handed = (std::net::TcpStream, SocketAddr, OwnedSemaphorePermit);

/// One worker thread: its runtime, and how many connections it serves now.
struct Worker {
    to: mpsc::UnboundedSender<Handed>,
    load: Arc<AtomicUsize>,
    thread: std::thread::JoinHandle<Shutdown>,
}

/// Serves `config`'s routes on `listener` with `workers` threads until `shutdown` completes,
/// then drains. Blocks the calling thread, which accepts connections and waits for `shutdown`.
///
/// * Threads: each worker is a single-threaded tokio runtime with its own [`AppState`] (its own
///   pool of backend connections), so a request, its client connection and its backend
///   connection live on one thread and hand work to each other without waking another thread
///   (nginx's model: one event loop per core). The calling thread accepts and hands each
///   connection to the worker serving the fewest.
/// * At most [`Limits::max_connections`](crate::Limits) client connections are served at once;
///   further ones are not accepted until a slot frees (they wait in the listen backlog).
/// * A client gets [`Limits::client_header_timeout`](crate::Limits) for its request line and
///   headers (and as idle time between keep-alive requests); past it the connection is closed.
///   Its body has [`Limits::client_body_timeout`](crate::Limits) (408, then closed).
/// * On shutdown: the listener closes; connections without a request in progress (idle, or
///   still sending headers) are closed at once; requests still reading their body are answered
///   503 and closed; requests already complete run to their end, for up to
///   [`Limits::shutdown_timeout`](crate::Limits), then are aborted.
///
/// # Errors
/// A worker's state cannot be built (`MADISON_CA_FILE`), or a runtime or thread cannot start.
pub fn serve(
    listener: std::net::TcpListener,
    config: &Config,
    log: Logger,
    workers: usize,
    shutdown: impl Future<Output = ()>,
) -> Result<Shutdown, String> {
    let limits = config.limits;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut pool = Vec::with_capacity(workers);
    for i in 0..workers.max(1) {
        let state = state(config, log)?;
        let (to, from) = mpsc::unbounded_channel();
        let load = Arc::new(AtomicUsize::new(0));
        let (count, stop) = (load.clone(), stop_rx.clone());
        let runtime = runtime()?;
        let thread = std::thread::Builder::new()
            .name(format!("madison-proxy-{i}"))
            .spawn(move || runtime.block_on(worker(from, state, &count, stop)))
            .map_err(|e| format!("cannot start a worker thread: {e}"))?;
        pool.push(Worker { to, load, thread });
    }
    let accepting =
        runtime()?.block_on(accept(listener, &pool, Arc::new(Semaphore::new(limits.max_connections)), log, shutdown));
    log.info("shutting down", &[]);
    let _ = stop_tx.send(true);
    let mut ended = Shutdown::Drained;
    for w in pool {
        drop(w.to);
        if w.thread.join().unwrap_or(Shutdown::DeadlineReached) == Shutdown::DeadlineReached {
            ended = Shutdown::DeadlineReached;
        }
    }
    if ended == Shutdown::DeadlineReached {
        log.warn(
            "shutdown deadline reached, aborting in-flight requests",
            &[("shutdown_timeout", json!(human(limits.shutdown_timeout)))],
        );
    }
    accepting.map(|()| ended)
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// Accepts under the cap until `shutdown`, handing each connection to the least busy worker.
async fn accept(
    listener: std::net::TcpListener,
    pool: &[Worker],
    slots: Arc<Semaphore>,
    log: Logger,
    shutdown: impl Future<Output = ()>,
) -> Result<(), String> {
    listener.set_nonblocking(true).map_err(|e| format!("cannot listen: {e}"))?;
    let listener = TcpListener::from_std(listener).map_err(|e| format!("cannot listen: {e}"))?;
    let mut accept_failing = false;
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break, // the semaphore is never closed
            },
        };
        let (stream, remote) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // One line per run of failures, not one per attempt.
                    if !accept_failing {
                        log.warn("cannot accept connections", &[("error", json!(e.to_string()))]);
                        accept_failing = true;
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        accept_failing = false;
        // As nginx's `tcp_nodelay on`: an answer is written whole, and Nagle's algorithm would
        // hold a short final segment back until the client's delayed ACK (up to 40 ms).
        let _ = stream.set_nodelay(true);
        let Ok(stream) = stream.into_std() else { continue };
        let Some(worker) = pool.iter().min_by_key(|w| w.load.load(Ordering::Relaxed)) else { break };
        worker.load.fetch_add(1, Ordering::Relaxed);
        // A worker ends only after shutdown, so the send cannot fail before it.
        let _ = worker.to.send((stream, remote, slot));
    }
    Ok(())
}

/// A worker's loop: serves the connections handed to it until shutdown, then drains them.
async fn worker(
    mut from: mpsc::UnboundedReceiver<Handed>,
    state: Arc<AppState>,
    load: &Arc<AtomicUsize>,
    mut stop: watch::Receiver<bool>,
) -> Shutdown {
    let limits = *state.limits();
    let log = state.log();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.client_header_timeout);
    let http = Arc::new(http);
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let handed = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            handed = from.recv() => handed,
        };
        let Some((stream, remote, slot)) = handed else { break };
        let (http, state, stop, load) = (http.clone(), state.clone(), stop.clone(), load.clone());
        connections.spawn(async move {
            if let Ok(stream) = TcpStream::from_std(stream) {
                connection(stream, remote, &http, state, stop, log).await;
            }
            load.fetch_sub(1, Ordering::Relaxed);
            drop(slot);
        });
    }
    drop(from); // connections handed after this are closed unserved
    state.stop();
    let drained =
        tokio::time::timeout(limits.shutdown_timeout, async { while connections.join_next().await.is_some() {} }).await;
    if drained.is_ok() {
        Shutdown::Drained
    } else {
        connections.abort_all();
        Shutdown::DeadlineReached
    }
}

/// One client connection until it ends or shutdown closes it.
async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    http: &http1::Builder,
    state: Arc<AppState>,
    mut stop: watch::Receiver<bool>,
    log: secret_log::Logger,
) {
    let busy = Arc::new(AtomicUsize::new(0));
    let served = Arc::new(AtomicUsize::new(0));
    let (counter, requests) = (busy.clone(), served.clone());
    let service = hyper::service::service_fn(move |req: Request| {
        requests.fetch_add(1, Ordering::SeqCst);
        let guard = Busy::enter(&counter);
        let state = state.clone();
        async move {
            let resp = handle(&state, req, remote).await;
            // The guard lives until hyper has written the whole response and drops its body.
            Ok::<_, Infallible>(resp.map(|body| {
                body.map_frame(move |frame| {
                    let _ = &guard;
                    frame
                })
            }))
        }
    });
    let conn = http.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                let fields = [("remote", json!(remote.to_string())), ("error", json!(e.to_string()))];
                // hyper reports the header timeout alike for a client that never sent a whole
                // request and for an idle keep-alive connection: only the first is worth a warning.
                if e.is_timeout() && served.load(Ordering::SeqCst) == 0 {
                    log.warn("client connection closed: request headers not received in time", &fields);
                } else if e.is_timeout() {
                    log.debug("client connection closed: idle or next request not received in time", &fields);
                } else {
                    log.debug("client connection ended with an error", &fields);
                }
            }
        }
        () = async { let _ = stop.wait_for(|s| *s).await; } => {
            conn.as_mut().graceful_shutdown();
            // Nothing in progress (idle, or headers still arriving): close now. Otherwise let the
            // request finish; graceful_shutdown closes the connection after its response.
            if busy.load(Ordering::SeqCst) > 0 {
                let _ = conn.await;
            }
        }
    }
}
