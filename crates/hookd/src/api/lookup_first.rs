//! 404 before 422: a request aimed at a missing application, endpoint or message is answered
//! 404 however invalid its body or query, as when they are valid.
//!
//! Handlers parse their input before they call the operation (the operation takes domain
//! types), so an input that does not parse would otherwise be answered before the operation
//! looked up its target. On that path only, the handler asks `ops::require_found` for the
//! records the request names, and answers with the input's error only once they exist.

use super::ApiContext;
use super::error::ApiResult;
use crate::ops::{self, Named, Principal};

/// `input`, or its error once every record `named` names has been found.
pub async fn input_after_lookup<T>(
    ctx: &ApiContext,
    principal: &Principal,
    named: Named<'_>,
    input: ApiResult<T>,
) -> ApiResult<T> {
    match input {
        Ok(input) => Ok(input),
        Err(error) => {
            ops::require_found(&ctx.ops, principal, named).await?;
            Err(error)
        }
    }
}
