//! How a payload refused by its event type's enforced schema is answered: a 422 in the shape
//! of every validation error, one entry per violation, located in the request body at the
//! payload's field (`["body", "payload", "items", "0", "price"]`), with the JSON pointer and
//! the schema keyword (`minimum`, `required`, `type`, ...) as fields of their own.

use super::error::{ApiError, FieldError};
use crate::domain::payload_schema::{MAX_VIOLATIONS, PayloadRejection};

/// The `type` of a schema violation's entry.
pub const SCHEMA_VIOLATION: &str = "value_error.jsonschema";

/// The 422 for `rejection`.
pub fn render(rejection: PayloadRejection) -> ApiError {
    let mut errors: Vec<FieldError> = rejection
        .violations
        .iter()
        .map(|violation| {
            let mut path = vec!["payload".to_owned()];
            path.extend(violation.segments());
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            let mut error = FieldError::at("body", &path, violation.message.clone())
                .with_kind(SCHEMA_VIOLATION);
            error.pointer = Some(violation.pointer.clone());
            error.rule = Some(violation.rule.clone());
            error.schema_version = Some(rejection.version.clone());
            error
        })
        .collect();
    if rejection.truncated {
        errors.push(
            FieldError::body(
                &["payload"],
                format!("more violations were found; the first {MAX_VIOLATIONS} are listed"),
            )
            .with_kind(SCHEMA_VIOLATION),
        );
    }
    ApiError::Validation(errors)
}
