//! Detached CMS / PKCS#7 SignedData (RFC 5652), decoded with RustCrypto's `cms`.
//!
//! What is checked, per RFC 5652 §5.4 and §11: the message-digest signed attribute equals
//! the digest of the detached message; the content-type attribute equals the
//! encapsulated content type; the signature covers the DER of the signed attributes (as
//! a SET OF). Without signed attributes the signature covers the message itself.
//!
//! SM2 (GM/T 0010-2012, the SM2 profile of PKCS#7): SignedData under either the RFC 5652
//! content type or GM/T 0010's (`1.2.156.10197.6.1.4.2.2`), digest SM3, signature
//! algorithm SM2-with-SM3 (`1.2.156.10197.1.501`), GM/T 0010's `sm2sign`
//! (`1.2.156.10197.1.301.1`) or id-ecPublicKey with an SM2 key, verified with the
//! request's distinguishing ID (default `1234567812345678`). Only detached signatures
//! with one signer, as for every other algorithm; GM/T 0010's enveloped and
//! signed-and-enveloped types are not signatures and are refused as not SignedData.

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use der::asn1::{ObjectIdentifier, OctetString};
use der::{Decode, Encode};

use crate::model::KeyAlgorithm;
use crate::signature::SignatureScheme;

const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
/// GM/T 0010-2012 §6: signedData of the SM2 cryptographic message syntax.
const ID_GMT_SIGNED_DATA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.156.10197.6.1.4.2.2");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const ID_MGF1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");
const ID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const ID_SUBJECT_KEY_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");

/// Why a CMS signature could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmsError {
    /// Not DER/PEM SignedData, or not exactly one signer.
    #[error("{0}")]
    Malformed(String),
    /// An algorithm paypki does not verify.
    #[error("{0}")]
    Unsupported(String),
    /// The digest or the attributes do not match the message.
    #[error("{0}")]
    Mismatch(String),
}

/// A parsed detached signature with one signer.
#[derive(Debug, Clone)]
pub struct DetachedSignature {
    /// Certificates carried in the SignedData (DER).
    pub certificates: Vec<Vec<u8>>,
    sid: SignerIdentifier,
    digest_algorithm: ObjectIdentifier,
    signed_attributes: Option<SignedAttributes>,
    signature_algorithm: ObjectIdentifier,
    pss: Option<PssParameters>,
    /// The signature value.
    pub signature: Vec<u8>,
}

/// What RSASSA-PSS parameters declare (RFC 4055 §3.1, with its defaults filled in).
#[derive(Debug, Clone)]
struct PssParameters {
    hash: ObjectIdentifier,
    /// The hash of MGF1, or `None` for a mask generation function other than MGF1.
    mgf1_hash: Option<ObjectIdentifier>,
    salt_length: u32,
}

#[derive(Debug, Clone)]
struct SignedAttributes {
    der: Vec<u8>,
    message_digest: Vec<u8>,
    content_type: Option<ObjectIdentifier>,
    econtent_type: ObjectIdentifier,
}

/// Parses DER or PEM (`CMS`, `PKCS7`) detached SignedData.
pub fn parse(input: &[u8]) -> Result<DetachedSignature, CmsError> {
    let malformed =
        |what: &str| CmsError::Malformed(format!("the CMS signature is malformed: {what}"));
    let trimmed = input.trim_ascii_start();
    let der = if trimmed.starts_with(b"-----BEGIN") {
        pem::parse(trimmed)
            .map_err(|_| malformed("bad PEM"))?
            .into_contents()
    } else {
        input.to_vec()
    };
    let info = ContentInfo::from_der(&der).map_err(|e| malformed(&e.to_string()))?;
    if info.content_type != ID_SIGNED_DATA && info.content_type != ID_GMT_SIGNED_DATA {
        return Err(malformed("not SignedData"));
    }
    let signed: SignedData = info
        .content
        .decode_as()
        .map_err(|e| malformed(&e.to_string()))?;
    if signed.encap_content_info.econtent.is_some() {
        return Err(malformed("the content is attached; send a detached signature (openssl cms -sign without -nodetach)"));
    }
    from_signed_data(&signed)
}

/// The one signer of a SignedData (detached or not), its certificates and attributes.
pub(crate) fn from_signed_data(signed: &SignedData) -> Result<DetachedSignature, CmsError> {
    let malformed =
        |what: &str| CmsError::Malformed(format!("the CMS signature is malformed: {what}"));
    let signers = signed.signer_infos.0.as_slice();
    let [signer] = signers else {
        return Err(malformed(&format!(
            "expected exactly one signer, found {}",
            signers.len()
        )));
    };
    let certificates = signed
        .certificates
        .as_ref()
        .map(|set| {
            set.0
                .iter()
                .filter_map(|choice| match choice {
                    CertificateChoices::Certificate(cert) => cert.to_der().ok(),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let signed_attributes = match &signer.signed_attrs {
        None => None,
        Some(attributes) => {
            let find = |id: ObjectIdentifier| attributes.iter().find(|a| a.oid == id);
            let digest_attr = find(ID_MESSAGE_DIGEST)
                .ok_or_else(|| malformed("signed attributes without message-digest"))?;
            let [digest_value] = digest_attr.values.as_slice() else {
                return Err(malformed("message-digest must have one value"));
            };
            let message_digest = digest_value
                .decode_as::<OctetString>()
                .map_err(|_| malformed("message-digest is not an OCTET STRING"))?
                .as_bytes()
                .to_vec();
            let content_type = match find(ID_CONTENT_TYPE) {
                Some(attr) => Some(
                    attr.values
                        .as_slice()
                        .first()
                        .and_then(|v| v.decode_as::<ObjectIdentifier>().ok())
                        .ok_or_else(|| malformed("content-type is not an OID"))?,
                ),
                None => None,
            };
            // RFC 5652 §5.4: the signature covers the DER of SET OF Attribute.
            let der = attributes.to_der().map_err(|e| malformed(&e.to_string()))?;
            Some(SignedAttributes {
                der,
                message_digest,
                content_type,
                econtent_type: signed.encap_content_info.econtent_type,
            })
        }
    };
    let pss = if signer.signature_algorithm.oid == ID_RSASSA_PSS {
        let params = signer
            .signature_algorithm
            .parameters
            .as_ref()
            .ok_or_else(|| malformed("RSASSA-PSS without parameters"))?;
        let pss: rsa_pss::Params = params
            .decode_as()
            .map_err(|_| malformed("bad RSASSA-PSS parameters"))?;
        // RFC 4055 §3.1 defaults: SHA-1, MGF1 with SHA-1, a salt of 20 octets.
        let mgf1_hash = match &pss.mask_gen {
            None => Some(ID_SHA1),
            Some(mgf) if mgf.oid == ID_MGF1 => Some(
                mgf.parameters
                    .as_ref()
                    .and_then(|p| p.decode_as::<spki::AlgorithmIdentifierOwned>().ok())
                    .map(|h| h.oid)
                    .ok_or_else(|| malformed("MGF1 without its hash"))?,
            ),
            Some(_) => None,
        };
        Some(PssParameters {
            hash: pss.hash.map(|h| h.oid).unwrap_or(ID_SHA1),
            mgf1_hash,
            salt_length: pss.salt_length.unwrap_or(20),
        })
    } else {
        None
    };
    Ok(DetachedSignature {
        certificates,
        sid: signer.sid.clone(),
        digest_algorithm: signer.digest_alg.oid,
        signed_attributes,
        signature_algorithm: signer.signature_algorithm.oid,
        pss,
        signature: signer.signature.as_bytes().to_vec(),
    })
}

/// Just enough of RFC 4055 RSASSA-PSS-params to learn the hash.
mod rsa_pss {
    use der::Sequence;
    use spki::AlgorithmIdentifierOwned;

    #[derive(Clone, Debug, Sequence)]
    pub(super) struct Params {
        #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
        pub(super) hash: Option<AlgorithmIdentifierOwned>,
        #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
        pub(super) mask_gen: Option<AlgorithmIdentifierOwned>,
        #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
        pub(super) salt_length: Option<u32>,
        #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
        pub(super) trailer_field: Option<u32>,
    }
}

fn hash_name(oid: &ObjectIdentifier) -> Option<&'static str> {
    match oid.to_string().as_str() {
        "2.16.840.1.101.3.4.2.1" => Some("sha256"),
        "2.16.840.1.101.3.4.2.2" => Some("sha384"),
        "2.16.840.1.101.3.4.2.3" => Some("sha512"),
        crate::shangmi::OID_SM3 => Some("sm3"),
        _ => None,
    }
}

fn digest(oid: &ObjectIdentifier, data: &[u8]) -> Option<Vec<u8>> {
    use ring::digest as d;
    let alg = match hash_name(oid)? {
        "sm3" => return Some(<sm3::Sm3 as sm3::Digest>::digest(data).to_vec()),
        "sha256" => &d::SHA256,
        "sha384" => &d::SHA384,
        _ => &d::SHA512,
    };
    Some(d::digest(alg, data).as_ref().to_vec())
}

impl DetachedSignature {
    /// Whether a certificate (DER) is the one the SignerIdentifier names.
    pub fn names_signer(&self, cert_der: &[u8]) -> bool {
        let Ok(cert) = x509_cert::Certificate::from_der(cert_der) else {
            return false;
        };
        match &self.sid {
            SignerIdentifier::IssuerAndSerialNumber(id) => {
                id.serial_number == cert.tbs_certificate.serial_number
                    && id.issuer == cert.tbs_certificate.issuer
            }
            SignerIdentifier::SubjectKeyIdentifier(ski) => cert
                .tbs_certificate
                .extensions
                .as_ref()
                .and_then(|exts| exts.iter().find(|e| e.extn_id == ID_SUBJECT_KEY_IDENTIFIER))
                .and_then(|e| OctetString::from_der(e.extn_value.as_bytes()).ok())
                .is_some_and(|value| value.as_bytes() == ski.0.as_bytes()),
        }
    }

    /// The signer's certificate among those carried, if any.
    pub fn carried_signer(&self) -> Option<&Vec<u8>> {
        self.certificates.iter().find(|c| self.names_signer(c))
    }

    /// Checks the attributes against the message and returns the bytes the signature
    /// covers and the scheme to check it with.
    pub fn signed_bytes(
        &self,
        message: &[u8],
        key: KeyAlgorithm,
    ) -> Result<(Vec<u8>, SignatureScheme), CmsError> {
        let covered = match &self.signed_attributes {
            Some(attributes) => {
                let computed = digest(&self.digest_algorithm, message).ok_or_else(|| {
                    CmsError::Unsupported(format!(
                        "digest algorithm {} is not supported (use SHA-256, SHA-384, SHA-512 or SM3)",
                        self.digest_algorithm
                    ))
                })?;
                if computed != attributes.message_digest {
                    return Err(CmsError::Mismatch("the message digest in the signature does not match the message (the message was altered)".into()));
                }
                if attributes
                    .content_type
                    .is_some_and(|ct| ct != attributes.econtent_type)
                {
                    return Err(CmsError::Mismatch(
                        "the content-type attribute does not match the signed content type".into(),
                    ));
                }
                attributes.der.clone()
            }
            None => message.to_vec(),
        };
        Ok((covered, self.scheme(key)?))
    }

    fn scheme(&self, key: KeyAlgorithm) -> Result<SignatureScheme, CmsError> {
        use SignatureScheme as S;
        let unsupported = || {
            CmsError::Unsupported(format!(
                "signature algorithm {} with a {key} key is not supported",
                self.signature_algorithm
            ))
        };
        let by_hash = |hash: Option<&'static str>| -> Option<SignatureScheme> {
            Some(match (key, hash?) {
                (KeyAlgorithm::EcdsaP256, "sha256") => S::EcdsaP256Sha256,
                (KeyAlgorithm::EcdsaP256, "sha384") => S::EcdsaP256Sha384,
                (KeyAlgorithm::EcdsaP384, "sha256") => S::EcdsaP384Sha256,
                (KeyAlgorithm::EcdsaP384, "sha384") => S::EcdsaP384Sha384,
                (KeyAlgorithm::Rsa, "sha256") => S::RsaPkcs1Sha256,
                (KeyAlgorithm::Rsa, "sha384") => S::RsaPkcs1Sha384,
                (KeyAlgorithm::Rsa, "sha512") => S::RsaPkcs1Sha512,
                (KeyAlgorithm::Sm2, "sm3") => S::Sm2Sm3,
                _ => return None,
            })
        };
        let scheme = match self.signature_algorithm.to_string().as_str() {
            "1.2.840.10045.4.3.2" => by_hash(Some("sha256")),
            "1.2.840.10045.4.3.3" => by_hash(Some("sha384")),
            "1.2.840.10045.2.1" => by_hash(hash_name(&self.digest_algorithm)),
            crate::shangmi::OID_SM2_WITH_SM3 | crate::shangmi::OID_SM2_SIGN => by_hash(Some("sm3")),
            "1.3.101.112" if key == KeyAlgorithm::Ed25519 => Some(S::Ed25519),
            "1.2.840.113549.1.1.1" => by_hash(hash_name(&self.digest_algorithm)),
            "1.2.840.113549.1.1.11" => by_hash(Some("sha256")),
            "1.2.840.113549.1.1.12" => by_hash(Some("sha384")),
            "1.2.840.113549.1.1.13" => by_hash(Some("sha512")),
            "1.2.840.113549.1.1.10" if key == KeyAlgorithm::Rsa => {
                let Some(pss) = &self.pss else {
                    return Err(unsupported());
                };
                let (scheme, hash_len) = match hash_name(&pss.hash) {
                    Some("sha256") => (S::RsaPssSha256, 32),
                    Some("sha384") => (S::RsaPssSha384, 48),
                    Some("sha512") => (S::RsaPssSha512, 64),
                    _ => return Err(CmsError::Unsupported(format!(
                        "RSASSA-PSS with hash {} is not supported: sign with SHA-256, SHA-384 or SHA-512 (openssl cms -sign -md sha256 -keyopt rsa_padding_mode:pss -keyopt rsa_pss_saltlen:digest)",
                        pss.hash
                    ))),
                };
                if pss.mgf1_hash != Some(pss.hash) {
                    return Err(CmsError::Unsupported(
                        "RSASSA-PSS whose mask generation is not MGF1 with the signature's own hash is not supported (OpenSSL's default is MGF1 with the same hash)".into(),
                    ));
                }
                // ring verifies PSS only with a salt as long as the hash (RFC 8017 §9.1's
                // recommendation); OpenSSL signs CMS with the longest salt the key allows
                // unless told otherwise. The salt length is declared here, so say so
                // rather than answer bad_signature for a signature that is sound.
                if pss.salt_length != hash_len {
                    return Err(CmsError::Unsupported(format!(
                        "RSASSA-PSS with a salt of {} octets is not supported: paypki verifies PSS with the salt as long as the hash ({hash_len} octets here); sign with `openssl cms -sign … -keyopt rsa_padding_mode:pss -keyopt rsa_pss_saltlen:digest`",
                        pss.salt_length
                    )));
                }
                Some(scheme)
            }
            _ => None,
        };
        scheme.ok_or_else(unsupported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cms::signed_data::{EncapsulatedContentInfo, SignerInfo, SignerInfos};
    use der::asn1::SetOfVec;
    use der::Any;
    use x509_cert::attr::Attribute;

    fn attribute(
        oid: ObjectIdentifier,
        value: &(impl der::EncodeValue + der::Tagged),
    ) -> Attribute {
        Attribute {
            oid,
            values: SetOfVec::try_from(vec![Any::encode_from(value).unwrap()]).unwrap(),
        }
    }

    /// A detached GM/T 0010 SignedData (its content type, SM3, sm2sign) over `message`
    /// by `key` with distinguishing ID `id`, as a GM/T 0010 library makes one; OpenSSL 3.0
    /// makes none.
    fn gmt_0010_signed_data(key: &sm2::SecretKey, id: &str, message: &[u8]) -> Vec<u8> {
        let oid = |dotted: &str| ObjectIdentifier::new(dotted).unwrap();
        let sm3 = spki::AlgorithmIdentifierOwned {
            oid: oid(crate::shangmi::OID_SM3),
            parameters: None,
        };
        let gmt_data = oid("1.2.156.10197.6.1.4.2.1");
        let digest = <sm3::Sm3 as sm3::Digest>::digest(message).to_vec();
        let signed_attrs = SetOfVec::try_from(vec![
            attribute(ID_CONTENT_TYPE, &gmt_data),
            attribute(ID_MESSAGE_DIGEST, &OctetString::new(digest).unwrap()),
        ])
        .unwrap();
        let signature = crate::shangmi::sign(key, id, &signed_attrs.to_der().unwrap()).unwrap();
        let signer = SignerInfo {
            version: cms::content_info::CmsVersion::V1,
            sid: SignerIdentifier::SubjectKeyIdentifier(
                x509_cert::ext::pkix::SubjectKeyIdentifier(OctetString::new(vec![1; 20]).unwrap()),
            ),
            digest_alg: sm3.clone(),
            signed_attrs: Some(signed_attrs),
            signature_algorithm: spki::AlgorithmIdentifierOwned {
                oid: oid(crate::shangmi::OID_SM2_SIGN),
                parameters: None,
            },
            signature: OctetString::new(signature).unwrap(),
            unsigned_attrs: None,
        };
        let signed_data = SignedData {
            version: cms::content_info::CmsVersion::V1,
            digest_algorithms: SetOfVec::try_from(vec![sm3]).unwrap(),
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: gmt_data,
                econtent: None,
            },
            certificates: None,
            crls: None,
            signer_infos: SignerInfos::try_from(vec![signer]).unwrap(),
        };
        ContentInfo {
            content_type: ID_GMT_SIGNED_DATA,
            content: Any::encode_from(&signed_data).unwrap(),
        }
        .to_der()
        .unwrap()
    }

    #[test]
    fn a_gmt_0010_sm2_signed_data_verifies_with_its_distinguishing_id() {
        let key = crate::shangmi::generate_secret().unwrap();
        let spki = sm2::pkcs8::EncodePublicKey::to_public_key_der(&key.public_key()).unwrap();
        let public = crate::model::PublicKey::from_spki_der(spki.as_bytes()).unwrap();
        let message = b"pay 10.00 CNY";
        let der = gmt_0010_signed_data(&key, "alice@shop.example", message);
        let parsed = parse(&der).unwrap();
        let (covered, scheme) = parsed.signed_bytes(message, KeyAlgorithm::Sm2).unwrap();
        assert_eq!(scheme, SignatureScheme::Sm2Sm3);
        let check = |id: &str| {
            crate::signature::verify_signature_with_id(
                &public,
                scheme,
                &covered,
                &parsed.signature,
                id,
            )
        };
        assert_eq!(check("alice@shop.example"), Ok(()));
        assert!(check(crate::shangmi::DEFAULT_DISTINGUISHING_ID).is_err());
        // Another message: the SM3 message digest no longer matches.
        assert!(matches!(
            parsed.signed_bytes(b"pay 99.00 CNY", KeyAlgorithm::Sm2),
            Err(CmsError::Mismatch(_))
        ));
        // An SM2 SignedData does not fit another key.
        assert!(matches!(
            parsed.signed_bytes(message, KeyAlgorithm::EcdsaP256),
            Err(CmsError::Unsupported(_))
        ));
    }
}
