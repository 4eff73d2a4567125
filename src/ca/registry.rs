//! The registry of issuing CAs (`cas.toml`): which CA issues new certificates, and the
//! lifecycle of each one. Data directories made before rollover existed have no registry;
//! they hold exactly one issuing CA, id 1, which is active.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::CaError;
use crate::config::DataDir;
use crate::model::RevocationReason;

/// The lifecycle of one issuing CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaState {
    /// Issues new certificates (exactly one CA is active, unless it was revoked).
    Active,
    /// Replaced by a rollover: issues nothing new, keeps signing CRLs and OCSP responses
    /// for the certificates it issued until the last of them expires.
    Retired,
    /// Revoked by the root: listed on the root CRL; its certificates are no longer good.
    Revoked,
}

impl CaState {
    /// The name shown by `paypki ca list`.
    pub fn as_str(self) -> &'static str {
        match self {
            CaState::Active => "active",
            CaState::Retired => "retired",
            CaState::Revoked => "revoked",
        }
    }
}

/// A revocation made by a CA key (of an issuing CA by the root, or of a responder by its
/// issuing CA).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaRevocation {
    /// The revoked certificate's serial, lowercase hex.
    pub serial: String,
    /// RFC 5280 §5.3.1 reason.
    pub reason: RevocationReason,
    /// When it was revoked.
    #[serde(with = "time::serde::rfc3339")]
    pub revoked_at: OffsetDateTime,
}

/// One issuing CA in the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerEntry {
    /// 1, 2, …: names its files (`issuing-2.crt.pem`) and URLs (`/crl/issuing-2.crl`).
    pub id: u32,
    /// Its lifecycle.
    pub state: CaState,
    /// Set when the root revoked it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation: Option<CaRevocation>,
    /// Its revoked OCSP responder certificates: listed on its CRL.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revoked_responders: Vec<CaRevocation>,
    /// The root that signed it, when not root 1 (`certs/root.crt.pem`): a second
    /// hierarchy made by `paypki ca add-hierarchy` (an SM2 one beside ECDSA, say) has its
    /// own root, `certs/root-N.crt.pem`. Absent in registries written before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<u32>,
}

impl IssuerEntry {
    /// The root (hierarchy) it belongs to: 1 unless it names another.
    pub fn hierarchy(&self) -> u32 {
        self.root.unwrap_or(1)
    }
}

/// The whole registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    /// Every issuing CA, oldest first.
    #[serde(rename = "issuer")]
    pub issuers: Vec<IssuerEntry>,
}

impl Default for Registry {
    /// What a data directory without `cas.toml` holds: CA 1, active.
    fn default() -> Self {
        Registry {
            issuers: vec![IssuerEntry {
                id: 1,
                state: CaState::Active,
                revocation: None,
                revoked_responders: Vec::new(),
                root: None,
            }],
        }
    }
}

impl Registry {
    /// Reads `cas.toml`, or the single-CA default when it does not exist.
    pub fn load(dir: &DataDir) -> Result<Self, CaError> {
        let path = dir.ca_registry();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Registry::default()),
            Err(e) => return Err(CaError::io(&path, e)),
        };
        let registry: Registry = toml::from_str(&text)
            .map_err(|e| CaError::Setting(format!("{}: {e}", path.display())))?;
        if registry.issuers.is_empty() {
            return Err(CaError::Setting(format!(
                "{} lists no issuing CA",
                path.display()
            )));
        }
        Ok(registry)
    }

    /// Writes `cas.toml` atomically (a temporary file, fsync, rename).
    pub fn save(&self, dir: &DataDir) -> Result<(), CaError> {
        use std::io::Write;
        let path = dir.ca_registry();
        let text = toml::to_string(self).map_err(|e| CaError::Setting(e.to_string()))?;
        let tmp = path.with_extension("toml.tmp");
        let io = |e| CaError::io(&tmp, e);
        let mut file = std::fs::File::create(&tmp).map_err(io)?;
        file.write_all(
            format!("# The issuing CAs of this data directory; written by paypki.\n{text}")
                .as_bytes(),
        )
        .map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(|e| CaError::io(&path, e))
    }

    /// The CA that issues new certificates under root 1: the newest one that is active.
    pub fn active(&self) -> Option<&IssuerEntry> {
        self.issuers
            .iter()
            .rev()
            .find(|entry| entry.state == CaState::Active && entry.hierarchy() == 1)
    }

    /// The roots other than root 1 that issuing CAs name, ascending.
    pub fn other_roots(&self) -> Vec<u32> {
        let mut roots: Vec<u32> = self
            .issuers
            .iter()
            .map(IssuerEntry::hierarchy)
            .filter(|root| *root != 1)
            .collect();
        roots.sort_unstable();
        roots.dedup();
        roots
    }

    /// One CA by id.
    pub fn get(&self, id: u32) -> Option<&IssuerEntry> {
        self.issuers.iter().find(|entry| entry.id == id)
    }

    /// One CA by id, to change it.
    pub fn get_mut(&mut self, id: u32) -> Option<&mut IssuerEntry> {
        self.issuers.iter_mut().find(|entry| entry.id == id)
    }

    /// The id the next rollover creates.
    pub fn next_id(&self) -> u32 {
        self.issuers
            .iter()
            .map(|entry| entry.id)
            .max()
            .unwrap_or(0)
            .saturating_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_without_registry_has_ca_1_active() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        let registry = Registry::load(&data).unwrap();
        assert_eq!(registry.active().unwrap().id, 1);
        assert_eq!(registry.next_id(), 2);
    }

    #[test]
    fn registry_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        let mut registry = Registry::default();
        registry.get_mut(1).unwrap().state = CaState::Revoked;
        registry.get_mut(1).unwrap().revocation = Some(CaRevocation {
            serial: "0a".into(),
            reason: RevocationReason::CaCompromise,
            revoked_at: OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
        });
        registry.issuers.push(IssuerEntry {
            id: 2,
            state: CaState::Active,
            revocation: None,
            revoked_responders: Vec::new(),
            root: None,
        });
        registry.save(&data).unwrap();
        let loaded = Registry::load(&data).unwrap();
        assert_eq!(loaded, registry);
        assert_eq!(loaded.active().unwrap().id, 2);
    }
}
