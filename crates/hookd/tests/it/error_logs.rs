//! Error causes reach the logs: a request that fails on a database error logs the error's whole
//! chain (what failed and why), not just "database error". Runs the real binary, so the log is
//! what an operator reads on stderr.

use crate::first_run::HookdProcess;

const TOKEN: &str = "error-logs-admin-token-0123456789abcdef";

#[tokio::test]
async fn a_store_error_answered_by_the_api_is_logged_with_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().display().to_string();
    let hookd = HookdProcess::start(&["--data-dir", &data_dir, "--admin-token", TOKEN], &[]);
    // Break the database under the running server: the next read of event types fails in SQLite.
    let database = rusqlite::Connection::open(dir.path().join("hookd.db")).unwrap();
    database.execute_batch("DROP TABLE event_type;").unwrap();
    drop(database);

    let answer = reqwest::Client::new()
        .get(format!("{}/api/v1/event-type", hookd.base_url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 500);
    let output = hookd.kill();

    let logged = output
        .stderr
        .lines()
        .find(|line| line.contains("store backend failed while answering a request"))
        .unwrap_or_else(|| panic!("no store error was logged:\n{}", output.stderr));
    assert!(
        logged.contains("no such table: event_type"),
        "the log line lacks the database's reason: {logged}"
    );
}
