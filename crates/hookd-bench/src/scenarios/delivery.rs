//! Delivery: deliveries per second end to end, to one endpoint and fanned out to ten. Messages
//! are sent by a closed loop of API clients as fast as hookd accepts them, and the rate is
//! counted from the first message sent to the last delivery received, so it is the sustained
//! rate of the whole path: accept, commit, claim, sign, send, record.

use std::time::Instant;

use serde_json::json;

use super::{
    Bench, MessageSender, SENDING_CLIENTS, Scenario, add_load_errors, add_missing_deliveries,
    application_with_endpoints, match_deliveries, wait_for_arrivals,
};
use crate::load::{ClosedLoop, run_closed_loop};
use crate::receiver::Receiver;
use crate::report::{CaseResult, Percentiles};

/// The key of the one-endpoint case, which later scenarios compare with.
pub const ONE_ENDPOINT_KEY: &str = "delivery/1-endpoint";

pub async fn run(bench: &mut Bench) -> anyhow::Result<()> {
    let one = measure(bench, 1, bench.sizes.delivery_messages).await?;
    bench.record(one);
    let fan_out = measure(bench, 10, bench.sizes.fanout_messages).await?;
    bench.record(fan_out);
    Ok(())
}

/// The one-endpoint delivery rate of this run, measuring it first when no earlier scenario did.
pub async fn one_endpoint_rate(bench: &mut Bench) -> anyhow::Result<f64> {
    if let Some(result) = bench.report.find(ONE_ENDPOINT_KEY) {
        return Ok(result.rate_per_sec);
    }
    let result = measure(bench, 1, bench.sizes.delivery_messages).await?;
    let rate = result.rate_per_sec;
    bench.record(result);
    Ok(rate)
}

/// Sends `messages` to an application with `endpoints` receiver endpoints and waits for every
/// delivery.
async fn measure(bench: &Bench, endpoints: u32, messages: u64) -> anyhow::Result<CaseResult> {
    let receiver = Receiver::start().await?;
    let (hookd, api) = bench.start_hookd(&[]).await?;
    let app_id = application_with_endpoints(&api, &receiver, endpoints, false).await?;
    let sender = MessageSender::new(&api, &app_id);
    let shape = ClosedLoop {
        concurrency: SENDING_CLIENTS,
        total: messages,
        time_limit: bench.sizes.phase_time_limit,
    };
    bench.pg_reset().await?;
    let meter = hookd.cpu_meter()?;
    let started = Instant::now();
    let sends = run_closed_loop("sending", shape, move |sequence| sender.send(sequence)).await;
    let expected = sends.completed.len() as u64 * u64::from(endpoints);
    let complete = wait_for_arrivals(
        &receiver,
        expected,
        "delivering",
        bench.sizes.phase_time_limit,
    )
    .await;
    let phase_cpu = meter.read()?;
    let matched = match_deliveries(&sends, &receiver.take_arrivals(), |_| true);
    let (key, case) = match endpoints {
        1 => (ONE_ENDPOINT_KEY.to_owned(), "1 endpoint".to_owned()),
        _ => (
            format!("delivery/{endpoints}-endpoints"),
            format!("fan-out to {endpoints} endpoints"),
        ),
    };
    let mut result = bench.new_case(Scenario::Delivery, &key, case, "deliveries");
    bench.pg_read(&mut result, matched.delivered).await?;
    let usage = hookd.stop().await?;

    let elapsed = matched
        .last_arrival
        .map_or(started.elapsed(), |last| last - started);
    result.count = matched.delivered;
    result.elapsed_secs = elapsed.as_secs_f64();
    result.rate_per_sec = matched.delivered as f64 / result.elapsed_secs.max(1e-9);
    result.latency = Percentiles::of(matched.from_send.clone());
    result.hookd = Some(usage);
    result.phase_cpu = Some(phase_cpu);
    result
        .details
        .insert("ingest rate /s".into(), json!(sends.rate()));
    if !complete {
        add_missing_deliveries(&mut result, "deliveries", expected, matched.delivered);
    }
    matched.add_details(&mut result);
    add_load_errors(&mut result, &sends);
    Ok(result)
}
