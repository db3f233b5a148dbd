//! `Principal`: who is calling an operation.

use super::{OpError, OpResult};
use crate::domain::AppId;
use crate::domain::EventType;
use crate::domain::grants::Grants;

/// Who is calling. The API derives it from the bearer token; other callers (the CLI, the coming
/// portal and inbound gateway) name theirs.
///
/// The operator's own operational endpoints need no principal of their own: they are reached
/// only through their own operations (`AppRef::Operational`), which only `Admin` may call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The admin token: every application, event types, operational webhooks, background tasks.
    Admin,
    /// A token scoped to one application (the app portal's): that application's endpoints,
    /// messages and logs, nothing environment-wide.
    App(AppScope),
}

/// What an application-scoped token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppScope {
    pub app_id: AppId,
    /// The application's uid when the token was presented, so that a path naming the
    /// application by uid is recognised as its own.
    pub app_uid: Option<String>,
    /// Only reads: the API refuses every route declared as a write.
    pub read_only: bool,
    /// The feature flags it sees and the capabilities it holds (the route table's `Need`s are
    /// judged against them, the catalogue's flags in `sees_event_type`).
    pub grants: Grants,
}

impl Principal {
    /// A read-write principal of application `app_id` (tests and callers that know no uid).
    pub fn app(app_id: AppId) -> Self {
        Principal::App(AppScope {
            app_id,
            app_uid: None,
            read_only: false,
            grants: Grants::default(),
        })
    }

    /// Ok for `Admin`; `Forbidden` for everyone else.
    pub fn require_admin(&self) -> OpResult<()> {
        match self {
            Principal::Admin => Ok(()),
            Principal::App(_) => Err(OpError::Forbidden(ADMIN_ONLY)),
        }
    }

    /// Whether this principal sees `event_type`: the admin every one, an application token
    /// those without a feature flag and those whose flag it carries (Svix's rule). A hidden
    /// type is as missing: not listed, not found, not subscribable.
    pub fn sees_event_type(&self, event_type: &EventType) -> bool {
        match self {
            Principal::Admin => true,
            Principal::App(own) => own
                .grants
                .sees_flag(event_type.fields.feature_flag.as_deref()),
        }
    }

    /// The feature flags that bound what this principal sees of the catalogue: `None` for the
    /// admin (everything).
    pub fn visible_feature_flags(&self) -> Option<&std::collections::BTreeSet<String>> {
        match self {
            Principal::Admin => None,
            Principal::App(own) => Some(&own.grants.feature_flags),
        }
    }

    /// Whether this principal may see and change the application `app_id` and what is in it.
    pub fn may_access(&self, app_id: &AppId) -> bool {
        match self {
            Principal::Admin => true,
            Principal::App(own) => &own.app_id == app_id,
        }
    }
}

/// The refusal of an admin-only operation to an application-scoped principal.
pub const ADMIN_ONLY: &str = "this operation needs the admin token";
/// The refusal of another application's records to an application-scoped principal.
pub const OTHER_APPLICATION: &str = "the token is not valid for this application";
/// The refusal of a change to a read-only token.
pub const READ_ONLY: &str = "the token is read-only";
/// The refusal of a route outside what an application token's capabilities allow.
pub const MISSING_CAPABILITY: &str = "the token's capabilities do not allow this";
