//! Offline verification of RFC 3161 TimeStampTokens: what a relying party (the
//! transparency monitor, `paypki receipt verify`, a bank's own code) does with a token and
//! the CA's root certificate, without asking the server anything.
//!
//! Checked, in order: the token is SignedData over a TSTInfo (RFC 3161 §2.4.2) with one
//! signer; the signed attributes hold the content type id-ct-TSTInfo and the digest of the
//! TSTInfo (RFC 5652 §5.4, §11); the signature verifies with the signer certificate's key;
//! the signing-certificate-v2 attribute names that certificate (RFC 5816 §2.2.1, RFC 5035
//! §3: its hash, and issuer and serial when present); the certificate has the critical
//! EKU id-kp-timeStamping and no other (RFC 3161 §2.3); and it chains to the root at the
//! token's genTime (rustls-webpki, `chain.rs`). The imprint is compared when the caller
//! knows what was time-stamped.

use der::asn1::{ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use time::OffsetDateTime;

use super::chain::{ChainValidator, Usage};
use super::cms::from_signed_data;
use crate::model::PublicKey;
use crate::tsp::{
    HashAlgorithm, SigningCertificateV2, TstInfo, ID_AA_SIGNING_CERTIFICATE_V2, ID_CONTENT_TYPE,
    ID_CT_TST_INFO, ID_KP_TIME_STAMPING, ID_SIGNED_DATA,
};

/// Why a token is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// Not a TimeStampToken.
    #[error("the timestamp token is malformed: {0}")]
    Malformed(String),
    /// The signature, its attributes or the certificate binding do not hold.
    #[error("the timestamp token's signature is not valid: {0}")]
    BadSignature(String),
    /// The token covers other data than the caller's.
    #[error("the timestamp token covers other data: {0}")]
    ImprintMismatch(String),
    /// The signer is not a time-stamping authority under the given root.
    #[error("the timestamp token's signer is not trusted: {0}")]
    Untrusted(String),
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTimestamp {
    /// When the TSA saw the imprint (genTime; whole seconds, accuracy 1 s from paypki).
    pub gen_time: OffsetDateTime,
    /// The token's serial, lowercase hex of its INTEGER content octets.
    pub serial: String,
    /// The TSA policy the token was issued under.
    pub policy: ObjectIdentifier,
    /// The imprint's hash algorithm.
    pub hash_algorithm: HashAlgorithm,
    /// The imprint's digest.
    pub digest: Vec<u8>,
    /// The nonce echoed from the request, as INTEGER content octets.
    pub nonce: Option<Vec<u8>>,
    /// The TSA certificate (DER) that signed it.
    pub tsa_certificate: Vec<u8>,
}

/// Verifies a TimeStampToken (DER ContentInfo) against a trust anchor.
///
/// `root` is the trusted root certificate (DER); `certificates` are further certificates
/// to build the path with (the issuing CA, and the TSA certificate when the token was
/// requested without certReq); those the token carries are used too. With `imprint`,
/// the token must cover exactly that digest with that algorithm.
pub fn verify_token(
    token: &[u8],
    imprint: Option<(HashAlgorithm, &[u8])>,
    root: &[u8],
    certificates: &[Vec<u8>],
) -> Result<VerifiedTimestamp, TimestampError> {
    let malformed = |what: String| TimestampError::Malformed(what);
    let info = cms::content_info::ContentInfo::from_der(token)
        .map_err(|e| malformed(format!("not a DER ContentInfo ({e})")))?;
    if info.content_type != ID_SIGNED_DATA {
        return Err(malformed("not SignedData".into()));
    }
    let signed: cms::signed_data::SignedData = info
        .content
        .decode_as()
        .map_err(|e| malformed(format!("bad SignedData ({e})")))?;
    if signed.encap_content_info.econtent_type != ID_CT_TST_INFO {
        return Err(malformed(format!(
            "the content type is {}, not id-ct-TSTInfo",
            signed.encap_content_info.econtent_type
        )));
    }
    let tst_der = signed
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| malformed("no TSTInfo in the token".into()))?
        .decode_as::<OctetString>()
        .map_err(|e| malformed(format!("the TSTInfo is not an OCTET STRING ({e})")))?
        .as_bytes()
        .to_vec();
    let tst = TstInfo::from_der(&tst_der).map_err(|e| malformed(format!("bad TSTInfo ({e})")))?;
    let signature = from_signed_data(&signed).map_err(|e| malformed(e.to_string()))?;

    // The signer certificate: carried in the token, or given by the caller.
    let carried = signature.certificates.clone();
    let signer_cert = carried
        .iter()
        .chain(certificates.iter())
        .find(|c| signature.names_signer(c))
        .cloned()
        .ok_or_else(|| {
            TimestampError::Untrusted(
                "the TSA certificate is neither in the token (request it with certReq) nor among the certificates given".into(),
            )
        })?;
    let parsed = x509_cert::Certificate::from_der(&signer_cert)
        .map_err(|e| malformed(format!("the TSA certificate does not parse ({e})")))?;
    let spki = parsed
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| malformed(e.to_string()))?;
    let key = PublicKey::from_spki_der(&spki)
        .map_err(|e| TimestampError::Untrusted(format!("the TSA key is not usable: {e}")))?;

    // Signed attributes: content type, digest of the TSTInfo, signature.
    let [signer] = signed.signer_infos.0.as_slice() else {
        return Err(malformed("expected exactly one signer".into()));
    };
    let attributes = signer
        .signed_attrs
        .as_ref()
        .ok_or_else(|| malformed("no signed attributes".into()))?;
    let content_type = attributes
        .iter()
        .find(|a| a.oid == ID_CONTENT_TYPE)
        .and_then(|a| a.values.as_slice().first())
        .and_then(|v| v.decode_as::<ObjectIdentifier>().ok());
    if content_type != Some(ID_CT_TST_INFO) {
        return Err(TimestampError::BadSignature(
            "the content-type attribute is missing or not id-ct-TSTInfo".into(),
        ));
    }
    let (covered, scheme) = signature
        .signed_bytes(&tst_der, key.algorithm())
        .map_err(|e| TimestampError::BadSignature(e.to_string()))?;
    crate::signature::verify_signature(&key, scheme, &covered, &signature.signature).map_err(
        |_| TimestampError::BadSignature("the signature does not verify with the TSA key".into()),
    )?;

    // RFC 5816 §2.2.1 / RFC 5035 §5.4: the attribute binds the signer's certificate.
    let ess = attributes
        .iter()
        .find(|a| a.oid == ID_AA_SIGNING_CERTIFICATE_V2)
        .and_then(|a| a.values.as_slice().first())
        .ok_or_else(|| TimestampError::BadSignature("no signing-certificate-v2 attribute".into()))?
        .decode_as::<SigningCertificateV2>()
        .map_err(|e| malformed(format!("bad signing-certificate-v2 ({e})")))?;
    let first = ess.certs.first().ok_or_else(|| {
        TimestampError::BadSignature("signing-certificate-v2 names no certificate".into())
    })?;
    let hash = first.hash().ok_or_else(|| {
        TimestampError::BadSignature("signing-certificate-v2 uses an unknown hash".into())
    })?;
    if hash.digest(&signer_cert) != first.cert_hash.as_bytes() {
        return Err(TimestampError::BadSignature(
            "signing-certificate-v2 names another certificate than the signer's".into(),
        ));
    }
    if let Some(issuer_serial) = &first.issuer_serial {
        let named_issuer = issuer_serial.issuer.iter().any(|name| {
            matches!(name, x509_cert::ext::pkix::name::GeneralName::DirectoryName(n)
                if *n == parsed.tbs_certificate.issuer)
        });
        if !named_issuer || issuer_serial.serial_number != parsed.tbs_certificate.serial_number {
            return Err(TimestampError::BadSignature(
                "signing-certificate-v2's issuer and serial are not the signer certificate's"
                    .into(),
            ));
        }
    }

    check_time_stamping_eku(&signer_cert)?;
    let gen_time = OffsetDateTime::from_unix_timestamp(
        i64::try_from(tst.gen_time.to_unix_duration().as_secs())
            .map_err(|_| malformed("genTime out of range".into()))?,
    )
    .map_err(|_| malformed("genTime out of range".into()))?;
    let intermediates: Vec<Vec<u8>> = carried
        .iter()
        .chain(certificates.iter())
        .filter(|c| **c != signer_cert && c.as_slice() != root)
        .cloned()
        .collect();
    ChainValidator::new(root.to_vec(), intermediates)
        .validate(
            &signer_cert,
            &[],
            gen_time.unix_timestamp(),
            Usage::TimeStamping,
        )
        .map_err(|e| TimestampError::Untrusted(format!("{e:?}")))?;

    let hash_algorithm = HashAlgorithm::from_oid(&tst.message_imprint.hash_algorithm.oid)
        .ok_or_else(|| {
            malformed(format!(
                "the imprint's hash algorithm {} is not supported",
                tst.message_imprint.hash_algorithm.oid
            ))
        })?;
    let digest = tst.message_imprint.hashed_message.as_bytes().to_vec();
    if let Some((expected_hash, expected_digest)) = imprint {
        if expected_hash != hash_algorithm {
            return Err(TimestampError::ImprintMismatch(format!(
                "the token's imprint is {}, not {}",
                hash_algorithm.name(),
                expected_hash.name()
            )));
        }
        if expected_digest != digest.as_slice() {
            return Err(TimestampError::ImprintMismatch(
                "the token's imprint is not the digest of this data".into(),
            ));
        }
    }
    Ok(VerifiedTimestamp {
        gen_time,
        serial: hex::encode(tst.serial_number.as_bytes()),
        policy: tst.policy,
        hash_algorithm,
        digest,
        nonce: tst.nonce.map(|n| n.as_bytes().to_vec()),
        tsa_certificate: signer_cert,
    })
}

/// RFC 3161 §2.3: the TSA certificate has exactly one EKU, id-kp-timeStamping, critical.
fn check_time_stamping_eku(cert_der: &[u8]) -> Result<(), TimestampError> {
    let cert = x509_cert::Certificate::from_der(cert_der)
        .map_err(|e| TimestampError::Malformed(e.to_string()))?;
    let eku_oid = der::oid::db::rfc5280::ID_CE_EXT_KEY_USAGE;
    let extension = cert
        .tbs_certificate
        .extensions
        .as_ref()
        .and_then(|exts| exts.iter().find(|e| e.extn_id == eku_oid))
        .ok_or_else(|| {
            TimestampError::Untrusted("the TSA certificate has no extended key usage".into())
        })?;
    let usages = x509_cert::ext::pkix::ExtendedKeyUsage::from_der(extension.extn_value.as_bytes())
        .map_err(|e| TimestampError::Malformed(format!("bad extended key usage ({e})")))?;
    if !extension.critical || usages.0.as_slice() != [ID_KP_TIME_STAMPING] {
        return Err(TimestampError::Untrusted(
            "the TSA certificate's extended key usage is not id-kp-timeStamping alone and critical"
                .into(),
        ));
    }
    Ok(())
}
