//! Nodes (PostgreSQL only): deliveries per second of three hookd nodes sharing one PostgreSQL
//! schema against one node alone on the same machine, in the same run (issue 15: "three nodes on
//! one PostgreSQL deliver at least 0.9x what one node does").
//!
//! Each case gets a fresh schema. Its nodes are `hookd serve` processes on their own ports with
//! the same `--database-url` and distinct `--node-id`s. The applications (4, with 10 receiver
//! endpoints each, so claims can spread over 40 endpoints) are created through the first node;
//! then 64 clients send messages through all nodes' APIs round-robin, each message to one
//! application (so 10 deliveries), and the rate is counted from the first send to the last
//! receipt, as in the delivery scenario. hookd's CPU is the sum over the nodes; duplicates (the
//! same message at the same endpoint twice, which at-least-once allows) are always reported.

use std::time::Instant;

use serde_json::json;

use super::{
    Bench, MessageSender, SENDING_CLIENTS, Scenario, add_load_errors, add_missing_deliveries,
    match_deliveries, wait_for_arrivals,
};
use crate::cpu::PhaseCpu;
use crate::hookd_api::HookdApi;
use crate::hookd_process::{ADMIN_TOKEN, HookdProcess, ProcessUsage};
use crate::load::{ClosedLoop, run_closed_loop};
use crate::pg_schema::PgSchema;
use crate::receiver::Receiver;
use crate::report::{CaseResult, Percentiles};

pub const ONE_NODE_KEY: &str = "nodes/1";
pub const THREE_NODES_KEY: &str = "nodes/3";
/// The 3-node case's detail holding its rate over the 1-node rate.
pub const NODES_RATIO: &str = "3-node / 1-node rate";
/// Applications of each case, and receiver endpoints of each application.
const APPLICATIONS: u32 = 4;
const ENDPOINTS_PER_APPLICATION: u32 = 10;

pub async fn run(bench: &mut Bench) -> anyhow::Result<()> {
    let Some(server_url) = bench.launch.database_url.clone() else {
        let note = "nodes: skipped, it needs --database-url (several hookd nodes share one \
                    PostgreSQL; SQLite is one node)";
        eprintln!("  {note}");
        bench.report.notes.push(note.to_owned());
        return Ok(());
    };
    let one = measure(bench, &server_url, 1).await?;
    let one_rate = one.rate_per_sec;
    bench.record(one);
    let mut three = measure(bench, &server_url, 3).await?;
    three.details.insert(
        NODES_RATIO.into(),
        json!(nodes_ratio(three.rate_per_sec, one_rate)),
    );
    bench.record(three);
    Ok(())
}

/// The 3-node rate over the 1-node rate (0 when the 1-node case delivered nothing).
pub fn nodes_ratio(three: f64, one: f64) -> f64 {
    if one > 0.0 { three / one } else { 0.0 }
}

/// The sender of message `sequence`: nodes round-robin, and applications in turn across rounds.
pub fn sender_index(sequence: u64, nodes: usize, applications: usize) -> (usize, usize) {
    let node = (sequence % nodes as u64) as usize;
    let application = ((sequence / nodes as u64) % applications as u64) as usize;
    (node, application)
}

async fn measure(bench: &Bench, server_url: &str, node_count: usize) -> anyhow::Result<CaseResult> {
    let receiver = Receiver::start().await?;
    let schema = PgSchema::create(server_url).await?;
    let mut nodes = Vec::with_capacity(node_count);
    for node in 0..node_count {
        let node_id = format!("bench-node-{}-of-{node_count}", node + 1);
        let args = ["--node-id".to_owned(), node_id];
        nodes.push(HookdProcess::start_node(&bench.launch, &args, &schema).await?);
    }
    let apis: Vec<HookdApi> = nodes
        .iter()
        .map(|node| HookdApi::new(bench.http.clone(), node.base_url(), ADMIN_TOKEN))
        .collect();
    let mut app_ids = Vec::new();
    for application in 0..APPLICATIONS {
        let app_id = apis[0].create_application("bench").await?;
        for endpoint in 0..ENDPOINTS_PER_APPLICATION {
            let number = application * ENDPOINTS_PER_APPLICATION + endpoint;
            apis[0]
                .create_endpoint(&app_id, &receiver.endpoint_url(number))
                .await?;
        }
        app_ids.push(app_id);
    }
    // senders[node][application]
    let senders: Vec<Vec<MessageSender>> = apis
        .iter()
        .map(|api| {
            app_ids
                .iter()
                .map(|app| MessageSender::new(api, app))
                .collect()
        })
        .collect();
    let shape = ClosedLoop {
        concurrency: SENDING_CLIENTS,
        total: bench.sizes.nodes_messages,
        time_limit: bench.sizes.phase_time_limit,
    };
    bench.pg_reset().await?;
    let meters = nodes
        .iter()
        .map(HookdProcess::cpu_meter)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let started = Instant::now();
    let sends = run_closed_loop("sending", shape, move |sequence| {
        let (node, application) = sender_index(sequence, senders.len(), senders[0].len());
        senders[node][application].send(sequence)
    })
    .await;
    let expected = sends.completed.len() as u64 * u64::from(ENDPOINTS_PER_APPLICATION);
    let complete = wait_for_arrivals(
        &receiver,
        expected,
        "delivering",
        bench.sizes.phase_time_limit,
    )
    .await;
    let phases = meters
        .iter()
        .map(|meter| meter.read())
        .collect::<anyhow::Result<Vec<_>>>()?;
    let matched = match_deliveries(&sends, &receiver.take_arrivals(), |_| true);
    let (key, case) = match node_count {
        1 => (ONE_NODE_KEY.to_owned(), "1 node".to_owned()),
        _ => (
            format!("nodes/{node_count}"),
            format!("{node_count} nodes sharing one schema"),
        ),
    };
    let case = format!(
        "{case}, {APPLICATIONS} apps x {ENDPOINTS_PER_APPLICATION} endpoints, {SENDING_CLIENTS} clients"
    );
    let mut result = bench.new_case(Scenario::Nodes, &key, case, "deliveries");
    bench.pg_read(&mut result, matched.delivered).await?;
    // Why a node redelivered, if it did: its warnings and errors (lease renewals that timed out,
    // for instance), summed over the nodes.
    let mut problems: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    for node in &nodes {
        for (problem, count) in node.log_problems() {
            *problems.entry(problem).or_default() += count;
        }
    }
    let mut usages = Vec::with_capacity(nodes.len());
    for node in nodes {
        usages.push(node.stop().await?);
    }
    schema.drop_schema().await?;

    let elapsed = matched
        .last_arrival
        .map_or(started.elapsed(), |last| last - started);
    result.count = matched.delivered;
    result.elapsed_secs = elapsed.as_secs_f64();
    result.rate_per_sec = matched.delivered as f64 / result.elapsed_secs.max(1e-9);
    result.latency = Percentiles::of(matched.from_send.clone());
    result.hookd = Some(ProcessUsage {
        peak_rss_mb: usages
            .iter()
            .map(|usage| usage.peak_rss_mb)
            .fold(0.0, f64::max),
        cpu_seconds: usages.iter().map(|usage| usage.cpu_seconds).sum(),
    });
    result.phase_cpu = Some(PhaseCpu {
        hookd_seconds: Some(phases.iter().filter_map(|phase| phase.hookd_seconds).sum()),
        bench_seconds: phases[0].bench_seconds,
        wall_seconds: phases[0].wall_seconds,
    });
    result
        .details
        .insert("ingest rate /s".into(), json!(sends.rate()));
    result
        .details
        .insert("duplicate deliveries".into(), json!(matched.duplicates));
    if !problems.is_empty() {
        let lines: Vec<String> = problems
            .iter()
            .map(|(problem, count)| format!("{count} × {problem}"))
            .collect();
        result
            .details
            .insert("hookd log WARN/ERROR".into(), json!(lines.join(" | ")));
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
    fn messages_go_round_robin_over_nodes_and_spread_over_applications() {
        let picks: Vec<_> = (0..12)
            .map(|sequence| sender_index(sequence, 3, 4))
            .collect();
        assert_eq!(&picks[..4], &[(0, 0), (1, 0), (2, 0), (0, 1)]);
        for node in 0..3 {
            for application in 0..4 {
                assert_eq!(
                    picks
                        .iter()
                        .filter(|&&pick| pick == (node, application))
                        .count(),
                    1
                );
            }
        }
        assert!(
            (0..10).all(|sequence| sender_index(sequence, 1, 4) == (0, (sequence % 4) as usize))
        );
    }

    #[test]
    fn the_ratio_is_three_nodes_over_one() {
        assert_eq!(nodes_ratio(900.0, 1000.0), 0.9);
        assert_eq!(nodes_ratio(900.0, 0.0), 0.0);
    }
}
