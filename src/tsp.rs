//! The Time-Stamp Protocol's data (RFC 3161, with RFC 5816's ESSCertIDv2): object
//! identifiers, the hash algorithms paypki time-stamps, and the ASN.1 types RustCrypto's
//! `x509-tsp` does not give in a usable form. Shared by the CA (which signs tokens), the
//! RA (which decides what it accepts), the verifier, the HTTP route and the CLI.
//!
//! `x509-tsp` 0.1 supplies `TimeStampReq`, `TSTInfo`, `MessageImprint` and `Accuracy`.
//! Its `TimeStampResp` carries `cmpv2` 0.2's `PKIStatusInfo`, whose `failInfo` flag set
//! gives bit *positions* as if they were masks: `badAlg` (bit 0) encodes as no bit at all,
//! and `badDataFormat` (5) or `unacceptedPolicy` (15) cannot be expressed (the unit test
//! `cmpv2_fail_info_cannot_say_bad_data_format_or_unaccepted_policy` shows it). The
//! response's status is therefore declared here, with the same `der` derive, and a
//! `BIT STRING` for `failInfo`. Neither crate has the ESS `SigningCertificateV2`
//! attribute (RFC 5035 §3, RFC 5816 §2.2.1); it is declared here too.

use der::asn1::{BitString, ObjectIdentifier, OctetString, Utf8StringRef};
use der::{Decode, Encode, Sequence};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;

pub use x509_tsp::{Accuracy, MessageImprint, TimeStampReq, TspVersion, TstInfo};

/// id-signedData (RFC 5652 §5.1).
pub const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
/// id-ct-TSTInfo (RFC 3161 §2.4.2): the content type of a TimeStampToken.
pub const ID_CT_TST_INFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
/// id-contentType signed attribute (RFC 5652 §11.1).
pub const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
/// id-messageDigest signed attribute (RFC 5652 §11.2).
pub const ID_MESSAGE_DIGEST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
/// id-signingTime signed attribute (RFC 5652 §11.3).
pub const ID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
/// id-aa-signingCertificateV2 (RFC 5035 §3, required in tokens by RFC 5816 §2.2.1).
pub const ID_AA_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
/// id-kp-timeStamping (RFC 3161 §2.3).
pub const ID_KP_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
/// The DER contents of id-kp-timeStamping, as rustls-webpki names a key purpose.
pub const TIME_STAMPING_OID_VALUE: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08];

/// The policy under which paypki's TSA issues every token: `1.3.6.1.4.1.59001.2.1`, in
/// the private arc whose `.1.n` holds the participant certificate policies
/// (`policies/*.toml`). A request naming another policy is refused with
/// `unacceptedPolicy` (RFC 3161 §2.4.2).
pub const TSA_POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.59001.2.1");

/// The hash algorithms of message imprints paypki time-stamps. SHA-1 is not among them:
/// a collision lets one token cover two documents (RFC 3161 §2.4.2 badAlg answers it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// SHA-256 (RFC 5754 §2.2).
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlgorithm {
    /// Every one, in order of preference.
    pub const ALL: [HashAlgorithm; 3] = [
        HashAlgorithm::Sha256,
        HashAlgorithm::Sha384,
        HashAlgorithm::Sha512,
    ];

    /// Its object identifier.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            HashAlgorithm::Sha256 => ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1"),
            HashAlgorithm::Sha384 => ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2"),
            HashAlgorithm::Sha512 => ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3"),
        }
    }

    /// The one an object identifier names, if paypki supports it.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        Self::ALL.into_iter().find(|h| h.oid() == *oid)
    }

    /// Its name as the CLI spells it (`sha256`, …).
    pub fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Sha256 => "sha256",
            HashAlgorithm::Sha384 => "sha384",
            HashAlgorithm::Sha512 => "sha512",
        }
    }

    /// The one a name stands for.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|h| h.name().eq_ignore_ascii_case(name))
    }

    /// The length of its digests in octets.
    pub fn digest_len(self) -> usize {
        match self {
            HashAlgorithm::Sha256 => 32,
            HashAlgorithm::Sha384 => 48,
            HashAlgorithm::Sha512 => 64,
        }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        use ring::digest as d;
        let algorithm = match self {
            HashAlgorithm::Sha256 => &d::SHA256,
            HashAlgorithm::Sha384 => &d::SHA384,
            HashAlgorithm::Sha512 => &d::SHA512,
        };
        d::digest(algorithm, data).as_ref().to_vec()
    }

    /// Its AlgorithmIdentifier with absent parameters (RFC 5754 §2: implementations MUST
    /// accept absent and NULL; they SHOULD generate absent).
    pub fn algorithm_identifier(self) -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned {
            oid: self.oid(),
            parameters: None,
        }
    }
}

/// PKIStatus values a TSA answers (RFC 3161 §2.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, der::Enumerated)]
#[asn1(type = "INTEGER")]
#[repr(u8)]
pub enum PkiStatus {
    /// A token is in the response.
    Granted = 0,
    /// A token with modifications.
    GrantedWithMods = 1,
    /// The request was refused; failInfo says why.
    Rejection = 2,
    /// Not yet.
    Waiting = 3,
    /// A revocation is imminent.
    RevocationWarning = 4,
    /// A revocation has occurred.
    RevocationNotification = 5,
}

/// The PKIFailureInfo bits a TSA uses (RFC 3161 §2.4.2: the numbers are bit positions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureInfo {
    /// Unrecognized or unsupported algorithm identifier.
    BadAlg = 0,
    /// Transaction not permitted or supported.
    BadRequest = 2,
    /// The data submitted has the wrong format.
    BadDataFormat = 5,
    /// The TSA's time source is not available.
    TimeNotAvailable = 14,
    /// The requested TSA policy is not supported by the TSA.
    UnacceptedPolicy = 15,
    /// The requested extension is not supported by the TSA.
    UnacceptedExtension = 16,
    /// The additional information requested could not be understood or is not available.
    AddInfoNotAvailable = 17,
    /// The request cannot be handled due to system failure.
    SystemFailure = 25,
}

impl FailureInfo {
    /// Every one.
    pub const ALL: [FailureInfo; 8] = [
        FailureInfo::BadAlg,
        FailureInfo::BadRequest,
        FailureInfo::BadDataFormat,
        FailureInfo::TimeNotAvailable,
        FailureInfo::UnacceptedPolicy,
        FailureInfo::UnacceptedExtension,
        FailureInfo::AddInfoNotAvailable,
        FailureInfo::SystemFailure,
    ];

    /// Its name in RFC 3161 (`badAlg`, …), which `openssl ts -reply -text` prints too.
    pub fn name(self) -> &'static str {
        match self {
            FailureInfo::BadAlg => "badAlg",
            FailureInfo::BadRequest => "badRequest",
            FailureInfo::BadDataFormat => "badDataFormat",
            FailureInfo::TimeNotAvailable => "timeNotAvailable",
            FailureInfo::UnacceptedPolicy => "unacceptedPolicy",
            FailureInfo::UnacceptedExtension => "unacceptedExtension",
            FailureInfo::AddInfoNotAvailable => "addInfoNotAvailable",
            FailureInfo::SystemFailure => "systemFailure",
        }
    }

    /// The named BIT STRING with only this bit set, trailing zero bits removed (X.690
    /// §11.2.2).
    fn bit_string(self) -> Result<BitString, der::Error> {
        let position = self as usize;
        let octets = position / 8 + 1;
        let mut bytes = vec![0u8; octets];
        if let Some(byte) = bytes.get_mut(position / 8) {
            *byte = 0x80 >> (position % 8);
        }
        let unused = u8::try_from(7 - position % 8).map_err(|_| der::ErrorKind::Overflow)?;
        BitString::new(unused, bytes)
    }

    /// The bits set in a failInfo BIT STRING that this enum names.
    fn from_bit_string(bits: &BitString) -> Vec<FailureInfo> {
        let set: Vec<usize> = bits
            .bits()
            .enumerate()
            .filter_map(|(n, on)| on.then_some(n))
            .collect();
        Self::ALL
            .into_iter()
            .filter(|f| set.contains(&(*f as usize)))
            .collect()
    }
}

/// ```text
/// PKIStatusInfo ::= SEQUENCE {
///     status        PKIStatus,
///     statusString  PKIFreeText     OPTIONAL,
///     failInfo      PKIFailureInfo  OPTIONAL  }
/// ```
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct StatusInfo<'a> {
    status: PkiStatus,
    #[asn1(optional = "true")]
    status_string: Option<Vec<Utf8StringRef<'a>>>,
    #[asn1(optional = "true")]
    fail_info: Option<BitString>,
}

/// ```text
/// TimeStampResp ::= SEQUENCE  {
///     status                  PKIStatusInfo,
///     timeStampToken          TimeStampToken     OPTIONAL  }
/// ```
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct Response<'a> {
    status: StatusInfo<'a>,
    #[asn1(optional = "true")]
    time_stamp_token: Option<cms::content_info::ContentInfo>,
}

/// A TimeStampResp, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampReply {
    /// The status.
    pub status: PkiStatus,
    /// The status strings, joined with "; ".
    pub text: Option<String>,
    /// The failure bits paypki knows.
    pub failures: Vec<FailureInfo>,
    /// The TimeStampToken (DER ContentInfo), when granted.
    pub token: Option<Vec<u8>>,
}

/// Encodes a granted TimeStampResp around a token (DER ContentInfo).
pub fn granted_reply(token: &[u8]) -> Result<Vec<u8>, der::Error> {
    Response {
        status: StatusInfo {
            status: PkiStatus::Granted,
            status_string: None,
            fail_info: None,
        },
        time_stamp_token: Some(cms::content_info::ContentInfo::from_der(token)?),
    }
    .to_der()
}

/// Encodes a rejection with its failure bit and a statusString a person can act on.
pub fn rejection_reply(failure: FailureInfo, text: &str) -> Result<Vec<u8>, der::Error> {
    Response {
        status: StatusInfo {
            status: PkiStatus::Rejection,
            status_string: Some(vec![Utf8StringRef::new(text)?]),
            fail_info: Some(failure.bit_string()?),
        },
        time_stamp_token: None,
    }
    .to_der()
}

/// Decodes a TimeStampResp.
pub fn decode_reply(der_bytes: &[u8]) -> Result<TimestampReply, der::Error> {
    let response = Response::from_der(der_bytes)?;
    let text = response.status.status_string.map(|strings| {
        strings
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    });
    Ok(TimestampReply {
        status: response.status.status,
        text,
        failures: response
            .status
            .fail_info
            .as_ref()
            .map(FailureInfo::from_bit_string)
            .unwrap_or_default(),
        token: response
            .time_stamp_token
            .map(|token| token.to_der())
            .transpose()?,
    })
}

/// Encodes a TimeStampReq (RFC 3161 §2.4.1) for `digest`, made with `hash`.
pub fn request_der(
    hash: HashAlgorithm,
    digest: &[u8],
    nonce: Option<&[u8]>,
    cert_req: bool,
) -> Result<Vec<u8>, der::Error> {
    TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: x509_cert::spki::AlgorithmIdentifier {
                oid: hash.oid(),
                parameters: None,
            },
            hashed_message: OctetString::new(digest)?,
        },
        req_policy: None,
        nonce: nonce.map(der::asn1::Int::new).transpose()?,
        cert_req,
        extensions: None,
    }
    .to_der()
}

/// ```text
/// SigningCertificateV2 ::=  SEQUENCE {
///     certs        SEQUENCE OF ESSCertIDv2,
///     policies     SEQUENCE OF PolicyInformation OPTIONAL }
/// ```
/// (RFC 5035 §3; the policies are never sent and ignored when received.)
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SigningCertificateV2 {
    /// The first names the signer's certificate.
    pub certs: Vec<EssCertIdV2>,
    /// Certificate policies, unused.
    #[asn1(optional = "true")]
    pub policies: Option<Vec<der::Any>>,
}

/// ```text
/// ESSCertIDv2 ::=  SEQUENCE {
///     hashAlgorithm           AlgorithmIdentifier DEFAULT {algorithm id-sha256},
///     certHash                Hash,
///     issuerSerial            IssuerSerial OPTIONAL }
/// ```
/// DER omits the default: `hash_algorithm` is `None` for SHA-256.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct EssCertIdV2 {
    /// The hash of `cert_hash`; absent means SHA-256.
    #[asn1(optional = "true")]
    pub hash_algorithm: Option<AlgorithmIdentifierOwned>,
    /// The hash of the whole DER certificate.
    pub cert_hash: OctetString,
    /// The certificate's issuer and serial.
    #[asn1(optional = "true")]
    pub issuer_serial: Option<IssuerSerial>,
}

/// ```text
/// IssuerSerial ::= SEQUENCE {
///     issuer                   GeneralNames,
///     serialNumber             CertificateSerialNumber }
/// ```
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct IssuerSerial {
    /// The issuer's name, as a directoryName.
    pub issuer: Vec<GeneralName>,
    /// The certificate's serial.
    pub serial_number: SerialNumber,
}

impl EssCertIdV2 {
    /// The hash algorithm of `cert_hash` (the default when absent), if paypki knows it.
    pub fn hash(&self) -> Option<HashAlgorithm> {
        match &self.hash_algorithm {
            None => Some(HashAlgorithm::Sha256),
            Some(algorithm) => HashAlgorithm::from_oid(&algorithm.oid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_oid_encodes_as_its_arcs_say() {
        let arcs = [1, 3, 6, 1, 4, 1, 59001, 2, 1];
        assert_eq!(
            crate::model::oid_from_arcs(&arcs).unwrap().as_bytes(),
            TSA_POLICY.as_bytes()
        );
        assert_eq!(TSA_POLICY.to_string(), "1.3.6.1.4.1.59001.2.1");
        assert_eq!(ID_KP_TIME_STAMPING.as_bytes(), TIME_STAMPING_OID_VALUE);
    }

    #[test]
    fn failure_bits_are_rfc_positions() {
        // RFC 3161 §2.4.2: badAlg (0), badDataFormat (5), unacceptedPolicy (15).
        assert_eq!(
            FailureInfo::BadAlg.bit_string().unwrap().to_der().unwrap(),
            [0x03, 0x02, 0x07, 0x80]
        );
        assert_eq!(
            FailureInfo::BadDataFormat
                .bit_string()
                .unwrap()
                .to_der()
                .unwrap(),
            [0x03, 0x02, 0x02, 0x04]
        );
        assert_eq!(
            FailureInfo::UnacceptedPolicy
                .bit_string()
                .unwrap()
                .to_der()
                .unwrap(),
            [0x03, 0x03, 0x00, 0x00, 0x01]
        );
        for failure in FailureInfo::ALL {
            let reply = rejection_reply(failure, "why").unwrap();
            let decoded = decode_reply(&reply).unwrap();
            assert_eq!(decoded.status, PkiStatus::Rejection);
            assert_eq!(decoded.failures, vec![failure]);
            assert_eq!(decoded.text.as_deref(), Some("why"));
            assert!(decoded.token.is_none());
        }
    }

    /// Why the response status is declared here and not taken from `x509-tsp`/`cmpv2`.
    #[test]
    fn cmpv2_fail_info_cannot_say_bad_data_format_or_unaccepted_policy() {
        use cmpv2::status::{PkiFailureInfo, PkiFailureInfoValues};
        // badAlg is bit 0, but cmpv2 declares it as the mask 0: it encodes as no bit.
        let bad_alg: PkiFailureInfo = PkiFailureInfoValues::BadAlg.into();
        assert_eq!(bad_alg.to_der().unwrap(), [0x03, 0x01, 0x00]);
        // unacceptedPolicy (15) is the mask 0b1111: bits 0 to 3, not bit 15.
        let policy: PkiFailureInfo = PkiFailureInfoValues::UnacceptedPolicy.into();
        assert_ne!(
            policy.to_der().unwrap(),
            FailureInfo::UnacceptedPolicy
                .bit_string()
                .unwrap()
                .to_der()
                .unwrap()
        );
        // No value of the flag set has bit 5 (badDataFormat) alone.
        assert!(PkiFailureInfo::new(1 << 5).is_err());
    }
}
