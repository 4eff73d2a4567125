//! RSASSA-PSS for what rcgen signs (certificates, and the root's CRLs). rcgen 0.14 knows
//! no RSASSA-PSS signature algorithm (a key's `algorithm()` must be one of its statics),
//! so for a PSS key rcgen builds the certificate with a [`Placeholder`] signer, and this
//! module re-encodes the to-be-signed part with the PSS AlgorithmIdentifier (RFC 4055
//! §3.1) through x509-cert, runs the pre-issuance check on those exact bytes, signs them
//! with the key and assembles the result. Issuing CA CRLs and OCSP responses are encoded
//! by paypki itself and need none of this.

use der::{Decode, Encode};
use spki::AlgorithmIdentifierOwned;

use super::lint::LintError;
use super::{CaError, CaKey};

/// Stands in for a PSS key while rcgen encodes: same public key, a dummy signature that
/// [`resign_certificate`] / [`resign_crl`] replace. It signs nothing.
pub(super) struct Placeholder<'a>(pub(super) &'a CaKey);

impl rcgen::PublicKeyData for Placeholder<'_> {
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
    CaError::Build(format!("re-encoding for RSASSA-PSS: {e}"))
}

fn algorithm_of(key: &CaKey) -> Result<AlgorithmIdentifierOwned, CaError> {
    AlgorithmIdentifierOwned::from_der(&key.signature_algorithm_der()?).map_err(encoding)
}

/// Re-signs a certificate rcgen built with a [`Placeholder`]: the TBS `signature` field
/// and the outer `signatureAlgorithm` become `key`'s, `check` runs on the new TBS, and
/// `key` signs it.
pub(super) fn resign_certificate(
    placeholder_der: &[u8],
    key: &CaKey,
    check: &dyn Fn(&[u8]) -> Result<(), LintError>,
) -> Result<Vec<u8>, CaError> {
    let mut certificate = x509_cert::Certificate::from_der(placeholder_der).map_err(encoding)?;
    let algorithm = algorithm_of(key)?;
    certificate.tbs_certificate.signature = algorithm.clone();
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
