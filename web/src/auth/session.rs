//! Dashboard sessions: the page trades a token for a random session id once, kept in an
//! `HttpOnly`, `SameSite=Strict` cookie (`Secure` under TLS), so the token is typed
//! once and never stored by the browser. A session refers to its token by digest, so
//! revoking the token ends its sessions too.
//!
//! Routes (all open; the guard still checks `Origin` and `Host`):
//! `GET /api/v1/session` (is auth on, am I logged in), `POST /api/v1/session` (log in
//! with `{"token":…}`), `DELETE /api/v1/session` (log out).

use super::tokens::{self, Digest32};
use super::{client_ip, Auth};
use crate::error::ApiError;
use crate::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The session cookie's name.
pub const COOKIE: &str = "skein_session";

/// Sessions held at most; past it the oldest are dropped (each login makes one, and a
/// script logging in in a loop must not grow memory without bound).
const MAX_SESSIONS: usize = 10_000;

struct Session {
    token: Digest32,
    expires: Instant,
}

/// The live sessions of one server (in memory: a restart logs everyone out).
pub struct Sessions {
    ttl: Duration,
    max: usize,
    map: Mutex<HashMap<Digest32, Session>>,
}

impl Sessions {
    /// Sessions lasting `ttl` from login.
    pub fn new(ttl: Duration) -> Sessions {
        Sessions {
            ttl,
            max: MAX_SESSIONS,
            map: Mutex::default(),
        }
    }

    /// How long a session lasts.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Starts a session for the token with digest `token`; answers the cookie value.
    fn start(&self, token: Digest32) -> String {
        let id = tokens::new_secret();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if map.len() >= self.max {
            map.retain(|_, s| s.expires > now);
            if map.len() >= self.max {
                if let Some(oldest) = map.iter().min_by_key(|(_, s)| s.expires).map(|(k, _)| *k) {
                    map.remove(&oldest);
                }
            }
        }
        map.insert(
            tokens::digest(&id),
            Session {
                token,
                expires: now + self.ttl,
            },
        );
        id
    }

    /// The token digest behind a live session id.
    pub fn token_of(&self, id: &str) -> Option<Digest32> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&tokens::digest(id))
            .filter(|s| s.expires > Instant::now())
            .map(|s| s.token)
    }

    fn end(&self, id: &str) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&tokens::digest(id));
    }

    /// Drops expired sessions.
    pub fn prune(&self) {
        let now = Instant::now();
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, s| s.expires > now);
    }
}

/// The session id in a request's cookies, if any.
pub fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim())
}

fn set_cookie(auth: &Auth, value: &str, max_age: u64) -> HeaderValue {
    let secure = if auth.config.tls { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"
    ))
    .expect("a session id is a valid header value")
}

/// `GET /api/v1/session`: whether auth is on and whether this request is logged in.
pub async fn status(State(state): State<AppState>, headers: HeaderMap) -> Json<serde_json::Value> {
    let auth = &state.auth;
    let who = auth.identify(&headers).ok().flatten();
    Json(json!({
        "auth": auth.enabled(),
        "session": who.is_some(),
        "scopes": who.map(|k| k.scopes.list()).unwrap_or_default(),
        "tls": auth.config.tls,
    }))
}

#[derive(Deserialize)]
pub struct Login {
    token: String,
}

/// `POST /api/v1/session`: trades a token for a session cookie.
pub async fn login(State(state): State<AppState>, req: Request) -> Response {
    let auth = state.auth.clone();
    let ip = client_ip(&req);
    if let Some(wait) = auth.limiter.blocked(ip) {
        return super::guard::too_many(wait, false);
    }
    let body = match axum::body::to_bytes(req.into_body(), 64 << 10).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::bad_request("invalid_request", "cannot read the login body")
                .into_response()
        }
    };
    let Ok(login) = serde_json::from_slice::<Login>(&body) else {
        return ApiError::bad_request(
            "invalid_request",
            "log in with a JSON body {\"token\": \"…\"}",
        )
        .into_response();
    };
    match auth.keyring.check(login.token.trim()) {
        Ok(key) => {
            let ttl = auth.sessions.ttl();
            let id = auth.sessions.start(*key.digest());
            let mut resp = Json(json!({
                "scopes": key.scopes.list(),
                "expires_in": ttl.as_secs(),
            }))
            .into_response();
            resp.headers_mut()
                .insert(header::SET_COOKIE, set_cookie(&auth, &id, ttl.as_secs()));
            resp
        }
        Err(refusal) => {
            auth.failed(ip, Some(refusal));
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this token is not valid (unknown, revoked or expired); ask an admin for \
                 one made with `skein token create`",
            )
            .into_response()
        }
    }
}

/// `DELETE /api/v1/session`: ends the session and clears the cookie.
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers) {
        state.auth.sessions.end(id);
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&state.auth, "", 0));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_ten_times_the_bound_hold_no_more_sessions_than_it() {
        let mut s = Sessions::new(Duration::from_secs(3600));
        s.max = 1_000;
        let ids: Vec<String> = (0..10 * s.max).map(|_| s.start([7; 32])).collect();
        assert_eq!(s.map.lock().unwrap().len(), s.max);
        // The newest sessions live, the oldest were dropped to make room.
        assert!(s.token_of(ids.last().unwrap()).is_some());
        assert!(s.token_of(&ids[0]).is_none());
    }
}
