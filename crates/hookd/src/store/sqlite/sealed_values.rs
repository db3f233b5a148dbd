//! SQL of the secret columns as a whole on SQLite: the census of which key sealed each value,
//! and re-sealing batches (each one writer job, so one short transaction).

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{Connection, params};

use super::{SqliteStore, backend};
use crate::store::StoreError;
use crate::store::sealed_values::{
    ResealBatch, SealedRows, SealedValueStore, SealingCensus, limit_parameter,
};
use crate::store::sealing::{Place, SEALED_HEAD_LEN, Sealing};

#[async_trait]
impl SealedValueStore for SqliteStore {
    async fn sealing_census(&self) -> Result<SealingCensus, StoreError> {
        self.read(census).await
    }

    async fn reseal_batch(
        &self,
        rows: SealedRows,
        after: Option<String>,
        limit: usize,
    ) -> Result<ResealBatch, StoreError> {
        let sealing = Arc::clone(&self.sealing);
        let after = after.unwrap_or_default();
        self.write(move |c| {
            // SQLite leaves a rewritten value's old bytes in the page's free space; a plain
            // value from before a key was set would stay readable in the file. With
            // secure_delete this connection zeroes them (the setting is the connection's, and
            // only `hookd rotate-key` re-seals).
            c.pragma_update(None, "secure_delete", true)
                .map_err(backend)?;
            match rows {
                SealedRows::Endpoints => reseal_endpoints(c, &sealing, &after, limit),
                SealedRows::Sources => reseal_keyed(c, &sealing, &SOURCE_CONFIGS, &after, limit),
                SealedRows::IdempotentAnswers => {
                    reseal_keyed(c, &sealing, &SECRET_ANSWERS, &after, limit)
                }
            }
        })
        .await
    }
}

fn census(c: &Connection) -> Result<SealingCensus, StoreError> {
    let head = |column: &str| {
        format!(
            "CASE WHEN {column} LIKE 'enc:%' THEN substr({column}, 1, {SEALED_HEAD_LEN}) ELSE '' END"
        )
    };
    let sql = format!(
        "SELECT {}, count(*) FROM endpoint GROUP BY 1
         UNION ALL SELECT {}, count(*) FROM endpoint WHERE auth IS NOT NULL GROUP BY 1
         UNION ALL SELECT {}, count(*) FROM endpoint_secret GROUP BY 1
         UNION ALL SELECT {}, count(*) FROM ingest_source GROUP BY 1
         UNION ALL SELECT {}, count(*) FROM idempotency WHERE holds_secrets GROUP BY 1",
        head("headers"),
        head("auth"),
        head("key"),
        head("config"),
        head("CAST(body AS TEXT)"),
    );
    let mut census = SealingCensus::default();
    let mut statement = c.prepare(&sql).map_err(backend)?;
    let rows = statement
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })
        .map_err(backend)?;
    for row in rows {
        let (head, count) = row.map_err(backend)?;
        census.count(&head, u64::try_from(count).unwrap_or(0));
    }
    Ok(census)
}

fn reseal_endpoints(
    c: &Connection,
    sealing: &Sealing,
    after: &str,
    limit: usize,
) -> Result<ResealBatch, StoreError> {
    let rows: Vec<(String, String, Option<String>)> = c
        .prepare_cached("SELECT id, headers, auth FROM endpoint WHERE id > ?1 ORDER BY id LIMIT ?2")
        .map_err(backend)?
        .query_map(params![after, limit_parameter(limit)], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .map_err(backend)?
        .collect::<Result<_, _>>()
        .map_err(backend)?;
    let mut batch = ResealBatch::default();
    for (id, headers, auth) in &rows {
        let mut reseal = |place, update, value: &str| {
            reseal_value(c, sealing, &mut batch, place, update, id, value)
        };
        reseal(
            Place::endpoint_headers(id),
            "UPDATE endpoint SET headers = ?3 WHERE id = ?1 AND headers = ?2",
            headers,
        )?;
        if let Some(auth) = auth {
            reseal(
                Place::endpoint_auth(id),
                "UPDATE endpoint SET auth = ?3 WHERE id = ?1 AND auth = ?2",
                auth,
            )?;
        }
        let secrets: Vec<(i64, String)> = c
            .prepare_cached("SELECT rowid, key FROM endpoint_secret WHERE endpoint_id = ?1")
            .map_err(backend)?
            .query_map([id], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(backend)?
            .collect::<Result<_, _>>()
            .map_err(backend)?;
        for (rowid, key) in secrets {
            reseal_value(
                c,
                sealing,
                &mut batch,
                Place::endpoint_secret(id),
                "UPDATE endpoint_secret SET key = ?3 WHERE rowid = ?1 AND key = ?2",
                &rowid,
                &key,
            )?;
        }
    }
    batch.ends_after(rows.len(), rows.last().map(|(id, _, _)| id), limit);
    Ok(batch)
}

/// One secret column with one value per row, keyed by a text id: where it is read
/// (`?1` the id after which to start, `?2` the limit; the id and the value as text), where it is
/// written back (as `reseal_value`'s `update`), and the place each value is bound to.
struct KeyedColumn {
    select: &'static str,
    update: &'static str,
    place: for<'a> fn(&'a str) -> Place<'a>,
}

const SOURCE_CONFIGS: KeyedColumn = KeyedColumn {
    select: "SELECT id, config FROM ingest_source WHERE id > ?1 ORDER BY id LIMIT ?2",
    update: "UPDATE ingest_source SET config = ?3 WHERE id = ?1 AND config = ?2",
    place: |id| Place::source_config(id),
};

/// Answers are JSON text in a BLOB column: read and compared as text, written back as bytes.
const SECRET_ANSWERS: KeyedColumn = KeyedColumn {
    select: "SELECT key, CAST(body AS TEXT) FROM idempotency WHERE holds_secrets AND key > ?1
             ORDER BY key LIMIT ?2",
    update: "UPDATE idempotency SET body = CAST(?3 AS BLOB)
             WHERE key = ?1 AND body = CAST(?2 AS BLOB)",
    place: |key| Place::idempotent_answer(key),
};

fn reseal_keyed(
    c: &Connection,
    sealing: &Sealing,
    column: &KeyedColumn,
    after: &str,
    limit: usize,
) -> Result<ResealBatch, StoreError> {
    let rows: Vec<(String, String)> = c
        .prepare_cached(column.select)
        .map_err(backend)?
        .query_map(params![after, limit_parameter(limit)], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .map_err(backend)?
        .collect::<Result<_, _>>()
        .map_err(backend)?;
    let mut batch = ResealBatch::default();
    for (id, value) in &rows {
        reseal_value(
            c,
            sealing,
            &mut batch,
            (column.place)(id),
            column.update,
            id,
            value,
        )?;
    }
    batch.ends_after(rows.len(), rows.last().map(|(id, _)| id), limit);
    Ok(batch)
}

/// Counts `value` (one secret column of the row `key`) in `batch` and, when it is plain or
/// under an old key, re-seals it at `place` with `update` (`?1` the row, `?2` the value read,
/// `?3` the new one): a compare and set, so a concurrent change by the server wins.
fn reseal_value(
    c: &Connection,
    sealing: &Sealing,
    batch: &mut ResealBatch,
    place: Place<'_>,
    update: &str,
    key: &dyn rusqlite::ToSql,
    value: &str,
) -> Result<(), StoreError> {
    batch.values += 1;
    if sealing.needs_reseal(value) {
        let sealed = sealing.reseal(place, value)?;
        batch.resealed += c
            .prepare_cached(update)
            .map_err(backend)?
            .execute(params![key, value, sealed])
            .map_err(backend)? as u64;
    }
    Ok(())
}
