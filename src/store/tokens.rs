//! Enrollment tokens and the admin credential: only hashes are stored.

use serde::{Deserialize, Serialize};
use sled::Transactional;
use time::OffsetDateTime;

use super::{audit, record, AuditEvent, SledStore, StoreError};
use crate::model::{Role, Serial};

pub(super) const ADMIN_HASH_KEY: &[u8] = b"admin_credential_sha256";

/// A stored enrollment token. The secret itself is never stored, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Public identifier (the first part of the token).
    pub id: String,
    /// SHA-256 of the secret part, hex.
    pub secret_sha256: String,
    /// The role the certificate will have.
    pub role: Role,
    /// The subject the certificate will have.
    pub subject: String,
    /// The SANs the certificate will have.
    pub subject_alt_names: Vec<String>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it stops working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When it was used (claimed), if it was.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub used_at: Option<OffsetDateTime>,
    /// The certificate it produced.
    #[serde(default)]
    pub serial: Option<Serial>,
    /// The officer who created it (requests it leads to are theirs under dual control).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// The request under dual control its enrollment became, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
    /// The registered participant it was made for (its names come from the registry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant: Option<String>,
}

/// What the enrollment path needs from storage.
pub trait TokenStore: Send + Sync {
    /// Stores a new token with its audit entry, durably.
    fn put_token(&self, token: &TokenRecord, event: AuditEvent) -> Result<(), StoreError>;
    /// Stores many new tokens with one audit entry and one flush (bulk onboarding).
    fn put_tokens(&self, tokens: &[TokenRecord], event: AuditEvent) -> Result<(), StoreError>;
    /// One token by id.
    fn token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError>;
    /// Marks the token used if it is still unused; returns false if someone else did.
    /// Atomic (compare-and-swap): of racing requests exactly one wins.
    fn claim_token(&self, id: &str, at: OffsetDateTime) -> Result<bool, StoreError>;
    /// Undoes a claim after an internal failure, so the participant can retry.
    fn release_token(&self, id: &str) -> Result<(), StoreError>;
    /// Records which certificate a claimed token produced.
    fn complete_token(&self, id: &str, serial: &Serial) -> Result<(), StoreError>;
    /// Records that a claimed token's enrollment waits for approval (request `approval`).
    fn token_awaits_approval(&self, id: &str, approval: &str) -> Result<(), StoreError>;
}

impl SledStore {
    /// Stores the admin credential's hash.
    pub fn set_admin_credential_hash(&self, sha256_hex: &str) -> Result<(), StoreError> {
        self.meta.insert(ADMIN_HASH_KEY, sha256_hex.as_bytes())?;
        self.flush()
    }

    /// The admin credential's hash, if one was created.
    pub fn admin_credential_hash(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .meta
            .get(ADMIN_HASH_KEY)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    fn update_token(
        &self,
        id: &str,
        change: impl Fn(&mut TokenRecord) -> bool,
    ) -> Result<bool, StoreError> {
        loop {
            let Some(old) = self.tokens.get(id.as_bytes())? else {
                return Ok(false);
            };
            let mut record = record::decode_token(&old)?;
            if !change(&mut record) {
                return Ok(false);
            }
            let new = record::encode_token(&record);
            // No flush here: a claim needs no durability of its own. The issuance that
            // follows is flushed (covering the claim); after a crash before that flush the
            // token is simply unused again, and no certificate exists.
            if self
                .tokens
                .compare_and_swap(id.as_bytes(), Some(old), Some(new))?
                .is_ok()
            {
                return Ok(true);
            }
        }
    }
}

impl TokenStore for SledStore {
    fn put_token(&self, token: &TokenRecord, event: AuditEvent) -> Result<(), StoreError> {
        let value = record::encode_token(token);
        (&self.tokens, &self.audit, &self.meta)
            .transaction(|(tokens, audit, meta)| {
                tokens.insert(token.id.as_bytes(), value.as_slice())?;
                audit::append(audit, meta, &event)?;
                Ok(())
            })
            .map_err(StoreError::from)?;
        self.flush()
    }

    fn put_tokens(&self, tokens: &[TokenRecord], event: AuditEvent) -> Result<(), StoreError> {
        let values: Vec<_> = tokens
            .iter()
            .map(|t| (t.id.as_bytes(), record::encode_token(t)))
            .collect();
        // All tokens and their audit entry, or nothing.
        (&self.tokens, &self.audit, &self.meta)
            .transaction(|(tree, audit, meta)| {
                for (id, value) in &values {
                    tree.insert(*id, value.as_slice())?;
                }
                audit::append(audit, meta, &event)?;
                Ok(())
            })
            .map_err(StoreError::from)?;
        self.flush()
    }

    fn token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.tokens
            .get(id.as_bytes())?
            .map(|v| record::decode_token(&v))
            .transpose()
    }

    fn claim_token(&self, id: &str, at: OffsetDateTime) -> Result<bool, StoreError> {
        self.update_token(id, |record| {
            if record.used_at.is_some() {
                return false;
            }
            record.used_at = Some(at);
            true
        })
    }

    fn release_token(&self, id: &str) -> Result<(), StoreError> {
        self.update_token(id, |record| {
            if record.serial.is_some() {
                return false;
            }
            record.used_at = None;
            true
        })
        .map(|_| ())
    }

    fn complete_token(&self, id: &str, serial: &Serial) -> Result<(), StoreError> {
        self.update_token(id, |record| {
            record.serial = Some(serial.clone());
            true
        })
        .map(|_| ())
    }

    fn token_awaits_approval(&self, id: &str, approval: &str) -> Result<(), StoreError> {
        self.update_token(id, |record| {
            record.approval = Some(approval.to_string());
            true
        })?;
        // The request itself is durable already; this makes the link durable too.
        self.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_claimed_once_even_under_contention() {
        let store = SledStore::temporary().unwrap();
        let now = OffsetDateTime::now_utc();
        let token = TokenRecord {
            id: "t1".into(),
            secret_sha256: "00".into(),
            role: Role::Buyer,
            subject: "CN=a".into(),
            subject_alt_names: vec![],
            created_at: now,
            expires_at: now + time::Duration::hours(1),
            used_at: None,
            serial: None,
            created_by: None,
            approval: None,
            participant: None,
        };
        store
            .put_token(&token, AuditEvent::new("token-create", "test"))
            .unwrap();
        let wins: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| store.claim_token("t1", now).unwrap()))
                .collect();
            handles
                .into_iter()
                .map(|h| usize::from(h.join().unwrap()))
                .sum()
        });
        assert_eq!(wins, 1);
        store.release_token("t1").unwrap();
        assert!(store.claim_token("t1", now).unwrap());
        store.complete_token("t1", &"01".parse().unwrap()).unwrap();
        store.release_token("t1").unwrap();
        assert!(
            !store.claim_token("t1", now).unwrap(),
            "a completed token stays used"
        );
    }
}
