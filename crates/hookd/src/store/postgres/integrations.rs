//! SQL for integrations on PostgreSQL.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::rows::{from_json, from_micros, page_of_children, to_json, to_micros};
use super::{PostgresStore, backend, get, missing_parent};
use crate::domain::integrations::{FeatureFlags, Integration, IntegrationFields};
use crate::domain::{AppId, IntegrationId, Timestamp};
use crate::store::integrations::IntegrationStore;
use crate::store::paging::Children;
use crate::store::{Page, PageRequest, StoreError};

const INTEGRATION_COLUMNS: &str = "id, app_id, name, feature_flags, created_at, updated_at";

#[async_trait]
impl IntegrationStore for PostgresStore {
    async fn create_integration(
        &self,
        integration: &Integration,
        key_sha256: [u8; 32],
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "INSERT INTO integration (id, app_id, name, feature_flags, key_sha256,
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .await
            .map_err(backend)?;
        client
            .execute(
                &statement,
                &[
                    &integration.id.as_str(),
                    &integration.app_id.as_str(),
                    &integration.fields.name,
                    &to_json(&integration.fields.feature_flags.to_vec())?,
                    &hex::encode(key_sha256),
                    &to_micros(integration.created_at),
                    &to_micros(integration.updated_at),
                ],
            )
            .await
            .map_err(missing_parent("application not found"))?;
        Ok(())
    }

    async fn list_integrations(
        &self,
        app_id: &AppId,
        page: PageRequest,
    ) -> Result<Page<Integration>, StoreError> {
        let children = Children {
            columns: INTEGRATION_COLUMNS,
            table: "integration",
            parent_column: "app_id",
        };
        let client = self.client().await?;
        let key = |integration: &Integration| integration.id.to_string();
        page_of_children(
            &client,
            children,
            app_id.as_str(),
            &page,
            integration_row,
            key,
        )
        .await
    }

    async fn get_integration(
        &self,
        app_id: &AppId,
        id: &IntegrationId,
    ) -> Result<Option<Integration>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {INTEGRATION_COLUMNS} FROM integration WHERE app_id = $1 AND id = $2"
            ))
            .await
            .map_err(backend)?;
        client
            .query_opt(&statement, &[&app_id.as_str(), &id.as_str()])
            .await
            .map_err(backend)?
            .map(|row| integration_row(&row))
            .transpose()
    }

    async fn update_integration(
        &self,
        app_id: &AppId,
        id: &IntegrationId,
        fields: &IntegrationFields,
        now: Timestamp,
    ) -> Result<Option<Integration>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "UPDATE integration SET name = $3, feature_flags = $4, updated_at = $5
                 WHERE app_id = $1 AND id = $2 RETURNING {INTEGRATION_COLUMNS}"
            ))
            .await
            .map_err(backend)?;
        client
            .query_opt(
                &statement,
                &[
                    &app_id.as_str(),
                    &id.as_str(),
                    &fields.name,
                    &to_json(&fields.feature_flags.to_vec())?,
                    &to_micros(now),
                ],
            )
            .await
            .map_err(backend)?
            .map(|row| integration_row(&row))
            .transpose()
    }

    async fn delete_integration(
        &self,
        app_id: &AppId,
        id: &IntegrationId,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached("DELETE FROM integration WHERE app_id = $1 AND id = $2")
            .await
            .map_err(backend)?;
        let deleted = client
            .execute(&statement, &[&app_id.as_str(), &id.as_str()])
            .await
            .map_err(backend)?;
        Ok(deleted > 0)
    }

    async fn replace_integration_key(
        &self,
        app_id: &AppId,
        id: &IntegrationId,
        key_sha256: [u8; 32],
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached("UPDATE integration SET key_sha256 = $3 WHERE app_id = $1 AND id = $2")
            .await
            .map_err(backend)?;
        let changed = client
            .execute(
                &statement,
                &[&app_id.as_str(), &id.as_str(), &hex::encode(key_sha256)],
            )
            .await
            .map_err(backend)?;
        Ok(changed > 0)
    }

    async fn find_integration_by_key(
        &self,
        key_sha256: [u8; 32],
    ) -> Result<Option<Integration>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {INTEGRATION_COLUMNS} FROM integration WHERE key_sha256 = $1"
            ))
            .await
            .map_err(backend)?;
        client
            .query_opt(&statement, &[&hex::encode(key_sha256)])
            .await
            .map_err(backend)?
            .map(|row| integration_row(&row))
            .transpose()
    }
}

fn integration_row(row: &tokio_postgres::Row) -> Result<Integration, StoreError> {
    Ok(Integration {
        id: IntegrationId::from_trusted(get::<String>(row, 0)?),
        app_id: AppId::from_trusted(get::<String>(row, 1)?),
        fields: IntegrationFields {
            name: get(row, 2)?,
            feature_flags: FeatureFlags::from_trusted(from_json(&get::<String>(row, 3)?)?),
        },
        created_at: from_micros(get(row, 4)?),
        updated_at: from_micros(get(row, 5)?),
    })
}
