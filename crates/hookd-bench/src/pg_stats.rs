//! PostgreSQL statements per delivery, counted by the server's `pg_stat_statements` (issue 15:
//! "the PostgreSQL round trips per delivery (claim, record, release)").
//!
//! With `--database-url`, the benchmark creates the extension in the bench database (the server
//! must preload it: `shared_preload_libraries = 'pg_stat_statements'`). Each delivery-type case
//! resets the database's statistics right before its load and reads them right after its last
//! receipt. The reset and the read are limited to the bench database (`dbid`), so other databases
//! on the server are neither reset nor counted. The benchmark's own statements inside that window
//! (the reset itself, the backlog's schema size) are recognised by their text
//! (`BENCH_QUERY_MARKERS`) and left out; what remains is hookd's. Utility statements (`BEGIN`,
//! `COMMIT`, `ROLLBACK`, `SET`...) are tracked too (`pg_stat_statements.track_utility`, on by
//! default) and each is a round trip of its own, so they are counted, and also shown apart.
//! Statements run inside others (foreign-key checks of triggers, functions) are tracked only with
//! `pg_stat_statements.track = all`; they are not round trips, so only `toplevel` statements are
//! counted and the nested calls are shown apart (the column needs PostgreSQL 14 or later).
//!
//! Nothing here is invented when the extension is missing: the case then says why there is no
//! figure.

use anyhow::Context;
use serde::Serialize;
use tokio_postgres::NoTls;

/// Text found in every statement the benchmark itself runs while a window is open.
pub const BENCH_QUERY_MARKERS: [&str; 2] = ["pg_stat_statements", "pg_total_relation_size"];
/// How many statements, by calls, each case lists.
const TOP_STATEMENTS: usize = 10;
/// Query text in the top list is cut to this many characters.
const QUERY_TEXT_CHARS: usize = 100;

/// A connection to the bench database that can reset and read `pg_stat_statements`.
pub struct PgStatements {
    client: tokio_postgres::Client,
}

/// What one case's window counted.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StatementCounts {
    /// Calls of hookd's top-level statements (round trips), utility statements included.
    pub calls: u64,
    /// Calls of statements nested in hookd's (trigger checks, functions): not round trips.
    pub nested_calls: u64,
    /// Of those, `BEGIN` / `START TRANSACTION` / `COMMIT` / `ROLLBACK` / `END`.
    pub transaction_control_calls: u64,
    /// Deliveries of the case (the divisor).
    pub deliveries: u64,
    /// `calls / deliveries`.
    pub per_delivery: Option<f64>,
    /// `(calls - transaction_control_calls) / deliveries`.
    pub per_delivery_without_transaction_control: Option<f64>,
    /// The most called statements, most first.
    pub top: Vec<TopStatement>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TopStatement {
    pub calls: u64,
    /// Milliseconds the server spent executing it over all calls (`total_exec_time`): where a
    /// statement waits on locks, this is where it shows.
    pub total_exec_ms: f64,
    /// Normalised text (constants are `$n`), whitespace collapsed and shortened.
    pub query: String,
}

impl PgStatements {
    /// Connects to `server_url`'s database and makes sure the extension can be read; the error
    /// says why not (typically: not in `shared_preload_libraries`).
    pub async fn open(server_url: &str) -> anyhow::Result<Self> {
        let (client, connection) = tokio_postgres::connect(server_url, NoTls)
            .await
            .context("connecting to --database-url")?;
        tokio::spawn(connection);
        client
            .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            .await
            .context("CREATE EXTENSION pg_stat_statements")?;
        client
            .query_one(
                "SELECT count(*) FROM pg_stat_statements WHERE toplevel",
                &[],
            )
            .await
            .context(
                "reading pg_stat_statements (is it in shared_preload_libraries? \
                 is the server PostgreSQL 14 or later?)",
            )?;
        Ok(PgStatements { client })
    }

    /// Forgets the bench database's statistics (other databases keep theirs).
    pub async fn reset(&self) -> anyhow::Result<()> {
        self.client
            .execute(
                "SELECT pg_stat_statements_reset(0, \
                 (SELECT oid FROM pg_database WHERE datname = current_database()), 0)",
                &[],
            )
            .await
            .context("pg_stat_statements_reset")?;
        Ok(())
    }

    /// hookd's statements in the bench database since the last reset, per delivery.
    pub async fn read(&self, deliveries: u64) -> anyhow::Result<StatementCounts> {
        let rows = self
            .client
            .query(
                "SELECT query, calls, toplevel, total_exec_time FROM pg_stat_statements \
                 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
                &[],
            )
            .await
            .context("reading pg_stat_statements")?;
        let rows: Vec<Row> = rows
            .iter()
            .map(|row| {
                let calls: i64 = row.get(1);
                Row {
                    query: row.get(0),
                    calls: u64::try_from(calls).unwrap_or(0),
                    toplevel: row.get(2),
                    total_exec_ms: row.get(3),
                }
            })
            .collect();
        Ok(summarize(&rows, deliveries))
    }
}

/// One row of `pg_stat_statements`, as far as the counts need it.
#[derive(Debug, Clone)]
pub struct Row {
    pub query: String,
    pub calls: u64,
    pub toplevel: bool,
    pub total_exec_ms: f64,
}

/// Counts the rows that are hookd's, per delivery, with the top statements.
pub fn summarize(rows: &[Row], deliveries: u64) -> StatementCounts {
    let hookd_rows = rows.iter().filter(|row| {
        !BENCH_QUERY_MARKERS
            .iter()
            .any(|marker| row.query.contains(marker))
    });
    let nested_calls = hookd_rows
        .clone()
        .filter(|row| !row.toplevel)
        .map(|row| row.calls)
        .sum();
    let mut hookd: Vec<&Row> = hookd_rows.filter(|row| row.toplevel).collect();
    let calls = hookd.iter().map(|row| row.calls).sum();
    let transaction_control_calls = hookd
        .iter()
        .filter(|row| is_transaction_control(&row.query))
        .map(|row| row.calls)
        .sum();
    let per = |count: u64| (deliveries > 0).then(|| count as f64 / deliveries as f64);
    hookd.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.query.cmp(&b.query)));
    StatementCounts {
        calls,
        nested_calls,
        transaction_control_calls,
        deliveries,
        per_delivery: per(calls),
        per_delivery_without_transaction_control: per(calls - transaction_control_calls),
        top: hookd
            .iter()
            .take(TOP_STATEMENTS)
            .map(|row| TopStatement {
                calls: row.calls,
                total_exec_ms: row.total_exec_ms,
                query: shorten(&row.query),
            })
            .collect(),
    }
}

/// `BEGIN`, `START TRANSACTION`, `COMMIT`, `END`, `ROLLBACK` (with or without options).
fn is_transaction_control(query: &str) -> bool {
    let first = query
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .trim_end_matches(';')
        .to_ascii_uppercase();
    matches!(
        first.as_str(),
        "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK"
    )
}

/// Whitespace collapsed to single spaces, cut to `QUERY_TEXT_CHARS` characters with `…`.
fn shorten(query: &str) -> String {
    let collapsed = query.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= QUERY_TEXT_CHARS {
        return collapsed;
    }
    let mut short: String = collapsed.chars().take(QUERY_TEXT_CHARS).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(list: &[(&str, u64)]) -> Vec<Row> {
        list.iter()
            .map(|(query, calls)| Row {
                query: (*query).to_owned(),
                calls: *calls,
                toplevel: true,
                total_exec_ms: 1.0,
            })
            .collect()
    }

    #[test]
    fn the_benchmarks_own_statements_are_left_out_and_transactions_counted_apart() {
        let mut rows = rows(&[
            ("BEGIN", 100),
            ("COMMIT", 100),
            ("UPDATE delivery\n   SET status = $1 WHERE id = $2", 200),
            ("SELECT pg_stat_statements_reset(0, (SELECT oid ...), 0)", 1),
            ("SELECT coalesce(sum(pg_total_relation_size(c.oid)), $1)", 1),
            ("rollback", 5),
            (
                "SELECT 1 FROM ONLY endpoint x WHERE id = $1 FOR KEY SHARE OF x",
                300,
            ),
        ]);
        rows.last_mut().unwrap().toplevel = false;
        let counts = summarize(&rows, 400);
        assert_eq!(counts.calls, 405);
        assert_eq!(counts.nested_calls, 300);
        assert_eq!(counts.transaction_control_calls, 205);
        assert_eq!(counts.per_delivery, Some(405.0 / 400.0));
        assert_eq!(counts.per_delivery_without_transaction_control, Some(0.5));
        assert_eq!(counts.top[0].calls, 200);
        assert_eq!(
            counts.top[0].query,
            "UPDATE delivery SET status = $1 WHERE id = $2"
        );
        assert_eq!(counts.top.len(), 4);
        assert!(
            counts
                .top
                .iter()
                .all(|statement| !statement.query.contains("pg_stat"))
        );
    }

    #[test]
    fn no_deliveries_gives_no_ratio_and_the_top_list_is_bounded() {
        let many: Vec<Row> = (0..30)
            .map(|n| Row {
                query: format!("SELECT {n}"),
                calls: n,
                toplevel: true,
                total_exec_ms: 1.0,
            })
            .collect();
        let counts = summarize(&many, 0);
        assert_eq!(counts.per_delivery, None);
        assert_eq!(counts.top.len(), TOP_STATEMENTS);
        assert_eq!(counts.top[0].calls, 29);
    }

    #[test]
    fn long_query_text_is_shortened() {
        let long = format!("SELECT {}", "x, ".repeat(100));
        let short = shorten(&long);
        assert_eq!(short.chars().count(), QUERY_TEXT_CHARS + 1);
        assert!(short.ends_with('…'));
        assert!(is_transaction_control("START TRANSACTION ISOLATION LEVEL"));
        assert!(!is_transaction_control("SELECT begin FROM t"));
    }
}
