//! Ingest: messages accepted per second, where accepted means durable (hookd answers 202 only
//! after the message and its deliveries are committed and fsynced). 1 KiB payloads, a closed
//! loop of concurrent API clients. Without endpoints this is the write path alone; with one
//! receiver endpoint, delivery competes with it for the same CPUs and database.

use serde_json::json;

use super::{Bench, MessageSender, Scenario, add_load_errors, application_with_endpoints};
use crate::load::{ClosedLoop, run_closed_loop};
use crate::receiver::Receiver;
use crate::report::Percentiles;

/// (concurrent clients, endpoints) of each case.
const CASES: [(usize, u32); 3] = [(64, 0), (256, 0), (256, 1)];

pub async fn run(bench: &mut Bench) -> anyhow::Result<()> {
    for (clients, endpoints) in CASES {
        let receiver = Receiver::start().await?;
        let (hookd, api) = bench.start_hookd(&[]).await?;
        let app_id = application_with_endpoints(&api, &receiver, endpoints, false).await?;
        let sender = MessageSender::new(&api, &app_id);
        let shape = ClosedLoop {
            concurrency: clients,
            total: bench.sizes.ingest_messages,
            time_limit: bench.sizes.phase_time_limit,
        };
        let meter = hookd.cpu_meter()?;
        let run = run_closed_loop("ingest", shape, move |sequence| sender.send(sequence)).await;
        let phase_cpu = meter.read()?;
        let usage = hookd.stop().await?;

        let (key, case) = match endpoints {
            0 => (
                format!("ingest/c{clients}-no-endpoint"),
                format!("{clients} clients, no endpoint"),
            ),
            _ => (
                format!("ingest/c{clients}-{endpoints}-endpoint"),
                format!("{clients} clients, {endpoints} receiver endpoint"),
            ),
        };
        let mut result = bench.new_case(Scenario::Ingest, &key, case, "messages");
        result.count = run.completed.len() as u64;
        result.rate_per_sec = run.rate();
        result.elapsed_secs = run.elapsed.as_secs_f64();
        result.latency = Percentiles::of(run.request_latencies());
        result.hookd = Some(usage);
        result.phase_cpu = Some(phase_cpu);
        if endpoints > 0 {
            result.details.insert(
                "delivered while ingesting".into(),
                json!(receiver.arrival_count()),
            );
        }
        add_load_errors(&mut result, &run);
        bench.record(result);
    }
    Ok(())
}
