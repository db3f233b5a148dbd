//! `hookd listen`: local development against a running hookd, like `stripe listen`. It follows
//! the event stream of one application (`/api/v1/app/{app}/stream`) or one inbound source
//! (`/ingest/api/v1/source/{source}/stream`) and forwards each message to a local URL.
//!
//! Each forwarded request carries the payload byte for byte with its content type, and
//! Standard Webhooks headers: `webhook-id` is hookd's message id (so a receiver's dedupe works
//! as in production), `webhook-timestamp` is the time of forwarding, and `webhook-signature`
//! is signed with a *local* secret that the command prints at start (or `--secret`), never the
//! secret of a real endpoint. The command keeps the id of the last message it handled and
//! resumes after it on every reconnect (`Last-Event-ID`), so messages that arrive while it is
//! disconnected are replayed, once and in order. Like the operator commands, it talks to hookd
//! only over HTTP.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{ArgGroup, Args};
use serde::Deserialize;
use webhook_signature::standard::{Secret, signature_header};

use crate::operator_cli::{ServerArgs, parse_server_url};

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("stream").required(true).args(["app", "source"])))]
pub struct ListenArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Forward the messages of this application (id or uid).
    #[arg(long)]
    app: Option<String>,
    /// Forward what this inbound source receives (source id or uid).
    #[arg(long)]
    source: Option<String>,
    /// The local URL each message is POSTed to, e.g. http://localhost:3000/webhooks.
    #[arg(long, value_parser = parse_server_url)]
    forward_to: String,
    /// Start after this message id: every later message is forwarded first. Without it, only
    /// messages that arrive from now on.
    #[arg(long)]
    after: Option<String>,
    /// The secret (whsec_...) to sign forwarded requests with; a new one is made and printed
    /// when absent.
    #[arg(long, env = "HOOKD_LISTEN_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// How many times a message is tried while the local URL cannot be reached, before it is
    /// skipped.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    attempts: u32,
}

/// Runs `hookd listen` until Ctrl-C, or until hookd refuses the stream (bad token, unknown
/// application or source).
pub fn listen(args: ListenArgs) -> anyhow::Result<()> {
    let secret = match &args.secret {
        Some(text) => Secret::parse(text).context("--secret is not a whsec_ signing secret")?,
        None => Secret::generate(&rand::random::<[u8; 32]>())
            .context("generating the local signing secret")?,
    };
    let stream_path = match (&args.app, &args.source) {
        (Some(app), _) => format!("/api/v1/app/{}/stream", path_segment(app)),
        (None, Some(source)) => format!("/ingest/api/v1/source/{}/stream", path_segment(source)),
        (None, None) => bail!("give --app or --source"),
    };
    let listener = Listener {
        stream_url: format!("{}{stream_path}", args.server.server.trim_end_matches('/')),
        token: args.server.token.clone().filter(|token| !token.is_empty()),
        forward_to: args.forward_to.clone(),
        secret,
        attempts: args.attempts,
        http: reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .context("building the HTTP client")?,
    };
    println!(
        "hookd listen: forwarding {} to {}",
        args.app.as_ref().map_or_else(
            || format!("source {}", args.source.as_deref().unwrap_or_default()),
            |app| format!("application {app}")
        ),
        args.forward_to
    );
    println!(
        "signing secret for the forwarded requests: {} (verify with Standard Webhooks)",
        listener.secret
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        tokio::select! {
            result = listener.run(args.after) => result,
            interrupted = tokio::signal::ctrl_c() => {
                interrupted.context("waiting for Ctrl-C")?;
                println!("hookd listen: stopped");
                Ok(())
            }
        }
    })
}

/// A stream longer than this without a byte (keep-alive comments included) is taken as lost.
const SILENT_STREAM_LIMIT: Duration = Duration::from_secs(45);
/// The first wait before reconnecting; it doubles up to `LONGEST_RECONNECT_WAIT`.
const FIRST_RECONNECT_WAIT: Duration = Duration::from_millis(250);
const LONGEST_RECONNECT_WAIT: Duration = Duration::from_secs(10);
/// How long the local URL may take to answer one request.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);

struct Listener {
    stream_url: String,
    token: Option<String>,
    forward_to: String,
    secret: Secret,
    attempts: u32,
    http: reqwest::Client,
}

/// How one connection to the stream ended.
enum StreamEnd {
    /// The connection broke or hookd closed it (a restart): reconnect.
    Lost(anyhow::Error),
    /// hookd refused the stream: retrying cannot help.
    Refused(anyhow::Error),
}

/// One message of the stream, as `api::stream` writes it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StreamedMessage {
    id: String,
    event_type: String,
    timestamp: String,
    content_type: String,
    payload: Option<String>,
}

impl Listener {
    async fn run(&self, mut last_id: Option<String>) -> anyhow::Result<()> {
        let mut wait = FIRST_RECONNECT_WAIT;
        loop {
            let handled_before = last_id.clone();
            match self.follow(&mut last_id).await {
                StreamEnd::Refused(error) => return Err(error),
                StreamEnd::Lost(error) => {
                    if last_id != handled_before {
                        wait = FIRST_RECONNECT_WAIT;
                    }
                    println!(
                        "hookd listen: {error:#}; reconnecting in {} ms",
                        wait.as_millis()
                    );
                }
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(LONGEST_RECONNECT_WAIT);
        }
    }

    /// Connects once and forwards messages until the connection ends. `last_id` moves past each
    /// message once it is forwarded or skipped.
    async fn follow(&self, last_id: &mut Option<String>) -> StreamEnd {
        let mut request = self
            .http
            .get(&self.stream_url)
            .header("accept", "text/event-stream");
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(last_id) = last_id.as_deref() {
            request = request.header("last-event-id", last_id);
        }
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                return StreamEnd::Lost(
                    anyhow::Error::new(error)
                        .context(format!("cannot reach hookd at {}", self.stream_url)),
                );
            }
        };
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            let body: serde_json::Value =
                serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
            let detail = body.get("detail").unwrap_or(&body);
            let error = anyhow::anyhow!("hookd answered {status}: {detail}");
            return if status.is_server_error() {
                StreamEnd::Lost(error)
            } else {
                StreamEnd::Refused(error)
            };
        }
        println!("hookd listen: connected, waiting for messages (Ctrl-C to stop)");
        let mut events = EventReader::default();
        loop {
            let chunk = match tokio::time::timeout(SILENT_STREAM_LIMIT, response.chunk()).await {
                Err(_) => return StreamEnd::Lost(anyhow::anyhow!("the stream went silent")),
                Ok(Err(error)) => {
                    return StreamEnd::Lost(anyhow::Error::new(error).context("the stream broke"));
                }
                Ok(Ok(None)) => return StreamEnd::Lost(anyhow::anyhow!("hookd closed the stream")),
                Ok(Ok(Some(chunk))) => chunk,
            };
            for data in events.push(&chunk) {
                match serde_json::from_str::<StreamedMessage>(&data) {
                    Ok(message) => {
                        self.forward(&message).await;
                        *last_id = Some(message.id);
                    }
                    Err(error) => {
                        return StreamEnd::Refused(
                            anyhow::Error::new(error)
                                .context("hookd sent an event this listen cannot read"),
                        );
                    }
                }
            }
        }
    }

    /// Forwards one message and prints its line; retries while the local URL is unreachable.
    async fn forward(&self, message: &StreamedMessage) {
        let head = format!(
            "{}  {}  {}",
            message.timestamp, message.event_type, message.id
        );
        let Some(payload) = &message.payload else {
            println!("{head}  skipped: its payload is no longer stored");
            return;
        };
        for attempt in 1..=self.attempts {
            let started = Instant::now();
            match self.post(message, payload).await {
                Ok(status) => {
                    let millis = started.elapsed().as_millis();
                    println!("{head}  -> {} ({millis} ms)", status.as_u16());
                    return;
                }
                Err(error) if attempt < self.attempts => {
                    let wait = Duration::from_millis(500) * 2u32.pow(attempt - 1);
                    println!(
                        "{head}  -> {} unreachable ({}); retry {attempt}/{} in {} ms",
                        self.forward_to,
                        describe(&error),
                        self.attempts - 1,
                        wait.as_millis()
                    );
                    tokio::time::sleep(wait).await;
                }
                Err(error) => {
                    println!(
                        "{head}  -> skipped after {} attempts: {} unreachable ({})",
                        self.attempts,
                        self.forward_to,
                        describe(&error)
                    );
                }
            }
        }
    }

    async fn post(
        &self,
        message: &StreamedMessage,
        payload: &str,
    ) -> Result<reqwest::StatusCode, reqwest::Error> {
        let timestamp = chrono::Utc::now().timestamp();
        let signature =
            signature_header(&[&self.secret], &message.id, timestamp, payload.as_bytes());
        let response = self
            .http
            .post(&self.forward_to)
            .timeout(FORWARD_TIMEOUT)
            .header("content-type", &message.content_type)
            .header("webhook-id", &message.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(payload.to_owned())
            .send()
            .await?;
        Ok(response.status())
    }
}

/// Why a request to the local URL failed, in a few words.
fn describe(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection refused"
    } else {
        "the request failed"
    }
}

/// A name as one URL path segment.
fn path_segment(name: &str) -> String {
    url::form_urlencoded::byte_serialize(name.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// Splits the bytes of an event stream into events and returns the `data` of each `message`
/// event (keep-alive comments and other fields are dropped). Lines may end in `\n`, `\r\n`
/// or `\r`, and a chunk may end anywhere, even inside a UTF-8 character.
#[derive(Debug, Default)]
struct EventReader {
    unread: Vec<u8>,
    event: Option<String>,
    data: Vec<String>,
}

impl EventReader {
    fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.unread.extend_from_slice(bytes);
        let mut complete = Vec::new();
        while let Some(end) = self
            .unread
            .iter()
            .position(|&byte| byte == b'\n' || byte == b'\r')
        {
            // A `\r` at the very end may be the first half of `\r\n`: wait for the next byte.
            if self.unread[end] == b'\r' && end + 1 == self.unread.len() {
                break;
            }
            let skip = if self.unread[end] == b'\r' && self.unread[end + 1] == b'\n' {
                2
            } else {
                1
            };
            let line: Vec<u8> = self.unread.drain(..end + skip).take(end).collect();
            let line = String::from_utf8_lossy(&line);
            if line.is_empty() {
                let event = self.event.take();
                let data = std::mem::take(&mut self.data);
                if !data.is_empty() && event.as_deref().is_none_or(|name| name == "message") {
                    complete.push(data.join("\n"));
                }
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((&line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => self.event = Some(value.to_owned()),
                "data" => self.data.push(value.to_owned()),
                _ => {}
            }
        }
        complete
    }
}

#[cfg(test)]
mod tests {
    use super::EventReader;

    /// (chunks as they arrive, the data of the events they complete)
    fn check(chunks: &[&str], expected: &[&str]) {
        let mut reader = EventReader::default();
        let got: Vec<String> = chunks
            .iter()
            .flat_map(|chunk| reader.push(chunk.as_bytes()))
            .collect();
        assert_eq!(got, expected, "{chunks:?}");
    }

    #[test]
    fn event_stream_parsing() {
        check(&["id: 1\nevent: message\ndata: {}\n\n"], &["{}"]);
        check(&["data: a\n", "\n"], &["a"]);
        check(&["da", "ta: a\r", "\n\r\n"], &["a"]);
        check(&[": keep-alive\n\n"], &[]);
        check(&["event: other\ndata: x\n\n"], &[]);
        check(&["data: a\ndata: b\n\ndata:c\n\n"], &["a\nb", "c"]);
        check(&["data: a\n"], &[]);
    }
}
