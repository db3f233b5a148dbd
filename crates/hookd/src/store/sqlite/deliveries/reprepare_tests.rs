//! The statements run once per claim or per delivery are planned once: running one again with
//! new values does not make SQLite parse and plan it again. Without the planner stability
//! guarantee that `open_connection` turns on, SQLite 3.54 plans from some bound values (a
//! `LIMIT ?`, whether an `x = ?` is 0 or 1, a value compared with a partial index's `WHERE`) and
//! re-prepares the statement whenever another value is bound: most claims re-parsed their reads.

use rusqlite::config::DbConfig;
use rusqlite::types::Value;
use rusqlite::{Connection, StatementStatus, params_from_iter};

use super::super::{migrate, open_connection};
use super::claim::reads::{DUE_DELIVERIES_SQL, DUE_ENDPOINTS_SQL, ENDPOINT_ROW_SQL, HEAD_SQL};
use super::leases::{RELEASE_ALL_SQL, RELEASE_SQL, RENEW_SQL, REQUEUE_ALL_SQL};
use super::{EARLIEST_DUE_SQL, MAKE_DUE_NOW_SQL, ORDERED_HEAD_DUE_SQL, PARK_ENDPOINT_SQL};

const RUNS: i64 = 4;

/// How many times SQLite re-prepared `sql` over `RUNS` runs, each binding new values to every
/// parameter (from 0 up, so that they cross from the small integers 0 and 1 to larger ones).
fn reprepares(c: &Connection, sql: &str) -> i32 {
    let mut statement = c.prepare(sql).unwrap();
    let count = statement.parameter_count();
    for run in 0..RUNS {
        let values = (0..count).map(|i| Value::Integer(run + i as i64));
        let mut rows = statement.query(params_from_iter(values)).unwrap();
        while rows.next().unwrap().is_some() {}
    }
    statement.get_status(StatementStatus::RePrepare)
}

fn migrated() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let c = open_connection(&dir.path().join("hookd.db")).unwrap();
    migrate(&c).unwrap();
    (dir, c)
}

fn hot_statements() -> [(&'static str, &'static str); 13] {
    [
        ("due_endpoints", DUE_ENDPOINTS_SQL),
        ("endpoint_row", &ENDPOINT_ROW_SQL),
        ("due_deliveries", &DUE_DELIVERIES_SQL),
        ("ordered_head", &HEAD_SQL),
        ("ordered_head_due", &ORDERED_HEAD_DUE_SQL),
        ("earliest_due", &EARLIEST_DUE_SQL),
        ("release", &RELEASE_SQL),
        ("renew_leases", &RENEW_SQL),
        ("make_due_now", &MAKE_DUE_NOW_SQL),
        ("park_endpoint", &PARK_ENDPOINT_SQL),
        ("release_all", &RELEASE_ALL_SQL),
        ("requeue_all", &REQUEUE_ALL_SQL),
        (
            "bound_status",
            "SELECT MIN(next_attempt_at) FROM delivery WHERE endpoint_id = ?1 AND status = ?2",
        ),
    ]
}

#[test]
fn without_the_planner_stability_guarantee_sqlite_reprepares_on_new_values() {
    // The check below would pass vacuously if SQLite never re-prepared: this is what it catches.
    let (_dir, c) = migrated();
    c.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, false)
        .unwrap();
    for name in ["due_endpoints", "due_deliveries", "bound_status"] {
        let (_, sql) = hot_statements()
            .into_iter()
            .find(|(statement, _)| *statement == name)
            .unwrap();
        assert!(
            reprepares(&c, sql) >= 1,
            "{name} was never re-prepared without the guarantee"
        );
    }
}

#[test]
fn hot_delivery_statements_are_not_reprepared() {
    let (_dir, c) = migrated();
    let counts: Vec<(&str, i32)> = hot_statements()
        .iter()
        .map(|(name, sql)| (*name, reprepares(&c, sql)))
        .collect();
    let reprepared: Vec<_> = counts.iter().filter(|(_, count)| *count != 0).collect();
    assert!(reprepared.is_empty(), "re-prepared: {reprepared:?}");
}

#[test]
fn with_the_guarantee_the_delivery_statements_still_use_their_indexes() {
    // The guarantee plans without bound values, so a status bound as a parameter could not use
    // the partial indexes `WHERE status = 1`: the statements above carry it as a literal. No
    // plan may read the whole delivery table (a backlog of a million rows).
    let (_dir, c) = migrated();
    for (name, sql) in hot_statements() {
        if name == "bound_status" {
            continue;
        }
        let plan = query_plan(&c, sql);
        let full_scans: Vec<&String> = plan
            .iter()
            .filter(|step| {
                step.starts_with("SCAN") && (step.contains(" d") || step.contains("delivery"))
            })
            .filter(|step| !step.contains("USING"))
            .collect();
        assert!(
            full_scans.is_empty(),
            "{name} reads the whole delivery table: {plan:?}"
        );
    }
    let bound = hot_statements()
        .into_iter()
        .find(|(name, _)| *name == "bound_status")
        .unwrap()
        .1;
    let plan = query_plan(&c, bound).join("; ");
    assert!(
        !plan.contains("delivery_endpoint"),
        "the control: a bound status cannot use a partial index under the guarantee: {plan}"
    );
}

/// The steps of `sql`'s query plan, its parameters left unbound.
fn query_plan(c: &Connection, sql: &str) -> Vec<String> {
    let mut statement = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let mut rows = statement.raw_query();
    let mut steps = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        steps.push(row.get::<_, String>(3).unwrap());
    }
    steps
}
