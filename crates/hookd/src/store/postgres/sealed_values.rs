//! SQL of the secret columns as a whole on PostgreSQL: the census of which key sealed each
//! value, and re-sealing batches. A batch is one short transaction that rewrites a value only
//! if it is still what the batch read (compare and set), so a server node's concurrent change
//! wins, and rows are visited in id order like every other writer's.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::{PostgresStore, backend, get, retry_on_deadlock};
use crate::store::StoreError;
use crate::store::sealed_values::{ResealBatch, SealedRows, SealedValueStore, SealingCensus};
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
             UNION ALL SELECT {}, count(*) FROM ingest_source GROUP BY 1",
            head("headers"),
            head("auth"),
            head("key"),
            head("config"),
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
                    reseal_sources(&transaction, &self.sealing, &after, limit).await?
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
        batch.values += 1;
        if sealing.needs_reseal(&headers) {
            let sealed = sealing.reseal(Place::endpoint_headers(&id), &headers)?;
            batch.resealed += c
                .execute(
                    "UPDATE endpoint SET headers = $3 WHERE id = $1 AND headers = $2",
                    &[&id, &headers, &sealed],
                )
                .await
                .map_err(backend)?;
        }
        if let Some(auth) = auth {
            batch.values += 1;
            if sealing.needs_reseal(&auth) {
                let sealed = sealing.reseal(Place::endpoint_auth(&id), &auth)?;
                batch.resealed += c
                    .execute(
                        "UPDATE endpoint SET auth = $3 WHERE id = $1 AND auth = $2",
                        &[&id, &auth, &sealed],
                    )
                    .await
                    .map_err(backend)?;
            }
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
            batch.values += 1;
            if sealing.needs_reseal(&key) {
                let sealed = sealing.reseal(Place::endpoint_secret(&id), &key)?;
                // Rows of one endpoint with the same key are the same secret: the first visit
                // rewrites them all, the next finds nothing left to rewrite.
                batch.resealed += c
                    .execute(
                        "UPDATE endpoint_secret SET key = $3 WHERE endpoint_id = $1 AND key = $2",
                        &[&id, &key, &sealed],
                    )
                    .await
                    .map_err(backend)?;
            }
        }
        ids.push(id);
    }
    batch.last_id = next_after(&ids, limit);
    Ok(batch)
}

async fn reseal_sources(
    c: &impl GenericClient,
    sealing: &Sealing,
    after: &str,
    limit: usize,
) -> Result<ResealBatch, StoreError> {
    let rows = c
        .query(
            "SELECT id, config FROM ingest_source WHERE id > $1 ORDER BY id LIMIT $2",
            &[&after, &limit_parameter(limit)],
        )
        .await
        .map_err(backend)?;
    let mut batch = ResealBatch::default();
    let mut ids = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: String = get(row, 0)?;
        let config: String = get(row, 1)?;
        batch.values += 1;
        if sealing.needs_reseal(&config) {
            let sealed = sealing.reseal(Place::source_config(&id), &config)?;
            batch.resealed += c
                .execute(
                    "UPDATE ingest_source SET config = $3 WHERE id = $1 AND config = $2",
                    &[&id, &config, &sealed],
                )
                .await
                .map_err(backend)?;
        }
        ids.push(id);
    }
    batch.last_id = next_after(&ids, limit);
    Ok(batch)
}

fn limit_parameter(limit: usize) -> i64 {
    i64::try_from(limit.max(1)).unwrap_or(i64::MAX)
}

/// Where the next batch starts: after the last row, unless this batch was the last.
fn next_after(ids: &[String], limit: usize) -> Option<String> {
    if ids.len() < limit.max(1) {
        return None;
    }
    ids.last().cloned()
}
