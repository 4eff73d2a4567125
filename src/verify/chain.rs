//! Path validation to our root with rustls-webpki, cached per certificate.
//!
//! A leaf's chain (signatures, constraints) is validated once with webpki at a moment
//! inside the chain's validity window; the verifier keeps the window with the admitted
//! certificate, so later requests only compare their time against it.

use rustls_pki_types::{CertificateDer, UnixTime};
use webpki::{EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeIdIter, KeyUsage};

/// The EKU a chain must allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// Any purpose (EKU not checked).
    Any,
    /// id-kp-serverAuth, if the certificate has an EKU extension.
    ServerAuth,
    /// id-kp-clientAuth, if the certificate has an EKU extension.
    ClientAuth,
    /// id-kp-timeStamping in every certificate of the path that has an EKU extension
    /// (CA certificates without one allow any purpose); that the TSA certificate has it,
    /// alone and critical (RFC 3161 §2.3), `timestamp.rs` checks itself.
    TimeStamping,
}

struct AnyUsage;

impl ExtendedKeyUsageValidator for AnyUsage {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        // Still reject a malformed EKU extension.
        for id in iter {
            id?;
        }
        Ok(())
    }
}

/// Why a chain does not validate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainError {
    /// Not issued (by signature) under our root.
    UnknownIssuer(String),
    /// Some certificate of the chain is expired at that time.
    Expired,
    /// Some certificate of the chain is not yet valid at that time.
    NotYetValid,
    /// The certificate does not allow the requested usage.
    Usage(String),
    /// A signature algorithm webpki does not support.
    UnsupportedAlgorithm(String),
    /// Not a certificate.
    Malformed(String),
}

/// Validity window (Unix seconds, inclusive start, exclusive end) of a validated chain.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Latest notBefore of the chain.
    pub not_before: i64,
    /// Earliest notAfter of the chain.
    pub not_after: i64,
}

/// One of our issuing CAs, as path validation needs it.
struct IssuingCa {
    subject: Vec<u8>,
    der: CertificateDer<'static>,
    /// Where the root's and this CA's validity overlap.
    window: Window,
}

/// Validates chains to our roots (root 1, and those of further hierarchies such as an
/// SM2 one), through any of our issuing CAs.
pub struct ChainValidator {
    roots: Vec<CertificateDer<'static>>,
    issuing: Vec<IssuingCa>,
}

impl std::fmt::Debug for ChainValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainValidator").finish_non_exhaustive()
    }
}

fn validity(der: &[u8]) -> Option<Window> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(Window {
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
    })
}

const ALGORITHMS: &[&dyn rustls_pki_types::SignatureVerificationAlgorithm] = &[
    webpki::ring::ECDSA_P256_SHA256,
    webpki::ring::ECDSA_P256_SHA384,
    webpki::ring::ECDSA_P384_SHA256,
    webpki::ring::ECDSA_P384_SHA384,
    webpki::ring::ED25519,
    webpki::ring::RSA_PKCS1_2048_8192_SHA256,
    webpki::ring::RSA_PKCS1_2048_8192_SHA384,
    webpki::ring::RSA_PKCS1_2048_8192_SHA512,
    webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
    webpki::ring::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
    webpki::ring::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
    // webpki has no SM2; this one is backed by the `sm2` crate.
    crate::shangmi::SM2_WITH_SM3,
];

impl ChainValidator {
    /// A validator for chains ending at `root`, with our `issuing` CAs as intermediates.
    pub fn new(root: Vec<u8>, issuing: Vec<Vec<u8>>) -> Self {
        Self::with_roots(vec![root], issuing)
    }

    /// A validator for chains ending at any of `roots`, with our `issuing` CAs as
    /// intermediates; each issuing CA's window is the overlap with the root that names it
    /// as a subject's issuer.
    pub fn with_roots(roots: Vec<Vec<u8>>, issuing: Vec<Vec<u8>>) -> Self {
        let root_windows: Vec<(Vec<u8>, Option<Window>)> = roots
            .iter()
            .map(|der| {
                let subject = x509_parser::parse_x509_certificate(der)
                    .map(|(_, cert)| cert.subject().as_raw().to_vec())
                    .unwrap_or_default();
                (subject, validity(der))
            })
            .collect();
        let issuing = issuing
            .into_iter()
            .filter_map(|der| {
                let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
                let subject = cert.subject().as_raw().to_vec();
                let own = validity(&der)?;
                let root_window = root_windows
                    .iter()
                    .find(|(root_subject, _)| root_subject.as_slice() == cert.issuer().as_raw())
                    .and_then(|(_, window)| *window);
                let window = match root_window {
                    Some(r) => Window {
                        not_before: r.not_before.max(own.not_before),
                        not_after: r.not_after.min(own.not_after),
                    },
                    None => Window {
                        not_before: 0,
                        not_after: 0,
                    },
                };
                Some(IssuingCa {
                    subject,
                    der: CertificateDer::from(der),
                    window,
                })
            })
            .collect();
        ChainValidator {
            roots: roots.into_iter().map(CertificateDer::from).collect(),
            issuing,
        }
    }

    /// Validates a leaf's chain through one of our issuing CAs to our root, at a moment
    /// when every certificate of the chain is valid, and returns that window: whether the
    /// chain is ours is then settled, and a request's time is judged against the window.
    pub fn window(&self, leaf: &[u8]) -> Result<Window, ChainError> {
        let leaf_window = validity(leaf)
            .ok_or_else(|| ChainError::Malformed("not an X.509 certificate".into()))?;
        let ca_window = self.issuer_window(leaf).ok_or_else(|| {
            ChainError::UnknownIssuer("not issued by one of this CA's issuing CAs".into())
        })?;
        let window = Window {
            not_before: leaf_window.not_before.max(ca_window.not_before),
            not_after: leaf_window.not_after.min(ca_window.not_after),
        };
        if window.not_before >= window.not_after {
            return Err(ChainError::Expired);
        }
        self.validate(leaf, &[], window.not_before, Usage::Any)?;
        Ok(window)
    }

    /// The validity window of the issuing CA named as the leaf's issuer.
    fn issuer_window(&self, leaf: &[u8]) -> Option<Window> {
        let (_, cert) = x509_parser::parse_x509_certificate(leaf).ok()?;
        self.issuing
            .iter()
            .find(|ca| ca.subject.as_slice() == cert.issuer().as_raw())
            .map(|ca| ca.window)
    }

    /// Full path validation with webpki at `time`: leaf, the caller's intermediates plus
    /// our issuing CAs, to our root.
    pub fn validate(
        &self,
        leaf: &[u8],
        intermediates: &[Vec<u8>],
        time: i64,
        usage: Usage,
    ) -> Result<(), ChainError> {
        let leaf_der = CertificateDer::from(leaf);
        let end_entity =
            EndEntityCert::try_from(&leaf_der).map_err(|e| ChainError::Malformed(describe(&e)))?;
        let anchors = self
            .roots
            .iter()
            .map(|root| {
                webpki::anchor_from_trusted_cert(root)
                    .map_err(|e| ChainError::Malformed(format!("root: {}", describe(&e))))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut chain: Vec<CertificateDer<'_>> = intermediates
            .iter()
            .map(|c| CertificateDer::from(c.as_slice()))
            .collect();
        chain.extend(self.issuing.iter().map(|ca| ca.der.clone()));
        let seconds = u64::try_from(time).unwrap_or(0);
        let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(seconds));
        let result = match usage {
            Usage::Any => {
                end_entity.verify_for_usage(ALGORITHMS, &anchors, &chain, at, AnyUsage, None, None)
            }
            Usage::ServerAuth => end_entity.verify_for_usage(
                ALGORITHMS,
                &anchors,
                &chain,
                at,
                KeyUsage::server_auth(),
                None,
                None,
            ),
            Usage::ClientAuth => end_entity.verify_for_usage(
                ALGORITHMS,
                &anchors,
                &chain,
                at,
                KeyUsage::client_auth(),
                None,
                None,
            ),
            Usage::TimeStamping => end_entity.verify_for_usage(
                ALGORITHMS,
                &anchors,
                &chain,
                at,
                KeyUsage::required_if_present(crate::tsp::TIME_STAMPING_OID_VALUE),
                None,
                None,
            ),
        };
        result.map(|_| ()).map_err(classify)
    }
}

fn classify(error: webpki::Error) -> ChainError {
    use webpki::Error as E;
    let words = describe(&error);
    match error {
        E::CertExpired { .. } => ChainError::Expired,
        E::CertNotValidYet { .. } => ChainError::NotYetValid,
        E::RequiredEkuNotFoundContext(_) | E::EmptyEkuExtension => ChainError::Usage(words),
        E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
            ChainError::UnsupportedAlgorithm(words)
        }
        E::BadDer
        | E::BadDerTime
        | E::TrailingData(_)
        | E::UnsupportedCertVersion
        | E::MalformedExtensions => ChainError::Malformed(words),
        _ => ChainError::UnknownIssuer(words),
    }
}

/// What a webpki error means, in words: its `Display` is its Rust debug form
/// (`CaUsedAsEndEntity`, `RequiredEkuNotFoundContext(…)`), which tells a relying party
/// nothing.
fn describe(error: &webpki::Error) -> String {
    use webpki::Error as E;
    match error {
        E::BadDer | E::BadDerTime | E::TrailingData(_) => {
            "a certificate is not valid DER".into()
        }
        E::CaUsedAsEndEntity => "the first certificate is a CA certificate, not a participant's: give the participant's certificate first (leaf first, then the CA certificates; for a chain.pem written by `paypki enroll`, pass cert.pem with --cert)".into(),
        E::EndEntityUsedAsCa => "a participant's certificate stands where a CA certificate must be: the chain must start with the participant's certificate, followed only by CA certificates".into(),
        E::CertExpired { .. } => "a certificate of the chain had expired at that time".into(),
        E::CertNotValidYet { .. } => "a certificate of the chain was not yet valid at that time".into(),
        E::RequiredEkuNotFoundContext(_) | E::EmptyEkuExtension => "the certificate's extended key usage does not include the requested usage".into(),
        E::UnknownIssuer => "no certificate of this CA signed it: it was issued by another CA, or the chain lacks the issuing CA".into(),
        E::InvalidSignatureForPublicKey => "a signature in the chain does not verify with its issuer's key".into(),
        E::SignatureAlgorithmMismatch => "a certificate's inner and outer signature algorithms differ".into(),
        E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => "a certificate of the chain is signed with an algorithm paypki does not verify (ECDSA P-256/P-384, Ed25519 and RSA 2048–8192 bits are)".into(),
        E::PathLenConstraintViolated => "the chain is longer than a CA's path length constraint allows".into(),
        E::MaximumPathDepthExceeded | E::MaximumPathBuildCallsExceeded | E::MaximumSignatureChecksExceeded => "the chain is too long or too tangled to validate".into(),
        E::UnsupportedCertVersion => "a certificate is not X.509 version 3".into(),
        E::UnsupportedCriticalExtension => "a certificate has a critical extension paypki does not know".into(),
        E::MalformedExtensions | E::ExtensionValueInvalid => "a certificate has a malformed extension".into(),
        E::InvalidCertValidity => "a certificate's validity period is malformed".into(),
        E::NameConstraintViolation => "a name in the certificate breaks a CA's name constraints".into(),
        _ => "the chain does not validate to this CA's root".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_described_in_words_not_rust_names() {
        for error in [
            webpki::Error::CaUsedAsEndEntity,
            webpki::Error::EndEntityUsedAsCa,
            webpki::Error::UnknownIssuer,
            webpki::Error::EmptyEkuExtension,
            webpki::Error::BadDer,
            webpki::Error::UnsupportedCriticalExtension,
            webpki::Error::InvalidSignatureForPublicKey,
        ] {
            let words = describe(&error);
            let debug = format!("{error:?}");
            assert!(!words.contains(&debug), "{words}");
            assert!(words.contains(' ') && !words.contains("::"), "{words}");
        }
    }
}
