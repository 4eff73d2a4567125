//! Signature mathematics with ring (and the `sm2` crate for SM2, see [`crate::shangmi`]):
//! which schemes exist, and checking one.

use crate::model::{KeyAlgorithm, PublicKey};

/// A signature scheme: the key family plus hash and padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureScheme {
    /// ECDSA P-256 with SHA-256, DER-encoded (r, s).
    EcdsaP256Sha256,
    /// ECDSA P-256 with SHA-384, DER-encoded (r, s).
    EcdsaP256Sha384,
    /// ECDSA P-384 with SHA-256, DER-encoded (r, s).
    EcdsaP384Sha256,
    /// ECDSA P-384 with SHA-384, DER-encoded (r, s).
    EcdsaP384Sha384,
    /// ECDSA P-256 with SHA-256, fixed-length r ‖ s (as in JWS / PKCS#11).
    EcdsaP256Sha256Fixed,
    /// ECDSA P-384 with SHA-384, fixed-length r ‖ s.
    EcdsaP384Sha384Fixed,
    /// Ed25519 (RFC 8032).
    Ed25519,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RsaPkcs1Sha256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RsaPkcs1Sha384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RsaPkcs1Sha512,
    /// RSASSA-PSS with SHA-256 (MGF1-SHA-256, salt length = hash length, as RFC 8017
    /// §9.1 recommends; openssl: `-sigopt rsa_pss_saltlen:digest`).
    RsaPssSha256,
    /// RSASSA-PSS with SHA-384.
    RsaPssSha384,
    /// RSASSA-PSS with SHA-512.
    RsaPssSha512,
    /// SM2 with SM3 (GM/T 0003.2), DER `SM2Signature` (GM/T 0009), over `Z ‖ M` where `Z`
    /// binds the key and a distinguishing ID (default `1234567812345678`).
    Sm2Sm3,
}

impl SignatureScheme {
    /// The default scheme for a key: what `paypki` clients sign with.
    pub fn default_for(key: &PublicKey) -> Self {
        match key.algorithm() {
            KeyAlgorithm::EcdsaP256 => SignatureScheme::EcdsaP256Sha256,
            KeyAlgorithm::EcdsaP384 => SignatureScheme::EcdsaP384Sha384,
            KeyAlgorithm::Ed25519 => SignatureScheme::Ed25519,
            KeyAlgorithm::Rsa => SignatureScheme::RsaPkcs1Sha256,
            KeyAlgorithm::Sm2 => SignatureScheme::Sm2Sm3,
        }
    }

    /// Every scheme a key of this algorithm can verify, most common first: what is tried
    /// when the caller does not name one.
    pub fn candidates(key: KeyAlgorithm) -> &'static [SignatureScheme] {
        use SignatureScheme as S;
        match key {
            KeyAlgorithm::EcdsaP256 => &[
                S::EcdsaP256Sha256,
                S::EcdsaP256Sha384,
                S::EcdsaP256Sha256Fixed,
            ],
            KeyAlgorithm::EcdsaP384 => &[
                S::EcdsaP384Sha384,
                S::EcdsaP384Sha256,
                S::EcdsaP384Sha384Fixed,
            ],
            KeyAlgorithm::Ed25519 => &[S::Ed25519],
            KeyAlgorithm::Rsa => &[
                S::RsaPkcs1Sha256,
                S::RsaPssSha256,
                S::RsaPkcs1Sha384,
                S::RsaPssSha384,
                S::RsaPkcs1Sha512,
                S::RsaPssSha512,
            ],
            KeyAlgorithm::Sm2 => &[S::Sm2Sm3],
        }
    }

    /// The name used in the API (`ecdsa-sha256`, `rsa-pss-sha256`, …).
    pub fn name(self) -> &'static str {
        use SignatureScheme as S;
        match self {
            S::EcdsaP256Sha256 | S::EcdsaP384Sha256 => "ecdsa-sha256",
            S::EcdsaP256Sha384 | S::EcdsaP384Sha384 => "ecdsa-sha384",
            S::EcdsaP256Sha256Fixed => "ecdsa-sha256-fixed",
            S::EcdsaP384Sha384Fixed => "ecdsa-sha384-fixed",
            S::Ed25519 => "ed25519",
            S::RsaPkcs1Sha256 => "rsa-pkcs1-sha256",
            S::RsaPkcs1Sha384 => "rsa-pkcs1-sha384",
            S::RsaPkcs1Sha512 => "rsa-pkcs1-sha512",
            S::RsaPssSha256 => "rsa-pss-sha256",
            S::RsaPssSha384 => "rsa-pss-sha384",
            S::RsaPssSha512 => "rsa-pss-sha512",
            S::Sm2Sm3 => "sm2-sm3",
        }
    }

    /// The schemes an API name stands for with this key (`ecdsa-sha256` depends on the curve).
    pub fn from_name(name: &str, key: KeyAlgorithm) -> Option<SignatureScheme> {
        Self::candidates(key)
            .iter()
            .copied()
            .find(|s| s.name() == name)
    }

    fn key_algorithm(self) -> KeyAlgorithm {
        match self {
            SignatureScheme::EcdsaP256Sha256
            | SignatureScheme::EcdsaP256Sha384
            | SignatureScheme::EcdsaP256Sha256Fixed => KeyAlgorithm::EcdsaP256,
            SignatureScheme::EcdsaP384Sha384
            | SignatureScheme::EcdsaP384Sha256
            | SignatureScheme::EcdsaP384Sha384Fixed => KeyAlgorithm::EcdsaP384,
            SignatureScheme::Ed25519 => KeyAlgorithm::Ed25519,
            SignatureScheme::Sm2Sm3 => KeyAlgorithm::Sm2,
            _ => KeyAlgorithm::Rsa,
        }
    }

    /// ring's verifier; None for SM2, which ring lacks.
    fn ring_algorithm(self) -> Option<&'static dyn ring::signature::VerificationAlgorithm> {
        use ring::signature as s;
        Some(match self {
            SignatureScheme::EcdsaP256Sha256 => &s::ECDSA_P256_SHA256_ASN1,
            SignatureScheme::EcdsaP256Sha384 => &s::ECDSA_P256_SHA384_ASN1,
            SignatureScheme::EcdsaP384Sha256 => &s::ECDSA_P384_SHA256_ASN1,
            SignatureScheme::EcdsaP384Sha384 => &s::ECDSA_P384_SHA384_ASN1,
            SignatureScheme::EcdsaP256Sha256Fixed => &s::ECDSA_P256_SHA256_FIXED,
            SignatureScheme::EcdsaP384Sha384Fixed => &s::ECDSA_P384_SHA384_FIXED,
            SignatureScheme::Ed25519 => &s::ED25519,
            SignatureScheme::RsaPkcs1Sha256 => &s::RSA_PKCS1_2048_8192_SHA256,
            SignatureScheme::RsaPkcs1Sha384 => &s::RSA_PKCS1_2048_8192_SHA384,
            SignatureScheme::RsaPkcs1Sha512 => &s::RSA_PKCS1_2048_8192_SHA512,
            SignatureScheme::RsaPssSha256 => &s::RSA_PSS_2048_8192_SHA256,
            SignatureScheme::RsaPssSha384 => &s::RSA_PSS_2048_8192_SHA384,
            SignatureScheme::RsaPssSha512 => &s::RSA_PSS_2048_8192_SHA512,
            SignatureScheme::Sm2Sm3 => return None,
        })
    }
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The scheme does not fit the key (e.g. Ed25519 over an RSA key).
    #[error("the signature scheme {scheme:?} does not fit a {key} key")]
    SchemeMismatch {
        /// The scheme asked for.
        scheme: SignatureScheme,
        /// The key's algorithm.
        key: KeyAlgorithm,
    },
    /// The mathematics failed: wrong key, altered message or altered signature.
    #[error("the signature does not verify")]
    Invalid,
}

/// Verifies `signature` over `message` with `key`; an SM2 signature with the default
/// distinguishing ID.
pub fn verify_signature(
    key: &PublicKey,
    scheme: SignatureScheme,
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    verify_signature_with_id(
        key,
        scheme,
        message,
        signature,
        crate::shangmi::DEFAULT_DISTINGUISHING_ID,
    )
}

/// [`verify_signature`] with the SM2 distinguishing ID the signer used (other schemes
/// ignore it).
pub fn verify_signature_with_id(
    key: &PublicKey,
    scheme: SignatureScheme,
    message: &[u8],
    signature: &[u8],
    sm2_distinguishing_id: &str,
) -> Result<(), SignatureError> {
    if scheme.key_algorithm() != key.algorithm() {
        return Err(SignatureError::SchemeMismatch {
            scheme,
            key: key.algorithm(),
        });
    }
    let verified = match scheme.ring_algorithm() {
        Some(algorithm) => ring::signature::UnparsedPublicKey::new(algorithm, key.raw_key())
            .verify(message, signature)
            .is_ok(),
        None => crate::shangmi::verify(key.raw_key(), sm2_distinguishing_id, message, signature),
    };
    if verified {
        Ok(())
    } else {
        Err(SignatureError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{PublicKeyData, SigningKey};

    #[test]
    fn verifies_rcgen_signatures_and_rejects_tampering() {
        for alg in [
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &rcgen::PKCS_ECDSA_P384_SHA384,
            &rcgen::PKCS_ED25519,
        ] {
            let key = rcgen::KeyPair::generate_for(alg).unwrap();
            let public = PublicKey::from_spki_der(&key.subject_public_key_info()).unwrap();
            let signature = key.sign(b"pay 10 EUR").unwrap();
            let scheme = SignatureScheme::default_for(&public);
            assert_eq!(
                verify_signature(&public, scheme, b"pay 10 EUR", &signature),
                Ok(())
            );
            assert_eq!(
                verify_signature(&public, scheme, b"pay 99 EUR", &signature),
                Err(SignatureError::Invalid)
            );
            assert!(matches!(
                verify_signature(&public, SignatureScheme::RsaPssSha256, b"x", &signature),
                Err(SignatureError::SchemeMismatch { .. })
            ));
        }
    }
}
