//! The connection loop: HTTP/1.1 with hyper, with the limits axum's `serve` lacks.
//!
//! - a header-read timeout (hyper's, with a tokio timer), which also closes keep-alive
//!   connections left idle between requests;
//! - an idle timeout: a connection on which no byte moved either way for that long (a
//!   client that stopped reading its answer or sending its body) is closed;
//! - a cap on open connections: the excess is answered 503 at once and closed, instead
//!   of being accepted until the process runs out of file descriptors.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// How connections are bounded.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Time allowed for a whole request head, from when the server starts waiting for it.
    pub header_read_timeout: Duration,
    /// A connection with no byte moving either way for this long is closed.
    pub idle_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
        }
    }
}

/// What the connection loop reports to `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct ConnectionMetrics {
    /// Connections open now.
    pub open: Gauge,
    /// Connections refused because the cap was reached.
    pub refused: Counter,
}

/// File descriptors kept free of connections: the database, logs, CRL files, the
/// listener, and the sockets of refusals in progress.
const FD_RESERVE_MIN: u64 = 48;

/// Refusals being written at once; past that an excess connection is closed unanswered.
const MAX_REFUSALS: usize = 16;

/// Raises the soft open-file limit to the hard limit and returns the connection cap that
/// fits under it (`wanted`, or less, leaving a reserve for the rest of the process).
pub fn fit_connections_to_fd_limit(wanted: usize) -> usize {
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read or raise the open-file limit");
            return wanted.max(1);
        }
    };
    let reserve = (limit / 8).clamp(FD_RESERVE_MIN, 1024);
    let room = usize::try_from(limit.saturating_sub(reserve)).unwrap_or(usize::MAX);
    if wanted > room {
        tracing::warn!(
            open_file_limit = limit,
            max_connections = room,
            "--max-connections lowered to fit the open-file limit; raise the hard limit (LimitNOFILE=, ulimit -Hn) to allow more"
        );
    }
    wanted.min(room).max(1)
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting, lets
/// in-flight requests finish (at most `idle_timeout`) and returns.
pub async fn serve(
    listener: TcpListener,
    app: super::App,
    limits: ConnectionLimits,
    metrics: ConnectionMetrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS));
    let (stop, stopping) = watch::channel(false);
    let limits = Arc::new(limits);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, remote) = match accepted {
            Ok(pair) => pair,
            // The peer gave up before we accepted: nothing to do.
            Err(e) if is_peer_error(&e) => continue,
            Err(e) => {
                // Out of descriptors or buffers despite the cap: back off instead of
                // spinning; established connections keep being served meanwhile.
                tracing::error!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                metrics.open.inc();
                let open = metrics.open.clone();
                let connection = serve_connection(
                    stream,
                    remote,
                    app.clone(),
                    limits.clone(),
                    stopping.clone(),
                    slot,
                );
                tokio::spawn(async move {
                    connection.await;
                    open.dec();
                });
            }
            Err(_) => {
                metrics.refused.inc();
                if let Ok(permit) = refusals.clone().try_acquire_owned() {
                    tokio::spawn(refuse(stream, permit));
                }
                // Otherwise `stream` is dropped here: closed at once, unanswered.
            }
        }
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a slot until it ends: having them all back means done.
    let all = u32::try_from(limits.max_connections.max(1)).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(limits.idle_timeout, slots.acquire_many(all)).await;
    Ok(())
}

fn is_peer_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionRefused
    )
}

/// The fixed answer to a connection over the cap (RFC 9457 problem, then close).
fn overloaded_response() -> &'static [u8] {
    static RESPONSE: OnceLock<Vec<u8>> = OnceLock::new();
    RESPONSE.get_or_init(|| {
        let body = serde_json::json!({
            "type": "urn:paypki:problem:overloaded",
            "title": "Server overloaded",
            "status": 503,
            "detail": "the server has as many connections open as it allows; retry in a second",
        })
        .to_string();
        format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\nretry-after: 1\r\ncache-control: no-store\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    })
}

/// How long a refusal waits for more of the client's request before closing.
const REFUSAL_DRAIN_WAIT: Duration = Duration::from_millis(100);

/// Answers 503 and closes, within a second.
async fn refuse(mut stream: TcpStream, _permit: OwnedSemaphorePermit) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(overloaded_response()).await?;
        stream.shutdown().await?;
        // Read what the client already sent before closing: closing with unread data
        // makes the kernel reset the connection, which can destroy the answer in flight.
        // A client that sends nothing is not waited for: refusals must stay quick.
        let mut sink = [0u8; 4096];
        let mut drained = 0usize;
        while drained < 64 * 1024 {
            match tokio::time::timeout(REFUSAL_DRAIN_WAIT, stream.read(&mut sink)).await {
                Ok(Ok(n)) if n > 0 => drained += n,
                _ => break,
            }
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
}

/// Serves one connection until it ends, times out, or the server stops.
async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    app: super::App,
    limits: Arc<ConnectionLimits>,
    mut stopping: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let activity = Arc::new(Activity::default());
    let mut idle = IdleClock::new();
    let io = TokioIo::new(Tracked {
        inner: stream,
        activity: activity.clone(),
    });
    // The status fast path first, then the router (`super::fast`).
    let service = hyper::service::service_fn(move |request| app.call(request, remote));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let mut ticker =
        tokio::time::interval((limits.idle_timeout / 4).max(Duration::from_millis(250)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut draining = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, %remote, "connection ended with an error");
                }
                return;
            }
            changed = stopping.changed(), if !draining => {
                draining = true;
                if changed.is_ok() {
                    connection.as_mut().graceful_shutdown();
                }
            }
            _ = ticker.tick() => {
                if idle.idle_for(&activity) >= limits.idle_timeout {
                    tracing::debug!(%remote, "connection idle too long: closed");
                    return;
                }
            }
        }
    }
}

/// Whether a connection moved bytes: a count of reads and writes that moved any. The
/// socket only counts (no clock read per read or write, which the hot paths would pay
/// for every request); the connection's ticker notices when the count stops changing.
#[derive(Debug, Default)]
struct Activity {
    moved: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        self.moved.fetch_add(1, Ordering::Relaxed);
    }

    fn count(&self) -> u64 {
        self.moved.load(Ordering::Relaxed)
    }
}

/// The idle clock of one connection, advanced by its ticker.
#[derive(Debug)]
struct IdleClock {
    seen: u64,
    /// The first tick at which the last activity had been seen (or the start): no byte
    /// moved since before then.
    quiet_since: Instant,
}

impl IdleClock {
    fn new() -> Self {
        IdleClock {
            seen: 0,
            quiet_since: Instant::now(),
        }
    }

    /// How long the connection has been quiet, as of this tick.
    fn idle_for(&mut self, activity: &Activity) -> Duration {
        let count = activity.count();
        let now = Instant::now();
        if count != self.seen {
            self.seen = count;
            self.quiet_since = now;
        }
        now.saturating_duration_since(self.quiet_since)
    }
}

/// A socket that records when bytes last moved, for the idle timeout.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idle_clock_restarts_when_bytes_move() {
        let activity = Activity::default();
        let mut clock = IdleClock::new();
        if let Some(earlier) = clock.quiet_since.checked_sub(Duration::from_secs(30)) {
            clock.quiet_since = earlier;
            assert!(clock.idle_for(&activity) >= Duration::from_secs(30));
        }
        activity.touch();
        assert!(clock.idle_for(&activity) < Duration::from_secs(5));
        // Quiet again: the clock runs from the tick that saw the last bytes.
        assert!(clock.idle_for(&activity) < Duration::from_secs(5));
    }

    #[test]
    fn the_refusal_is_a_complete_problem_response() {
        let text = String::from_utf8(overloaded_response().to_vec()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert!(head.contains("retry-after: 1"));
        let problem: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(problem["type"], "urn:paypki:problem:overloaded");
        assert_eq!(problem["status"], 503);
    }

    #[test]
    fn the_cap_stays_under_the_open_file_limit() {
        let (soft, _) = rlimit::Resource::NOFILE.get().unwrap();
        let cap = fit_connections_to_fd_limit(usize::MAX);
        let (raised, hard) = rlimit::Resource::NOFILE.get().unwrap();
        assert!(raised >= soft);
        assert!(raised == hard || hard == rlimit::INFINITY);
        assert!((cap as u64) < raised);
        assert_eq!(fit_connections_to_fd_limit(3), 3);
    }
}
