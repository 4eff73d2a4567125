//! Reading a PKCS#10 certificate signing request: syntax, proof of possession (the
//! self-signature), the public key, and the names it asks for. Nothing here decides what
//! is issued: requested extensions other than SANs are ignored on purpose.

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;

use crate::model::{PublicKey, PublicKeyError};
use crate::names::{NameError, SubjectAltName, SubjectName};

/// Largest CSR accepted (an RSA-8192 CSR with many SANs is well under this).
pub const MAX_CSR_BYTES: usize = 64 * 1024;

/// Why a CSR is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsrError {
    /// Not a PEM or DER PKCS#10 request.
    #[error("the CSR is malformed: {0}")]
    Malformed(String),
    /// The self-signature does not verify: no proof of possession.
    #[error("the CSR's signature does not verify (no proof of possession of the private key)")]
    BadSignature,
    /// Signed with SHA-1 or an algorithm paypki does not accept.
    #[error("the CSR is signed with {0}, which is not accepted; sign it with SHA-256 or stronger")]
    WeakSignature(String),
    /// The public key is not usable.
    #[error(transparent)]
    Key(#[from] PublicKeyError),
}

impl CsrError {
    /// What kind of failure this is.
    pub fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind as K;
        match self {
            CsrError::Malformed(_) => K::BadCsr,
            CsrError::BadSignature => K::BadCsrSignature,
            CsrError::WeakSignature(_) => K::KeyRefused,
            CsrError::Key(e) => e.kind(),
        }
    }
}

/// A CSR whose signature verified.
#[derive(Debug, Clone)]
pub struct VerifiedCsr {
    /// The subject key.
    pub public_key: PublicKey,
    /// The subject it asks for, or why it cannot be used.
    pub subject: Result<SubjectName, NameError>,
    /// The SANs it asks for, or why they cannot be used.
    pub subject_alt_names: Result<Vec<SubjectAltName>, NameError>,
}

/// Parses PEM (`CERTIFICATE REQUEST`) or DER, and verifies the self-signature.
pub fn parse(input: &[u8]) -> Result<VerifiedCsr, CsrError> {
    if input.len() > MAX_CSR_BYTES {
        return Err(CsrError::Malformed(format!(
            "larger than {MAX_CSR_BYTES} bytes"
        )));
    }
    let trimmed = input.trim_ascii_start();
    let der = if trimmed.starts_with(b"-----BEGIN") {
        let parsed =
            pem::parse(trimmed).map_err(|e| CsrError::Malformed(format!("bad PEM: {e}")))?;
        if !matches!(
            parsed.tag(),
            "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST"
        ) {
            return Err(CsrError::Malformed(format!(
                "expected a PEM \"CERTIFICATE REQUEST\", found \"{}\"",
                parsed.tag()
            )));
        }
        parsed.into_contents()
    } else {
        input.to_vec()
    };
    let (rest, csr) = X509CertificationRequest::from_der(&der)
        .map_err(|e| CsrError::Malformed(format!("not a PKCS#10 request: {e}")))?;
    if !rest.is_empty() {
        return Err(CsrError::Malformed(
            "trailing bytes after the request".into(),
        ));
    }
    let sig_oid = csr.signature_algorithm.algorithm.to_id_string();
    // sha1WithRSAEncryption, sha1WithRSA (OIW), ecdsa-with-SHA1, md5WithRSA: collision-prone.
    if matches!(
        sig_oid.as_str(),
        "1.2.840.113549.1.1.5" | "1.3.14.3.2.29" | "1.2.840.10045.4.1" | "1.2.840.113549.1.1.4"
    ) {
        return Err(CsrError::WeakSignature(format!("{sig_oid} (MD5/SHA-1)")));
    }
    let public_key = PublicKey::from_x509(&csr.certification_request_info.subject_pki)?;
    verify_self_signature(&csr, &public_key, &sig_oid)?;
    let info = &csr.certification_request_info;
    let subject = SubjectName::from_x509(&info.subject);
    let subject_alt_names = requested_sans(&csr);
    Ok(VerifiedCsr {
        public_key,
        subject,
        subject_alt_names,
    })
}

/// Proof of possession. RSA keys under 2048 bits are verified with ring's legacy
/// verifiers, so that such a CSR is refused by the policy for its key size (a message
/// that names the minimum) rather than reported as a bad signature.
fn verify_self_signature(
    csr: &X509CertificationRequest<'_>,
    public_key: &PublicKey,
    sig_oid: &str,
) -> Result<(), CsrError> {
    use ring::signature as s;
    if public_key.algorithm() == crate::model::KeyAlgorithm::Sm2 {
        return verify_sm2_self_signature(csr, public_key, sig_oid);
    }
    if public_key.algorithm() == crate::model::KeyAlgorithm::Rsa && public_key.bits() < 2048 {
        let algorithm: &dyn s::VerificationAlgorithm = match sig_oid {
            "1.2.840.113549.1.1.11" => &s::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
            "1.2.840.113549.1.1.12" => &s::RSA_PKCS1_2048_8192_SHA384,
            "1.2.840.113549.1.1.13" => &s::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
            other => {
                return Err(CsrError::WeakSignature(format!(
                    "unsupported algorithm {other} for a small RSA key"
                )))
            }
        };
        return s::UnparsedPublicKey::new(algorithm, public_key.raw_key())
            .verify(
                csr.certification_request_info.raw,
                &csr.signature_value.data,
            )
            .map_err(|_| CsrError::BadSignature);
    }
    csr.verify_signature().map_err(|e| match e {
        x509_parser::error::X509Error::SignatureUnsupportedAlgorithm => {
            CsrError::WeakSignature(format!("unsupported algorithm {sig_oid}"))
        }
        _ => CsrError::BadSignature,
    })
}

/// Proof of possession of an SM2 key: SM2-with-SM3 with the default distinguishing ID,
/// as `openssl req -sm3 -sigopt distid:1234567812345678` signs (GM/T 0009 §10; x509-parser
/// knows no SM2).
fn verify_sm2_self_signature(
    csr: &X509CertificationRequest<'_>,
    public_key: &PublicKey,
    sig_oid: &str,
) -> Result<(), CsrError> {
    if sig_oid != crate::shangmi::OID_SM2_WITH_SM3 {
        return Err(CsrError::WeakSignature(format!(
            "{sig_oid} for an SM2 key (expected SM2-with-SM3, {})",
            crate::shangmi::OID_SM2_WITH_SM3
        )));
    }
    if crate::shangmi::verify(
        public_key.raw_key(),
        crate::shangmi::DEFAULT_DISTINGUISHING_ID,
        csr.certification_request_info.raw,
        &csr.signature_value.data,
    ) {
        Ok(())
    } else {
        Err(CsrError::BadSignature)
    }
}

fn requested_sans(csr: &X509CertificationRequest<'_>) -> Result<Vec<SubjectAltName>, NameError> {
    let mut names = Vec::new();
    if let Some(extensions) = csr.requested_extensions() {
        for extension in extensions {
            if let ParsedExtension::SubjectAlternativeName(san) = extension {
                for name in &san.general_names {
                    names.push(SubjectAltName::from_x509(name)?);
                }
            }
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csr(alg: &'static rcgen::SignatureAlgorithm, dn: &str, sans: &[&str]) -> (Vec<u8>, String) {
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        let mut params =
            rcgen::CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name = dn.parse::<SubjectName>().unwrap().to_rcgen().unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let request = params.serialize_request(&key).unwrap();
        (request.der().to_vec(), request.pem().unwrap())
    }

    #[test]
    fn reads_pem_and_der() {
        let (der, pem) = csr(
            &rcgen::PKCS_ECDSA_P256_SHA256,
            "CN=gw,O=Pay",
            &["pay.example"],
        );
        for input in [der.as_slice(), pem.as_bytes()] {
            let parsed = parse(input).unwrap();
            assert_eq!(parsed.public_key.describe(), "ecdsa-p256");
            assert_eq!(parsed.subject.clone().unwrap().to_string(), "CN=gw,O=Pay");
            assert_eq!(
                parsed.subject_alt_names.clone().unwrap()[0].to_string(),
                "dns:pay.example"
            );
        }
    }

    #[test]
    fn refuses_tampered_and_garbage() {
        let (mut der, _) = csr(&rcgen::PKCS_ED25519, "CN=a", &[]);
        // Flip a byte inside the subject CN value ("a").
        let at = der.iter().rposition(|b| *b == b'a').unwrap();
        der[at] = b'b';
        assert_eq!(parse(&der).unwrap_err(), CsrError::BadSignature);
        assert!(matches!(parse(b"hello"), Err(CsrError::Malformed(_))));
        assert!(matches!(
            parse(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
            Err(CsrError::Malformed(_))
        ));
        assert!(matches!(
            parse(&vec![0u8; MAX_CSR_BYTES + 1]),
            Err(CsrError::Malformed(_))
        ));
        let (der, _) = csr(&rcgen::PKCS_ECDSA_P384_SHA384, "CN=a", &[]);
        assert!(matches!(
            parse(&der[..der.len() - 3]),
            Err(CsrError::Malformed(_))
        ));
    }
}
