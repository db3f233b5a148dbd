//! The writer's batch-failure rule, without a filesystem: a job that takes the batch
//! transaction with it (by ending it, or by filling a database capped with
//! `PRAGMA max_page_count`) fails every job that ran in that batch, and no caller is answered OK
//! for work that was not committed.

use std::sync::mpsc;

use rusqlite::Connection;

use super::StoreError;
use super::writer::{QueuedJob, run_writer, savepoint_job};
use super::{open_connection, open_writer_connection};

/// What one job of a test batch does; each job first inserts a row named after it.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Inserts its row with a body of this many bytes.
    Insert(i64),
    /// Inserts its row, then fails: its savepoint rolls back and the batch goes on.
    FailAlone,
    /// Inserts its row, ends the batch transaction with `ROLLBACK`, then fails.
    EndTransaction,
    /// Inserts its row, ends the batch transaction and opens another, then fails.
    ReplaceTransaction,
}

/// How a job's caller must be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Stored,
    StorageFull,
    Failed,
}

/// One table row: what it shows, how many pages the database may still grow by (`None`: no
/// cap), and the batch's jobs with the answer each must get.
type Case = (&'static str, Option<u32>, &'static [(Step, Answer)]);

const SMALL: i64 = 100;
/// Far more than the capped database below can take, in one row.
const HUGE: i64 = 1 << 20;

#[test]
fn a_job_that_loses_the_batch_transaction_fails_every_job_that_ran_with_it() {
    use Answer::{Failed, StorageFull, Stored};
    use Step::{EndTransaction, FailAlone, Insert, ReplaceTransaction};
    let cases: &[Case] = &[
        (
            "a job that fails cleanly rolls back alone",
            None,
            &[
                (Insert(SMALL), Stored),
                (FailAlone, Failed),
                (Insert(SMALL), Stored),
            ],
        ),
        (
            "a job that rolls the transaction back fails the jobs before it; later ones run next",
            None,
            &[
                (Insert(SMALL), Failed),
                (EndTransaction, Failed),
                (Insert(SMALL), Stored),
            ],
        ),
        (
            "a job that swaps the transaction fails the jobs before it",
            None,
            &[
                (Insert(SMALL), Failed),
                (ReplaceTransaction, Failed),
                (Insert(SMALL), Stored),
            ],
        ),
        (
            "a full database rolls back the batch and answers storage full",
            Some(8),
            &[
                (Insert(SMALL), StorageFull),
                (Insert(HUGE), StorageFull),
                (Insert(SMALL), Stored),
            ],
        ),
    ];
    for (name, spare_pages, jobs) in cases {
        check(name, *spare_pages, jobs);
    }
}

fn check(name: &str, spare_pages: Option<u32>, jobs: &[(Step, Answer)]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probe.db");
    let connection = open_writer_connection(&path).unwrap();
    connection
        .execute_batch("CREATE TABLE probe (name TEXT PRIMARY KEY, body BLOB NOT NULL)")
        .unwrap();
    if let Some(spare_pages) = spare_pages {
        let pages: u32 = connection
            .query_row("PRAGMA page_count", [], |row| row.get(0))
            .unwrap();
        connection
            .execute_batch(&format!("PRAGMA max_page_count = {}", pages + spare_pages))
            .unwrap();
    }

    // Every job is queued before the writer starts, so the first batch takes them all.
    let (sender, receiver) = mpsc::channel();
    let mut answers = Vec::new();
    for (index, (step, _)) in jobs.iter().enumerate() {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let step = *step;
        let row = format!("job{index}");
        sender
            .send(QueuedJob::new(savepoint_job(
                move |c| run_step(c, &row, step),
                move |outcome| {
                    let _ = answer.send(outcome);
                },
            )))
            .unwrap();
        answers.push(answered);
    }
    drop(sender);
    run_writer(
        connection,
        receiver,
        &tokio::sync::Notify::new(),
        &crate::telemetry::instruments::CommitInstruments::unrecorded(),
    );

    let reader = Connection::open(&path).unwrap();
    for (index, (answered, (step, expected))) in answers.into_iter().zip(jobs).enumerate() {
        let answer = match answered.blocking_recv().expect("every job is answered") {
            Ok(()) => Answer::Stored,
            Err(StoreError::StorageFull(_)) => Answer::StorageFull,
            Err(_) => Answer::Failed,
        };
        let stored: bool = reader
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM probe WHERE name = ?1)",
                [format!("job{index}")],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(
            answer, *expected,
            "{name}: answer of job {index} ({step:?})"
        );
        assert_eq!(
            stored,
            answer == Answer::Stored,
            "{name}: job {index} ({step:?}) was answered {answer:?}; its row is stored: {stored}"
        );
    }
}

fn run_step(connection: &Connection, row: &str, step: Step) -> Result<(), StoreError> {
    let bytes = match step {
        Step::Insert(bytes) => bytes,
        _ => SMALL,
    };
    connection
        .execute(
            "INSERT INTO probe (name, body) VALUES (?1, zeroblob(?2))",
            rusqlite::params![row, bytes],
        )
        .map_err(super::backend)?;
    let refused = || Err(StoreError::Conflict("this job fails on purpose".into()));
    match step {
        Step::Insert(_) => Ok(()),
        Step::FailAlone => refused(),
        Step::EndTransaction => {
            connection.execute_batch("ROLLBACK").unwrap();
            refused()
        }
        Step::ReplaceTransaction => {
            connection.execute_batch("ROLLBACK; BEGIN").unwrap();
            refused()
        }
    }
}

/// The database holds signing secrets and outbound credentials: only hookd's user may read it.
#[tokio::test]
async fn the_data_directory_and_database_files_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt;

    let parent = tempfile::tempdir().unwrap();
    let data_dir = parent.path().join("data");
    let store = super::SqliteStore::open(&data_dir).unwrap();
    // A write makes sure the write-ahead log and its index exist.
    crate::store::SettingStore::put_setting(&store, "probe", "value")
        .await
        .unwrap();
    let mode = |name: &str| {
        let path = data_dir.join(name);
        let metadata = std::fs::metadata(&path)
            .unwrap_or_else(|error| panic!("{} should exist: {error}", path.display()));
        metadata.permissions().mode() & 0o777
    };
    let cases = [
        ("", 0o700),
        ("hookd.db", 0o600),
        ("hookd.db-wal", 0o600),
        ("hookd.db-shm", 0o600),
        ("hookd.lock", 0o600),
    ];
    for (name, expected) in cases {
        assert_eq!(
            mode(name),
            expected,
            "mode of {:?} is {:o}, expected {expected:o}",
            data_dir.join(name),
            mode(name)
        );
    }
    store.close();
}

#[test]
fn a_database_left_readable_by_an_older_hookd_is_tightened() {
    use std::os::unix::fs::PermissionsExt;

    let data_dir = tempfile::tempdir().unwrap();
    for name in ["hookd.db", "hookd.db-wal", "hookd.lock"] {
        let path = data_dir.path().join(name);
        std::fs::write(&path, b"").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let store = super::SqliteStore::open(data_dir.path()).unwrap();
    for name in ["hookd.db", "hookd.db-wal", "hookd.lock"] {
        let mode = std::fs::metadata(data_dir.path().join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "mode of {name} is {mode:o}");
    }
    store.close();
}

/// Files this process holds open that were deleted or never named: SQLite's temporary files
/// (a spilled savepoint journal is opened with `O_TMPFILE`).
fn open_temporary_files() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().ends_with("(deleted)"))
        .count()
}

/// How many temporary files are open while a job's savepoint holds `pages` changed pages.
fn temporary_files_during_a_large_job(connection: &Connection, pages: usize) -> usize {
    connection
        .execute_batch("CREATE TABLE probe (n INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        .unwrap();
    let mut insert = connection
        .prepare("INSERT INTO probe (n, body) VALUES (?1, zeroblob(4000))")
        .unwrap();
    for n in 0..pages {
        insert.execute([n as i64]).unwrap();
    }
    drop(insert);
    connection
        .execute_batch("BEGIN IMMEDIATE; SAVEPOINT job; UPDATE probe SET body = zeroblob(4001);")
        .unwrap();
    let during = open_temporary_files();
    connection.execute_batch("RELEASE job; COMMIT;").unwrap();
    during
}

#[test]
fn the_writer_keeps_a_jobs_savepoint_journal_in_memory() {
    // 64 changed pages are 256 KiB of journal, past the 64 KiB after which SQLite spills a
    // savepoint journal to a temporary file on a connection that keeps temporary data on disk.
    let dir = tempfile::tempdir().unwrap();
    let before = open_temporary_files();
    let plain = open_connection(&dir.path().join("plain.db")).unwrap();
    assert!(
        temporary_files_during_a_large_job(&plain, 64) > before,
        "the control: a plain connection spills the journal"
    );
    drop(plain);
    let writer = open_writer_connection(&dir.path().join("writer.db")).unwrap();
    assert_eq!(temporary_files_during_a_large_job(&writer, 64), before);
}
