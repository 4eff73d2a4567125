//! SM2 signatures with SM3, China's national commercial cryptography (ShangMi): the
//! mathematics by RustCrypto's `sm2` and `sm3` crates, the encodings here.
//!
//! - GM/T 0003.2-2012 (GB/T 32918.2-2016): the SM2 signature. The signer hashes
//!   `Z ‖ M` with SM3, where `Z` = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA) binds the
//!   signer's public key and a *distinguishing ID*; signer and verifier must use the same.
//! - GM/T 0009-2012 §10: the default distinguishing ID `1234567812345678` (also OpenSSL's
//!   and GM/T 0015's for certificate signatures), and the DER signature
//!   `SM2Signature ::= SEQUENCE { R INTEGER, S INTEGER }`.
//! - GM/T 0006-2012: OIDs. The curve `1.2.156.10197.1.301` (the SubjectPublicKeyInfo is
//!   id-ecPublicKey with that curve, RFC 5480 style), SM3 `1.2.156.10197.1.401`,
//!   SM2-with-SM3 `1.2.156.10197.1.501` (AlgorithmIdentifier without parameters).

use der::{Decode, Encode};
use sm2::dsa::signature::{Signer, Verifier};

/// The default SM2 distinguishing ID (GM/T 0009-2012 §10): used for certificate, CRL, OCSP
/// and CSR signatures, and for `/v1/verify` unless the request names another.
pub const DEFAULT_DISTINGUISHING_ID: &str = "1234567812345678";

/// The longest distinguishing ID: its length in bits is a 16-bit ENTL (GM/T 0003.2 §5.5).
pub const MAX_DISTINGUISHING_ID_BYTES: usize = 8191;

/// The SM2 curve (GM/T 0006-2012), as the parameter of id-ecPublicKey.
pub const OID_SM2_CURVE: &str = "1.2.156.10197.1.301";
/// [`OID_SM2_CURVE`] as an object identifier (compared without formatting: every
/// issuance asks whether its subject key is SM2).
const SM2_CURVE: spki::ObjectIdentifier = spki::ObjectIdentifier::new_unwrap(OID_SM2_CURVE);
/// sm2-with-SM3 (GM/T 0006-2012): the signature algorithm of certificates, CRLs, OCSP.
pub const OID_SM2_WITH_SM3: &str = "1.2.156.10197.1.501";
/// SM3 (GM/T 0006-2012), the digest of CMS SignedData per GM/T 0010.
pub const OID_SM3: &str = "1.2.156.10197.1.401";
/// The SM2 signature OID some GM/T 0010 signers put as the SignerInfo signatureAlgorithm.
pub const OID_SM2_SIGN: &str = "1.2.156.10197.1.301.1";

/// The SM2 curve's arcs, as `model::PublicKey` compares them.
pub(crate) const ARCS_SM2_CURVE: &[u64] = &[1, 2, 156, 10197, 1, 301];

/// Whether a DER SubjectPublicKeyInfo holds an SM2 key (id-ecPublicKey on the SM2 curve).
pub fn is_sm2_spki(der: &[u8]) -> bool {
    spki::SubjectPublicKeyInfoRef::from_der(der)
        .ok()
        .and_then(|info| info.algorithm.parameters_oid().ok())
        .is_some_and(|curve| curve == SM2_CURVE)
}

/// SM2-with-SM3 for rustls-webpki's path validation, which has no SM2 of its own but takes
/// any [`rustls_pki_types::SignatureVerificationAlgorithm`]: certificate signatures with
/// the default distinguishing ID (GM/T 0015 §6.2, GM/T 0009 §10).
pub static SM2_WITH_SM3: &dyn rustls_pki_types::SignatureVerificationAlgorithm = &Sm2WithSm3;

#[derive(Debug)]
struct Sm2WithSm3;

impl rustls_pki_types::SignatureVerificationAlgorithm for Sm2WithSm3 {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), rustls_pki_types::InvalidSignature> {
        if verify(public_key, DEFAULT_DISTINGUISHING_ID, message, signature) {
            Ok(())
        } else {
            Err(rustls_pki_types::InvalidSignature)
        }
    }

    /// The contents of the SubjectPublicKeyInfo's AlgorithmIdentifier: id-ecPublicKey
    /// (1.2.840.10045.2.1), then the SM2 curve (1.2.156.10197.1.301).
    fn public_key_alg_id(&self) -> rustls_pki_types::AlgorithmIdentifier {
        rustls_pki_types::AlgorithmIdentifier::from_slice(&[
            0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, // id-ecPublicKey
            0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d, // SM2 curve
        ])
    }

    /// The contents of the signature AlgorithmIdentifier: SM2-with-SM3
    /// (1.2.156.10197.1.501), no parameters.
    fn signature_alg_id(&self) -> rustls_pki_types::AlgorithmIdentifier {
        rustls_pki_types::AlgorithmIdentifier::from_slice(&[
            0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x83, 0x75,
        ])
    }
}

/// Why a distinguishing ID is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DistinguishingIdError {
    /// Longer than ENTL can say.
    #[error("the SM2 distinguishing ID is longer than {MAX_DISTINGUISHING_ID_BYTES} bytes")]
    TooLong,
}

/// Checks that `id` can be a distinguishing ID.
pub fn check_distinguishing_id(id: &str) -> Result<(), DistinguishingIdError> {
    if id.len() > MAX_DISTINGUISHING_ID_BYTES {
        return Err(DistinguishingIdError::TooLong);
    }
    Ok(())
}

#[derive(der::Sequence)]
struct SignatureValue<'a> {
    r: der::asn1::UintRef<'a>,
    s: der::asn1::UintRef<'a>,
}

/// A 32-byte big-endian scalar from an INTEGER's magnitude, or None when it is longer.
fn scalar(value: &der::asn1::UintRef<'_>) -> Option<[u8; 32]> {
    let bytes = value.as_bytes();
    let mut out = [0u8; 32];
    let start = 32usize.checked_sub(bytes.len())?;
    out.get_mut(start..)?.copy_from_slice(bytes);
    Some(out)
}

/// Reads a DER `SM2Signature` (strict DER: trailing bytes, non-minimal INTEGERs and a
/// zero or out-of-range scalar are refused).
pub fn signature_from_der(der: &[u8]) -> Option<sm2::dsa::Signature> {
    let value = SignatureValue::from_der(der).ok()?;
    let (r, s) = (scalar(&value.r)?, scalar(&value.s)?);
    sm2::dsa::Signature::from_scalars(r, s).ok()
}

/// Writes a signature as a DER `SM2Signature`.
pub fn signature_to_der(signature: &sm2::dsa::Signature) -> Result<Vec<u8>, der::Error> {
    let (r, s) = (signature.r_bytes(), signature.s_bytes());
    SignatureValue {
        r: der::asn1::UintRef::new(&r)?,
        s: der::asn1::UintRef::new(&s)?,
    }
    .to_der()
}

/// Whether the DER `signature` over `message` verifies with the SM2 public key
/// `public_point` (SEC 1 encoded, as in the SubjectPublicKeyInfo) and distinguishing ID.
pub fn verify(
    public_point: &[u8],
    distinguishing_id: &str,
    message: &[u8],
    signature: &[u8],
) -> bool {
    let Some(signature) = signature_from_der(signature) else {
        return false;
    };
    sm2::dsa::VerifyingKey::from_sec1_bytes(distinguishing_id, public_point)
        .is_ok_and(|key| key.verify(message, &signature).is_ok())
}

/// Signs `message` with `key` under `distinguishing_id`: a DER `SM2Signature`. The
/// nonce is derived from the key and the message (RFC 6979 with SM3, as the `sm2` crate
/// does), so no random generator can weaken it.
pub fn sign(
    key: &sm2::SecretKey,
    distinguishing_id: &str,
    message: &[u8],
) -> Result<Vec<u8>, String> {
    let signer = sm2::dsa::SigningKey::new(distinguishing_id, key)
        .map_err(|_| "not an SM2 signing key".to_string())?;
    let signature: sm2::dsa::Signature = signer
        .try_sign(message)
        .map_err(|_| "SM2 signing failed".to_string())?;
    signature_to_der(&signature).map_err(|e| format!("encoding the SM2 signature: {e}"))
}

/// A new SM2 private key from the system's random generator (a candidate outside
/// [1, n-1] is drawn again; that happens with probability about 2^-32 per draw).
pub fn generate_secret() -> Result<sm2::SecretKey, String> {
    use ring::rand::SecureRandom;
    let rng = ring::rand::SystemRandom::new();
    for _ in 0..64 {
        let mut candidate = zeroize::Zeroizing::new([0u8; 32]);
        rng.fill(candidate.as_mut())
            .map_err(|_| "the system random generator failed".to_string())?;
        if let Ok(key) = sm2::SecretKey::from_slice(candidate.as_ref()) {
            return Ok(key);
        }
    }
    Err("no valid SM2 key in 64 draws: the random generator is broken".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_with_the_distinguishing_id() {
        let key = generate_secret().unwrap();
        let point =
            sm2::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&key.public_key(), false);
        let signature = sign(&key, DEFAULT_DISTINGUISHING_ID, b"pay 10 CNY").unwrap();
        assert!(verify(
            point.as_bytes(),
            DEFAULT_DISTINGUISHING_ID,
            b"pay 10 CNY",
            &signature
        ));
        assert!(!verify(
            point.as_bytes(),
            DEFAULT_DISTINGUISHING_ID,
            b"pay 99 CNY",
            &signature
        ));
        // Another distinguishing ID gives another Z: the signature no longer verifies.
        assert!(!verify(
            point.as_bytes(),
            "alice@pay.example",
            b"pay 10 CNY",
            &signature
        ));
        let mut tampered = signature.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(!verify(
            point.as_bytes(),
            DEFAULT_DISTINGUISHING_ID,
            b"pay 10 CNY",
            &tampered
        ));
        // Trailing bytes are not DER.
        let mut long = signature;
        long.push(0);
        assert!(signature_from_der(&long).is_none());
    }

    #[test]
    fn webpki_algorithm_identifiers_are_the_oids() {
        use der::asn1::ObjectIdentifier;
        let oid = |der: &[u8]| ObjectIdentifier::from_der(der).unwrap().to_string();
        let public = SM2_WITH_SM3.public_key_alg_id();
        let (key, curve) = public.as_ref().split_at(9);
        assert_eq!(oid(key), "1.2.840.10045.2.1");
        assert_eq!(oid(curve), OID_SM2_CURVE);
        assert_eq!(
            oid(SM2_WITH_SM3.signature_alg_id().as_ref()),
            OID_SM2_WITH_SM3
        );
    }

    #[test]
    fn distinguishing_id_length_is_bounded_by_entl() {
        assert!(check_distinguishing_id(&"a".repeat(MAX_DISTINGUISHING_ID_BYTES)).is_ok());
        assert_eq!(
            check_distinguishing_id(&"a".repeat(MAX_DISTINGUISHING_ID_BYTES + 1)),
            Err(DistinguishingIdError::TooLong)
        );
    }
}
