//! SQL for integrations on SQLite.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::rows::{from_json, from_micros, page_of_children, to_json, to_micros};
use super::{SqliteStore, backend, missing_parent};
use crate::domain::integrations::{FeatureFlags, Integration, IntegrationFields};
use crate::domain::{AppId, IntegrationId, Timestamp};
use crate::store::integrations::IntegrationStore;
use crate::store::paging::Children;
use crate::store::{Page, PageRequest, StoreError};

const INTEGRATION_COLUMNS: &str = "id, app_id, name, feature_flags, created_at, updated_at";

#[async_trait]
impl IntegrationStore for SqliteStore {
    async fn create_integration(
        &self,
        integration: &Integration,
        key_sha256: [u8; 32],
    ) -> Result<(), StoreError> {
        let integration = integration.clone();
        let flags = to_json(&integration.fields.feature_flags.to_vec())?;
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO integration (id, app_id, name, feature_flags, key_sha256,
                 created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(backend)?
            .execute(params![
                integration.id.as_str(),
                integration.app_id.as_str(),
                integration.fields.name,
                flags,
                hex::encode(key_sha256),
                to_micros(integration.created_at),
                to_micros(integration.updated_at),
            ])
            .map_err(missing_parent("application not found"))?;
            Ok(())
        })
        .await
    }

    async fn list_integrations(
        &self,
        app_id: &AppId,
        page: PageRequest,
    ) -> Result<Page<Integration>, StoreError> {
        let app_id = app_id.clone();
        self.read(move |c| {
            let children = Children {
                columns: INTEGRATION_COLUMNS,
                table: "integration",
                parent_column: "app_id",
            };
            let read = |row: &Row<'_>| decode(integration_row(row).map_err(backend)?);
            let key = |integration: &Integration| integration.id.to_string();
            page_of_children(c, children, app_id.as_str(), &page, read, key)
        })
        .await
    }

    async fn get_integration(
        &self,
        app_id: &AppId,
        id: &IntegrationId,
    ) -> Result<Option<Integration>, StoreError> {
        let (app_id, id) = (app_id.clone(), id.clone());
        self.read(move |c| select_one(c, &app_id, &id)).await
    }

    async fn update_integration(
        &self,
        app_id: &AppId,
        id: &IntegrationId,
        fields: &IntegrationFields,
        now: Timestamp,
    ) -> Result<Option<Integration>, StoreError> {
        let (app_id, id) = (app_id.clone(), id.clone());
        let name = fields.name.clone();
        let flags = to_json(&fields.feature_flags.to_vec())?;
        self.write(move |c| {
            let changed = c
                .prepare_cached(
                    "UPDATE integration SET name = ?3, feature_flags = ?4, updated_at = ?5
                     WHERE app_id = ?1 AND id = ?2",
                )
                .map_err(backend)?
                .execute(params![
                    app_id.as_str(),
                    id.as_str(),
                    name,
                    flags,
                    to_micros(now)
                ])
                .map_err(backend)?;
            if changed == 0 {
                return Ok(None);
            }
            select_one(c, &app_id, &id)
        })
        .await
    }

    async fn delete_integration(
        &self,
        app_id: &AppId,
        id: &IntegrationId,
    ) -> Result<bool, StoreError> {
        let (app_id, id) = (app_id.clone(), id.clone());
        self.write(move |c| {
            let deleted = c
                .prepare_cached("DELETE FROM integration WHERE app_id = ?1 AND id = ?2")
                .map_err(backend)?
                .execute([app_id.as_str(), id.as_str()])
                .map_err(backend)?;
            Ok(deleted > 0)
        })
        .await
    }

    async fn replace_integration_key(
        &self,
        app_id: &AppId,
        id: &IntegrationId,
        key_sha256: [u8; 32],
    ) -> Result<bool, StoreError> {
        let (app_id, id) = (app_id.clone(), id.clone());
        self.write(move |c| {
            let changed = c
                .prepare_cached(
                    "UPDATE integration SET key_sha256 = ?3 WHERE app_id = ?1 AND id = ?2",
                )
                .map_err(backend)?
                .execute(params![
                    app_id.as_str(),
                    id.as_str(),
                    hex::encode(key_sha256)
                ])
                .map_err(backend)?;
            Ok(changed > 0)
        })
        .await
    }

    async fn find_integration_by_key(
        &self,
        key_sha256: [u8; 32],
    ) -> Result<Option<Integration>, StoreError> {
        let key_sha256 = hex::encode(key_sha256);
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {INTEGRATION_COLUMNS} FROM integration WHERE key_sha256 = ?1"
            ))
            .map_err(backend)?
            .query_row([&key_sha256], integration_row)
            .optional()
            .map_err(backend)?
            .map(decode)
            .transpose()
        })
        .await
    }
}

fn select_one(
    c: &Connection,
    app_id: &AppId,
    id: &IntegrationId,
) -> Result<Option<Integration>, StoreError> {
    c.prepare_cached(&format!(
        "SELECT {INTEGRATION_COLUMNS} FROM integration WHERE app_id = ?1 AND id = ?2"
    ))
    .map_err(backend)?
    .query_row([app_id.as_str(), id.as_str()], integration_row)
    .optional()
    .map_err(backend)?
    .map(decode)
    .transpose()
}

/// A row with its flags still as JSON text (decoded by `decode`, which can fail as a store
/// error rather than a SQLite one).
type RawIntegration = (Integration, String);

fn integration_row(row: &Row<'_>) -> rusqlite::Result<RawIntegration> {
    Ok((
        Integration {
            id: IntegrationId::from_trusted(row.get::<_, String>(0)?),
            app_id: AppId::from_trusted(row.get::<_, String>(1)?),
            fields: IntegrationFields {
                name: row.get(2)?,
                feature_flags: FeatureFlags::default(),
            },
            created_at: from_micros(row.get(4)?),
            updated_at: from_micros(row.get(5)?),
        },
        row.get(3)?,
    ))
}

fn decode((mut integration, flags): RawIntegration) -> Result<Integration, StoreError> {
    integration.fields.feature_flags = FeatureFlags::from_trusted(from_json(&flags)?);
    Ok(integration)
}
