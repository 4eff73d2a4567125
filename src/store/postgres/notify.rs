//! Hearing other nodes' changes: one dedicated connection (not from the pool) runs
//! `LISTEN paypki_changes`; notices from other nodes go to every subscriber. When the
//! connection is lost the subscribers hear `Disconnected`, and `Reconnected` once it
//! listens again (anything they cached may be stale by then).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::AsyncMessage;

use super::{Shared, CHANNEL};
use crate::store::StoreNotice;

/// How long to wait before trying to listen again.
const RETRY: Duration = Duration::from_millis(500);

/// Runs for as long as the store's runtime does.
pub(super) async fn listen(shared: Arc<Shared>) {
    // Whether subscribers were told `Disconnected` and wait for `Reconnected`.
    let mut lost = false;
    loop {
        match shared.config.connect(tokio_postgres::NoTls).await {
            Ok((client, mut connection)) => {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                // The connection must be polled for the LISTEN to complete, and for
                // notifications to arrive: a task drives it and forwards them.
                let driver = tokio::spawn(async move {
                    loop {
                        match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                            Some(Ok(AsyncMessage::Notification(n))) => {
                                if tx.send(n).is_err() {
                                    break;
                                }
                            }
                            Some(Ok(_)) => {}
                            Some(Err(_)) | None => break,
                        }
                    }
                });
                if client
                    .batch_execute(&format!("LISTEN {CHANNEL}"))
                    .await
                    .is_ok()
                {
                    shared.listening.store(true, Ordering::Release);
                    if lost {
                        broadcast(&shared, StoreNotice::Reconnected);
                        lost = false;
                    }
                    // Ends when the driver ends: the connection is gone.
                    while let Some(notification) = rx.recv().await {
                        if let Some(notice) = parse(&shared.node, notification.payload()) {
                            broadcast(&shared, notice);
                        }
                    }
                }
                driver.abort();
                drop(client);
            }
            Err(e) => {
                tracing::debug!(error = %e, "cannot listen for changes on PostgreSQL");
            }
        }
        shared.listening.store(false, Ordering::Release);
        if !lost {
            tracing::warn!("lost the PostgreSQL connection that hears other nodes' changes");
            broadcast(&shared, StoreNotice::Disconnected);
            lost = true;
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// Sends to every subscriber, forgetting those that are gone.
fn broadcast(shared: &Shared, notice: StoreNotice) {
    if let Ok(mut subscribers) = shared.subscribers.lock() {
        subscribers.retain(|s| s.send(notice.clone()).is_ok());
    }
}

/// A notice from another node; `None` for this node's own and for what does not parse.
pub(super) fn parse(node: &str, payload: &str) -> Option<StoreNotice> {
    let value: serde_json::Value = serde_json::from_str(payload).ok()?;
    if value.get("node")?.as_str()? == node {
        return None;
    }
    let issuer = u32::try_from(value.get("issuer")?.as_u64()?).ok()?;
    match value.get("kind")?.as_str()? {
        "status" => Some(StoreNotice::StatusChanged {
            serial: value.get("serial")?.as_str()?.parse().ok()?,
            issuer,
        }),
        "crl" => Some(StoreNotice::CrlPublished { issuer }),
        _ => None,
    }
}
