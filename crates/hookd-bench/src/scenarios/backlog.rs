//! Backlog: many messages queued while the receiver is unavailable, then the receiver comes back:
//! how fast hookd drains the queue, and how much memory it needs throughout.
//!
//! "Unavailable" is a receiver that accepts connections but does not answer until released,
//! with hookd's delivery timeout raised above the queueing time. A receiver that refuses
//! connections would measure the retry schedule instead of the drain: each refused delivery is
//! retried after 5 s, then 5 min, so after an outage the queue empties as retries fall due, not
//! as fast as hookd can go, and meanwhile every failed attempt adds a row. Holding the
//! connections keeps hookd's 256 delivery slots busy and every other delivery pending and due,
//! which is the queue this scenario is about.

use std::time::Instant;

use serde_json::json;

use super::{
    Bench, MessageSender, SENDING_CLIENTS, Scenario, add_load_errors, add_missing_deliveries,
    application_with_endpoints, match_deliveries, wait_for_arrivals,
};
use crate::load::{ClosedLoop, run_closed_loop};
use crate::receiver::Receiver;
use crate::report::QUEUED;

/// Longer than any queueing phase, so the held attempts do not time out and get retried.
const DELIVERY_TIMEOUT_SECS: &str = "7200";

pub async fn run(bench: &mut Bench) -> anyhow::Result<()> {
    let messages = bench.sizes.backlog_messages;
    let receiver = Receiver::start().await?;
    receiver.hold();
    let (hookd, api) = bench
        .start_hookd(&[
            "--delivery-timeout-secs".into(),
            DELIVERY_TIMEOUT_SECS.into(),
        ])
        .await?;
    let app_id = application_with_endpoints(&api, &receiver, 1, false).await?;
    let sender = MessageSender::new(&api, &app_id);
    let shape = ClosedLoop {
        concurrency: SENDING_CLIENTS,
        total: messages,
        time_limit: bench.sizes.phase_time_limit,
    };
    bench.pg_reset().await?;
    let meter = hookd.cpu_meter()?;
    let sends = run_closed_loop("queueing", shape, move |sequence| sender.send(sequence)).await;
    let queued = sends.completed.len() as u64;
    let while_queueing = hookd.usage()?;
    let data_mb = hookd.data_bytes().await? as f64 / 1e6;

    receiver.release();
    let released_at = Instant::now();
    let complete =
        wait_for_arrivals(&receiver, queued, "draining", bench.sizes.phase_time_limit).await;
    let phase_cpu = meter.read()?;
    let matched = match_deliveries(&sends, &receiver.take_arrivals(), |_| true);
    let mut result = bench.new_case(
        Scenario::Backlog,
        "backlog/drain",
        format!("{queued} queued while the receiver was unavailable, then drained"),
        "deliveries",
    );
    // Counted over queueing and draining together: every statement of these deliveries.
    bench.pg_read(&mut result, matched.delivered).await?;
    let usage = hookd.stop().await?;

    let drain = matched
        .last_arrival
        .map_or(released_at.elapsed(), |last| last - released_at);
    result.count = matched.delivered;
    result.elapsed_secs = drain.as_secs_f64();
    result.rate_per_sec = matched.delivered as f64 / result.elapsed_secs.max(1e-9);
    result.hookd = Some(usage);
    result.phase_cpu = Some(phase_cpu);
    result.details.insert(QUEUED.into(), json!(queued));
    result
        .details
        .insert("queueing rate /s".into(), json!(sends.rate()));
    result.details.insert(
        "peak RSS after queueing MB".into(),
        json!(while_queueing.peak_rss_mb),
    );
    result
        .details
        .insert("data after queueing MB".into(), json!(data_mb));
    if !complete {
        add_missing_deliveries(&mut result, "deliveries", queued, matched.delivered);
    }
    if matched.duplicates > 0 {
        result
            .details
            .insert("duplicate deliveries".into(), json!(matched.duplicates));
    }
    add_load_errors(&mut result, &sends);
    bench.record(result);
    Ok(())
}
