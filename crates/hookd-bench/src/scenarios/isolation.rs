//! Isolation: one endpoint that answers only after 5 s among 50 healthy ones. Messages go to
//! every endpoint at a fixed rate; the result is the healthy endpoints' send-to-receipt latency,
//! next to the same run without the slow endpoint. A server that shares its delivery slots
//! among endpoints without limit lets the slow one take them all: at `rate` messages per second
//! the slow endpoint alone holds `rate * 5` attempts in flight, so the scenario runs at a rate
//! below hookd's default 256 slots (20/s: 100 held) and one above it (60/s: 300 held).

use serde_json::json;

use super::{
    Bench, MessageSender, Scenario, add_load_errors, add_missing_deliveries,
    application_with_endpoints, match_deliveries, wait_for_arrivals,
};
use crate::load::{FixedRate, run_fixed_rate};
use crate::receiver::{Receiver, SLOW_ENDPOINT_DELAY};
use crate::report::{CaseResult, Percentiles};

const HEALTHY_ENDPOINTS: u32 = 50;
const MAX_IN_FLIGHT: usize = 1_024;

pub async fn run(bench: &mut Bench) -> anyhow::Result<()> {
    for rate in bench.sizes.isolation_rates.clone() {
        let baseline = measure(bench, rate, false).await?;
        bench.record(baseline);
        let with_slow = measure(bench, rate, true).await?;
        bench.record(with_slow);
    }
    Ok(())
}

/// The key of a case, as the targets look it up.
pub fn case_key(rate: f64, with_slow: bool) -> String {
    let variant = if with_slow { "with-slow" } else { "baseline" };
    format!("isolation/{rate:.0}-per-sec/{variant}")
}

async fn measure(bench: &Bench, rate: f64, with_slow: bool) -> anyhow::Result<CaseResult> {
    let receiver = Receiver::start().await?;
    let (hookd, api) = bench.start_hookd(&[]).await?;
    let app_id = application_with_endpoints(&api, &receiver, HEALTHY_ENDPOINTS, with_slow).await?;
    let sender = MessageSender::new(&api, &app_id);
    let shape = FixedRate {
        per_second: rate,
        total: (rate * bench.sizes.isolation_duration.as_secs_f64()).ceil() as u64,
        max_in_flight: MAX_IN_FLIGHT,
    };
    let meter = hookd.cpu_meter()?;
    let sends = run_fixed_rate("sending", shape, move |sequence| sender.send(sequence)).await;
    // Only the healthy deliveries are waited for; the slow ones are what is being tolerated.
    let expected = sends.completed.len() as u64 * u64::from(HEALTHY_ENDPOINTS);
    let complete = wait_for_arrivals(
        &receiver,
        expected,
        "delivering",
        bench.sizes.phase_time_limit,
    )
    .await;
    let phase_cpu = meter.read()?;
    let usage = hookd.stop().await?;

    let arrivals = receiver.take_arrivals();
    let healthy = match_deliveries(&sends, &arrivals, |endpoint| endpoint < HEALTHY_ENDPOINTS);
    let case = if with_slow {
        format!(
            "{HEALTHY_ENDPOINTS} healthy + 1 answering after {SLOW_ENDPOINT_DELAY:?}, {rate:.0} msg/s"
        )
    } else {
        format!("{HEALTHY_ENDPOINTS} healthy, {rate:.0} msg/s")
    };
    let key = case_key(rate, with_slow);
    let mut result = bench.new_case(Scenario::Isolation, &key, case, "healthy deliveries");
    result.count = healthy.delivered;
    result.elapsed_secs = sends.elapsed.as_secs_f64();
    result.rate_per_sec = healthy.delivered as f64 / result.elapsed_secs.max(1e-9);
    result.latency = Percentiles::of(healthy.from_send.clone());
    result.hookd = Some(usage);
    result.phase_cpu = Some(phase_cpu);
    if with_slow {
        let slow = arrivals
            .iter()
            .filter(|arrival| arrival.endpoint == HEALTHY_ENDPOINTS)
            .count();
        result
            .details
            .insert("slow endpoint answered".into(), json!(slow));
    }
    if !complete {
        add_missing_deliveries(
            &mut result,
            "healthy deliveries",
            expected,
            healthy.delivered,
        );
    }
    healthy.add_details(&mut result);
    add_load_errors(&mut result, &sends);
    Ok(result)
}
