//! Dashboard sessions: exchanging a token that authenticated as a `Principal` for a session,
//! resuming a session from its id, and ending it.
//!
//! `start` is the one exchange: the web login calls it after checking the admin token, and the
//! app portal's login will call it after checking an application token. The session id is
//! handed to the caller once (for the cookie) and only its SHA-256 is stored. A session ends
//! when it has been idle longer than `SessionRules::idle`, or lived longer than
//! `SessionRules::absolute`, whichever comes first.

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{AppScope, OpResult, Ops, Principal};
use crate::domain::{AppId, Timestamp};
use crate::store::WebSession;

/// How long sessions last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRules {
    /// A session unused for this long has ended.
    pub idle: Duration,
    /// A session older than this has ended, however busy.
    pub absolute: Duration,
}

/// A session just started: the id goes into the cookie and is never stored.
#[derive(Debug, Clone)]
pub struct StartedSession {
    pub session_id: String,
    pub csrf_token: String,
}

/// A live session, found by its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveSession {
    pub principal: Principal,
    /// The token every state-changing request of this session must carry.
    pub csrf_token: String,
}

/// Starts a session for `principal`, which the caller has just authenticated (by a token
/// whose hash it compared). Also forgets sessions that have expired since.
pub async fn start(
    ops: &Ops,
    principal: &Principal,
    rules: SessionRules,
) -> OpResult<StartedSession> {
    let now = ops.clock.now();
    let (idle_cutoff, absolute_cutoff) = cutoffs(now, rules);
    ops.store
        .delete_expired_web_sessions(idle_cutoff, absolute_cutoff)
        .await?;
    let session_id = random_token();
    let csrf_token = random_token();
    ops.store
        .insert_web_session(WebSession {
            id_sha256: id_sha256(&session_id),
            principal: encode_principal(principal),
            csrf_token: csrf_token.clone(),
            created_at: now,
            last_seen_at: now,
        })
        .await?;
    tracing::info!(principal = %encode_principal(principal), "dashboard session started");
    Ok(StartedSession {
        session_id,
        csrf_token,
    })
}

/// The live session `session_id` names, or `None` when there is none or it has expired (an
/// expired one is deleted). Using a session keeps it alive.
pub async fn resume(
    ops: &Ops,
    session_id: &str,
    rules: SessionRules,
) -> OpResult<Option<ActiveSession>> {
    let hash = id_sha256(session_id);
    let Some(session) = ops.store.get_web_session(&hash).await? else {
        return Ok(None);
    };
    let now = ops.clock.now();
    let (idle_cutoff, absolute_cutoff) = cutoffs(now, rules);
    let principal = decode_principal(&session.principal);
    if session.last_seen_at < idle_cutoff || session.created_at < absolute_cutoff {
        ops.store.delete_web_session(&hash).await?;
        return Ok(None);
    }
    let Some(principal) = principal else {
        ops.store.delete_web_session(&hash).await?;
        return Ok(None);
    };
    // One write a minute at most per session, not one per page view.
    if now - session.last_seen_at > chrono::Duration::seconds(60) {
        ops.store.touch_web_session(&hash, now).await?;
    }
    Ok(Some(ActiveSession {
        principal,
        csrf_token: session.csrf_token,
    }))
}

/// Ends the session `session_id` names (logout); nothing happens when there is none.
pub async fn end(ops: &Ops, session_id: &str) -> OpResult<()> {
    ops.store.delete_web_session(&id_sha256(session_id)).await?;
    Ok(())
}

fn cutoffs(now: Timestamp, rules: SessionRules) -> (Timestamp, Timestamp) {
    let back = |span: Duration| {
        chrono::Duration::from_std(span)
            .ok()
            .and_then(|span| now.checked_sub_signed(span))
            .unwrap_or(Timestamp::MIN_UTC)
    };
    (back(rules.idle), back(rules.absolute))
}

fn id_sha256(session_id: &str) -> String {
    hex::encode(Sha256::digest(session_id.as_bytes()))
}

/// 32 random bytes as URL-safe text (base62 is not needed: hex is cookie- and form-safe).
fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn encode_principal(principal: &Principal) -> String {
    match principal {
        Principal::Admin => "admin".to_owned(),
        Principal::App(scope) if scope.read_only => format!("app-read:{}", scope.app_id),
        Principal::App(scope) => format!("app:{}", scope.app_id),
    }
}

fn decode_principal(stored: &str) -> Option<Principal> {
    match stored.split_once(':') {
        None if stored == "admin" => Some(Principal::Admin),
        Some((kind @ ("app" | "app-read"), app_id)) if !app_id.is_empty() => {
            Some(Principal::App(AppScope {
                app_id: AppId::from_trusted(app_id),
                app_uid: None,
                read_only: kind == "app-read",
            }))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_survive_the_round_trip() {
        for principal in [
            Principal::Admin,
            Principal::app(AppId::from_trusted("app_x1")),
            Principal::App(AppScope {
                app_id: AppId::from_trusted("app_x2"),
                app_uid: None,
                read_only: true,
            }),
        ] {
            assert_eq!(
                decode_principal(&encode_principal(&principal)),
                Some(principal)
            );
        }
        assert_eq!(decode_principal("root"), None);
        assert_eq!(decode_principal("app:"), None);
    }
}
