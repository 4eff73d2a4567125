//! The time-stamping authority (RFC 3161): its certificate, issued by an issuing CA, and
//! the TimeStampTokens it signs.
//!
//! Each issuing CA has its own TSA (`certs/tsa.crt.pem` and `keys/tsa.key.pem` for CA 1,
//! `tsa-N` for CA N), made at `init` and at `rollover` beside the OCSP responder, and on
//! the first load of a data directory from before TSAs existed. The active issuing CA's
//! TSA signs new tokens; the others' certificates stay valid, so old tokens still verify.
//!
//! Its certificate lives as long as its issuing CA (RFC 3161 §2.3 leaves the period to the
//! TSA's policy): a token can be checked only while its TSA certificate is valid (OpenSSL's
//! `ts -verify` checks the chain at the present time), and evidence for a dispute must
//! stay checkable for years. Shorter-lived keys would need archived renewals (RFC 3161
//! §4, "the TSA's signing key ... must be of a sufficient length"); the issuing CA bounds
//! it instead, and a compromised TSA key is revoked with its issuing CA's CRL.

use std::path::Path;

use der::asn1::{GeneralizedTime, Int, OctetString, SetOfVec};
use der::{Any, Decode, Encode};
use rcgen::{
    CertificateParams, CrlDistributionPoint, IsCa, KeyIdMethod, KeyUsagePurpose, SerialNumber,
};
use time::OffsetDateTime;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::spki::AlgorithmIdentifierOwned;

use super::authority::{sign_checked, CaCertificate, Signed};
use super::keys::{KeyLocation, KeyStoreChoice, NewKey, SignatureScheme, TokenConfig};
use super::{ca_name, ceremony, extensions, lint, CaError, CaKey, Passphrase, BACKDATE};
use crate::config::{CaSettings, DataDir};
use crate::tsp::{
    Accuracy, EssCertIdV2, HashAlgorithm, IssuerSerial, MessageImprint, SigningCertificateV2,
    TspVersion, TstInfo, ID_AA_SIGNING_CERTIFICATE_V2, ID_CONTENT_TYPE, ID_CT_TST_INFO,
    ID_MESSAGE_DIGEST, ID_SIGNED_DATA, TSA_POLICY,
};

/// What a TimeStampReq asks for, after the RA accepted it (RFC 3161 §2.4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampRequest {
    /// The message imprint's hash algorithm (SHA-256, SHA-384 or SHA-512).
    pub hash_algorithm: der::asn1::ObjectIdentifier,
    /// Whether the request's AlgorithmIdentifier carried NULL parameters (OpenSSL's
    /// `ts -query` does) rather than none: the token repeats the imprint as it came
    /// (RFC 3161 §2.4.2: it "MUST have the same value as the similar field in
    /// TimeStampReq").
    pub hash_parameters_null: bool,
    /// The digest of the data being time-stamped.
    pub digest: Vec<u8>,
    /// The nonce, as the content octets of its DER INTEGER; echoed in the token.
    pub nonce: Option<Vec<u8>>,
    /// Whether the TSA certificate goes into the token (`certReq`).
    pub cert_req: bool,
    /// The policy asked for; the TSA has one ([`TSA_POLICY`]) and refuses others.
    pub policy: Option<der::asn1::ObjectIdentifier>,
}

/// A TimeStampToken: the DER of a ContentInfo holding SignedData over a TSTInfo.
pub type TimestampToken = Vec<u8>;

/// A loaded TSA: its certificate and key, and what every token repeats.
pub(crate) struct Tsa {
    pub(super) certificate: CaCertificate,
    key: CaKey,
    /// The issuing CA's certificate, sent with the TSA's when certReq asks.
    issuer_der: Vec<u8>,
    digest: HashAlgorithm,
    signature_algorithm: AlgorithmIdentifierOwned,
    sid: cms::signed_data::SignerIdentifier,
    signing_certificate: Attribute,
}

impl Tsa {
    fn new(certificate: CaCertificate, key: CaKey, issuer_der: Vec<u8>) -> Result<Self, CaError> {
        let build = |what: &str, e: der::Error| CaError::Build(format!("TSA {what}: {e}"));
        let cert = x509_cert::Certificate::from_der(&certificate.der)
            .map_err(|e| build("certificate", e))?;
        let digest = match key.scheme() {
            SignatureScheme::EcdsaSha384 => HashAlgorithm::Sha384,
            // RFC 8419 §3: with signed attributes, Ed25519 uses SHA-512 as the digest.
            SignatureScheme::Ed25519 => HashAlgorithm::Sha512,
            SignatureScheme::EcdsaSha256
            | SignatureScheme::RsaPkcs1Sha256
            | SignatureScheme::RsaPssSha256 => HashAlgorithm::Sha256,
            // Never made: an SM2 CA's TSA key is P-256 (`tsa_algorithm`).
            SignatureScheme::Sm2Sm3 => return Err(CaError::Setting(
                "a TSA key cannot be SM2: RFC 3161 tokens are signed with ECDSA, Ed25519 or RSA"
                    .into(),
            )),
        };
        let signature_algorithm =
            AlgorithmIdentifierOwned::from_der(&key.signature_algorithm_der()?)
                .map_err(|e| build("signature algorithm", e))?;
        let issuer = cert.tbs_certificate.issuer.clone();
        let serial_number = cert.tbs_certificate.serial_number.clone();
        // RFC 5816 §2.2.1: ESSCertIDv2 with SHA-256 (the DEFAULT, so omitted in DER).
        let ess = SigningCertificateV2 {
            certs: vec![EssCertIdV2 {
                hash_algorithm: None,
                cert_hash: OctetString::new(HashAlgorithm::Sha256.digest(&certificate.der))
                    .map_err(|e| build("certificate hash", e))?,
                issuer_serial: Some(IssuerSerial {
                    issuer: vec![GeneralName::DirectoryName(issuer.clone())],
                    serial_number: serial_number.clone(),
                }),
            }],
            policies: None,
        };
        let signing_certificate = attribute(ID_AA_SIGNING_CERTIFICATE_V2, &ess)
            .map_err(|e| build("signing-certificate-v2", e))?;
        Ok(Tsa {
            certificate,
            key,
            issuer_der,
            digest,
            signature_algorithm,
            sid: cms::signed_data::SignerIdentifier::IssuerAndSerialNumber(
                cms::cert::IssuerAndSerialNumber {
                    issuer,
                    serial_number,
                },
            ),
            signing_certificate,
        })
    }

    /// Its certificate.
    pub(crate) fn certificate(&self) -> &CaCertificate {
        &self.certificate
    }

    /// Its key.
    pub(crate) fn key(&self) -> &CaKey {
        &self.key
    }

    /// Signs a token for an accepted request at `now`.
    pub(super) fn sign(
        &self,
        request: &TimestampRequest,
        now: OffsetDateTime,
    ) -> Result<TimestampToken, CaError> {
        let build = |what: &str, e: der::Error| CaError::Build(format!("timestamp {what}: {e}"));
        let hash = HashAlgorithm::from_oid(&request.hash_algorithm).ok_or_else(|| {
            CaError::Refused(format!(
                "hash algorithm {} is not supported (SHA-256, SHA-384, SHA-512 are)",
                request.hash_algorithm
            ))
        })?;
        if request.digest.len() != hash.digest_len() {
            return Err(CaError::Refused(format!(
                "a {} digest has {} octets, not {}",
                hash.name(),
                hash.digest_len(),
                request.digest.len()
            )));
        }
        if let Some(policy) = request.policy {
            if policy != TSA_POLICY {
                return Err(CaError::Refused(format!(
                    "policy {policy} is not this TSA's ({TSA_POLICY})"
                )));
            }
        }
        if now >= self.certificate.not_after || now < self.certificate.not_before {
            return Err(CaError::Refused(
                "the TSA certificate is not valid now".into(),
            ));
        }
        let seconds = u64::try_from(now.unix_timestamp())
            .map_err(|_| CaError::Refused("the clock is before 1970".into()))?;
        let gen_time = GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(seconds))
            .map_err(|e| build("genTime", e))?;
        let tst_info = TstInfo {
            version: TspVersion::V1,
            policy: TSA_POLICY,
            message_imprint: MessageImprint {
                hash_algorithm: x509_cert::spki::AlgorithmIdentifier {
                    oid: hash.oid(),
                    parameters: request
                        .hash_parameters_null
                        .then(|| Any::from(der::asn1::Null)),
                },
                hashed_message: OctetString::new(request.digest.clone())
                    .map_err(|e| build("imprint", e))?,
            },
            serial_number: Int::new(&token_serial()?).map_err(|e| build("serial", e))?,
            gen_time,
            accuracy: Some(Accuracy {
                seconds: Some(1),
                millis: None,
                micros: None,
            }),
            ordering: false,
            nonce: request
                .nonce
                .as_deref()
                .map(Int::new)
                .transpose()
                .map_err(|e| build("nonce", e))?,
            tsa: None,
            extensions: None,
        };
        let tst_der = tst_info.to_der().map_err(|e| build("TSTInfo", e))?;
        // RFC 5652 §5.3–§5.4: content type and message digest are signed attributes;
        // RFC 3161 §2.4.2 / RFC 5816 §2.2.1 add signing-certificate-v2.
        let content_type =
            attribute(ID_CONTENT_TYPE, &ID_CT_TST_INFO).map_err(|e| build("content type", e))?;
        let message_digest = attribute(
            ID_MESSAGE_DIGEST,
            &OctetString::new(self.digest.digest(&tst_der)).map_err(|e| build("digest", e))?,
        )
        .map_err(|e| build("message digest", e))?;
        let signed_attrs = SetOfVec::try_from(vec![
            content_type,
            message_digest,
            self.signing_certificate.clone(),
        ])
        .map_err(|e| build("signed attributes", e))?;
        let to_sign = signed_attrs
            .to_der()
            .map_err(|e| build("signed attributes", e))?;
        let signature = self.key.try_sign(&to_sign)?;
        let signer = cms::signed_data::SignerInfo {
            version: cms::content_info::CmsVersion::V1,
            sid: self.sid.clone(),
            digest_alg: self.digest.algorithm_identifier(),
            signed_attrs: Some(signed_attrs),
            signature_algorithm: self.signature_algorithm.clone(),
            signature: OctetString::new(signature).map_err(|e| build("signature", e))?,
            unsigned_attrs: None,
        };
        let certificates = if request.cert_req {
            // RFC 3161 §2.4.1: certReq puts the TSA's certificate in; the issuing CA's
            // may join it, so a relying party needs only the root.
            let mut set = Vec::with_capacity(2);
            for der in [&self.certificate.der, &self.issuer_der] {
                set.push(cms::cert::CertificateChoices::Certificate(
                    x509_cert::Certificate::from_der(der).map_err(|e| build("certificate", e))?,
                ));
            }
            Some(cms::signed_data::CertificateSet::try_from(set).map_err(|e| build("certs", e))?)
        } else {
            None
        };
        let signed_data = cms::signed_data::SignedData {
            // RFC 5652 §5.1: version 3 when eContentType is not id-data.
            version: cms::content_info::CmsVersion::V3,
            digest_algorithms: SetOfVec::try_from(vec![self.digest.algorithm_identifier()])
                .map_err(|e| build("digest algorithms", e))?,
            encap_content_info: cms::signed_data::EncapsulatedContentInfo {
                econtent_type: ID_CT_TST_INFO,
                econtent: Some(
                    Any::new(der::Tag::OctetString, tst_der).map_err(|e| build("content", e))?,
                ),
            },
            certificates,
            crls: None,
            signer_infos: cms::signed_data::SignerInfos::try_from(vec![signer])
                .map_err(|e| build("signer infos", e))?,
        };
        cms::content_info::ContentInfo {
            content_type: ID_SIGNED_DATA,
            content: Any::encode_from(&signed_data).map_err(|e| build("SignedData", e))?,
        }
        .to_der()
        .map_err(|e| build("ContentInfo", e))
    }
}

/// An attribute with one value.
fn attribute(
    oid: der::asn1::ObjectIdentifier,
    value: &(impl der::EncodeValue + der::Tagged),
) -> Result<Attribute, der::Error> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![Any::encode_from(value)?])?,
    })
}

/// A token serial: 20 random octets, positive and minimal (RFC 3161 §2.4.2: unique per
/// token, up to 160 bits). 159 random bits make a repeat practically impossible without a
/// counter shared by every node.
fn token_serial() -> Result<[u8; 20], CaError> {
    use ring::rand::SecureRandom;
    let mut serial = [0u8; 20];
    ring::rand::SystemRandom::new()
        .fill(&mut serial)
        .map_err(|_| CaError::Key("the system random generator failed".into()))?;
    serial[0] = (serial[0] & 0x7f) | 0x40;
    Ok(serial)
}

/// The common name of issuing CA `id`'s TSA.
fn tsa_common_name(settings: &CaSettings, id: u32) -> String {
    if id <= 1 {
        format!("{} Time-Stamping Authority", settings.organization)
    } else {
        format!("{} Time-Stamping Authority {id}", settings.organization)
    }
}

/// The TSA certificate (RFC 3161 §2.3) for `tsa_key`, signed by issuing CA `id`: not a
/// CA, digitalSignature and nonRepudiation, a critical EKU with id-kp-timeStamping only,
/// valid until the issuing CA expires (see the module comment).
pub(super) fn sign_tsa_certificate(
    settings: &CaSettings,
    id: u32,
    issuer: &CaCertificate,
    issuer_key: &CaKey,
    tsa_key: &CaKey,
    now: OffsetDateTime,
) -> Result<Signed, CaError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = ca_name(settings, &tsa_common_name(settings, id))?;
    params.serial_number = Some(SerialNumber::from_slice(super::random_serial()?.as_bytes()));
    params.not_before = now - BACKDATE;
    params.not_after = super::whole_seconds(issuer.not_after);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::ContentCommitment,
    ];
    params.key_identifier_method =
        KeyIdMethod::PreSpecified(lint::key_identifier(tsa_key.spki_der())?);
    params.use_authority_key_identifier_extension = true;
    // Revoked, it is listed on its issuing CA's CRL; it has no OCSP pointer, as the
    // responder answers for the certificates of the store.
    params.crl_distribution_points = vec![CrlDistributionPoint {
        uris: vec![settings.issuing_crl_url(id)],
    }];
    params.custom_extensions = vec![
        extensions::time_stamping_eku()?,
        extensions::authority_info_access(None, &settings.issuing_cert_url(id))?,
    ];
    let algorithm = issuer_key.signature_algorithm_der()?;
    let expectations = lint::CertificateExpectations {
        profile: lint::CertificateProfile::TimeStamping,
        issuer_name: &issuer.subject_der,
        issuer_key_id: &issuer.key_id,
        issuer_not_before: issuer.not_before.unix_timestamp(),
        issuer_not_after: issuer.not_after.unix_timestamp(),
        signature_algorithm: &algorithm,
    };
    sign_checked(&params, tsa_key, issuer, issuer_key, &expectations)
}

/// The algorithm of a TSA key made as a key file: the issuing CA's, but P-256 for an RSA
/// CA (ring cannot generate RSA keys) and for an Ed25519 CA: OpenSSL's `ts -verify`
/// checks tokens through its PKCS#7 code, which cannot verify Ed25519 signatures
/// ("operation not supported for this keytype"), and neither can many RFC 3161 clients.
/// An SM2 CA's TSA is P-256 too: RFC 3161 defines no SM2 profile, OpenSSL's `ts -verify`
/// has no way to pass the SM2 distinguishing ID to its PKCS#7 code, and the GM/T 0010
/// SignedData encoding is another format; the TSA certificate is still signed by the SM2
/// issuing CA, so tokens chain to the SM2 root.
fn tsa_algorithm(issuing: crate::model::KeyAlgorithm) -> crate::model::KeyAlgorithm {
    match ceremony::responder_algorithm(issuing) {
        crate::model::KeyAlgorithm::Ed25519 | crate::model::KeyAlgorithm::Sm2 => {
            crate::model::KeyAlgorithm::EcdsaP256
        }
        other => other,
    }
}

/// A new TSA key beside the issuing CA's: on the same token (with its algorithm), or a
/// key file, as the OCSP responder's is made (see [`tsa_algorithm`]).
pub(super) fn new_tsa_key(issuing_key: &CaKey, id: u32) -> Result<NewKey, CaError> {
    let (store, algorithm) = match issuing_key.location() {
        KeyLocation::Pkcs11(reference) => (
            KeyStoreChoice::Pkcs11(TokenConfig::of(&reference)),
            issuing_key.algorithm(),
        ),
        KeyLocation::File(_) => (
            KeyStoreChoice::Files,
            tsa_algorithm(issuing_key.algorithm()),
        ),
    };
    NewKey::generate(
        &store,
        algorithm,
        &ceremony::token_label(&crate::config::tsa_name(id)),
    )
}

/// Makes issuing CA `id`'s TSA key and certificate and writes them (key first: a
/// certificate file means the pair is complete).
pub(super) fn create(
    dir: &DataDir,
    settings: &CaSettings,
    id: u32,
    issuer: &CaCertificate,
    issuer_key: &CaKey,
    passphrase: Option<&Passphrase>,
    now: OffsetDateTime,
) -> Result<(), CaError> {
    let key = new_tsa_key(issuer_key, id)?;
    let cert = sign_tsa_certificate(settings, id, issuer, issuer_key, key.key(), now)?;
    key.save(&dir.tsa_key_file(id), passphrase)?;
    super::write_file(&dir.tsa_cert_file(id), cert.pem().as_bytes())
}

/// Opens issuing CA `id`'s TSA, if it has one.
pub(super) fn open(
    dir: &DataDir,
    id: u32,
    issuer: &CaCertificate,
    passphrase: Option<&Passphrase>,
) -> Result<Option<Tsa>, CaError> {
    let cert_path = dir.tsa_cert_file(id);
    if !cert_path.exists() {
        return Ok(None);
    }
    let certificate = CaCertificate::read(&cert_path)?;
    let key = super::open_ca_key(
        &dir.tsa_key_file(id),
        &certificate,
        passphrase,
        &crate::config::tsa_name(id),
    )?;
    Tsa::new(certificate, key, issuer.der.clone()).map(Some)
}

/// Opens issuing CA `id`'s TSA, making it first when the data directory is from before
/// TSAs existed. A lock file serializes the processes that open the directory at once
/// (a server and a CLI command); a key left without its certificate by a crash is set
/// aside and replaced.
#[allow(clippy::too_many_arguments)]
pub(super) fn open_or_create(
    dir: &DataDir,
    settings: &CaSettings,
    id: u32,
    issuer: &CaCertificate,
    issuer_key: &CaKey,
    passphrase: Option<&Passphrase>,
    now: OffsetDateTime,
) -> Result<Tsa, CaError> {
    if let Some(tsa) = open(dir, id, issuer, passphrase)? {
        return Ok(tsa);
    }
    let lock_path = dir.keys_dir().join(".tsa.lock");
    let lock = open_lock(&lock_path)?;
    lock.lock().map_err(|e| CaError::io(&lock_path, e))?;
    if let Some(tsa) = open(dir, id, issuer, passphrase)? {
        return Ok(tsa);
    }
    let key_path = dir.tsa_key_file(id);
    if let Some(location) = KeyLocation::find(&key_path)? {
        let orphan = match location {
            KeyLocation::Pkcs11(_) => super::keys::reference_path(&key_path),
            KeyLocation::File(path) => path,
        };
        let aside = orphan.with_extension(format!("orphan-{}", now.unix_timestamp()));
        std::fs::rename(&orphan, &aside).map_err(|e| CaError::io(&orphan, e))?;
    }
    create(dir, settings, id, issuer, issuer_key, passphrase, now)?;
    let tsa = open(dir, id, issuer, passphrase)?.ok_or_else(|| CaError::Io {
        path: dir.tsa_cert_file(id),
        reason: "the TSA certificate just written is missing".into(),
    })?;
    drop(lock);
    Ok(tsa)
}

fn open_lock(path: &Path) -> Result<std::fs::File, CaError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| CaError::io(path, e))
}

impl super::CertificateAuthority {
    /// Signs an RFC 3161 TimeStampToken with the active issuing CA's TSA, at the CA's
    /// clock. The CA re-checks what the RA accepted: a supported hash algorithm, a
    /// digest of its length, the TSA's policy.
    pub fn timestamp(&self, request: &TimestampRequest) -> Result<TimestampToken, CaError> {
        self.tsa()?.sign(request, self.clock.now())
    }

    /// A token over a SHA-256 digest, with the TSA certificate in it (certReq) and no
    /// nonce: the DER TimeStampToken.
    pub fn timestamp_sha256(&self, digest: &[u8; 32]) -> Result<Vec<u8>, CaError> {
        self.timestamp(&TimestampRequest {
            hash_algorithm: HashAlgorithm::Sha256.oid(),
            hash_parameters_null: false,
            digest: digest.to_vec(),
            nonce: None,
            cert_req: true,
            policy: None,
        })
    }

    /// The TSA certificate that signs new tokens (the active issuing CA's).
    pub fn tsa_certificate(&self) -> Result<&CaCertificate, CaError> {
        Ok(self.tsa()?.certificate())
    }

    fn tsa(&self) -> Result<&Tsa, CaError> {
        let issuer = self.active()?;
        issuer.tsa.as_ref().ok_or_else(|| {
            CaError::Refused(format!("issuing CA {} has no TSA certificate", issuer.id()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{init, CertificateAuthority, InitOptions};
    use super::*;
    use crate::verify::timestamp::{verify_token, TimestampError};

    fn new_ca(dir: &Path) -> (DataDir, CertificateAuthority) {
        let data = DataDir::new(dir.join("ca"));
        init(&data, &InitOptions::new("http://127.0.0.1:1".into())).unwrap();
        let ca = CertificateAuthority::load(&data, None).unwrap();
        (data, ca)
    }

    #[test]
    fn a_token_verifies_against_the_root_and_binds_its_imprint() {
        let dir = tempfile::tempdir().unwrap();
        let (_data, ca) = new_ca(dir.path());
        let digest = HashAlgorithm::Sha256.digest(b"order 42");
        let token = ca
            .timestamp_sha256(&digest.clone().try_into().unwrap())
            .unwrap();
        let root = ca.root().der.clone();
        let verified =
            verify_token(&token, Some((HashAlgorithm::Sha256, &digest)), &root, &[]).unwrap();
        assert_eq!(verified.policy, TSA_POLICY);
        assert_eq!(verified.digest, digest);
        assert_eq!(verified.serial.len(), 40);
        assert_eq!(verified.tsa_certificate, ca.tsa_certificate().unwrap().der);
        let other = HashAlgorithm::Sha256.digest(b"order 43");
        assert!(matches!(
            verify_token(&token, Some((HashAlgorithm::Sha256, &other)), &root, &[]),
            Err(TimestampError::ImprintMismatch(_))
        ));
        // Another root does not anchor it.
        let dir2 = tempfile::tempdir().unwrap();
        let (_, other_ca) = new_ca(dir2.path());
        assert!(matches!(
            verify_token(&token, None, &other_ca.root().der, &[]),
            Err(TimestampError::Untrusted(_))
        ));
        // A flipped byte anywhere in the signed content fails.
        let mut altered = token.clone();
        let at = altered.len() / 2;
        altered[at] ^= 1;
        assert!(verify_token(&altered, None, &root, &[]).is_err());
    }

    /// A P-384 TSA signs with SHA-384 as the digest; an Ed25519 CA's TSA has a P-256 key
    /// (OpenSSL's `ts -verify` cannot check Ed25519), with SHA-256.
    #[test]
    fn tokens_of_p384_and_ed25519_cas_verify() {
        use crate::model::KeyAlgorithm;
        for (algorithm, tsa_algorithm, digest_oid) in [
            (
                KeyAlgorithm::EcdsaP384,
                KeyAlgorithm::EcdsaP384,
                HashAlgorithm::Sha384.oid(),
            ),
            (
                KeyAlgorithm::Ed25519,
                KeyAlgorithm::EcdsaP256,
                HashAlgorithm::Sha256.oid(),
            ),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let data = DataDir::new(dir.path().join("ca"));
            let mut options = InitOptions::new("http://127.0.0.1:1".into());
            options.key_algorithm = algorithm;
            init(&data, &options).unwrap();
            let ca = CertificateAuthority::load(&data, None).unwrap();
            assert_eq!(
                ca.active().unwrap().tsa_key().unwrap().algorithm(),
                tsa_algorithm
            );
            let digest = [5u8; 32];
            let token = ca.timestamp_sha256(&digest).unwrap();
            let verified = verify_token(
                &token,
                Some((HashAlgorithm::Sha256, &digest)),
                &ca.root().der,
                &[],
            )
            .unwrap();
            assert_eq!(verified.tsa_certificate, ca.tsa_certificate().unwrap().der);
            let info = cms::content_info::ContentInfo::from_der(&token).unwrap();
            let signed: cms::signed_data::SignedData = info.content.decode_as().unwrap();
            let signer = signed.signer_infos.0.as_slice().first().unwrap();
            assert_eq!(signer.digest_alg.oid, digest_oid, "{algorithm}");
        }
    }

    #[test]
    fn nonce_cert_req_and_serials() {
        let dir = tempfile::tempdir().unwrap();
        let (_data, ca) = new_ca(dir.path());
        let request = TimestampRequest {
            hash_algorithm: HashAlgorithm::Sha384.oid(),
            hash_parameters_null: true,
            digest: vec![7; 48],
            nonce: Some(vec![0x00, 0xff, 0x01]),
            cert_req: false,
            policy: Some(TSA_POLICY),
        };
        let token = ca.timestamp(&request).unwrap();
        let root = ca.root().der.clone();
        // Without certReq the caller brings the TSA and issuing CA certificates.
        assert!(verify_token(&token, None, &root, &[]).is_err());
        let certs = vec![
            ca.tsa_certificate().unwrap().der.clone(),
            ca.active().unwrap().certificate().der.clone(),
        ];
        let verified = verify_token(&token, None, &root, &certs).unwrap();
        assert_eq!(verified.nonce, Some(vec![0x00, 0xff, 0x01]));
        let again = verify_token(&ca.timestamp(&request).unwrap(), None, &root, &certs).unwrap();
        assert_ne!(verified.serial, again.serial);
        for bad in [
            TimestampRequest {
                digest: vec![7; 32],
                ..request.clone()
            },
            TimestampRequest {
                policy: Some(der::asn1::ObjectIdentifier::new_unwrap("1.2.3.4")),
                ..request.clone()
            },
            TimestampRequest {
                hash_algorithm: der::asn1::ObjectIdentifier::new_unwrap("1.3.14.3.2.26"),
                digest: vec![7; 20],
                ..request.clone()
            },
        ] {
            assert!(matches!(ca.timestamp(&bad), Err(CaError::Refused(_))));
        }
    }

    /// No request, however damaged, makes the decision, the signing or the reply panic,
    /// and every reply decodes; no damaged token makes the verifier panic.
    #[test]
    fn damaged_requests_and_tokens_never_panic() {
        let dir = tempfile::tempdir().unwrap();
        let (_data, ca) = new_ca(dir.path());
        let good = crate::tsp::request_der(
            HashAlgorithm::Sha256,
            &[9; 32],
            Some(&[0x12, 0x34, 0x56, 0x78]),
            true,
        )
        .unwrap();
        let mut inputs: Vec<Vec<u8>> = (0..good.len()).map(|n| good[..n].to_vec()).collect();
        for at in 0..good.len() {
            for bit in 0..8 {
                let mut flipped = good.clone();
                flipped[at] ^= 1 << bit;
                inputs.push(flipped);
            }
        }
        let mut granted = 0;
        for input in &inputs {
            let reply = match crate::ra::timestamp::accept_request(input) {
                Ok(request) => match ca.timestamp(&request) {
                    Ok(token) => {
                        granted += 1;
                        crate::tsp::granted_reply(&token).unwrap()
                    }
                    Err(e) => panic!("an accepted request was not signed: {e}"),
                },
                Err(rejection) => {
                    crate::tsp::rejection_reply(rejection.failure, &rejection.reason).unwrap()
                }
            };
            crate::tsp::decode_reply(&reply).unwrap();
        }
        assert!(granted > 1, "{granted}");
        let token = ca.timestamp_sha256(&[3; 32]).unwrap();
        let root = ca.root().der.clone();
        for at in (0..token.len()).step_by(3) {
            let mut damaged = token.clone();
            damaged[at] ^= 0x01;
            let _ = verify_token(&damaged, None, &root, &[]);
        }
        for n in (0..token.len()).step_by(7) {
            assert!(verify_token(&token[..n], None, &root, &[]).is_err());
        }
    }

    #[test]
    fn an_old_data_directory_gets_its_tsa_on_load() {
        let dir = tempfile::tempdir().unwrap();
        let (data, ca) = new_ca(dir.path());
        let first = ca.tsa_certificate().unwrap().der.clone();
        std::fs::remove_file(data.tsa_cert_file(1)).unwrap();
        // The key without its certificate is what a crash leaves: it is set aside.
        let ca = CertificateAuthority::load(&data, None).unwrap();
        let second = ca.tsa_certificate().unwrap().der.clone();
        assert_ne!(first, second);
        std::fs::remove_file(data.tsa_cert_file(1)).unwrap();
        std::fs::remove_file(data.tsa_key_file(1)).unwrap();
        let ca = CertificateAuthority::load(&data, None).unwrap();
        let third = ca.tsa_certificate().unwrap().der.clone();
        // And it stays once made.
        let ca = CertificateAuthority::load(&data, None).unwrap();
        assert_eq!(ca.tsa_certificate().unwrap().der, third);
        let digest = [1u8; 32];
        let token = ca.timestamp_sha256(&digest).unwrap();
        verify_token(&token, None, &ca.root().der, &[]).unwrap();
    }
}
