//! Latency: how long a message takes from the API call to the receiver, at fixed offered loads
//! (1,000 and 400 messages per second by default, `--latency-rate`), and near saturation (80% of the one-endpoint delivery rate
//! measured in this run). Requests start on a fixed schedule whatever hookd does, and latency is
//! measured from the scheduled start, so a client held up by a slow server counts the wait.
//!
//! The table shows API call -> receipt, which includes the durable commit; the details add
//! hookd's 202 -> receipt (the "accept to receipt").

use serde_json::json;

use super::{
    Bench, MessageSender, Scenario, add_load_errors, add_missing_deliveries,
    application_with_endpoints, delivery, match_deliveries, wait_for_arrivals,
};
use crate::load::{FixedRate, run_fixed_rate};
use crate::receiver::Receiver;
use crate::report::{CaseResult, Percentiles};

/// Near saturation: this fraction of the measured one-endpoint delivery rate.
const SATURATION_FRACTION: f64 = 0.8;
/// Requests in flight before the schedule waits; far above what 1,000/s needs.
const MAX_IN_FLIGHT: usize = 1_024;

pub async fn run(bench: &mut Bench) -> anyhow::Result<()> {
    for rate in bench.sizes.latency_rates.clone() {
        let at_rate = measure(bench, rate, &rate_key(rate)).await?;
        bench.record(at_rate);
    }
    let saturation_rate = SATURATION_FRACTION * delivery::one_endpoint_rate(bench).await?;
    let near_saturation = measure(bench, saturation_rate, "latency/saturation").await?;
    bench.record(near_saturation);
    Ok(())
}

/// `latency/1000-per-sec` for 1,000 msg/s (the key the targets look for).
pub fn rate_key(rate: f64) -> String {
    format!("latency/{rate:.0}-per-sec")
}

async fn measure(bench: &Bench, rate: f64, key: &str) -> anyhow::Result<CaseResult> {
    let receiver = Receiver::start().await?;
    let (hookd, api) = bench.start_hookd(&[]).await?;
    let app_id = application_with_endpoints(&api, &receiver, 1, false).await?;
    let sender = MessageSender::new(&api, &app_id);
    let shape = FixedRate {
        per_second: rate,
        total: (rate * bench.sizes.latency_duration.as_secs_f64()).ceil() as u64,
        max_in_flight: MAX_IN_FLIGHT,
    };
    bench.pg_reset().await?;
    let meter = hookd.cpu_meter()?;
    let sends = run_fixed_rate("sending", shape, move |sequence| sender.send(sequence)).await;
    let expected = sends.completed.len() as u64;
    let complete = wait_for_arrivals(
        &receiver,
        expected,
        "delivering",
        bench.sizes.phase_time_limit,
    )
    .await;
    let phase_cpu = meter.read()?;
    let matched = match_deliveries(&sends, &receiver.take_arrivals(), |_| true);
    let case = if key.ends_with("saturation") {
        format!(
            "{rate:.0} msg/s ({:.0}% of delivery rate), 1 endpoint",
            SATURATION_FRACTION * 100.0
        )
    } else {
        format!("{rate:.0} msg/s, 1 endpoint")
    };
    let mut result = bench.new_case(Scenario::Latency, key, case, "deliveries");
    bench.pg_read(&mut result, matched.delivered).await?;
    let usage = hookd.stop().await?;

    result.count = matched.delivered;
    result.elapsed_secs = sends.elapsed.as_secs_f64();
    result.rate_per_sec = matched.delivered as f64 / result.elapsed_secs.max(1e-9);
    result.latency = Percentiles::of(matched.from_send.clone());
    result.hookd = Some(usage);
    result.phase_cpu = Some(phase_cpu);
    result.details.insert("offered /s".into(), json!(rate));
    if let Some(requests) = Percentiles::of(sends.request_latencies()) {
        result
            .details
            .insert("API call p99 ms".into(), json!(requests.p99_ms));
    }
    if !complete {
        add_missing_deliveries(&mut result, "deliveries", expected, matched.delivered);
    }
    matched.add_details(&mut result);
    add_load_errors(&mut result, &sends);
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thousand_per_second_case_keeps_the_key_the_targets_read() {
        assert_eq!(rate_key(1_000.0), "latency/1000-per-sec");
        assert_eq!(rate_key(400.0), "latency/400-per-sec");
    }
}
