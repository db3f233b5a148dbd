//! SQL for endpoint transformations on SQLite (columns of `endpoint`).

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::rows::{from_micros, to_micros};
use super::{SqliteStore, backend};
use crate::domain::{AppId, EndpointId};
use crate::store::StoreError;
use crate::store::transformations::{
    StoredTransformation, TransformationChange, TransformationStore,
};

#[async_trait]
impl TransformationStore for SqliteStore {
    async fn endpoint_transformation(
        &self,
        app_id: &AppId,
        endpoint_id: &EndpointId,
    ) -> Result<Option<StoredTransformation>, StoreError> {
        let (app_id, endpoint_id) = (app_id.to_string(), endpoint_id.to_string());
        self.read(move |c| {
            c.prepare_cached(
                "SELECT transformation_code, transformation_enabled, transformation_updated_at
                 FROM endpoint WHERE id = ?1 AND app_id = ?2",
            )
            .map_err(backend)?
            .query_row(params![endpoint_id, app_id], |row| {
                Ok(StoredTransformation {
                    code: row.get(0)?,
                    enabled: row.get(1)?,
                    updated_at: row.get::<_, Option<i64>>(2)?.map(from_micros),
                })
            })
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn set_endpoint_transformation(
        &self,
        app_id: &AppId,
        endpoint_id: &EndpointId,
        change: TransformationChange,
    ) -> Result<(), StoreError> {
        let (app_id, endpoint_id) = (app_id.to_string(), endpoint_id.to_string());
        self.write(move |c| {
            let changed = c
                .prepare_cached(
                    "UPDATE endpoint SET
                       transformation_code = CASE WHEN ?3 THEN ?4 ELSE transformation_code END,
                       transformation_enabled = COALESCE(?5, transformation_enabled),
                       transformation_updated_at = ?6
                     WHERE id = ?1 AND app_id = ?2",
                )
                .map_err(backend)?
                .execute(params![
                    endpoint_id,
                    app_id,
                    change.code.is_some(),
                    change.code.flatten(),
                    change.enabled,
                    to_micros(change.at),
                ])
                .map_err(backend)?;
            if changed == 0 {
                return Err(StoreError::NotFound("endpoint not found"));
            }
            Ok(())
        })
        .await
    }
}
