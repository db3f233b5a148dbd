//! `hookd export` and `hookd import`: moving an installation through two running hookds'
//! HTTP APIs (`POST /api/v1/environment/export`, `/import`), never their databases, so any
//! backend can move to any other.
//!
//! `export` writes the document to stdout and its counts to stderr, so `> env.json` keeps the
//! file clean. `import` reads a file (or `-` for stdin), says what it is about to write, and
//! reports the counts written; a refused document is reported by the place of its first bad
//! entry (`applications.0.endpoints.1.url: ...`), and nothing was written.

use std::io::Read as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use serde_json::Value;

use crate::operator_cli::ServerArgs;

/// How long one call may take: an export of a large installation is one answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The export file to import; `-` reads stdin.
    file: PathBuf,
}

/// `hookd export`: the document on stdout, its counts on stderr.
pub fn export(args: ExportArgs) -> anyhow::Result<()> {
    let document = runtime()?.block_on(call(&args.server, "/environment/export", None))?;
    if !document.is_object() {
        bail!("hookd answered the export with something that is not a JSON object");
    }
    println!("{}", serde_json::to_string_pretty(&document)?);
    eprintln!("exported {}", counts(&document));
    Ok(())
}

/// `hookd import FILE`.
pub fn import(args: ImportArgs) -> anyhow::Result<()> {
    let text = if args.file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the document from stdin")?;
        text
    } else {
        std::fs::read_to_string(&args.file)
            .with_context(|| format!("reading {}", args.file.display()))?
    };
    let document: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", args.file.display()))?;
    eprintln!("importing {}", counts(&document));
    runtime()?.block_on(call(&args.server, "/environment/import", Some(&document)))?;
    eprintln!("imported {}", counts(&document));
    Ok(())
}

/// "2 event types, 1 application, 3 endpoints".
fn counts(document: &Value) -> String {
    let length = |value: &Value| value.as_array().map_or(0, Vec::len);
    let applications = &document["applications"];
    let endpoints: usize = applications
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|app| length(&app["endpoints"]))
        .sum();
    let plural = |count: usize, one: &str, many: &str| {
        format!("{count} {}", if count == 1 { one } else { many })
    };
    format!(
        "{}, {}, {}",
        plural(length(&document["eventTypes"]), "event type", "event types"),
        plural(length(applications), "application", "applications"),
        plural(endpoints, "endpoint", "endpoints"),
    )
}

async fn call(server: &ServerArgs, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
    let base = server.server.trim_end_matches('/');
    let http = reqwest::Client::builder()
        .timeout(CALL_TIMEOUT)
        .build()
        .context("building the HTTP client")?;
    let mut request = http.post(format!("{base}/api/v1{path}"));
    if let Some(body) = body {
        request = request.json(body);
    }
    if let Some(token) = server.token.as_deref().filter(|token| !token.is_empty()) {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("cannot reach hookd at {base}"))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .with_context(|| format!("reading hookd's answer from {base}"))?;
    let answer: Value = match text.trim() {
        "" => Value::Null,
        text => serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned())),
    };
    if !status.is_success() {
        bail!("hookd answered {status}: {}", describe_error(&answer));
    }
    Ok(answer)
}

/// An error answer for a person: a 422's entries as `place: message` (the place below
/// `body`), anything else as hookd's `detail`.
fn describe_error(answer: &Value) -> String {
    let detail = answer.get("detail").unwrap_or(answer);
    let Some(entries) = detail.as_array() else {
        return match detail {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
    };
    let described: Vec<String> = entries
        .iter()
        .map(|entry| {
            let place: Vec<&str> = entry["loc"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(Value::as_str)
                .skip_while(|part| *part == "body")
                .collect();
            let message = entry["msg"].as_str().unwrap_or("refused");
            match place.is_empty() {
                true => message.to_owned(),
                false => format!("{}: {message}", place.join(".")),
            }
        })
        .collect();
    format!("{}; nothing was imported", described.join("; "))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
