//! PostgreSQL SQL of the inbound gateway: sources (with their internal application, in one
//! transaction) and the receipt of a request, whose record, dedupe key and forwarded message
//! commit in one transaction: the write batcher's (`writer`), shared with concurrent receipts
//! and API messages. The dedupe key's primary key makes a concurrent receipt of the same
//! delivery id wait for the first and then find it (in the same batch: find it at once).

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::applications::{delete_application, insert_application};
use super::rows::{
    Cursor, Parameters, corrupt, from_json, from_micros, page_of_children, to_json, to_micros,
};
use super::{PostgresStore, backend, get, unique};
use crate::domain::inbound::{
    InboundRequestRecord, Source, SourceFields, SourceType, source_app_id,
};
use crate::domain::{ApplicationFields, InboundRequestId, Metadata, SourceId, Timestamp, Uid};
use crate::store::inbound::{InboundStore, NewSource, ReceiptOutcome, ReceivedRequest};
use crate::store::paging::Children;
use crate::store::sealing::{Place, Sealing};
use crate::store::stored::CorruptValue;
use crate::store::{Page, PageRequest, StoreError};

mod receipts;

pub(super) use receipts::receive;
use receipts::{REQUEST_COLUMNS, purge_before, request_from_row};

const SOURCE_COLUMNS: &str = "id, uid, name, type, config, metadata, token, created_at, updated_at";
const UID_TAKEN: &str = "a source with this uid already exists";

#[derive(Debug, thiserror::Error)]
#[error("unknown source type {0:?}")]
struct UnknownSourceType(String);

fn source_from_row(sealing: &Sealing, row: &Row) -> Result<Source, StoreError> {
    let id: String = get(row, 0)?;
    let uid: Option<String> = get(row, 1)?;
    let type_name: String = get(row, 3)?;
    let config = sealing.open(Place::source_config(&id), &get::<String>(row, 4)?)?;
    Ok(Source {
        fields: SourceFields {
            uid: uid
                .as_deref()
                .map(Uid::parse)
                .transpose()
                .map_err(corrupt)?,
            name: get(row, 2)?,
            source_type: SourceType::parse(&type_name).ok_or_else(|| {
                CorruptValue::new("source type", UnknownSourceType(type_name.clone()))
            })?,
            config: from_json(&config)?,
            metadata: from_json::<Metadata>(&get::<String>(row, 5)?)?,
        },
        id: SourceId::from_trusted(id),
        token: get(row, 6)?,
        created_at: from_micros(get(row, 7)?),
        updated_at: from_micros(get(row, 8)?),
    })
}

async fn insert_source(
    c: &impl GenericClient,
    sealing: &Sealing,
    new: NewSource,
) -> Result<Source, StoreError> {
    let app = ApplicationFields {
        uid: None,
        name: format!("inbound source {}", new.id),
        throttle_rate: None,
        metadata: Metadata::new(),
    };
    insert_application(c, source_app_id(&new.id), app, new.now).await?;
    let statement = c
        .prepare_cached(
            "INSERT INTO ingest_source (id, uid, name, type, config, metadata, token, created_at,
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .await
        .map_err(backend)?;
    c.execute(
        &statement,
        &[
            &new.id.as_str(),
            &new.fields.uid.as_ref().map(Uid::as_str),
            &new.fields.name,
            &new.fields.source_type.as_str(),
            &sealing.seal(
                Place::source_config(new.id.as_str()),
                &to_json(&new.fields.config)?,
            ),
            &to_json(&new.fields.metadata)?,
            &new.token,
            &to_micros(new.now),
        ],
    )
    .await
    .map_err(unique(UID_TAKEN))?;
    Ok(Source {
        id: new.id,
        fields: new.fields,
        token: new.token,
        created_at: new.now,
        updated_at: new.now,
    })
}

async fn find_source(
    c: &impl GenericClient,
    sealing: &Sealing,
    id_or_uid: &str,
) -> Result<Option<Source>, StoreError> {
    let statement = c
        .prepare_cached(&format!(
            "SELECT {SOURCE_COLUMNS} FROM ingest_source WHERE id = $1
             UNION ALL SELECT {SOURCE_COLUMNS} FROM ingest_source WHERE uid = $1 LIMIT 1"
        ))
        .await
        .map_err(backend)?;
    c.query_opt(&statement, &[&id_or_uid])
        .await
        .map_err(backend)?
        .as_ref()
        .map(|row| source_from_row(sealing, row))
        .transpose()
}

#[async_trait]
impl InboundStore for PostgresStore {
    async fn create_source(&self, source: NewSource) -> Result<Source, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        let source = insert_source(&transaction, &self.sealing, source).await?;
        transaction.commit().await.map_err(backend)?;
        Ok(source)
    }

    async fn get_source(&self, id_or_uid: &str) -> Result<Option<Source>, StoreError> {
        find_source(&self.client().await?, &self.sealing, id_or_uid).await
    }

    async fn find_source_by_token(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<Option<Source>, StoreError> {
        let c = self.client().await?;
        let statement = c
            .prepare_cached(&format!(
                "SELECT {SOURCE_COLUMNS} FROM ingest_source WHERE token = $1
                 UNION ALL SELECT {SOURCE_COLUMNS} FROM ingest_source
                 WHERE previous_token = $1 AND previous_token_until > $2 LIMIT 1"
            ))
            .await
            .map_err(backend)?;
        c.query_opt(&statement, &[&token, &to_micros(now)])
            .await
            .map_err(backend)?
            .as_ref()
            .map(|row| source_from_row(&self.sealing, row))
            .transpose()
    }

    async fn list_sources(&self, page: PageRequest) -> Result<Page<Source>, StoreError> {
        let mut parameters = Parameters::default();
        let cursor = Cursor::new("id", &page, &mut parameters);
        let sql = format!(
            "SELECT {SOURCE_COLUMNS} FROM ingest_source WHERE TRUE {} {} LIMIT {}",
            cursor.condition, cursor.order_by, cursor.fetch
        );
        let rows = self
            .client()
            .await?
            .query(&sql, &parameters.as_refs())
            .await
            .map_err(backend)?
            .iter()
            .map(|row| source_from_row(&self.sealing, row))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(cursor.page(rows, |source| source.id.to_string()))
    }

    async fn update_source(
        &self,
        id: &SourceId,
        fields: SourceFields,
        now: Timestamp,
    ) -> Result<Option<Source>, StoreError> {
        let c = self.client().await?;
        let statement = c
            .prepare_cached(
                "UPDATE ingest_source SET uid = $2, name = $3, type = $4, config = $5,
                 metadata = $6, updated_at = $7 WHERE id = $1",
            )
            .await
            .map_err(backend)?;
        let changed = c
            .execute(
                &statement,
                &[
                    &id.as_str(),
                    &fields.uid.as_ref().map(Uid::as_str),
                    &fields.name,
                    &fields.source_type.as_str(),
                    &self
                        .sealing
                        .seal(Place::source_config(id.as_str()), &to_json(&fields.config)?),
                    &to_json(&fields.metadata)?,
                    &to_micros(now),
                ],
            )
            .await
            .map_err(unique(UID_TAKEN))?;
        if changed == 0 {
            return Ok(None);
        }
        find_source(&c, &self.sealing, id.as_str()).await
    }

    async fn delete_source(&self, id: &SourceId) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        let statement = transaction
            .prepare_cached("DELETE FROM ingest_source WHERE id = $1")
            .await
            .map_err(backend)?;
        let deleted = transaction
            .execute(&statement, &[&id.as_str()])
            .await
            .map_err(backend)?;
        delete_application(&transaction, &source_app_id(id)).await?;
        transaction.commit().await.map_err(backend)?;
        Ok(deleted > 0)
    }

    async fn rotate_source_token(
        &self,
        id: &SourceId,
        token: String,
        previous_valid_until: Timestamp,
        now: Timestamp,
    ) -> Result<Option<Source>, StoreError> {
        let c = self.client().await?;
        let statement = c
            .prepare_cached(
                "UPDATE ingest_source SET previous_token = token, previous_token_until = $3,
                 token = $2, updated_at = $4 WHERE id = $1",
            )
            .await
            .map_err(backend)?;
        let changed = c
            .execute(
                &statement,
                &[
                    &id.as_str(),
                    &token,
                    &to_micros(previous_valid_until),
                    &to_micros(now),
                ],
            )
            .await
            .map_err(backend)?;
        if changed == 0 {
            return Ok(None);
        }
        find_source(&c, &self.sealing, id.as_str()).await
    }

    async fn receive_inbound_request(
        &self,
        request: ReceivedRequest,
    ) -> Result<ReceiptOutcome, StoreError> {
        // Through the write batcher, with the API's messages: answered after its commit.
        let (outcome, deliveries) = self.writer.receive(request).await?;
        self.committed(deliveries);
        Ok(outcome)
    }

    async fn list_inbound_requests(
        &self,
        source_id: &SourceId,
        page: PageRequest,
    ) -> Result<Page<InboundRequestRecord>, StoreError> {
        let children = Children {
            columns: REQUEST_COLUMNS,
            table: "ingest_request",
            parent_column: "source_id",
        };
        let client = self.client().await?;
        let key = |request: &InboundRequestRecord| request.id.to_string();
        page_of_children(
            &client,
            children,
            source_id.as_str(),
            &page,
            request_from_row,
            key,
        )
        .await
    }

    async fn purge_inbound_before(
        &self,
        requests_before: Timestamp,
        keys_before: Timestamp,
        limit: usize,
    ) -> Result<usize, StoreError> {
        purge_before(&self.client().await?, requests_before, keys_before, limit).await
    }

    async fn get_inbound_request(
        &self,
        source_id: &SourceId,
        id: &InboundRequestId,
    ) -> Result<Option<InboundRequestRecord>, StoreError> {
        let c = self.client().await?;
        let statement = c
            .prepare_cached(&format!(
                "SELECT {REQUEST_COLUMNS} FROM ingest_request WHERE source_id = $1 AND id = $2"
            ))
            .await
            .map_err(backend)?;
        c.query_opt(&statement, &[&source_id.as_str(), &id.as_str()])
            .await
            .map_err(backend)?
            .as_ref()
            .map(request_from_row)
            .transpose()
    }
}
