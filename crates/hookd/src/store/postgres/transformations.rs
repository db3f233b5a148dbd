//! SQL for endpoint transformations on PostgreSQL (columns of `endpoint`).

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::rows::{from_micros, to_micros};
use super::{PostgresStore, backend, get};
use crate::domain::{AppId, EndpointId};
use crate::store::StoreError;
use crate::store::transformations::{
    StoredTransformation, TransformationChange, TransformationStore,
};

#[async_trait]
impl TransformationStore for PostgresStore {
    async fn endpoint_transformation(
        &self,
        app_id: &AppId,
        endpoint_id: &EndpointId,
    ) -> Result<Option<StoredTransformation>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT transformation_code, transformation_enabled, transformation_updated_at
                 FROM endpoint WHERE id = $1 AND app_id = $2",
            )
            .await
            .map_err(backend)?;
        let Some(row) = client
            .query_opt(&statement, &[&endpoint_id.as_str(), &app_id.as_str()])
            .await
            .map_err(backend)?
        else {
            return Ok(None);
        };
        Ok(Some(StoredTransformation {
            code: get(&row, 0)?,
            enabled: get(&row, 1)?,
            updated_at: get::<Option<i64>>(&row, 2)?.map(from_micros),
        }))
    }

    async fn set_endpoint_transformation(
        &self,
        app_id: &AppId,
        endpoint_id: &EndpointId,
        change: TransformationChange,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "UPDATE endpoint SET
                   transformation_code = CASE WHEN $3 THEN $4::text ELSE transformation_code END,
                   transformation_enabled = COALESCE($5::boolean, transformation_enabled),
                   transformation_updated_at = $6
                 WHERE id = $1 AND app_id = $2",
            )
            .await
            .map_err(backend)?;
        let replace_code = change.code.is_some();
        let code = change.code.flatten();
        let changed = client
            .execute(
                &statement,
                &[
                    &endpoint_id.as_str(),
                    &app_id.as_str(),
                    &replace_code,
                    &code,
                    &change.enabled,
                    &to_micros(change.at),
                ],
            )
            .await
            .map_err(backend)?;
        if changed == 0 {
            return Err(StoreError::NotFound("endpoint not found"));
        }
        Ok(())
    }
}
