//! Dashboard sessions: exchanging a token that authenticated as a `Principal` for a session,
//! resuming a session from its id, and ending it.
//!
//! `start` is the one exchange: the web login calls it with the admin token, or with an
//! application token (the app portal's link). A session of an application token stays tied to
//! that token: it keeps only the token's hash (which the token table holds anyway) and
//! authenticates it again on every use, so a session ends when its token expires or is
//! revoked (`expire-all`, `logout`, the application deleted), and it sees the token's
//! application and read-only flag as they are now. The session id is
//! handed to the caller once (for the cookie) and only its SHA-256 is stored. A session ends
//! when it has been idle longer than `SessionRules::idle`, or lived longer than
//! `SessionRules::absolute`, whichever comes first.

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{OpResult, Ops, Principal};
use crate::domain::Timestamp;
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
}

/// What a session was started with: the admin token, or an application token (by its
/// SHA-256), which each use of the session authenticates again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    Admin,
    AppToken { sha256: [u8; 32] },
}

/// A live session, found by its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveSession {
    pub principal: Principal,
    /// The token every state-changing request of this session must carry.
    pub csrf_token: String,
}

/// Starts a session for `grant`, which the caller has just authenticated (by a token
/// whose hash it compared). Also forgets sessions that have expired since.
pub async fn start(ops: &Ops, grant: &Grant, rules: SessionRules) -> OpResult<StartedSession> {
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
            principal: encode_grant(grant),
            csrf_token,
            created_at: now,
            last_seen_at: now,
        })
        .await?;
    tracing::info!(
        kind = match grant {
            Grant::Admin => "admin",
            Grant::AppToken { .. } => "application token",
        },
        "dashboard session started"
    );
    Ok(StartedSession { session_id })
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
    let principal = if session.last_seen_at < idle_cutoff || session.created_at < absolute_cutoff {
        None
    } else {
        match decode_grant(&session.principal) {
            Some(Grant::Admin) => Some(Principal::Admin),
            Some(Grant::AppToken { sha256 }) => super::tokens::authenticate(ops, sha256).await?,
            None => None,
        }
    };
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

fn encode_grant(grant: &Grant) -> String {
    match grant {
        Grant::Admin => "admin".to_owned(),
        Grant::AppToken { sha256 } => format!("token:{}", hex::encode(sha256)),
    }
}

fn decode_grant(stored: &str) -> Option<Grant> {
    match stored.split_once(':') {
        None if stored == "admin" => Some(Grant::Admin),
        Some(("token", hash)) => {
            let mut sha256 = [0u8; 32];
            hex::decode_to_slice(hash, &mut sha256).ok()?;
            Some(Grant::AppToken { sha256 })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_survive_the_round_trip() {
        for grant in [Grant::Admin, Grant::AppToken { sha256: [7; 32] }] {
            assert_eq!(decode_grant(&encode_grant(&grant)), Some(grant));
        }
        for stored in ["root", "token:", "token:zz", "app:app_x1", "token:0707"] {
            assert_eq!(decode_grant(stored), None, "{stored}");
        }
    }
}
