//! Console sessions: a random token in an HttpOnly, SameSite=Strict cookie; the server
//! keeps only its SHA-256 (a memory dump or a log of the session table yields no usable
//! cookie), with the officer's name and the session's CSRF token. Sessions end on logout,
//! after [`IDLE`] without a request, and [`LIFETIME`] after login whatever happens.
//! They live in this node's memory: a restart logs everyone out, and behind a load
//! balancer with several nodes the console needs sticky sessions (docs/operations.md).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;

/// The cookie's name.
pub(crate) const COOKIE: &str = "paypki_console";
/// A session ends after this long without a request.
pub(crate) const IDLE: Duration = Duration::from_secs(30 * 60);
/// A session ends this long after login.
pub(crate) const LIFETIME: Duration = Duration::from_secs(8 * 60 * 60);
/// Most sessions at once; the oldest is dropped beyond it (bounds memory against a
/// client that logs in in a loop with a valid credential).
const MAX_SESSIONS: usize = 10_000;

/// One logged-in officer.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// The officer's name (roles are read afresh on every request).
    pub(crate) officer: String,
    /// The token every form of this session carries (synchronizer token).
    pub(crate) csrf: String,
    started: Instant,
    last_seen: Instant,
}

/// The sessions of this node, by SHA-256 of their token.
#[derive(Debug)]
pub(crate) struct Sessions {
    by_hash: Mutex<HashMap<String, Session>>,
    /// When the server started (the console's request rates are averaged since).
    pub(crate) started: Instant,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions {
            by_hash: Mutex::new(HashMap::new()),
            started: Instant::now(),
        }
    }
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, data))
}

/// 32 random bytes as hex, or `None` when the system generator fails.
fn random_hex() -> Option<String> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut bytes).ok()?;
    Some(hex::encode(bytes))
}

impl Sessions {
    /// Opens a session for `officer`; returns the cookie value (never stored).
    pub(crate) fn open(&self, officer: &str) -> Option<String> {
        let token = random_hex()?;
        let csrf = random_hex()?;
        let now = Instant::now();
        let mut sessions = self.by_hash.lock().ok()?;
        sessions.retain(|_, s| alive(s, now));
        if sessions.len() >= MAX_SESSIONS {
            let oldest = sessions
                .iter()
                .min_by_key(|(_, s)| s.started)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(
            sha256_hex(token.as_bytes()),
            Session {
                officer: officer.to_string(),
                csrf,
                started: now,
                last_seen: now,
            },
        );
        Some(token)
    }

    /// The live session of a cookie value, its idle time restarted.
    pub(crate) fn find(&self, token: &str) -> Option<Session> {
        let hash = sha256_hex(token.as_bytes());
        let now = Instant::now();
        let mut sessions = self.by_hash.lock().ok()?;
        // A hash map lookup by the token's hash: what an attacker can time is the hash
        // of their own guess, which tells nothing about stored tokens.
        match sessions.get_mut(&hash) {
            Some(session) if alive(session, now) => {
                session.last_seen = now;
                Some(session.clone())
            }
            Some(_) => {
                sessions.remove(&hash);
                None
            }
            None => None,
        }
    }

    /// Ends the session of a cookie value.
    pub(crate) fn close(&self, token: &str) {
        if let Ok(mut sessions) = self.by_hash.lock() {
            sessions.remove(&sha256_hex(token.as_bytes()));
        }
    }
}

fn alive(session: &Session, now: Instant) -> bool {
    now.duration_since(session.last_seen) < IDLE && now.duration_since(session.started) < LIFETIME
}

/// Whether a form's CSRF token is the session's (constant time).
pub(crate) fn csrf_matches(expected: &str, presented: &str) -> bool {
    expected.len() == presented.len() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

/// The `Set-Cookie` value that opens a session; `Secure` when the browser reached the
/// console over HTTPS (through a proxy that says so).
pub(crate) fn cookie(token: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{}",
        LIFETIME.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the cookie.
pub(crate) fn expired_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_open_find_and_close() {
        let sessions = Sessions::default();
        let token = sessions.open("alice").unwrap();
        let found = sessions.find(&token).unwrap();
        assert_eq!(found.officer, "alice");
        assert!(csrf_matches(&found.csrf, &found.csrf.clone()));
        assert!(!csrf_matches(&found.csrf, "0"));
        assert!(sessions.find("not-a-token").is_none());
        // Only the hash is kept.
        assert!(!sessions.by_hash.lock().unwrap().contains_key(&token));
        sessions.close(&token);
        assert!(sessions.find(&token).is_none());
    }

    #[test]
    fn cookies_carry_the_flags() {
        let c = cookie("abc", true);
        for flag in [
            "HttpOnly",
            "SameSite=Strict",
            "Max-Age=28800",
            "Secure",
            "Path=/console",
        ] {
            assert!(c.contains(flag), "{c}");
        }
        assert!(!cookie("abc", false).contains("Secure"));
        assert!(expired_cookie(false).contains("Max-Age=0"));
    }
}
