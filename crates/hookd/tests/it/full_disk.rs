//! SQLite on a full disk: the data directory sits on a small tmpfs that 64 concurrent senders
//! of 512 KiB messages overflow. Every message answered 202 must be stored (checked while the
//! disk is still full) and delivered, every refusal must be a retryable 503 with a JSON body,
//! and once space returns the same process accepts every refused message sent again, and
//! delivers it, without a restart.
//!
//! Mounting needs root (CI runs the tests as root). A test that cannot mount fails; it never
//! passes without having filled a disk.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::harness::{Receiver, TestApp, write_figures};

const SENDERS: usize = 64;
const MESSAGES_PER_SENDER: usize = 2;
const PAYLOAD_BYTES: usize = 512 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_refuses_with_503_and_loses_nothing_it_accepted() {
    let disk = SmallDisk::mount("16m");
    let receiver = Receiver::start(Vec::new()).await;
    let data_dir = disk.path.join("data");
    let app = Arc::new(
        TestApp::spawn_with(|config| {
            config.data_dir = data_dir;
            // This test is about what is stored, not about slow receivers: a loaded machine must
            // not turn deliveries of large payloads into timeouts that run out of retries.
            config.delivery_timeout = Duration::from_secs(30);
            config.retry_schedule = "1s,1s,1s,1s,1s".parse().expect("schedule");
        })
        .await,
    );
    let (app_id, _endpoint_id) = app.app_with_endpoint(&receiver.url).await;

    let senders: Vec<_> = (0..SENDERS)
        .map(|sender| {
            let (app, app_id) = (Arc::clone(&app), app_id.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                for message in 0..MESSAGES_PER_SENDER {
                    let body = large_message(sender, message);
                    let answer = app.post(&format!("/app/{app_id}/msg"), body.clone()).await;
                    answers.push((body, answer));
                }
                answers
            })
        })
        .collect();
    let mut accepted = HashSet::new();
    let mut refused = Vec::new();
    for sender in senders {
        for (body, (status, answer)) in sender.await.unwrap() {
            match status {
                202 => {
                    accepted.insert(answer["id"].as_str().unwrap().to_owned());
                }
                503 => {
                    assert_eq!(answer["code"], "storage_full", "{answer}");
                    refused.push(body);
                }
                other => panic!("a full disk must answer 202 or 503, not {other}: {answer}"),
            }
        }
    }
    assert!(
        !refused.is_empty(),
        "the disk never filled: all {} messages were accepted",
        SENDERS * MESSAGES_PER_SENDER
    );

    // Before any space returns (reads need none): every 202 is already in the database. A
    // message acknowledged while still waiting in memory for room would be missing here.
    for msg_id in &accepted {
        let (status, message) = app.get(&format!("/app/{app_id}/msg/{msg_id}")).await;
        assert_eq!(
            status, 200,
            "accepted message {msg_id} is not stored: {message}"
        );
    }

    // Space returns, hookd keeps running: the client sends every refused message again (as a
    // 503 invites it to) and each is accepted, then everything is delivered.
    disk.grow("256m");
    let accepted_while_filling = accepted.len();
    for body in refused.iter().cloned() {
        accepted.insert(accept_after_recovery(&app, &app_id, body).await);
    }
    let after_recovery = app
        .send_message(&app_id, json!({"after": "recovery"}))
        .await;
    accepted.insert(after_recovery);
    wait_until_delivered(&receiver, &accepted, Duration::from_secs(180)).await;
    write_figures(
        "full-disk.json",
        &json!({
            "accepted_and_stored_while_filling": accepted_while_filling,
            "refused_storage_full": refused.len(),
            "accepted_after_space_returned": refused.len() + 1,
            "delivered": accepted.len(),
            "lost": 0,
        }),
    );
}

fn large_message(sender: usize, message: usize) -> serde_json::Value {
    json!({
        "eventType": "invoice.paid",
        "payload": {"sender": sender, "message": message, "blob": "x".repeat(PAYLOAD_BYTES)},
    })
}

/// Sends `body` once space has returned: `202` at once, or after a few `503`s while hookd
/// finds its room again (bounded), never any other answer.
async fn accept_after_recovery(app: &TestApp, app_id: &str, body: serde_json::Value) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, answer) = app.post(&format!("/app/{app_id}/msg"), body.clone()).await;
        match status {
            202 => return answer["id"].as_str().unwrap().to_owned(),
            503 if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => panic!("after space returned, a message got {other}: {answer}"),
        }
    }
}

async fn wait_until_delivered(receiver: &Receiver, ids: &HashSet<String>, timeout: Duration) {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let delivered: HashSet<String> = receiver
            .received()
            .iter()
            .map(|request| request.header("webhook-id").to_owned())
            .collect();
        let missing = ids.difference(&delivered).count();
        if missing == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{missing} of {} accepted messages were never delivered",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A tmpfs of a given size, mounted for one test and unmounted when dropped.
struct SmallDisk {
    path: PathBuf,
    _mount_point: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let mount_point = tempfile::tempdir().expect("a mount point");
        let path = mount_point.path().to_path_buf();
        run_mount(
            &["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"],
            &path,
        );
        SmallDisk {
            path,
            _mount_point: mount_point,
        }
    }

    /// Gives the filesystem more room, the way an operator frees space, while hookd runs.
    fn grow(&self, size: &str) {
        run_mount(&["-o", &format!("remount,size={size}")], &self.path);
    }
}

fn run_mount(args: &[&str], path: &Path) {
    let output = Command::new("mount")
        .args(args)
        .arg(path)
        .output()
        .expect("`mount` can be run");
    assert!(
        output.status.success(),
        "this test needs to mount a tmpfs (run it as root): mount {args:?} {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy, so that it succeeds even while a panicking test still holds files open.
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
