//! Wake-ups across nodes: one dedicated connection per node `LISTEN`s on the deliveries channel
//! and notifies the store's `deliveries_added` (which the local dispatcher waits on) whenever
//! any node commits new deliveries.
//!
//! The dispatcher still polls at its short interval, so a lost notification only delays work;
//! this keeps an idle node quiet while new work starts at once. When the connection drops
//! (PostgreSQL restarted, network trouble) it reconnects with a growing pause, and wakes the
//! dispatcher after every reconnect because notifications sent meanwhile are gone.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{Notify, mpsc};
use tokio_postgres::{AsyncMessage, NoTls};
use tokio_util::sync::CancellationToken;

use super::NOTIFY_CHANNEL;

use crate::telemetry::ErrorChain;

const FIRST_RETRY: Duration = Duration::from_millis(100);
const LONGEST_RETRY: Duration = Duration::from_secs(5);

/// Listens until `shutdown` is cancelled, reconnecting as needed.
pub async fn listen_for_deliveries(
    config: tokio_postgres::Config,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let mut pause = FIRST_RETRY;
    while !shutdown.is_cancelled() {
        match listen_once(&config, &wake, &shutdown).await {
            Ok(Heard::Shutdown) => return,
            Ok(Heard::Dropped) => pause = FIRST_RETRY,
            Err(error) => {
                tracing::warn!(error = %ErrorChain(&error), retry_in = ?pause, "the LISTEN connection failed");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.cancelled() => return,
        }
        pause = (pause * 2).min(LONGEST_RETRY);
    }
}

/// How one connection ended.
enum Heard {
    /// The node is shutting down.
    Shutdown,
    /// The connection was listening, then dropped.
    Dropped,
}

async fn listen_once(
    config: &tokio_postgres::Config,
    wake: &Notify,
    shutdown: &CancellationToken,
) -> Result<Heard, tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (notifications, mut heard) = mpsc::unbounded_channel();
    // The connection must be polled for queries to run and for notifications to arrive.
    let driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(_)) => {
                    if notifications.send(()).is_err() {
                        return Ok(());
                    }
                }
                Ok(_) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    });
    if let Err(error) = client
        .batch_execute(&format!("LISTEN {NOTIFY_CHANNEL}"))
        .await
    {
        driver.abort();
        return Err(error);
    }
    tracing::debug!("listening for new deliveries");
    // Anything committed while this node was not listening has gone unannounced.
    wake.notify_one();
    loop {
        tokio::select! {
            received = heard.recv() => match received {
                Some(()) => wake.notify_one(),
                None => break,
            },
            _ = shutdown.cancelled() => {
                driver.abort();
                return Ok(Heard::Shutdown);
            }
        }
    }
    match driver.await {
        Ok(Err(error)) => Err(error),
        _ => Ok(Heard::Dropped),
    }
}
