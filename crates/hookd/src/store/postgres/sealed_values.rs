//! SQL of the secret columns as a whole on PostgreSQL: the census of which key sealed each
//! value, and re-sealing batches. A batch is one short transaction that rewrites a value only
//! if it is still what the batch read (compare and set), so a server node's concurrent change
//! wins, and rows are visited in id order like every other writer's.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::{PostgresStore, backend, get, retry_on_deadlock};
use crate::store::StoreError;
use crate::store::sealed_values::{
    ResealBatch, SealedRows, SealedValueStore, SealingCensus, limit_parameter,
};
use crate::store::sealing::{Place, SEALED_HEAD_LEN, Sealing};

#[async_trait]
impl SealedValueStore for PostgresStore {
    async fn sealing_census(&self) -> Result<SealingCensus, StoreError> {
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
            head("convert_from(body, 'UTF8')"),
        );
        let mut census = SealingCensus::default();
        for row in self
            .client()
            .await?
            .query(&sql, &[])
            .await
            .map_err(backend)?
        {
            let head: String = get(&row, 0)?;
            census.count(&head, u64::try_from(get::<i64>(&row, 1)?).unwrap_or(0));
        }
        Ok(census)
    }

    async fn reseal_batch(
        &self,
        rows: SealedRows,
        after: Option<String>,
        limit: usize,
    ) -> Result<ResealBatch, StoreError> {
        let after = after.unwrap_or_default();
        retry_on_deadlock(|| async {
            let mut client = self.client().await?;
            let transaction = client.transaction().await.map_err(backend)?;
            let batch = match rows {
                SealedRows::Endpoints => {
                    reseal_endpoints(&transaction, &self.sealing, &after, limit).await?
                }
                SealedRows::Sources => {
                    let column = &SOURCE_CONFIGS;
                    reseal_keyed(&transaction, &self.sealing, column, &after, limit).await?
                }
                SealedRows::IdempotentAnswers => {
                    let column = &SECRET_ANSWERS;
                    reseal_keyed(&transaction, &self.sealing, column, &after, limit).await?
                }
            };
            transaction.commit().await.map_err(backend)?;
            Ok(batch)
        })
        .await
    }
}

async fn reseal_endpoints(
    c: &impl GenericClient,
    sealing: &Sealing,
    after: &str,
    limit: usize,
) -> Result<ResealBatch, StoreError> {
    let rows = c
        .query(
            "SELECT id, headers, auth FROM endpoint WHERE id > $1 ORDER BY id LIMIT $2",
            &[&after, &limit_parameter(limit)],
        )
        .await
        .map_err(backend)?;
    let mut batch = ResealBatch::default();
    let mut ids = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: String = get(row, 0)?;
        let headers: String = get(row, 1)?;
        let auth: Option<String> = get(row, 2)?;
        reseal_value(
            c,
            sealing,
            &mut batch,
            Place::endpoint_headers(&id),
            "UPDATE endpoint SET headers = $3 WHERE id = $1 AND headers = $2",
            &id,
            &headers,
        )
        .await?;
        if let Some(auth) = auth {
            reseal_value(
                c,
                sealing,
                &mut batch,
                Place::endpoint_auth(&id),
                "UPDATE endpoint SET auth = $3 WHERE id = $1 AND auth = $2",
                &id,
                &auth,
            )
            .await?;
        }
        let secrets = c
            .query(
                "SELECT key FROM endpoint_secret WHERE endpoint_id = $1",
                &[&id],
            )
            .await
            .map_err(backend)?;
        for secret in &secrets {
            let key: String = get(secret, 0)?;
            // Rows of one endpoint with the same key are the same secret: the first visit
            // rewrites them all, the next finds nothing left to rewrite.
            reseal_value(
                c,
                sealing,
                &mut batch,
                Place::endpoint_secret(&id),
                "UPDATE endpoint_secret SET key = $3 WHERE endpoint_id = $1 AND key = $2",
                &id,
                &key,
            )
            .await?;
        }
        ids.push(id);
    }
    batch.ends_after(ids.len(), ids.last(), limit);
    Ok(batch)
}

/// One secret column with one value per row, keyed by a text id: where it is read (`$1` the
/// id after which to start, `$2` the limit; the id and the value as text), where it is written
/// back (as `reseal_value`'s `update`), and the place each value is bound to.
struct KeyedColumn {
    select: &'static str,
    update: &'static str,
    place: for<'a> fn(&'a str) -> Place<'a>,
}

const SOURCE_CONFIGS: KeyedColumn = KeyedColumn {
    select: "SELECT id, config FROM ingest_source WHERE id > $1 ORDER BY id LIMIT $2",
    update: "UPDATE ingest_source SET config = $3 WHERE id = $1 AND config = $2",
    place: |id| Place::source_config(id),
};

/// Answers are JSON text in a `bytea` column: read and compared as text, written back as bytes.
const SECRET_ANSWERS: KeyedColumn = KeyedColumn {
    select: "SELECT key, convert_from(body, 'UTF8') FROM idempotency
             WHERE holds_secrets AND key > $1 ORDER BY key LIMIT $2",
    update: "UPDATE idempotency SET body = convert_to($3, 'UTF8')
             WHERE key = $1 AND body = convert_to($2, 'UTF8')",
    place: |key| Place::idempotent_answer(key),
};

async fn reseal_keyed(
    c: &impl GenericClient,
    sealing: &Sealing,
    column: &KeyedColumn,
    after: &str,
    limit: usize,
) -> Result<ResealBatch, StoreError> {
    let rows = c
        .query(column.select, &[&after, &limit_parameter(limit)])
        .await
        .map_err(backend)?;
    let mut batch = ResealBatch::default();
    let mut ids = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: String = get(row, 0)?;
        let value: String = get(row, 1)?;
        reseal_value(
            c,
            sealing,
            &mut batch,
            (column.place)(&id),
            column.update,
            &id,
            &value,
        )
        .await?;
        ids.push(id);
    }
    batch.ends_after(ids.len(), ids.last(), limit);
    Ok(batch)
}

/// Counts `value` (one secret column of the row `id`) in `batch` and, when it is plain or
/// under an old key, re-seals it at `place` with `update` (`$1` the row, `$2` the value read,
/// `$3` the new one): a compare and set, so a concurrent change by a server node wins.
async fn reseal_value(
    c: &impl GenericClient,
    sealing: &Sealing,
    batch: &mut ResealBatch,
    place: Place<'_>,
    update: &str,
    id: &str,
    value: &str,
) -> Result<(), StoreError> {
    batch.values += 1;
    if sealing.needs_reseal(value) {
        let sealed = sealing.reseal(place, value)?;
        batch.resealed += c
            .execute(update, &[&id, &value, &sealed])
            .await
            .map_err(backend)?;
    }
    Ok(())
}
