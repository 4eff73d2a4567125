//! Published CRLs (tree `crls`: issuing CA id (u32 BE) → [`StoredCrl`]): the newest CRL
//! of each issuing CA, so that every node sharing a database serves the same cRLNumber,
//! and a restarted server serves the CRL it published before.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{SledStore, StoreError};

/// A signed CRL as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCrl {
    /// cRLNumber.
    pub number: u64,
    /// thisUpdate.
    #[serde(with = "time::serde::rfc3339")]
    pub this_update: OffsetDateTime,
    /// nextUpdate.
    #[serde(with = "time::serde::rfc3339")]
    pub next_update: OffsetDateTime,
    /// Number of entries.
    pub entries: u64,
    /// DER.
    #[serde(with = "super::base64_bytes")]
    pub der: Vec<u8>,
}

impl StoredCrl {
    fn encode(&self) -> Result<Vec<u8>, StoreError> {
        serde_json::to_vec(self).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
    }
}

/// Where CRLs are published for every node.
pub trait CrlStore: Send + Sync {
    /// Keeps `crl` as issuing CA `issuer`'s newest CRL, durably, unless a CRL with a
    /// higher number is stored already (another node published a newer one); returns
    /// whether it was kept.
    fn save_crl(&self, issuer: u32, crl: &StoredCrl) -> Result<bool, StoreError>;
    /// Issuing CA `issuer`'s newest published CRL.
    fn latest_crl(&self, issuer: u32) -> Result<Option<StoredCrl>, StoreError>;
}

impl CrlStore for SledStore {
    fn save_crl(&self, issuer: u32, crl: &StoredCrl) -> Result<bool, StoreError> {
        let key = issuer.to_be_bytes();
        let encoded = crl.encode()?;
        loop {
            let current = self.crls.get(key)?;
            if let Some(bytes) = &current {
                if StoredCrl::decode(bytes)?.number >= crl.number {
                    return Ok(false);
                }
            }
            if self
                .crls
                .compare_and_swap(key, current, Some(encoded.as_slice()))?
                .is_ok()
            {
                self.flush()?;
                return Ok(true);
            }
        }
    }

    fn latest_crl(&self, issuer: u32) -> Result<Option<StoredCrl>, StoreError> {
        self.crls
            .get(issuer.to_be_bytes())?
            .map(|bytes| StoredCrl::decode(&bytes))
            .transpose()
    }
}
