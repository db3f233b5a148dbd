//! SQLite SQL of the inbound gateway: sources (with their internal application, in the same
//! writer job) and the receipt of a request, whose record, dedupe key and forwarded message
//! commit in one savepoint of one group commit.

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::applications::{delete_application, insert_application};
use super::rows::{Cursor, corrupt, from_json, from_micros, to_json, to_micros};
use super::unique;
use super::{SqliteStore, backend};
use crate::domain::inbound::{
    InboundRequestRecord, Source, SourceFields, SourceType, source_app_id,
};
use crate::domain::{ApplicationFields, InboundRequestId, Metadata, SourceId, Timestamp, Uid};
use crate::store::inbound::{InboundStore, NewSource, ReceiptOutcome, ReceivedRequest};
use crate::store::sealing::{Place, Sealing};
use crate::store::stored::CorruptValue;
use crate::store::{Page, PageRequest, StoreError};

mod receipts;

use receipts::{find_request, list_requests, purge_before, receive};

const SOURCE_COLUMNS: &str = "id, uid, name, type, config, metadata, token, created_at, updated_at";
const UID_TAKEN: &str = "a source with this uid already exists";

#[derive(Debug, thiserror::Error)]
#[error("unknown source type {0:?}")]
struct UnknownSourceType(String);

fn source_from_row(
    sealing: &Sealing,
    row: &Row<'_>,
) -> rusqlite::Result<Result<Source, StoreError>> {
    let uid: Option<String> = row.get(1)?;
    let type_name: String = row.get(3)?;
    let config: String = row.get(4)?;
    let metadata: String = row.get(5)?;
    Ok((|| {
        let id: String = row.get(0).map_err(backend)?;
        let config = sealing.open(Place::source_config(&id), &config)?;
        Ok(Source {
            id: SourceId::from_trusted(id),
            fields: SourceFields {
                uid: uid
                    .as_deref()
                    .map(Uid::parse)
                    .transpose()
                    .map_err(corrupt)?,
                name: row.get(2).map_err(backend)?,
                source_type: SourceType::parse(&type_name).ok_or_else(|| {
                    CorruptValue::new("source type", UnknownSourceType(type_name.clone()))
                })?,
                config: from_json(&config)?,
                metadata: from_json::<Metadata>(&metadata)?,
            },
            token: row.get(6).map_err(backend)?,
            created_at: from_micros(row.get(7).map_err(backend)?),
            updated_at: from_micros(row.get(8).map_err(backend)?),
        })
    })())
}

fn insert_source(c: &Connection, sealing: &Sealing, new: NewSource) -> Result<Source, StoreError> {
    let app = ApplicationFields {
        uid: None,
        name: format!("inbound source {}", new.id),
        throttle_rate: None,
        metadata: Metadata::new(),
    };
    insert_application(c, source_app_id(&new.id), app, new.now)?;
    let now = to_micros(new.now);
    c.prepare_cached(
        "INSERT INTO ingest_source (id, uid, name, type, config, metadata, token, created_at,
         updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
    )
    .map_err(backend)?
    .execute(params![
        new.id.as_str(),
        new.fields.uid.as_ref().map(Uid::as_str),
        new.fields.name,
        new.fields.source_type.as_str(),
        sealing.seal(
            Place::source_config(new.id.as_str()),
            &to_json(&new.fields.config)?
        ),
        to_json(&new.fields.metadata)?,
        new.token,
        now,
    ])
    .map_err(unique(UID_TAKEN))?;
    Ok(Source {
        id: new.id,
        fields: new.fields,
        token: new.token,
        created_at: new.now,
        updated_at: new.now,
    })
}

fn find_source(
    c: &Connection,
    sealing: &Sealing,
    id_or_uid: &str,
) -> Result<Option<Source>, StoreError> {
    c.prepare_cached(&format!(
        "SELECT {SOURCE_COLUMNS} FROM ingest_source WHERE id = ?1
         UNION ALL SELECT {SOURCE_COLUMNS} FROM ingest_source WHERE uid = ?1 LIMIT 1"
    ))
    .map_err(backend)?
    .query_row([id_or_uid], |row| source_from_row(sealing, row))
    .optional()
    .map_err(backend)?
    .transpose()
}

fn find_source_by_token(
    c: &Connection,
    sealing: &Sealing,
    token: &str,
    now: Timestamp,
) -> Result<Option<Source>, StoreError> {
    c.prepare_cached(&format!(
        "SELECT {SOURCE_COLUMNS} FROM ingest_source WHERE token = ?1
         UNION ALL SELECT {SOURCE_COLUMNS} FROM ingest_source
         WHERE previous_token = ?1 AND previous_token_until > ?2 LIMIT 1"
    ))
    .map_err(backend)?
    .query_row(params![token, to_micros(now)], |row| {
        source_from_row(sealing, row)
    })
    .optional()
    .map_err(backend)?
    .transpose()
}

fn list_sources(
    c: &Connection,
    sealing: &Sealing,
    page: &PageRequest,
) -> Result<Page<Source>, StoreError> {
    let cursor = Cursor::new("id", page);
    let sql = format!(
        "SELECT {SOURCE_COLUMNS} FROM ingest_source WHERE 1 = 1 {} {} LIMIT {}",
        cursor.condition, cursor.order_by, cursor.fetch
    );
    let mut statement = c.prepare_cached(&sql).map_err(backend)?;
    let rows = statement
        .query_map(rusqlite::params_from_iter(cursor.parameter.iter()), |row| {
            source_from_row(sealing, row)
        })
        .map_err(backend)?
        .map(|row| row.map_err(backend)?)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(cursor.page(rows, |source| source.id.to_string()))
}

fn update_source(
    c: &Connection,
    sealing: &Sealing,
    id: &SourceId,
    fields: SourceFields,
    now: Timestamp,
) -> Result<Option<Source>, StoreError> {
    let changed = c
        .prepare_cached(
            "UPDATE ingest_source SET uid = ?2, name = ?3, type = ?4, config = ?5, metadata = ?6,
             updated_at = ?7 WHERE id = ?1",
        )
        .map_err(backend)?
        .execute(params![
            id.as_str(),
            fields.uid.as_ref().map(Uid::as_str),
            fields.name,
            fields.source_type.as_str(),
            sealing.seal(Place::source_config(id.as_str()), &to_json(&fields.config)?),
            to_json(&fields.metadata)?,
            to_micros(now),
        ])
        .map_err(unique(UID_TAKEN))?;
    if changed == 0 {
        return Ok(None);
    }
    find_source(c, sealing, id.as_str())
}

fn delete_source(c: &Connection, id: &SourceId) -> Result<bool, StoreError> {
    let deleted = c
        .prepare_cached("DELETE FROM ingest_source WHERE id = ?1")
        .map_err(backend)?
        .execute([id.as_str()])
        .map_err(backend)?;
    delete_application(c, &source_app_id(id))?;
    Ok(deleted > 0)
}

fn rotate_token(
    c: &Connection,
    sealing: &Sealing,
    id: &SourceId,
    token: &str,
    previous_valid_until: Timestamp,
    now: Timestamp,
) -> Result<Option<Source>, StoreError> {
    let changed = c
        .prepare_cached(
            "UPDATE ingest_source SET previous_token = token, previous_token_until = ?3,
             token = ?2, updated_at = ?4 WHERE id = ?1",
        )
        .map_err(backend)?
        .execute(params![
            id.as_str(),
            token,
            to_micros(previous_valid_until),
            to_micros(now)
        ])
        .map_err(backend)?;
    if changed == 0 {
        return Ok(None);
    }
    find_source(c, sealing, id.as_str())
}

#[async_trait]
impl InboundStore for SqliteStore {
    async fn create_source(&self, source: NewSource) -> Result<Source, StoreError> {
        let sealing = Arc::clone(&self.sealing);
        self.write(move |c| insert_source(c, &sealing, source))
            .await
    }

    async fn get_source(&self, id_or_uid: &str) -> Result<Option<Source>, StoreError> {
        let (key, sealing) = (id_or_uid.to_owned(), Arc::clone(&self.sealing));
        self.read(move |c| find_source(c, &sealing, &key)).await
    }

    async fn find_source_by_token(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<Option<Source>, StoreError> {
        let (token, sealing) = (token.to_owned(), Arc::clone(&self.sealing));
        self.read(move |c| find_source_by_token(c, &sealing, &token, now))
            .await
    }

    async fn list_sources(&self, page: PageRequest) -> Result<Page<Source>, StoreError> {
        let sealing = Arc::clone(&self.sealing);
        self.read(move |c| list_sources(c, &sealing, &page)).await
    }

    async fn update_source(
        &self,
        id: &SourceId,
        fields: SourceFields,
        now: Timestamp,
    ) -> Result<Option<Source>, StoreError> {
        let (id, sealing) = (id.clone(), Arc::clone(&self.sealing));
        self.write(move |c| update_source(c, &sealing, &id, fields, now))
            .await
    }

    async fn delete_source(&self, id: &SourceId) -> Result<bool, StoreError> {
        let id = id.clone();
        self.write(move |c| delete_source(c, &id)).await
    }

    async fn rotate_source_token(
        &self,
        id: &SourceId,
        token: String,
        previous_valid_until: Timestamp,
        now: Timestamp,
    ) -> Result<Option<Source>, StoreError> {
        let (id, sealing) = (id.clone(), Arc::clone(&self.sealing));
        self.write(move |c| rotate_token(c, &sealing, &id, &token, previous_valid_until, now))
            .await
    }

    async fn receive_inbound_request(
        &self,
        request: ReceivedRequest,
    ) -> Result<ReceiptOutcome, StoreError> {
        let filters = std::sync::Arc::clone(&self.filters);
        self.write_adding(move |c| receive(c, &filters, request))
            .await
    }

    async fn list_inbound_requests(
        &self,
        source_id: &SourceId,
        page: PageRequest,
    ) -> Result<Page<InboundRequestRecord>, StoreError> {
        let source_id = source_id.clone();
        self.read(move |c| list_requests(c, &source_id, &page))
            .await
    }

    async fn purge_inbound_before(
        &self,
        requests_before: Timestamp,
        keys_before: Timestamp,
        limit: usize,
    ) -> Result<usize, StoreError> {
        self.write(move |c| purge_before(c, requests_before, keys_before, limit))
            .await
    }

    async fn get_inbound_request(
        &self,
        source_id: &SourceId,
        id: &InboundRequestId,
    ) -> Result<Option<InboundRequestRecord>, StoreError> {
        let (source_id, id) = (source_id.clone(), id.clone());
        self.read(move |c| find_request(c, &source_id, &id)).await
    }
}
