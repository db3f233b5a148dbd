//! A steady load of messages, the way a client of hookd sends them: a few senders post messages
//! one after another to the nodes in turn, across kills and restarts. Only a `202` counts as
//! acknowledged; a send that fails, is refused or times out is not (it may still have been
//! stored, and then its delivery is counted as unacknowledged, never as lost).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::json;

use super::TOKEN;

/// The API bases (`http://127.0.0.1:<port>/api/v1`) the load is sent to, in turn. A test that
/// restarts a node on another port writes its new base here.
#[derive(Clone, Default)]
pub struct Targets(Arc<RwLock<Vec<String>>>);

impl Targets {
    pub fn new(bases: Vec<String>) -> Targets {
        Targets(Arc::new(RwLock::new(bases)))
    }

    pub fn set(&self, index: usize, base: String) {
        self.0.write().unwrap()[index] = base;
    }

    fn pick(&self, turn: usize) -> String {
        let bases = self.0.read().unwrap();
        bases[turn % bases.len()].clone()
    }
}

/// The running senders.
pub struct Load {
    stopping: Arc<AtomicBool>,
    counters: Arc<Counters>,
    senders: Vec<tokio::task::JoinHandle<()>>,
}

/// What the load came to once stopped.
#[derive(Debug)]
pub struct LoadReport {
    /// The ids of the messages answered `202`.
    pub acknowledged: HashSet<String>,
    /// Sends that got no `202`: refused, failed to connect, cut off by a kill, or timed out.
    pub unacknowledged: usize,
}

#[derive(Default)]
struct Counters {
    turn: AtomicUsize,
    acknowledged: Mutex<HashSet<String>>,
    unacknowledged: AtomicUsize,
}

/// How long one send may take before it counts as not acknowledged. Generous, since a busy
/// machine commits slowly; a node killed mid-request fails it at once.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

impl Load {
    /// Starts `senders` tasks posting `eventType` messages to `app_id` on `targets`, each
    /// pausing `pause` after every send (and a little longer after a failed one, so that a dead
    /// node is not hammered).
    pub fn start(targets: Targets, app_id: &str, senders: usize, pause: Duration) -> Load {
        let stopping = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let http = reqwest::Client::builder()
            .timeout(SEND_TIMEOUT)
            .build()
            .expect("an HTTP client");
        let senders = (0..senders)
            .map(|_| {
                let (targets, http) = (targets.clone(), http.clone());
                let (stopping, counters) = (Arc::clone(&stopping), Arc::clone(&counters));
                let app_id = app_id.to_owned();
                tokio::spawn(async move {
                    while !stopping.load(Ordering::SeqCst) {
                        let turn = counters.turn.fetch_add(1, Ordering::SeqCst);
                        let base = targets.pick(turn);
                        match send(&http, &base, &app_id, turn).await {
                            Some(msg_id) => {
                                counters.acknowledged.lock().unwrap().insert(msg_id);
                                tokio::time::sleep(pause).await;
                            }
                            None => {
                                counters.unacknowledged.fetch_add(1, Ordering::SeqCst);
                                tokio::time::sleep(pause + Duration::from_millis(50)).await;
                            }
                        }
                    }
                })
            })
            .collect();
        Load {
            stopping,
            counters,
            senders,
        }
    }

    /// How many messages have been acknowledged so far.
    pub fn acknowledged(&self) -> usize {
        self.counters.acknowledged.lock().unwrap().len()
    }

    /// Stops the senders (each finishes the send it is in) and says what they achieved.
    pub async fn stop(self) -> LoadReport {
        self.stopping.store(true, Ordering::SeqCst);
        for sender in self.senders {
            sender.await.expect("a sender task ends cleanly");
        }
        let counters = Arc::try_unwrap(self.counters)
            .ok()
            .expect("the senders are done");
        LoadReport {
            acknowledged: counters.acknowledged.into_inner().unwrap(),
            unacknowledged: counters.unacknowledged.into_inner(),
        }
    }
}

/// One message; its id when hookd answered `202`.
async fn send(http: &reqwest::Client, base: &str, app_id: &str, turn: usize) -> Option<String> {
    let body = json!({"eventType": "load.tick", "payload": {"turn": turn}});
    let response = http
        .post(format!("{base}/app/{app_id}/msg"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .ok()?;
    if response.status().as_u16() != 202 {
        return None;
    }
    let message: serde_json::Value = response.json().await.ok()?;
    Some(message["id"].as_str()?.to_owned())
}
