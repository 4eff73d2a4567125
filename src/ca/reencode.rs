//! Signature algorithms rcgen cannot write, for what rcgen builds (certificates, and the
//! root's CRLs): RSASSA-PSS (RFC 4055 §3.1) and SM2-with-SM3 (GM/T 0006, GM/T 0015).
//! rcgen 0.14's `SignatureAlgorithm` set is closed (a key's `algorithm()` must be one of
//! its statics, and it has neither), and it writes a subject's SubjectPublicKeyInfo from
//! that set too, so it cannot name the SM2 curve. So rcgen builds the certificate from
//! the profile with a [`Placeholder`] signer (an SM2 key presented as P-256), and this
//! module re-encodes the to-be-signed part through x509-cert: the key's
//! AlgorithmIdentifier, and the subject's own SubjectPublicKeyInfo. It then runs the
//! pre-issuance check on those exact bytes, signs them with the key and assembles the
//! result. Every extension, name, serial and validity stays rcgen's, built from the same
//! profile as for any other key. Issuing CA CRLs and OCSP responses are encoded by paypki
//! itself and only need the key's AlgorithmIdentifier.

use der::{Decode, Encode};
use spki::AlgorithmIdentifierOwned;

use super::lint::LintError;
use super::{CaError, CaKey};

/// Stands in for a PSS or SM2 key while rcgen encodes: same public key, a dummy signature that
/// [`resign_certificate`] / [`resign_crl`] replace. It signs nothing.
pub(super) struct Placeholder<'a>(pub(super) &'a CaKey);

impl rcgen::PublicKeyData for Placeholder<'_> {
    fn subject_public_key_info(&self) -> Vec<u8> {
        rcgen::PublicKeyData::subject_public_key_info(self.0)
    }
    fn der_bytes(&self) -> &[u8] {
        rcgen::PublicKeyData::der_bytes(self.0)
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        rcgen::PublicKeyData::algorithm(self.0)
    }
}

impl rcgen::SigningKey for Placeholder<'_> {
    fn sign(&self, _msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        Ok(vec![0])
    }
}

fn encoding(e: der::Error) -> CaError {
    CaError::Build(format!("re-encoding for the CA's signature algorithm: {e}"))
}

fn algorithm_of(key: &CaKey) -> Result<AlgorithmIdentifierOwned, CaError> {
    AlgorithmIdentifierOwned::from_der(&key.signature_algorithm_der()?).map_err(encoding)
}

/// Re-signs a certificate rcgen built with a [`Placeholder`]: the TBS `signature` field
/// and the outer `signatureAlgorithm` become `key`'s, the subject's key becomes
/// `subject_spki` (DER SubjectPublicKeyInfo), `check` runs on the new TBS, and `key`
/// signs it.
pub(super) fn resign_certificate(
    placeholder_der: &[u8],
    subject_spki: &[u8],
    key: &CaKey,
    check: &dyn Fn(&[u8]) -> Result<(), LintError>,
) -> Result<Vec<u8>, CaError> {
    let mut certificate = x509_cert::Certificate::from_der(placeholder_der).map_err(encoding)?;
    let algorithm = algorithm_of(key)?;
    certificate.tbs_certificate.signature = algorithm.clone();
    certificate.tbs_certificate.subject_public_key_info =
        spki::SubjectPublicKeyInfoOwned::from_der(subject_spki).map_err(encoding)?;
    let tbs = certificate.tbs_certificate.to_der().map_err(encoding)?;
    check(&tbs)?;
    let signature = key.try_sign(&tbs)?;
    certificate.signature_algorithm = algorithm;
    certificate.signature = der::asn1::BitString::from_bytes(&signature).map_err(encoding)?;
    certificate.to_der().map_err(encoding)
}

/// [`resign_certificate`] for a CRL.
pub(super) fn resign_crl(
    placeholder_der: &[u8],
    key: &CaKey,
    check: &dyn Fn(&[u8]) -> Result<(), LintError>,
) -> Result<Vec<u8>, CaError> {
    let mut crl = x509_cert::crl::CertificateList::from_der(placeholder_der).map_err(encoding)?;
    let algorithm = algorithm_of(key)?;
    crl.tbs_cert_list.signature = algorithm.clone();
    let tbs = crl.tbs_cert_list.to_der().map_err(encoding)?;
    check(&tbs)?;
    let signature = key.try_sign(&tbs)?;
    crl.signature_algorithm = algorithm;
    crl.signature = der::asn1::BitString::from_bytes(&signature).map_err(encoding)?;
    crl.to_der().map_err(encoding)
}
