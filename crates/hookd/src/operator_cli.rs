//! Operator commands on top of the HTTP API: `hookd attempts list` and `hookd replay` (and the
//! `--server` arguments `environment_cli` shares).
//!
//! These talk to a running hookd over HTTP (`--server`, `--token`) exactly as any client would;
//! they never open the database, so they work against any node and any backend. Errors are for a
//! person to read: an unreachable server says so, and an error answer shows hookd's JSON detail.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

use crate::domain::Timestamp;

/// Where the server is and how to authenticate.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Base URL of a running hookd (also `--url`).
    #[arg(long, visible_alias = "url", env = "HOOKD_SERVER", default_value = "http://127.0.0.1:8071", value_parser = parse_server_url)]
    pub(crate) server: String,
    /// The admin bearer token.
    #[arg(long, env = "HOOKD_ADMIN_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
}

/// Why a `--server` was refused.
#[derive(Debug, thiserror::Error)]
pub enum ServerUrlError {
    #[error("{written:?} has no http:// or https:// in front; did you mean http://{written}?")]
    MissingScheme { written: String },
    #[error("{written:?} is not the URL of a hookd; write it as http://host:port")]
    NotHttp { written: String },
    #[error("{written:?} is not a URL ({reason}); write it as http://host:port")]
    NotAUrl {
        written: String,
        reason: url::ParseError,
    },
}

/// Accepts the base URL of a hookd: `http://` or `https://` with a host. `localhost:8071`
/// would otherwise parse as a URL whose scheme is `localhost`, and fail later as unreachable.
pub fn parse_server_url(written: &str) -> Result<String, ServerUrlError> {
    let written = written.trim();
    let missing_scheme = || ServerUrlError::MissingScheme {
        written: written.to_owned(),
    };
    if !written.contains("://") {
        return Err(missing_scheme());
    }
    let url = url::Url::parse(written).map_err(|reason| ServerUrlError::NotAUrl {
        written: written.to_owned(),
        reason,
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ServerUrlError::NotHttp {
            written: written.to_owned(),
        });
    }
    Ok(written.to_owned())
}

#[derive(Debug, Subcommand)]
pub enum AttemptsCommand {
    /// List delivery attempts of one message or to one endpoint, newest first.
    List(AttemptsListArgs),
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["msg", "endpoint"])))]
pub struct AttemptsListArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Application id or uid.
    #[arg(long)]
    app: String,
    /// Message id (or eventId).
    #[arg(long)]
    msg: Option<String>,
    /// Endpoint id or uid.
    #[arg(long)]
    endpoint: Option<String>,
    /// Only attempts with this outcome.
    #[arg(long, value_enum)]
    status: Option<AttemptStatus>,
    /// Most attempts to show.
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AttemptStatus {
    Success,
    Pending,
    Fail,
    Sending,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Application id or uid.
    #[arg(long)]
    app: String,
    /// Only messages of this event type (repeat for several).
    #[arg(long = "event-type")]
    event_types: Vec<String>,
    /// Only deliveries to this endpoint (id or uid).
    #[arg(long)]
    endpoint: Option<String>,
    /// Which deliveries to replay, by their latest outcome.
    #[arg(long, value_enum, default_value = "failed")]
    status: ReplayStatus,
    /// Messages created at or after this time (RFC 3339, e.g. 2025-01-31T12:00:00Z).
    #[arg(long)]
    since: Timestamp,
    /// Messages created before this time.
    #[arg(long)]
    until: Option<Timestamp>,
    /// Only count what would be replayed.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ReplayStatus {
    Failed,
    Parked,
    Any,
}

/// `hookd attempts ...`.
pub fn attempts(command: AttemptsCommand) -> anyhow::Result<()> {
    let AttemptsCommand::List(args) = command;
    let path = match (&args.msg, &args.endpoint) {
        (Some(msg), _) => format!("/app/{}/attempt/msg/{msg}", args.app),
        (None, Some(endpoint)) => format!("/app/{}/attempt/endpoint/{endpoint}", args.app),
        (None, None) => bail!("give --msg or --endpoint"),
    };
    let mut query = vec![("limit", args.limit.to_string())];
    if let Some(status) = args.status {
        query.push(("status", (status as u8).to_string()));
    }
    let api = Api::new(&args.server)?;
    let page = runtime()?.block_on(api.get(&path, &query))?;
    print!("{}", attempts_table(&page));
    Ok(())
}

/// `hookd replay ...`: shows the dry-run count, then (unless `--dry-run`) starts the replay and
/// prints a progress line until it finishes.
pub fn replay(args: ReplayArgs) -> anyhow::Result<()> {
    let api = Api::new(&args.server)?;
    let path = format!("/app/{}/replay", args.app);
    let mut body = json!({
        "status": match args.status {
            ReplayStatus::Failed => "failed",
            ReplayStatus::Parked => "parked",
            ReplayStatus::Any => "any",
        },
        "since": args.since,
        "dryRun": true,
    });
    if let Some(until) = args.until {
        body["until"] = json!(until);
    }
    if !args.event_types.is_empty() {
        body["eventTypes"] = json!(args.event_types);
    }
    if let Some(endpoint) = &args.endpoint {
        body["endpointId"] = json!(endpoint);
    }
    runtime()?.block_on(async {
        let counted = api.post(&path, &body).await?;
        let count = counted["count"].as_u64().unwrap_or(0);
        let still_retrying = counted["stillRetrying"].as_u64().unwrap_or(0);
        print!("{}", dry_run_report(count, still_retrying));
        if args.dry_run || count == 0 {
            return Ok(());
        }
        body["dryRun"] = json!(false);
        let task = api.post(&path, &body).await?;
        let task_id = task["id"]
            .as_str()
            .context("hookd answered without a task id")?;
        println!("started {task_id}");
        loop {
            let task = api.get(&format!("/background-task/{task_id}"), &[]).await?;
            let sent = task["data"]["messagesSent"].as_u64().unwrap_or(0);
            let status = task["status"].as_str().unwrap_or("unknown");
            println!("{task_id}: {status}, {sent} of about {count} queued");
            match status {
                "running" => tokio::time::sleep(Duration::from_millis(500)).await,
                "finished" => return Ok(()),
                _ => bail!("the replay {status}: {}", task["data"]["error"]),
            }
        }
    })
}

/// What a dry run found, in words: the count, and the matching deliveries it left out because
/// they are still being retried (a replay takes only finished deliveries).
fn dry_run_report(count: u64, still_retrying: u64) -> String {
    let mut report = match count {
        1 => "1 delivery matches\n".to_owned(),
        _ => format!("{count} deliveries match\n"),
    };
    match still_retrying {
        0 => {}
        1 => report.push_str(
            "1 more is still being retried and is not counted: a replay takes it once its \
             retries are used up\n",
        ),
        _ => report.push_str(&format!(
            "{still_retrying} more are still being retried and are not counted: a replay takes \
             them once their retries are used up\n"
        )),
    }
    report
}

/// A small client for hookd's API with operator-friendly errors.
struct Api {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Api {
    fn new(server: &ServerArgs) -> anyhow::Result<Self> {
        Ok(Api {
            base: server.server.trim_end_matches('/').to_owned(),
            token: server.token.clone().filter(|token| !token.is_empty()),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .context("building the HTTP client")?,
        })
    }

    async fn get(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        let request = self.http.get(self.url(path)).query(query);
        self.send(request).await
    }

    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let request = self.http.post(self.url(path)).json(body);
        self.send(request).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    async fn send(&self, mut request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach hookd at {}", self.base))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .with_context(|| format!("reading hookd's answer from {}", self.base))?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if !status.is_success() {
            let detail = body.get("detail").unwrap_or(&body);
            bail!("hookd answered {status}: {detail}");
        }
        Ok(body)
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Renders a page of attempts as a fixed-width table.
fn attempts_table(page: &Value) -> String {
    let headers = [
        "TIMESTAMP",
        "ATTEMPT",
        "MESSAGE",
        "ENDPOINT",
        "STATUS",
        "CODE",
        "MS",
        "TRIGGER",
        "FAILURE",
    ];
    let rows: Vec<Vec<String>> = page["data"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|attempt| {
            let text = |field: &str| match &attempt[field] {
                Value::String(text) => text.clone(),
                Value::Null => "-".to_owned(),
                other => other.to_string(),
            };
            let trigger = match attempt["triggerType"].as_i64() {
                Some(1) => "manual",
                _ => "scheduled",
            };
            vec![
                text("timestamp"),
                text("id"),
                text("msgId"),
                text("endpointId"),
                text("statusText"),
                text("responseStatusCode"),
                text("responseDurationMs"),
                trigger.to_owned(),
                text("failureCode"),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|header| header.len()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut table = line(headers.to_vec());
    for row in &rows {
        table.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    if rows.is_empty() {
        table.push_str("(no attempts)\n");
    }
    table
}
