//! The binary on PostgreSQL as a person sees it: `hookd migrate` and `hookd serve` log no driver
//! NOTICE about `schema_migrations` (it exists after the first start), and the start-up summary
//! names the database without its password.

use crate::first_run::{HookdProcess, hookd_command};
use crate::postgres_schema::TestSchema;

#[tokio::test]
async fn postgres_start_up_logs_no_notice_and_hides_the_password() {
    let schema = TestSchema::create("postgres_first_run").await;
    // Twice: the second run finds `schema_migrations` already there, which is what made
    // PostgreSQL send "relation already exists, skipping".
    for round in 1..=2 {
        let url = schema.url.clone();
        let output = tokio::task::spawn_blocking(move || {
            hookd_command(&["migrate", "--database-url", &url], &[])
                .output()
                .expect("running hookd migrate")
        })
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "migrate {round}: {output:?}");
        assert!(!stderr.contains("NOTICE"), "migrate {round}:\n{stderr}");
    }

    // The test server trusts local connections, so any password is accepted and none is needed.
    let mut with_password = url::Url::parse(&schema.url).expect("a URL");
    with_password
        .set_password(Some("hunter2-not-to-be-shown"))
        .unwrap();
    let database = with_password.path().trim_start_matches('/').to_owned();
    let host = with_password.host_str().unwrap().to_owned();
    let port = with_password.port().unwrap_or(5432);
    let user = with_password.username().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        HookdProcess::start(
            &["--database-url", with_password.as_str()],
            &[("HOOKD_ADMIN_TOKEN", "postgres-first-run-token-0123456789ab")],
        )
        .kill()
    })
    .await
    .unwrap();
    let expected =
        format!("store:       PostgreSQL database {database} on {host}:{port} as {user}");
    assert!(
        output.stdout.contains(&expected),
        "{expected:?} not in:\n{}",
        output.stdout
    );
    for (stream, text) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        assert!(
            !text.contains("hunter2"),
            "the password is on {stream}:\n{text}"
        );
        assert!(!text.contains("NOTICE"), "a NOTICE on {stream}:\n{text}");
    }
}
