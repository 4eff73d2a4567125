//! PLACEHOLDER: replaced by the real pre-issuance checks.
#![allow(missing_docs, unreachable_pub, dead_code)]
use std::sync::Mutex;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LintError {
    #[error("unparsable: {0}")]
    Unparsable(String),
}

pub fn key_identifier(spki_der: &[u8]) -> Result<Vec<u8>, LintError> {
    use der::Decode;
    let spki = spki::SubjectPublicKeyInfoRef::from_der(spki_der)
        .map_err(|e| LintError::Unparsable(e.to_string()))?;
    let d = ring::digest::digest(&ring::digest::SHA256, spki.subject_public_key.raw_bytes());
    Ok(d.as_ref().get(..20).unwrap_or_default().to_vec())
}

pub enum CertificateProfile<'a> {
    Root,
    IssuingCa,
    OcspResponder,
    Leaf {
        key_usage: &'a [crate::model::KeyUsage],
        extended_key_usage: &'a [crate::model::ExtendedKeyUsage],
        policy_oid: &'a [u64],
        san_required: bool,
    },
}
pub struct CertificateExpectations<'a> {
    pub profile: CertificateProfile<'a>,
    pub issuer_name: &'a [u8],
    pub issuer_key_id: &'a [u8],
    pub issuer_not_before: i64,
    pub issuer_not_after: i64,
    pub signature_algorithm: &'a [u8],
}
pub fn check_certificate(_tbs: &[u8], _e: &CertificateExpectations<'_>) -> Result<(), LintError> {
    Ok(())
}
pub struct CrlExpectations<'a> {
    pub issuer_name: &'a [u8],
    pub issuer_key_id: &'a [u8],
    pub signature_algorithm: &'a [u8],
}
pub fn check_crl(_tbs: &[u8], _e: &CrlExpectations<'_>) -> Result<(), LintError> {
    Ok(())
}
pub struct CheckedKey<'a, K: rcgen::SigningKey> {
    key: &'a K,
    check: &'a (dyn Fn(&[u8]) -> Result<(), LintError> + Sync),
    failure: Mutex<Option<LintError>>,
}
impl<'a, K: rcgen::SigningKey> CheckedKey<'a, K> {
    pub fn new(key: &'a K, check: &'a (dyn Fn(&[u8]) -> Result<(), LintError> + Sync)) -> Self {
        CheckedKey {
            key,
            check,
            failure: Mutex::new(None),
        }
    }
    pub fn take_failure(&self) -> Option<LintError> {
        self.failure.lock().ok().and_then(|mut f| f.take())
    }
}
impl<K: rcgen::SigningKey> rcgen::PublicKeyData for CheckedKey<'_, K> {
    fn der_bytes(&self) -> &[u8] {
        self.key.der_bytes()
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.key.algorithm()
    }
}
impl<K: rcgen::SigningKey> rcgen::SigningKey for CheckedKey<'_, K> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        if let Err(e) = (self.check)(msg) {
            if let Ok(mut f) = self.failure.lock() {
                *f = Some(e);
            }
            return Err(rcgen::Error::RemoteKeyError);
        }
        self.key.sign(msg)
    }
}
