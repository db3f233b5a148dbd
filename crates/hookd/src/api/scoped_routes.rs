//! Every route is declared here with its scope, once: `ScopedRoutes` is the only way the API
//! builds a route (no other file under `api/` names `axum::routing`), and it records each
//! method and path with its `Scope` in the table that `route_table` hands to the scope test.
//!
//! The scope is enforced after routing and before the handler (`enforce`): an admin-only route
//! refuses application tokens, a write refuses read-only ones, and a path that names an
//! application (`{app_id}`) refuses a token of another one, and a token issued with Svix's
//! `capabilities` reaches only the routes whose `Need` they cover (reads need `ViewBase`, each
//! write names its own). The operations check ownership
//! again (`ops::scope`), so a route declared too widely still reaches nothing it should not.

use axum::extract::{FromRequestParts, RawPathParams, Request, State};
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, Router, on};

use super::ApiContext;
use super::error::ApiError;
pub use crate::domain::grants::{Capability, Need};
use crate::ops::{ADMIN_ONLY, MISSING_CAPABILITY, OTHER_APPLICATION, Principal, READ_ONLY};

/// `Need::Capability(capability)`, as the route declarations write it.
pub const fn can(capability: Capability) -> Need {
    Need::Capability(capability)
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// No token at all (the health check, the ingest URL that providers post to).
    Public,
    /// Only the admin token.
    Admin,
    /// The admin token, or any token of the application the path names (read-only included)
    /// that holds `ViewBase` (every token does: a capability list must name it).
    AppRead,
    /// The admin token, or a read-write token of the application the path names whose
    /// capabilities cover the `Need` (a token without a capability list covers every one).
    AppWrite(Need),
    /// Only an application token, read-only included (logging it out).
    AppToken,
}

/// One declared route: a method on a path template (`/api/v1/app/{app_id}`) and its scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteDecl {
    pub method: Method,
    pub path: String,
    pub scope: Scope,
}

/// A router whose every route carries its scope, and the table of them.
pub struct ScopedRoutes {
    prefix: &'static str,
    router: Router<ApiContext>,
    table: Vec<RouteDecl>,
}

impl ScopedRoutes {
    /// Routes whose paths are given below `prefix` (`/api/v1`, or `""`), which the table
    /// includes; the caller nests the router under it.
    pub fn new(prefix: &'static str) -> Self {
        ScopedRoutes {
            prefix,
            router: Router::new(),
            table: Vec::new(),
        }
    }

    /// Adds `path` with the methods (and their scopes) of `methods`.
    pub fn route(mut self, path: &str, methods: ScopedMethods) -> Self {
        for (method, scope) in methods.methods {
            self.table.push(RouteDecl {
                method,
                path: format!("{}{path}", self.prefix),
                scope,
            });
        }
        self.router = self.router.route(path, methods.router);
        self
    }

    /// Adds every route of `other`, which must have the same prefix.
    pub fn merge(mut self, other: ScopedRoutes) -> Self {
        assert_eq!(self.prefix, other.prefix, "merged routes share a prefix");
        self.router = self.router.merge(other.router);
        self.table.extend(other.table);
        self
    }

    /// The router and the table of its routes.
    pub fn into_parts(self) -> (Router<ApiContext>, Vec<RouteDecl>) {
        (self.router, self.table)
    }
}

/// The methods of one path, each with its scope.
pub struct ScopedMethods {
    router: MethodRouter<ApiContext>,
    methods: Vec<(Method, Scope)>,
}

macro_rules! scoped_method {
    ($name:ident, $filter:ident, $method:ident) => {
        /// Adds this method with `scope`.
        pub fn $name<H, T>(mut self, scope: Scope, handler: H) -> Self
        where
            H: Handler<T, ApiContext>,
            T: 'static,
        {
            self.router = self
                .router
                .merge(scoped(MethodFilter::$filter, scope, handler));
            self.methods.push((Method::$method, scope));
            self
        }
    };
}

impl ScopedMethods {
    fn empty() -> Self {
        ScopedMethods {
            router: MethodRouter::new(),
            methods: Vec::new(),
        }
    }

    scoped_method!(get, GET, GET);
    scoped_method!(post, POST, POST);
    scoped_method!(put, PUT, PUT);
    scoped_method!(patch, PATCH, PATCH);
    scoped_method!(delete, DELETE, DELETE);
}

/// `GET` with `scope`; chain `.post(..)` and the others for more methods on the same path.
pub fn get<H: Handler<T, ApiContext>, T: 'static>(scope: Scope, handler: H) -> ScopedMethods {
    ScopedMethods::empty().get(scope, handler)
}

/// `POST` with `scope`.
pub fn post<H: Handler<T, ApiContext>, T: 'static>(scope: Scope, handler: H) -> ScopedMethods {
    ScopedMethods::empty().post(scope, handler)
}

/// `PUT` with `scope`.
pub fn put<H: Handler<T, ApiContext>, T: 'static>(scope: Scope, handler: H) -> ScopedMethods {
    ScopedMethods::empty().put(scope, handler)
}

/// `DELETE` with `scope`.
pub fn delete<H: Handler<T, ApiContext>, T: 'static>(scope: Scope, handler: H) -> ScopedMethods {
    ScopedMethods::empty().delete(scope, handler)
}

fn scoped<H, T>(filter: MethodFilter, scope: Scope, handler: H) -> MethodRouter<ApiContext>
where
    H: Handler<T, ApiContext>,
    T: 'static,
{
    let route = on(filter, handler);
    match scope {
        // Public routes sit outside authentication: there is no principal to judge.
        Scope::Public => route,
        _ => route.route_layer(from_fn_with_state(scope, enforce)),
    }
}

/// Middleware: refuses the request with 403 unless the authenticated principal is within
/// `scope` (the authentication layer, which runs first, left the principal in the extensions).
async fn enforce(State(scope): State<Scope>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let path_app = RawPathParams::from_request_parts(&mut parts, &())
        .await
        .ok()
        .and_then(|params| {
            params
                .iter()
                .find(|(name, _)| *name == "app_id")
                .map(|(_, value)| value.to_owned())
        });
    let Some(principal) = parts.extensions.get::<Principal>() else {
        return ApiError::Unauthorized("missing bearer token").into_response();
    };
    if let Err(refusal) = judge(scope, principal, path_app.as_deref()) {
        return ApiError::Forbidden(refusal).into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

/// Whether `principal` may call a route of `scope` whose path names the application
/// `path_app` (its id or uid), or why not.
pub fn judge(
    scope: Scope,
    principal: &Principal,
    path_app: Option<&str>,
) -> Result<(), &'static str> {
    let own = match principal {
        Principal::Admin if scope == Scope::AppToken => return Err(ONLY_APP_TOKENS),
        Principal::Admin => return Ok(()),
        Principal::App(own) => own,
    };
    match scope {
        Scope::Public | Scope::AppToken => return Ok(()),
        Scope::Admin => return Err(ADMIN_ONLY),
        Scope::AppWrite(_) if own.read_only => return Err(READ_ONLY),
        Scope::AppRead if !own.grants.allows(can(Capability::ViewBase)) => {
            return Err(MISSING_CAPABILITY);
        }
        Scope::AppWrite(need) if !own.grants.allows(need) => return Err(MISSING_CAPABILITY),
        Scope::AppRead | Scope::AppWrite(_) => {}
    }
    match path_app {
        Some(named) if named != own.app_id.as_str() && Some(named) != own.app_uid.as_deref() => {
            Err(OTHER_APPLICATION)
        }
        _ => Ok(()),
    }
}

const ONLY_APP_TOKENS: &str = "only an application token may call this";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AppId;
    use crate::domain::grants::Grants;
    use crate::ops::AppScope;

    #[test]
    fn scopes_judge_principals() {
        let with_grants = |read_only, grants| {
            Principal::App(AppScope {
                app_id: AppId::from_trusted("app_1"),
                app_uid: Some("shop".to_owned()),
                read_only,
                grants,
            })
        };
        let own = |read_only| with_grants(read_only, Grants::default());
        let only = |capabilities: &[Capability]| {
            let grants = Grants {
                capabilities: Some(capabilities.iter().copied().collect()),
                ..Grants::default()
            };
            with_grants(false, grants)
        };
        let write = Scope::AppWrite(Need::WholeApplication);
        let attempts = Scope::AppWrite(can(Capability::CreateAttempts));
        let check = |scope, principal: &Principal, app, expected: Result<(), &str>| {
            assert_eq!(
                judge(scope, principal, app),
                expected,
                "{scope:?} {principal:?} {app:?}"
            );
        };
        check(Scope::Admin, &Principal::Admin, None, Ok(()));
        check(
            Scope::AppToken,
            &Principal::Admin,
            None,
            Err(ONLY_APP_TOKENS),
        );
        check(Scope::Admin, &own(false), None, Err(ADMIN_ONLY));
        check(write, &own(false), Some("app_1"), Ok(()));
        check(write, &own(false), Some("shop"), Ok(()));
        check(write, &own(false), Some("app_2"), Err(OTHER_APPLICATION));
        check(Scope::AppRead, &own(true), Some("shop"), Ok(()));
        check(
            Scope::AppRead,
            &own(true),
            Some("other"),
            Err(OTHER_APPLICATION),
        );
        check(write, &own(true), Some("app_1"), Err(READ_ONLY));
        check(Scope::AppRead, &own(true), None, Ok(()));
        check(Scope::AppToken, &own(true), None, Ok(()));
        let viewer = only(&[Capability::ViewBase]);
        check(Scope::AppRead, &viewer, Some("app_1"), Ok(()));
        check(attempts, &viewer, Some("app_1"), Err(MISSING_CAPABILITY));
        check(write, &viewer, Some("app_1"), Err(MISSING_CAPABILITY));
        let sender = only(&[Capability::ViewBase, Capability::CreateAttempts]);
        check(attempts, &sender, Some("app_1"), Ok(()));
        check(attempts, &sender, Some("app_2"), Err(OTHER_APPLICATION));
        check(write, &sender, Some("app_1"), Err(MISSING_CAPABILITY));
        check(attempts, &own(false), Some("app_1"), Ok(()));
        check(attempts, &own(true), Some("app_1"), Err(READ_ONLY));
    }
}
