//! Ceiling: the same client and receiver with nothing in between. The client posts the very
//! payloads hookd would deliver straight to the receiver, so the rate is this machine's limit for
//! loopback HTTP with this client and receiver sharing the CPUs, and every hookd figure can be
//! read as a fraction of it.

use std::time::Duration;

use anyhow::Context;

use super::{Bench, Scenario, add_load_errors};
use crate::cpu::CpuMeter;
use crate::hookd_api::payload;
use crate::load::{ClosedLoop, run_closed_loop};
use crate::receiver::Receiver;
use crate::report::Percentiles;

/// Concurrent clients of each ceiling case: the API clients' count and hookd's default
/// number of deliveries in flight.
const CLIENT_COUNTS: [usize; 2] = [64, 256];

pub async fn run(bench: &mut Bench) -> anyhow::Result<()> {
    for clients in CLIENT_COUNTS {
        let receiver = Receiver::start().await?;
        let url = receiver.endpoint_url(0);
        let http = bench.http.clone();
        let shape = ClosedLoop {
            concurrency: clients,
            total: bench.sizes.ceiling_requests,
            time_limit: bench.sizes.phase_time_limit,
        };
        let meter = CpuMeter::start(None)?;
        let run = run_closed_loop("ceiling", shape, move |sequence| {
            let request = http
                .post(&url)
                .header("webhook-id", format!("ceiling_{sequence}"))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(payload(sequence).to_string())
                .timeout(Duration::from_secs(30))
                .send();
            async move {
                request
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .context("posting to the receiver")?;
                Ok(())
            }
        })
        .await;
        let phase_cpu = meter.read()?;

        let mut result = bench.new_case(
            Scenario::Ceiling,
            &format!("ceiling/c{clients}"),
            format!("{clients} clients -> receiver, no hookd"),
            "requests",
        );
        result.count = run.completed.len() as u64;
        result.rate_per_sec = run.rate();
        result.elapsed_secs = run.elapsed.as_secs_f64();
        result.latency = Percentiles::of(run.request_latencies());
        result.phase_cpu = Some(phase_cpu);
        add_load_errors(&mut result, &run);
        bench.record(result);
    }
    Ok(())
}
