//! Pre-issuance linting. Before a CA key signs anything, the exact to-be-signed bytes of
//! the certificate (TBSCertificate) or CRL (TBSCertList) are parsed again and checked
//! against the role's profile and RFC 5280's limits; a failed check refuses the issuance.
//! Boulder does the same (it lints every certificate before signing): a bug in the builder
//! or a bad request that slipped past the RA must never become a signed object, which
//! cannot be recalled.
//!
//! The checks are independent of the code that built the bytes: rcgen writes with `yasna`
//! and `crl_der` with hand-placed `der` encodings, while this module reads with `der`'s
//! strict DER reader and the `x509-cert`/`spki` types, which keep every extension as found
//! (so duplicates are seen here, not hidden by a parser). Everything is compared with what
//! the CA itself knows (its name, key identifier, validity and signature algorithm) and
//! with the role's profile, never with what the builder was given.
//!
//! The CRL check walks the revoked entries in place, without an allocation per entry: the
//! issuing CA's CRL may hold a million entries.
//!
//! The signing hook [`CheckedKey`] runs a check on the bytes rcgen hands to `sign`, so what
//! is checked is exactly what is signed.

use std::sync::{Mutex, PoisonError};

use der::asn1::{BitStringRef, GeneralizedTime, IntRef, ObjectIdentifier, OctetStringRef};
use der::{Decode, Reader, Sequence, SliceReader, Tag, TagNumber, Tagged};
use spki::SubjectPublicKeyInfoRef;
use x509_cert::ext::pkix::crl::CrlReason;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CertificatePolicies, SubjectAltName,
};
use x509_cert::name::Name;
use x509_cert::time::{Time, Validity};

use crate::model::{ExtendedKeyUsage, KeyUsage};

/// Why the CA refuses to sign. Data, not prose; never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LintError {
    /// Not DER of the expected structure (what, and the decoder's message).
    #[error("cannot parse: {0}")]
    Unparsable(String),
    /// A certificate with extensions must be v3 (RFC 5280 §4.1.2.1).
    #[error("the certificate is not version 3")]
    NotVersion3,
    /// A CRL with extensions must be v2 (RFC 5280 §5.1.2.1).
    #[error("the CRL is not version 2")]
    NotVersion2,
    /// The TBS `signature` field is not the algorithm the CA signs with (RFC 5280 §4.1.2.3).
    #[error("the signature algorithm is not the CA's")]
    SignatureAlgorithmMismatch,
    /// The issuer name is not the CA's subject (for a root: not its own subject).
    #[error("the issuer name is not the CA's subject name")]
    IssuerNameMismatch,
    /// notAfter is not after notBefore.
    #[error("the validity period is empty ({not_before}..{not_after})")]
    ValidityEmpty {
        /// notBefore, Unix seconds.
        not_before: i64,
        /// notAfter, Unix seconds.
        not_after: i64,
    },
    /// The validity is not inside the issuer's.
    #[error("validity {not_before}..{not_after} is outside the issuer's {issuer_not_before}..{issuer_not_after}")]
    ValidityOutsideIssuer {
        /// notBefore, Unix seconds.
        not_before: i64,
        /// notAfter, Unix seconds.
        not_after: i64,
        /// The issuer's notBefore.
        issuer_not_before: i64,
        /// The issuer's notAfter.
        issuer_not_after: i64,
    },
    /// A time before 2050 encoded as GeneralizedTime (RFC 5280 §4.1.2.5, §5.1.2.4). UTCTime
    /// cannot express 2050 or later at all (its two-digit years 50..99 mean 19xx).
    #[error("{field} must be UTCTime through 2049 and GeneralizedTime from 2050")]
    TimeEncoding {
        /// The field (`notBefore`, `thisUpdate`, `revocationDate`, …).
        field: &'static str,
    },
    /// Zero or negative serial number (RFC 5280 §4.1.2.2).
    #[error("the serial number is not positive")]
    SerialNotPositive,
    /// More than 20 content octets (RFC 5280 §4.1.2.2), counting a leading sign octet.
    #[error("the serial number has {octets} octets (at most 20)")]
    SerialTooLong {
        /// Content octets of the DER INTEGER.
        octets: usize,
    },
    /// A subject attribute type this CA never issues.
    #[error("unknown subject attribute {oid}")]
    UnknownNameAttribute {
        /// Dotted OID.
        oid: String,
    },
    /// Longer than the RFC 5280 Appendix A upper bound (in characters).
    #[error("subject {attribute} has {length} characters (at most {max})")]
    NameAttributeTooLong {
        /// Short name (`CN`, `O`, …).
        attribute: &'static str,
        /// Characters found.
        length: usize,
        /// The ub-* bound.
        max: usize,
    },
    /// Shorter than allowed: empty, or a country code that is not two letters.
    #[error("subject {attribute} has {length} characters (at least {min})")]
    NameAttributeTooShort {
        /// Short name.
        attribute: &'static str,
        /// Characters found.
        length: usize,
        /// Minimum.
        min: usize,
    },
    /// A string type the attribute must not use (RFC 5280 §4.1.2.4, §4.1.2.6: new
    /// certificates use UTF8String or PrintableString; C and serialNumber PrintableString).
    #[error("subject {attribute} is a {found}")]
    NameStringType {
        /// Short name.
        attribute: &'static str,
        /// The ASN.1 string type found.
        found: &'static str,
    },
    /// The value has characters its string type cannot hold (e.g. `@` in a
    /// PrintableString, X.680 §41.4), or is not valid UTF-8 / ASCII.
    #[error("subject {attribute} has characters a {string_type} cannot hold")]
    NameInvalidCharacters {
        /// Short name.
        attribute: &'static str,
        /// The ASN.1 string type.
        string_type: &'static str,
    },
    /// Empty subject where the profile needs one: a CA (RFC 5280 §4.1.2.6) or a leaf
    /// without subjectAltName.
    #[error("the subject is empty")]
    EmptySubject,
    /// An empty subject needs a critical subjectAltName (RFC 5280 §4.2.1.6).
    #[error("subjectAltName must be critical when the subject is empty")]
    SanNotCritical,
    /// issuerUniqueID or subjectUniqueID present (RFC 5280 §4.1.2.8: CAs MUST NOT).
    #[error("unique identifiers must not be present")]
    UniqueIdentifierPresent,
    /// A subject key algorithm other than RSA, ECDSA or Ed25519.
    #[error("unsupported public key algorithm {oid}")]
    UnsupportedKeyType {
        /// Dotted OID.
        oid: String,
    },
    /// The same extension twice (RFC 5280 §4.2; in a CRL or CRL entry, §5.2/§5.3).
    #[error("duplicate extension {oid}")]
    DuplicateExtension {
        /// Dotted OID.
        oid: String,
    },
    /// An extension whose value does not decode.
    #[error("malformed extension {oid}")]
    MalformedExtension {
        /// Dotted OID.
        oid: String,
    },
    /// Critical although RFC 5280 requires it non-critical (AKI, SKI, AIA, cRLNumber…)
    /// or a relying party may not know it.
    #[error("extension {oid} must not be critical")]
    CriticalExtensionNotAllowed {
        /// Dotted OID.
        oid: String,
    },
    /// An extension the profile does not allow here (e.g. ocsp-nocheck outside the
    /// responder certificate).
    #[error("extension {oid} is not allowed in this profile")]
    UnexpectedExtension {
        /// Dotted OID.
        oid: String,
    },
    /// An extension the profile requires is absent.
    #[error("the {name} extension is missing")]
    MissingExtension {
        /// Extension name.
        name: &'static str,
    },
    /// No authorityKeyIdentifier with a keyIdentifier (RFC 5280 §4.2.1.1, §5.2.1).
    #[error("the authority key identifier is missing")]
    MissingAuthorityKeyId,
    /// The AKI keyIdentifier is not the issuer's key identifier.
    #[error("the authority key identifier is not the issuer's")]
    AuthorityKeyIdMismatch,
    /// No subjectKeyIdentifier (RFC 5280 §4.2.1.2).
    #[error("the subject key identifier is missing")]
    MissingSubjectKeyId,
    /// The SKI is not the RFC 7093 §2 method 1 identifier of the subject key.
    #[error("the subject key identifier is not the RFC 7093 SHA-256 identifier")]
    SubjectKeyIdNotRfc7093,
    /// keyUsage not critical (RFC 5280 §4.2.1.3 SHOULD; this CA always marks it).
    #[error("keyUsage must be critical")]
    KeyUsageNotCritical,
    /// keyUsage bits differ from the profile's. Bit n of RFC 5280 §4.2.1.3 is `1 << n`.
    #[error("keyUsage bits {found:#05x}, expected {expected:#05x}")]
    KeyUsageMismatch {
        /// Bits the profile demands.
        expected: u16,
        /// Bits found.
        found: u16,
    },
    /// A keyUsage bit the key type cannot serve (RFC 8410 §5, RFC 5480 §3, RFC 3279 §2.3.1).
    #[error("keyUsage {usage} is not allowed for a {key} key")]
    KeyUsageNotForKeyType {
        /// The bit's name.
        usage: &'static str,
        /// The key type.
        key: &'static str,
    },
    /// extendedKeyUsage differs from the profile's (as a set).
    #[error("extendedKeyUsage differs from the profile")]
    ExtendedKeyUsageMismatch,
    /// certificatePolicies is not exactly the role's policy OID.
    #[error("certificatePolicies differs from the role's policy")]
    PolicyOidMismatch,
    /// The role requires a subjectAltName.
    #[error("the role requires a subjectAltName")]
    SanRequired,
    /// basicConstraints differs from the profile (found values; `ca` false when absent).
    #[error("basicConstraints cA={ca} pathLen={path_len:?} does not fit the profile")]
    BasicConstraintsMismatch {
        /// The cA flag found.
        ca: bool,
        /// The pathLenConstraint found.
        path_len: Option<u8>,
    },
    /// basicConstraints not critical in a CA certificate (RFC 5280 §4.2.1.9 MUST).
    #[error("basicConstraints must be critical in a CA certificate")]
    BasicConstraintsNotCritical,
    /// No nextUpdate (RFC 5280 §5.1.2.5: conforming CRL issuers MUST include it).
    #[error("the CRL has no nextUpdate")]
    NextUpdateMissing,
    /// nextUpdate is not after thisUpdate.
    #[error("CRL thisUpdate {this_update} is not before nextUpdate {next_update}")]
    CrlThisUpdateAfterNextUpdate {
        /// thisUpdate, Unix seconds.
        this_update: i64,
        /// nextUpdate, Unix seconds.
        next_update: i64,
    },
    /// revokedCertificates present but empty (RFC 5280 §5.1.2.6: MUST be absent).
    #[error("an empty revokedCertificates list must be absent")]
    RevokedCertificatesEmpty,
    /// A revoked entry's serial is zero or negative.
    #[error("CRL entry {index}: the serial number is not positive")]
    CrlEntrySerialNotPositive {
        /// Position in the list, from 0.
        index: usize,
    },
    /// A revoked entry's serial has more than 20 octets.
    #[error("CRL entry {index}: the serial number has {octets} octets (at most 20)")]
    CrlEntrySerialTooLong {
        /// Position in the list, from 0.
        index: usize,
        /// Content octets.
        octets: usize,
    },
    /// reasonCode unspecified (RFC 5280 §5.3.1: omit it instead) or removeFromCRL (delta
    /// CRLs only).
    #[error("CRL entry {index}: reason code {code} is not allowed")]
    CrlEntryReasonInvalid {
        /// Position in the list, from 0.
        index: usize,
        /// The CRLReason value.
        code: u8,
    },
    /// An entry extension other than reasonCode and invalidityDate.
    #[error("CRL entry {index}: extension {oid} is not allowed")]
    CrlEntryExtensionUnexpected {
        /// Position in the list, from 0.
        index: usize,
        /// Dotted OID.
        oid: String,
    },
    /// No cRLNumber (RFC 5280 §5.2.3: MUST be included).
    #[error("the CRL has no cRLNumber")]
    CrlNumberMissing,
    /// cRLNumber is negative (CRLNumber ::= INTEGER (0..MAX)).
    #[error("the cRLNumber is negative")]
    CrlNumberNegative,
    /// cRLNumber longer than 20 octets (RFC 5280 §5.2.3).
    #[error("the cRLNumber has {octets} octets (at most 20)")]
    CrlNumberTooLong {
        /// Content octets.
        octets: usize,
    },
}

// ---------------------------------------------------------------------------------------
// Profiles and expectations

/// What kind of certificate is being signed, with what the role policy demands.
#[derive(Debug, Clone, Copy)]
pub enum CertificateProfile<'a> {
    /// Self-signed root: CA (any pathLenConstraint), keyCertSign+cRLSign, no EKU.
    Root,
    /// Issuing CA: CA with pathLenConstraint 0, keyCertSign+cRLSign, no EKU (as `init`
    /// builds it).
    IssuingCa,
    /// Delegated OCSP responder (RFC 6960 §4.2.2.2): not a CA, digitalSignature, EKU
    /// exactly id-kp-OCSPSigning, id-pkix-ocsp-nocheck present.
    OcspResponder,
    /// Time-stamping authority (RFC 3161 §2.3): not a CA, digitalSignature and
    /// nonRepudiation, EKU exactly id-kp-timeStamping and marked critical.
    TimeStamping,
    /// A participant certificate.
    Leaf {
        /// Exactly these keyUsage bits must be set, no others.
        key_usage: &'a [KeyUsage],
        /// Exactly these EKUs (order-free); none means no EKU extension.
        extended_key_usage: &'a [ExtendedKeyUsage],
        /// certificatePolicies must hold exactly this one policy OID (arcs).
        policy_oid: &'a [u64],
        /// A subjectAltName extension with at least one name must be present.
        san_required: bool,
    },
}

/// What the CA knows independently of the certificate builder.
#[derive(Debug, Clone, Copy)]
pub struct CertificateExpectations<'a> {
    /// The profile of the certificate being signed.
    pub profile: CertificateProfile<'a>,
    /// DER of the issuer's subject Name (for a root: its own subject).
    pub issuer_name: &'a [u8],
    /// The issuer's key identifier: the AKI keyIdentifier must equal it (for a root, AKI
    /// may be absent; if present it must equal this and the root's own SKI).
    pub issuer_key_id: &'a [u8],
    /// Issuer notBefore, Unix seconds (for a root: its own, or `i64::MIN`).
    pub issuer_not_before: i64,
    /// Issuer notAfter, Unix seconds (for a root: its own, or `i64::MAX`).
    pub issuer_not_after: i64,
    /// DER AlgorithmIdentifier the CA will sign with: the TBS `signature` field must equal it.
    pub signature_algorithm: &'a [u8],
}

/// What the CA knows about a CRL it is about to sign.
#[derive(Debug, Clone, Copy)]
pub struct CrlExpectations<'a> {
    /// DER of the CRL issuer's subject Name.
    pub issuer_name: &'a [u8],
    /// The CRL issuer's key identifier (the AKI keyIdentifier must equal it).
    pub issuer_key_id: &'a [u8],
    /// DER AlgorithmIdentifier the CA will sign with.
    pub signature_algorithm: &'a [u8],
}

// ---------------------------------------------------------------------------------------
// OIDs

const fn oid(dotted: &str) -> ObjectIdentifier {
    ObjectIdentifier::new_unwrap(dotted)
}

const OID_AKI: ObjectIdentifier = oid("2.5.29.35");
const OID_SKI: ObjectIdentifier = oid("2.5.29.14");
const OID_KEY_USAGE: ObjectIdentifier = oid("2.5.29.15");
const OID_SAN: ObjectIdentifier = oid("2.5.29.17");
const OID_BASIC_CONSTRAINTS: ObjectIdentifier = oid("2.5.29.19");
const OID_CRL_NUMBER: ObjectIdentifier = oid("2.5.29.20");
const OID_REASON_CODE: ObjectIdentifier = oid("2.5.29.21");
const OID_INVALIDITY_DATE: ObjectIdentifier = oid("2.5.29.24");
const OID_DELTA_CRL_INDICATOR: ObjectIdentifier = oid("2.5.29.27");
const OID_ISSUING_DISTRIBUTION_POINT: ObjectIdentifier = oid("2.5.29.28");
const OID_NAME_CONSTRAINTS: ObjectIdentifier = oid("2.5.29.30");
const OID_CERTIFICATE_POLICIES: ObjectIdentifier = oid("2.5.29.32");
const OID_POLICY_MAPPINGS: ObjectIdentifier = oid("2.5.29.33");
const OID_POLICY_CONSTRAINTS: ObjectIdentifier = oid("2.5.29.36");
const OID_EXT_KEY_USAGE: ObjectIdentifier = oid("2.5.29.37");
const OID_INHIBIT_ANY_POLICY: ObjectIdentifier = oid("2.5.29.54");
const OID_OCSP_NOCHECK: ObjectIdentifier = oid("1.3.6.1.5.5.7.48.1.5");

const OID_RSA: ObjectIdentifier = oid("1.2.840.113549.1.1.1");
const OID_EC_PUBLIC_KEY: ObjectIdentifier = oid("1.2.840.10045.2.1");
const OID_ED25519: ObjectIdentifier = oid("1.3.101.112");

const ARCS_SERVER_AUTH: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 1];
const ARCS_CLIENT_AUTH: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 2];
const ARCS_EMAIL_PROTECTION: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 4];
const ARCS_OCSP_SIGNING: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 9];
const ARCS_TIME_STAMPING: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 8];

/// Certificate extensions that may be critical: the ones a relying party must understand
/// to use the certificate (RFC 5280 §4.2.1). Anything else marked critical is refused —
/// AKI, SKI, AIA (MUST be non-critical) and private extensions a verifier may not know.
const MAY_BE_CRITICAL: [ObjectIdentifier; 9] = [
    OID_KEY_USAGE,
    OID_BASIC_CONSTRAINTS,
    OID_SAN,
    OID_EXT_KEY_USAGE,
    OID_CERTIFICATE_POLICIES,
    OID_NAME_CONSTRAINTS,
    OID_POLICY_CONSTRAINTS,
    OID_INHIBIT_ANY_POLICY,
    OID_POLICY_MAPPINGS,
];

/// CRL extensions that may be critical: IDP and deltaCRLIndicator (RFC 5280 §5.2.4-5).
const CRL_MAY_BE_CRITICAL: [ObjectIdentifier; 2] =
    [OID_ISSUING_DISTRIBUTION_POINT, OID_DELTA_CRL_INDICATOR];

/// 2050-01-01T00:00:00Z: UTCTime before, GeneralizedTime from then on (RFC 5280 §4.1.2.5).
const UTC_TIME_LIMIT: i64 = 2_524_608_000;

/// RFC 5280 §4.1.2.2 and §5.2.3: at most 20 octets.
const MAX_INTEGER_OCTETS: usize = 20;

// keyUsage bit masks: bit n of the BIT STRING (RFC 5280 §4.2.1.3) is `1 << n`.
const KU_DIGITAL_SIGNATURE: u16 = 1 << 0;
const KU_NON_REPUDIATION: u16 = 1 << 1;
const KU_KEY_ENCIPHERMENT: u16 = 1 << 2;
const KU_DATA_ENCIPHERMENT: u16 = 1 << 3;
const KU_KEY_AGREEMENT: u16 = 1 << 4;
const KU_KEY_CERT_SIGN: u16 = 1 << 5;
const KU_CRL_SIGN: u16 = 1 << 6;
const KU_ENCIPHER_ONLY: u16 = 1 << 7;
const KU_DECIPHER_ONLY: u16 = 1 << 8;
const KU_NAMES: [&str; 9] = [
    "digitalSignature",
    "nonRepudiation",
    "keyEncipherment",
    "dataEncipherment",
    "keyAgreement",
    "keyCertSign",
    "cRLSign",
    "encipherOnly",
    "decipherOnly",
];

// ---------------------------------------------------------------------------------------
// Subject key identifier

/// RFC 7093 §2 method 1: leftmost 160 bits of SHA-256 over the subjectPublicKey BIT STRING
/// value (no tag/length/unused-bits octet). `spki_der` is a whole SubjectPublicKeyInfo DER.
pub fn key_identifier(spki_der: &[u8]) -> Result<Vec<u8>, LintError> {
    let spki = SubjectPublicKeyInfoRef::from_der(spki_der).map_err(bad("subjectPublicKeyInfo"))?;
    rfc7093_key_id(&spki)
}

fn rfc7093_key_id(spki: &SubjectPublicKeyInfoRef<'_>) -> Result<Vec<u8>, LintError> {
    let key = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| LintError::Unparsable("subjectPublicKey has unused bits".into()))?;
    let digest = ring::digest::digest(&ring::digest::SHA256, key);
    digest
        .as_ref()
        .get(..20)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| LintError::Unparsable("digest".into()))
}

// ---------------------------------------------------------------------------------------
// DER reading helpers (der's strict DER reader; borrowed, no allocation)

fn bad(what: &'static str) -> impl Fn(der::Error) -> LintError {
    move |e| LintError::Unparsable(format!("{what}: {e}"))
}

/// One TLV: its tag, its whole encoding and its content octets.
#[derive(Clone, Copy)]
struct Tlv<'a> {
    tag: Tag,
    whole: &'a [u8],
    content: &'a [u8],
}

fn reader<'a>(bytes: &'a [u8], what: &'static str) -> Result<SliceReader<'a>, LintError> {
    SliceReader::new(bytes).map_err(bad(what))
}

fn read_tlv<'a>(r: &mut SliceReader<'a>, what: &'static str) -> Result<Tlv<'a>, LintError> {
    let header = r.peek_header().map_err(bad(what))?;
    let whole = r.tlv_bytes().map_err(bad(what))?;
    let length = usize::try_from(header.length).map_err(bad(what))?;
    let content = whole
        .len()
        .checked_sub(length)
        .and_then(|start| whole.get(start..))
        .ok_or_else(|| LintError::Unparsable(what.into()))?;
    Ok(Tlv {
        tag: header.tag,
        whole,
        content,
    })
}

/// The next tag, or None at the end (or on an unknown tag, which the caller then reports
/// as trailing data).
fn peek_tag(r: &SliceReader<'_>) -> Option<Tag> {
    if r.is_finished() {
        None
    } else {
        r.peek_tag().ok()
    }
}

/// The content of a SEQUENCE that must fill `bytes` exactly.
fn sequence_content<'a>(bytes: &'a [u8], what: &'static str) -> Result<&'a [u8], LintError> {
    let mut r = reader(bytes, what)?;
    let tlv = read_tlv(&mut r, what)?;
    if tlv.tag != Tag::Sequence || !r.is_finished() {
        return Err(LintError::Unparsable(format!(
            "{what}: not exactly one SEQUENCE"
        )));
    }
    Ok(tlv.content)
}

const fn context(number: TagNumber) -> Tag {
    Tag::ContextSpecific {
        constructed: true,
        number,
    }
}

/// An Extension with borrowed value (RFC 5280 §4.1).
#[derive(Sequence)]
struct ExtensionRef<'a> {
    extn_id: ObjectIdentifier,
    #[asn1(default = "Default::default")]
    critical: bool,
    extn_value: OctetStringRef<'a>,
}

/// Walks an `Extensions` SEQUENCE (the bytes of the whole SEQUENCE), refusing duplicates.
/// `seen` holds the OIDs met so far; certificates and CRLs carry a handful of extensions.
fn for_each_extension<'a>(
    extensions: &'a [u8],
    seen: &mut Vec<ObjectIdentifier>,
    mut each: impl FnMut(ExtensionRef<'a>) -> Result<(), LintError>,
) -> Result<(), LintError> {
    let list = sequence_content(extensions, "extensions")?;
    // Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension
    if list.is_empty() {
        return Err(LintError::Unparsable("extensions: empty".into()));
    }
    let mut r = reader(list, "extensions")?;
    while !r.is_finished() {
        let extension = ExtensionRef::decode(&mut r).map_err(bad("extension"))?;
        if seen.contains(&extension.extn_id) {
            return Err(LintError::DuplicateExtension {
                oid: extension.extn_id.to_string(),
            });
        }
        seen.push(extension.extn_id);
        each(extension)?;
    }
    Ok(())
}

fn malformed(oid: ObjectIdentifier) -> LintError {
    LintError::MalformedExtension {
        oid: oid.to_string(),
    }
}

fn oid_is(oid: &ObjectIdentifier, arcs: &[u64]) -> bool {
    oid.arcs().map(u64::from).eq(arcs.iter().copied())
}

/// RFC 5280 §4.1.2.5 / §5.1.2.4-6: the time and whether its encoding fits its year.
fn checked_time(time: &Time, field: &'static str) -> Result<i64, LintError> {
    let seconds = i64::try_from(time.to_unix_duration().as_secs())
        .map_err(|_| LintError::Unparsable(format!("{field}: out of range")))?;
    // der decodes UTCTime only as 1970..=2049, so only GeneralizedTime can be misused.
    if matches!(time, Time::GeneralTime(_)) && seconds < UTC_TIME_LIMIT {
        return Err(LintError::TimeEncoding { field });
    }
    Ok(seconds)
}

enum IntegerFault {
    NotPositive,
    Negative,
    TooLong(usize),
}

/// Checks a DER INTEGER used as a serial or CRL number: minimal encoding (else
/// Unparsable), sign, and at most 20 content octets. Positive means > 0 unless
/// `zero_allowed`.
fn integer_fault(tlv: Tlv<'_>, zero_allowed: bool) -> Result<Option<IntegerFault>, LintError> {
    if tlv.tag != Tag::Integer {
        return Err(LintError::Unparsable("expected an INTEGER".into()));
    }
    // IntRef rejects non-minimal encodings (X.690 §8.3.2).
    IntRef::from_der(tlv.whole).map_err(bad("INTEGER"))?;
    let first = tlv.content.first().copied().unwrap_or(0);
    if first & 0x80 != 0 {
        return Ok(Some(IntegerFault::Negative));
    }
    if !zero_allowed && tlv.content == [0] {
        return Ok(Some(IntegerFault::NotPositive));
    }
    if tlv.content.len() > MAX_INTEGER_OCTETS {
        return Ok(Some(IntegerFault::TooLong(tlv.content.len())));
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------------
// Names

#[derive(Clone, Copy, PartialEq, Eq)]
enum StringRule {
    /// DirectoryString: UTF8String or PrintableString (RFC 5280 §4.1.2.6).
    Directory,
    /// PrintableString only (X.520: countryName, serialNumber, dnQualifier).
    Printable,
    /// IA5String only (emailAddress, domainComponent).
    Ia5,
}

struct AttributeRule {
    oid: ObjectIdentifier,
    name: &'static str,
    min: usize,
    max: usize,
    rule: StringRule,
}

const fn attribute(
    dotted: &str,
    name: &'static str,
    min: usize,
    max: usize,
    rule: StringRule,
) -> AttributeRule {
    AttributeRule {
        oid: oid(dotted),
        name,
        min,
        max,
        rule,
    }
}

/// Upper bounds from RFC 5280 Appendix A.1 (ub-*), X.520 where 5280 has none.
const UB_NAME: usize = 32768;
const NAME_ATTRIBUTES: [AttributeRule; 18] = [
    attribute("2.5.4.3", "CN", 1, 64, StringRule::Directory),
    attribute("2.5.4.4", "SN", 1, UB_NAME, StringRule::Directory),
    attribute("2.5.4.5", "serialNumber", 1, 64, StringRule::Printable),
    attribute("2.5.4.6", "C", 2, 2, StringRule::Printable),
    attribute("2.5.4.7", "L", 1, 128, StringRule::Directory),
    attribute("2.5.4.8", "ST", 1, 128, StringRule::Directory),
    attribute("2.5.4.9", "street", 1, 128, StringRule::Directory),
    attribute("2.5.4.10", "O", 1, 64, StringRule::Directory),
    attribute("2.5.4.11", "OU", 1, 64, StringRule::Directory),
    attribute("2.5.4.12", "title", 1, 64, StringRule::Directory),
    attribute("2.5.4.42", "givenName", 1, UB_NAME, StringRule::Directory),
    attribute("2.5.4.43", "initials", 1, UB_NAME, StringRule::Directory),
    attribute(
        "2.5.4.44",
        "generationQualifier",
        1,
        UB_NAME,
        StringRule::Directory,
    ),
    attribute("2.5.4.46", "dnQualifier", 1, UB_NAME, StringRule::Printable),
    attribute("2.5.4.65", "pseudonym", 1, 128, StringRule::Directory),
    // X.520 makes organizationIdentifier an UnboundedDirectoryString.
    attribute(
        "2.5.4.97",
        "organizationIdentifier",
        1,
        UB_NAME,
        StringRule::Directory,
    ),
    attribute(
        "1.2.840.113549.1.9.1",
        "emailAddress",
        1,
        255,
        StringRule::Ia5,
    ),
    // RFC 4519 sets no bound; a domain component is a DNS label (RFC 1035: 63).
    attribute("0.9.2342.19200300.100.1.25", "DC", 1, 63, StringRule::Ia5),
];

fn tag_name(tag: Tag) -> &'static str {
    match tag {
        Tag::Utf8String => "UTF8String",
        Tag::PrintableString => "PrintableString",
        Tag::TeletexString => "TeletexString",
        Tag::BmpString => "BMPString",
        Tag::Ia5String => "IA5String",
        Tag::VisibleString => "VisibleString",
        Tag::NumericString => "NumericString",
        Tag::VideotexString => "VideotexString",
        _ => "non-string type",
    }
}

/// X.680 §41.4: A-Z a-z 0-9 space ' ( ) + , - . / : = ?
fn is_printable(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&byte)
}

fn check_name(name: &Name) -> Result<(), LintError> {
    for rdn in name.0.iter() {
        for atv in rdn.0.iter() {
            let Some(rule) = NAME_ATTRIBUTES.iter().find(|r| r.oid == atv.oid) else {
                return Err(LintError::UnknownNameAttribute {
                    oid: atv.oid.to_string(),
                });
            };
            let attribute = rule.name;
            let tag = atv.value.tag();
            let bytes = atv.value.value();
            let invalid = |string_type| LintError::NameInvalidCharacters {
                attribute,
                string_type,
            };
            let length = match (rule.rule, tag) {
                (StringRule::Directory, Tag::Utf8String) => std::str::from_utf8(bytes)
                    .map_err(|_| invalid("UTF8String"))?
                    .chars()
                    .count(),
                (StringRule::Directory | StringRule::Printable, Tag::PrintableString) => {
                    if !bytes.iter().copied().all(is_printable) {
                        return Err(invalid("PrintableString"));
                    }
                    bytes.len()
                }
                (StringRule::Ia5, Tag::Ia5String) => {
                    if !bytes.is_ascii() {
                        return Err(invalid("IA5String"));
                    }
                    bytes.len()
                }
                _ => {
                    return Err(LintError::NameStringType {
                        attribute,
                        found: tag_name(tag),
                    })
                }
            };
            if length < rule.min {
                return Err(LintError::NameAttributeTooShort {
                    attribute,
                    length,
                    min: rule.min,
                });
            }
            if length > rule.max {
                return Err(LintError::NameAttributeTooLong {
                    attribute,
                    length,
                    max: rule.max,
                });
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Certificates

#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyType {
    Rsa,
    Ecdsa,
    Ed25519,
}

impl KeyType {
    fn of(spki: &SubjectPublicKeyInfoRef<'_>) -> Result<Self, LintError> {
        let oid = spki.algorithm.oid;
        if oid == OID_RSA {
            Ok(KeyType::Rsa)
        } else if oid == OID_EC_PUBLIC_KEY {
            Ok(KeyType::Ecdsa)
        } else if oid == OID_ED25519 {
            Ok(KeyType::Ed25519)
        } else {
            Err(LintError::UnsupportedKeyType {
                oid: oid.to_string(),
            })
        }
    }

    fn name(self) -> &'static str {
        match self {
            KeyType::Rsa => "RSA",
            KeyType::Ecdsa => "ECDSA",
            KeyType::Ed25519 => "Ed25519",
        }
    }

    /// keyUsage bits the key cannot serve.
    fn forbidden_usages(self) -> u16 {
        match self {
            // RFC 3279 §2.3.1 / RFC 4055 §1.2: no key agreement with an RSA key.
            KeyType::Rsa => KU_KEY_AGREEMENT | KU_ENCIPHER_ONLY | KU_DECIPHER_ONLY,
            // RFC 5480 §3: keyEncipherment and dataEncipherment MUST NOT be present.
            KeyType::Ecdsa => KU_KEY_ENCIPHERMENT | KU_DATA_ENCIPHERMENT,
            // RFC 8410 §5: only digitalSignature, nonRepudiation, keyCertSign, cRLSign.
            KeyType::Ed25519 => {
                !(KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION | KU_KEY_CERT_SIGN | KU_CRL_SIGN)
            }
        }
    }
}

/// A certificate extension found: criticality and value.
#[derive(Clone, Copy)]
struct Ext<'a> {
    critical: bool,
    value: &'a [u8],
}

#[derive(Default)]
struct CertificateExtensions<'a> {
    authority_key_id: Option<Ext<'a>>,
    subject_key_id: Option<Ext<'a>>,
    key_usage: Option<Ext<'a>>,
    basic_constraints: Option<Ext<'a>>,
    extended_key_usage: Option<Ext<'a>>,
    subject_alt_name: Option<Ext<'a>>,
    certificate_policies: Option<Ext<'a>>,
    ocsp_nocheck: Option<Ext<'a>>,
}

impl<'a> CertificateExtensions<'a> {
    fn parse(extensions: Option<&'a [u8]>) -> Result<Self, LintError> {
        let mut found = CertificateExtensions::default();
        let Some(extensions) = extensions else {
            return Ok(found);
        };
        let mut seen = Vec::with_capacity(12);
        for_each_extension(extensions, &mut seen, |e| {
            if e.critical && !MAY_BE_CRITICAL.contains(&e.extn_id) {
                return Err(LintError::CriticalExtensionNotAllowed {
                    oid: e.extn_id.to_string(),
                });
            }
            let slot = match e.extn_id {
                id if id == OID_AKI => &mut found.authority_key_id,
                id if id == OID_SKI => &mut found.subject_key_id,
                id if id == OID_KEY_USAGE => &mut found.key_usage,
                id if id == OID_BASIC_CONSTRAINTS => &mut found.basic_constraints,
                id if id == OID_EXT_KEY_USAGE => &mut found.extended_key_usage,
                id if id == OID_SAN => &mut found.subject_alt_name,
                id if id == OID_CERTIFICATE_POLICIES => &mut found.certificate_policies,
                id if id == OID_OCSP_NOCHECK => &mut found.ocsp_nocheck,
                _ => return Ok(()),
            };
            *slot = Some(Ext {
                critical: e.critical,
                value: e.extn_value.as_bytes(),
            });
            Ok(())
        })?;
        Ok(found)
    }
}

/// Checks a to-be-signed certificate (DER TBSCertificate, exactly the bytes to be signed)
/// against the profile and RFC 5280. The first failed check is returned.
pub fn check_certificate(
    tbs_der: &[u8],
    expected: &CertificateExpectations<'_>,
) -> Result<(), LintError> {
    let mut r = reader(
        sequence_content(tbs_der, "TBSCertificate")?,
        "TBSCertificate",
    )?;

    // RFC 5280 §4.1.2.1: extensions require v3 (INTEGER 2, [0] EXPLICIT).
    let version = if peek_tag(&r) == Some(context(TagNumber::N0)) {
        let tlv = read_tlv(&mut r, "version")?;
        u8::from_der(tlv.content).map_err(bad("version"))?
    } else {
        0
    };
    if version != 2 {
        return Err(LintError::NotVersion3);
    }

    // RFC 5280 §4.1.2.2
    match integer_fault(read_tlv(&mut r, "serialNumber")?, false)? {
        Some(IntegerFault::NotPositive | IntegerFault::Negative) => {
            return Err(LintError::SerialNotPositive)
        }
        Some(IntegerFault::TooLong(octets)) => return Err(LintError::SerialTooLong { octets }),
        None => {}
    }

    // RFC 5280 §4.1.2.3: the algorithm the CA actually signs with.
    if read_tlv(&mut r, "signature")?.whole != expected.signature_algorithm {
        return Err(LintError::SignatureAlgorithmMismatch);
    }
    // RFC 5280 §4.1.2.4: byte-for-byte the issuer's subject, so that chains build.
    if read_tlv(&mut r, "issuer")?.whole != expected.issuer_name {
        return Err(LintError::IssuerNameMismatch);
    }
    let validity =
        Validity::from_der(read_tlv(&mut r, "validity")?.whole).map_err(bad("validity"))?;
    let subject_tlv = read_tlv(&mut r, "subject")?;
    let subject = Name::from_der(subject_tlv.whole).map_err(bad("subject"))?;
    let spki_tlv = read_tlv(&mut r, "subjectPublicKeyInfo")?;
    let spki =
        SubjectPublicKeyInfoRef::from_der(spki_tlv.whole).map_err(bad("subjectPublicKeyInfo"))?;
    // RFC 5280 §4.1.2.8: [1] issuerUniqueID, [2] subjectUniqueID.
    if matches!(
        peek_tag(&r),
        Some(Tag::ContextSpecific { number, .. }) if number == TagNumber::N1 || number == TagNumber::N2
    ) {
        return Err(LintError::UniqueIdentifierPresent);
    }
    let extensions = if peek_tag(&r) == Some(context(TagNumber::N3)) {
        Some(read_tlv(&mut r, "extensions")?.content)
    } else {
        None
    };
    if !r.is_finished() {
        return Err(LintError::Unparsable(
            "TBSCertificate: unexpected trailing fields".into(),
        ));
    }

    // RFC 5280 §4.1.2.5
    let not_before = checked_time(&validity.not_before, "notBefore")?;
    let not_after = checked_time(&validity.not_after, "notAfter")?;
    if not_after <= not_before {
        return Err(LintError::ValidityEmpty {
            not_before,
            not_after,
        });
    }
    if not_before < expected.issuer_not_before || not_after > expected.issuer_not_after {
        return Err(LintError::ValidityOutsideIssuer {
            not_before,
            not_after,
            issuer_not_before: expected.issuer_not_before,
            issuer_not_after: expected.issuer_not_after,
        });
    }

    let is_root = matches!(expected.profile, CertificateProfile::Root);
    if is_root && subject_tlv.whole != expected.issuer_name {
        return Err(LintError::IssuerNameMismatch);
    }
    check_name(&subject)?;

    let key_type = KeyType::of(&spki)?;
    let found = CertificateExtensions::parse(extensions)?;
    check_key_identifiers(&found, &spki, expected, is_root)?;
    check_key_usage(&found, key_type, &expected.profile)?;
    check_basic_constraints(&found, &expected.profile)?;
    check_extended_key_usage(&found, &expected.profile)?;
    check_policies(&found, &expected.profile)?;
    check_subject_alt_name(&found, subject.0.is_empty(), &expected.profile)?;
    check_ocsp_nocheck(&found, &expected.profile)
}

fn authority_key_id(value: &[u8]) -> Result<Option<Vec<u8>>, LintError> {
    let aki = AuthorityKeyIdentifier::from_der(value).map_err(|_| malformed(OID_AKI))?;
    Ok(aki.key_identifier.map(|k| k.as_bytes().to_vec()))
}

/// RFC 5280 §4.2.1.1-2, RFC 7093 §2.
fn check_key_identifiers(
    found: &CertificateExtensions<'_>,
    spki: &SubjectPublicKeyInfoRef<'_>,
    expected: &CertificateExpectations<'_>,
    is_root: bool,
) -> Result<(), LintError> {
    let ski = found.subject_key_id.ok_or(LintError::MissingSubjectKeyId)?;
    let ski = OctetStringRef::from_der(ski.value).map_err(|_| malformed(OID_SKI))?;
    let own_id = rfc7093_key_id(spki)?;
    if ski.as_bytes() != own_id.as_slice() {
        return Err(LintError::SubjectKeyIdNotRfc7093);
    }
    match found.authority_key_id {
        // A self-signed root may omit its AKI (RFC 5280 §4.2.1.1).
        None if is_root => Ok(()),
        None => Err(LintError::MissingAuthorityKeyId),
        Some(aki) => match authority_key_id(aki.value)? {
            None => Err(LintError::MissingAuthorityKeyId),
            Some(id) if id != expected.issuer_key_id || (is_root && id != own_id) => {
                Err(LintError::AuthorityKeyIdMismatch)
            }
            Some(_) => Ok(()),
        },
    }
}

fn key_usage_bits(value: &[u8]) -> Result<u16, LintError> {
    let bits = BitStringRef::from_der(value).map_err(|_| malformed(OID_KEY_USAGE))?;
    let mut mask = 0u16;
    for (n, set) in bits.bits().enumerate() {
        if set {
            let bit = u32::try_from(n)
                .ok()
                .and_then(|n| 1u16.checked_shl(n))
                .ok_or_else(|| malformed(OID_KEY_USAGE))?;
            mask |= bit;
        }
    }
    Ok(mask)
}

fn expected_key_usage(profile: &CertificateProfile<'_>) -> u16 {
    match profile {
        CertificateProfile::Root | CertificateProfile::IssuingCa => KU_KEY_CERT_SIGN | KU_CRL_SIGN,
        CertificateProfile::OcspResponder => KU_DIGITAL_SIGNATURE,
        CertificateProfile::TimeStamping => KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION,
        CertificateProfile::Leaf { key_usage, .. } => key_usage.iter().fold(0, |mask, usage| {
            mask | match usage {
                KeyUsage::DigitalSignature => KU_DIGITAL_SIGNATURE,
                KeyUsage::NonRepudiation => KU_NON_REPUDIATION,
                KeyUsage::KeyEncipherment => KU_KEY_ENCIPHERMENT,
                KeyUsage::KeyAgreement => KU_KEY_AGREEMENT,
            }
        }),
    }
}

/// RFC 5280 §4.2.1.3 and the key type's RFC.
fn check_key_usage(
    found: &CertificateExtensions<'_>,
    key_type: KeyType,
    profile: &CertificateProfile<'_>,
) -> Result<(), LintError> {
    let extension = found
        .key_usage
        .ok_or(LintError::MissingExtension { name: "keyUsage" })?;
    if !extension.critical {
        return Err(LintError::KeyUsageNotCritical);
    }
    let bits = key_usage_bits(extension.value)?;
    // "When the keyUsage extension appears in a certificate, at least one of the bits
    // MUST be set to 1."
    if bits == 0 {
        return Err(malformed(OID_KEY_USAGE));
    }
    let forbidden = bits & key_type.forbidden_usages();
    if forbidden != 0 {
        let usage = KU_NAMES
            .iter()
            .enumerate()
            .find(|(n, _)| forbidden & (1 << n) != 0)
            .map_or("unnamed bit", |(_, name)| name);
        return Err(LintError::KeyUsageNotForKeyType {
            usage,
            key: key_type.name(),
        });
    }
    let expected = expected_key_usage(profile);
    if bits != expected {
        return Err(LintError::KeyUsageMismatch {
            expected,
            found: bits,
        });
    }
    Ok(())
}

/// RFC 5280 §4.2.1.9
fn check_basic_constraints(
    found: &CertificateExtensions<'_>,
    profile: &CertificateProfile<'_>,
) -> Result<(), LintError> {
    let constraints = found
        .basic_constraints
        .map(|e| {
            BasicConstraints::from_der(e.value)
                .map(|bc| (e.critical, bc))
                .map_err(|_| malformed(OID_BASIC_CONSTRAINTS))
        })
        .transpose()?;
    let (ca, path_len) = constraints
        .as_ref()
        .map_or((false, None), |(_, bc)| (bc.ca, bc.path_len_constraint));
    let mismatch = LintError::BasicConstraintsMismatch { ca, path_len };
    match profile {
        CertificateProfile::Root | CertificateProfile::IssuingCa => {
            let Some((critical, _)) = constraints else {
                return Err(LintError::MissingExtension {
                    name: "basicConstraints",
                });
            };
            let path_ok = match profile {
                CertificateProfile::IssuingCa => path_len == Some(0),
                _ => true,
            };
            if !ca || !path_ok {
                return Err(mismatch);
            }
            if !critical {
                return Err(LintError::BasicConstraintsNotCritical);
            }
        }
        // pathLenConstraint only with cA (RFC 5280 §4.2.1.9).
        CertificateProfile::OcspResponder
        | CertificateProfile::TimeStamping
        | CertificateProfile::Leaf { .. } => {
            if ca || path_len.is_some() {
                return Err(mismatch);
            }
        }
    }
    Ok(())
}

fn eku_arcs(usage: &ExtendedKeyUsage) -> &[u64] {
    match usage {
        ExtendedKeyUsage::ServerAuth => ARCS_SERVER_AUTH,
        ExtendedKeyUsage::ClientAuth => ARCS_CLIENT_AUTH,
        ExtendedKeyUsage::EmailProtection => ARCS_EMAIL_PROTECTION,
        ExtendedKeyUsage::Other(arcs) => arcs,
    }
}

/// RFC 5280 §4.2.1.12, RFC 6960 §4.2.2.2.
fn check_extended_key_usage(
    found: &CertificateExtensions<'_>,
    profile: &CertificateProfile<'_>,
) -> Result<(), LintError> {
    let present = found
        .extended_key_usage
        .map(|e| {
            x509_cert::ext::pkix::ExtendedKeyUsage::from_der(e.value)
                .map_err(|_| malformed(OID_EXT_KEY_USAGE))
        })
        .transpose()?;
    let expected: Vec<&[u64]> = match profile {
        CertificateProfile::Root | CertificateProfile::IssuingCa => Vec::new(),
        CertificateProfile::OcspResponder => vec![ARCS_OCSP_SIGNING],
        CertificateProfile::TimeStamping => {
            // RFC 3161 §2.3: "The corresponding certificate MUST contain only one
            // instance of the extended key usage field extension ... with KeyPurposeID
            // having value: id-kp-timeStamping. This extension MUST be critical."
            if !found.extended_key_usage.is_some_and(|e| e.critical) {
                return Err(LintError::ExtendedKeyUsageMismatch);
            }
            vec![ARCS_TIME_STAMPING]
        }
        CertificateProfile::Leaf {
            extended_key_usage, ..
        } => extended_key_usage.iter().map(eku_arcs).collect(),
    };
    let matches = match &present {
        None => expected.is_empty(),
        Some(eku) => {
            eku.0.len() == expected.len()
                && eku
                    .0
                    .iter()
                    .all(|oid| expected.iter().any(|arcs| oid_is(oid, arcs)))
                && expected
                    .iter()
                    .all(|arcs| eku.0.iter().any(|oid| oid_is(oid, arcs)))
        }
    };
    if matches {
        Ok(())
    } else {
        Err(LintError::ExtendedKeyUsageMismatch)
    }
}

/// RFC 5280 §4.2.1.4
fn check_policies(
    found: &CertificateExtensions<'_>,
    profile: &CertificateProfile<'_>,
) -> Result<(), LintError> {
    let policies = found
        .certificate_policies
        .map(|e| {
            CertificatePolicies::from_der(e.value).map_err(|_| malformed(OID_CERTIFICATE_POLICIES))
        })
        .transpose()?;
    if let Some(policies) = &policies {
        // "A certificate policy OID MUST NOT appear more than once."
        for (n, policy) in policies.0.iter().enumerate() {
            if policies
                .0
                .iter()
                .skip(n + 1)
                .any(|p| p.policy_identifier == policy.policy_identifier)
            {
                return Err(LintError::PolicyOidMismatch);
            }
        }
    }
    if let CertificateProfile::Leaf { policy_oid, .. } = profile {
        let policies = policies.ok_or(LintError::MissingExtension {
            name: "certificatePolicies",
        })?;
        match policies.0.as_slice() {
            [only] if oid_is(&only.policy_identifier, policy_oid) => {}
            _ => return Err(LintError::PolicyOidMismatch),
        }
    }
    Ok(())
}

/// RFC 5280 §4.1.2.6, §4.2.1.6
fn check_subject_alt_name(
    found: &CertificateExtensions<'_>,
    subject_empty: bool,
    profile: &CertificateProfile<'_>,
) -> Result<(), LintError> {
    if let Some(extension) = found.subject_alt_name {
        let names = SubjectAltName::from_der(extension.value).map_err(|_| malformed(OID_SAN))?;
        // GeneralNames ::= SEQUENCE SIZE (1..MAX)
        if names.0.is_empty() {
            return Err(malformed(OID_SAN));
        }
    }
    let is_leaf = matches!(profile, CertificateProfile::Leaf { .. });
    if subject_empty {
        match found.subject_alt_name {
            Some(extension) if is_leaf => {
                if !extension.critical {
                    return Err(LintError::SanNotCritical);
                }
            }
            _ => return Err(LintError::EmptySubject),
        }
    }
    if let CertificateProfile::Leaf {
        san_required: true, ..
    } = profile
    {
        if found.subject_alt_name.is_none() {
            return Err(LintError::SanRequired);
        }
    }
    Ok(())
}

/// RFC 6960 §4.2.2.2.1: only the delegated responder carries id-pkix-ocsp-nocheck.
fn check_ocsp_nocheck(
    found: &CertificateExtensions<'_>,
    profile: &CertificateProfile<'_>,
) -> Result<(), LintError> {
    match (profile, found.ocsp_nocheck) {
        (CertificateProfile::OcspResponder, None) => Err(LintError::MissingExtension {
            name: "ocsp-nocheck",
        }),
        // Its value is NULL.
        (CertificateProfile::OcspResponder, Some(e)) if e.value != [0x05, 0x00] => {
            Err(malformed(OID_OCSP_NOCHECK))
        }
        (CertificateProfile::OcspResponder, Some(_)) | (_, None) => Ok(()),
        (_, Some(_)) => Err(LintError::UnexpectedExtension {
            oid: OID_OCSP_NOCHECK.to_string(),
        }),
    }
}

// ---------------------------------------------------------------------------------------
// CRLs

/// Checks a to-be-signed CRL (DER TBSCertList) against RFC 5280 §5 and what the CA knows.
/// Linear in the number of entries, with no allocation per entry.
pub fn check_crl(tbs_der: &[u8], expected: &CrlExpectations<'_>) -> Result<(), LintError> {
    check_crl_entries(tbs_der, expected, None)
}

/// [`check_crl`] for a TBSCertList whose entries a [`CrlEntriesCheck`] checked as they
/// were written, into the buffer that now holds `tbs_der` at the same place: `checked`
/// is where they lie in `tbs_der`. The revokedCertificates found here must be exactly
/// those bytes (none when the range is empty); everything else is checked as by
/// [`check_crl`].
pub fn check_crl_prechecked(
    tbs_der: &[u8],
    expected: &CrlExpectations<'_>,
    checked: std::ops::Range<usize>,
) -> Result<(), LintError> {
    check_crl_entries(tbs_der, expected, Some(checked))
}

fn check_crl_entries(
    tbs_der: &[u8],
    expected: &CrlExpectations<'_>,
    checked: Option<std::ops::Range<usize>>,
) -> Result<(), LintError> {
    let content = sequence_content(tbs_der, "TBSCertList")?;
    // The content runs to the end of the TBSCertList (sequence_content checks it).
    let content_at = tbs_der.len() - content.len();
    let mut r = reader(content, "TBSCertList")?;

    // RFC 5280 §5.1.2.1: with extensions (always, §5.2), version MUST be present and v2.
    if peek_tag(&r) != Some(Tag::Integer) {
        return Err(LintError::NotVersion2);
    }
    let version = u8::decode(&mut r).map_err(bad("version"))?;
    if version != 1 {
        return Err(LintError::NotVersion2);
    }
    // RFC 5280 §5.1.2.2-3
    if read_tlv(&mut r, "signature")?.whole != expected.signature_algorithm {
        return Err(LintError::SignatureAlgorithmMismatch);
    }
    if read_tlv(&mut r, "issuer")?.whole != expected.issuer_name {
        return Err(LintError::IssuerNameMismatch);
    }
    // RFC 5280 §5.1.2.4-5
    let this_update = Time::decode(&mut r).map_err(bad("thisUpdate"))?;
    let next_update = match peek_tag(&r) {
        Some(Tag::UtcTime | Tag::GeneralizedTime) => {
            Some(Time::decode(&mut r).map_err(bad("nextUpdate"))?)
        }
        _ => None,
    };
    let revoked = if peek_tag(&r) == Some(Tag::Sequence) {
        let at = usize::try_from(r.position()).map_err(bad("revokedCertificates"))?;
        let tlv = read_tlv(&mut r, "revokedCertificates")?;
        Some((
            content_at + at + (tlv.whole.len() - tlv.content.len()),
            tlv.content,
        ))
    } else {
        None
    };
    let extensions = if peek_tag(&r) == Some(context(TagNumber::N0)) {
        Some(read_tlv(&mut r, "crlExtensions")?.content)
    } else {
        None
    };
    if !r.is_finished() {
        return Err(LintError::Unparsable(
            "TBSCertList: unexpected trailing fields".into(),
        ));
    }

    let this_update = checked_time(&this_update, "thisUpdate")?;
    let next_update = checked_time(
        &next_update.ok_or(LintError::NextUpdateMissing)?,
        "nextUpdate",
    )?;
    if next_update <= this_update {
        return Err(LintError::CrlThisUpdateAfterNextUpdate {
            this_update,
            next_update,
        });
    }
    match (revoked, checked) {
        (Some((_, entries)), None) => check_revoked_entries(entries)?,
        (Some((at, entries)), Some(checked)) => {
            if entries.is_empty() {
                return Err(LintError::RevokedCertificatesEmpty);
            }
            if at != checked.start || entries.len() != checked.len() {
                return Err(LintError::Unparsable(
                    "revokedCertificates: not the entries that were checked".into(),
                ));
            }
        }
        (None, Some(checked)) if !checked.is_empty() => {
            return Err(LintError::Unparsable(
                "revokedCertificates: missing, but entries were checked".into(),
            ));
        }
        (None, _) => {}
    }
    check_crl_extensions(extensions, expected)
}

/// RFC 5280 §5.1.2.6, §5.3. Walks the entries in place.
fn check_revoked_entries(entries: &[u8]) -> Result<(), LintError> {
    if entries.is_empty() {
        return Err(LintError::RevokedCertificatesEmpty);
    }
    CrlEntriesCheck::default().check(entries)
}

/// The checks of a CRL's revoked entries (RFC 5280 §5.1.2.6, §5.3), fed the encoded
/// entries a run at a time as they are written: a large CRL's entries are then checked
/// while the store is still being read, and [`check_crl_prechecked`] checks the rest.
#[derive(Debug, Default)]
pub struct CrlEntriesCheck {
    index: usize,
    /// The last revocationDate and crlEntryExtensions that passed, as encoded: their
    /// checks depend on those bytes alone, and entries revoked together share them, so
    /// a repeat need not be decoded again (a million entries spent half the lint there).
    passed_date: Vec<u8>,
    passed_extensions: Vec<u8>,
}

impl CrlEntriesCheck {
    /// Checks whole RevokedCertificate entries, one after the other, that follow the
    /// ones checked before.
    pub fn check(&mut self, entries: &[u8]) -> Result<(), LintError> {
        let mut r = reader(entries, "revokedCertificates")?;
        while !r.is_finished() {
            let index = self.index;
            let entry = read_tlv(&mut r, "revoked entry")?;
            if entry.tag != Tag::Sequence {
                return Err(LintError::Unparsable(
                    "revoked entry: not a SEQUENCE".into(),
                ));
            }
            let mut e = reader(entry.content, "revoked entry")?;
            match integer_fault(read_tlv(&mut e, "userCertificate")?, false)? {
                Some(IntegerFault::NotPositive | IntegerFault::Negative) => {
                    return Err(LintError::CrlEntrySerialNotPositive { index })
                }
                Some(IntegerFault::TooLong(octets)) => {
                    return Err(LintError::CrlEntrySerialTooLong { index, octets })
                }
                None => {}
            }
            let date = read_tlv(&mut e, "revocationDate")?.whole;
            if date != self.passed_date.as_slice() {
                let time = Time::from_der(date).map_err(bad("revocationDate"))?;
                checked_time(&time, "revocationDate")?;
                self.passed_date.clear();
                self.passed_date.extend_from_slice(date);
            }
            if !e.is_finished() {
                let extensions = read_tlv(&mut e, "crlEntryExtensions")?.whole;
                if extensions != self.passed_extensions.as_slice() {
                    check_entry_extensions(extensions, index)?;
                    self.passed_extensions.clear();
                    self.passed_extensions.extend_from_slice(extensions);
                }
            }
            if !e.is_finished() {
                return Err(LintError::Unparsable(
                    "revoked entry: unexpected trailing fields".into(),
                ));
            }
            self.index += 1;
        }
        Ok(())
    }
}

/// RFC 5280 §5.3: the entry extensions this CA writes are reasonCode and invalidityDate;
/// duplicates are found with a two-bit mask rather than a list, to allocate nothing.
fn check_entry_extensions(extensions: &[u8], index: usize) -> Result<(), LintError> {
    let list = sequence_content(extensions, "crlEntryExtensions")?;
    if list.is_empty() {
        return Err(LintError::Unparsable("crlEntryExtensions: empty".into()));
    }
    let mut r = reader(list, "crlEntryExtensions")?;
    let mut seen = 0u8;
    while !r.is_finished() {
        let extension = ExtensionRef::decode(&mut r).map_err(bad("crlEntryExtension"))?;
        let id = extension.extn_id;
        let bit = if id == OID_REASON_CODE {
            1
        } else if id == OID_INVALIDITY_DATE {
            2
        } else {
            return Err(LintError::CrlEntryExtensionUnexpected {
                index,
                oid: id.to_string(),
            });
        };
        if seen & bit != 0 {
            return Err(LintError::DuplicateExtension {
                oid: id.to_string(),
            });
        }
        seen |= bit;
        if extension.critical {
            return Err(LintError::CriticalExtensionNotAllowed {
                oid: id.to_string(),
            });
        }
        let value = extension.extn_value.as_bytes();
        if bit == 1 {
            let reason = CrlReason::from_der(value).map_err(|_| malformed(id))?;
            if matches!(reason, CrlReason::Unspecified | CrlReason::RemoveFromCRL) {
                return Err(LintError::CrlEntryReasonInvalid {
                    index,
                    code: reason as u8,
                });
            }
        } else {
            // RFC 5280 §5.3.2: InvalidityDate ::= GeneralizedTime
            GeneralizedTime::from_der(value).map_err(|_| malformed(id))?;
        }
    }
    Ok(())
}

/// RFC 5280 §5.2.1 (AKI) and §5.2.3 (cRLNumber): both required, both non-critical.
fn check_crl_extensions(
    extensions: Option<&[u8]>,
    expected: &CrlExpectations<'_>,
) -> Result<(), LintError> {
    let mut aki = None;
    let mut number = None;
    if let Some(extensions) = extensions {
        let mut seen = Vec::with_capacity(4);
        for_each_extension(extensions, &mut seen, |e| {
            if e.critical && !CRL_MAY_BE_CRITICAL.contains(&e.extn_id) {
                return Err(LintError::CriticalExtensionNotAllowed {
                    oid: e.extn_id.to_string(),
                });
            }
            if e.extn_id == OID_AKI {
                aki = Some(e.extn_value.as_bytes());
            } else if e.extn_id == OID_CRL_NUMBER {
                number = Some(e.extn_value.as_bytes());
            }
            Ok(())
        })?;
    }
    let aki = aki.ok_or(LintError::MissingAuthorityKeyId)?;
    match authority_key_id(aki)? {
        None => return Err(LintError::MissingAuthorityKeyId),
        Some(id) if id != expected.issuer_key_id => return Err(LintError::AuthorityKeyIdMismatch),
        Some(_) => {}
    }
    let number = number.ok_or(LintError::CrlNumberMissing)?;
    let mut r = reader(number, "cRLNumber")?;
    let tlv = read_tlv(&mut r, "cRLNumber")?;
    if !r.is_finished() {
        return Err(malformed(OID_CRL_NUMBER));
    }
    match integer_fault(tlv, true)? {
        Some(IntegerFault::Negative | IntegerFault::NotPositive) => {
            Err(LintError::CrlNumberNegative)
        }
        Some(IntegerFault::TooLong(octets)) => Err(LintError::CrlNumberTooLong { octets }),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------
// Signing hook

/// The check a [`CheckedKey`] runs on the bytes it is asked to sign.
type Check<'a> = dyn Fn(&[u8]) -> Result<(), LintError> + Sync + 'a;

/// Why a [`CheckedKey`] did not sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignFailure {
    /// The pre-issuance check refused the bytes.
    Check(LintError),
    /// The key could not sign them.
    Key(crate::ca::keys::KeyError),
}

/// Wraps a CA key so that the exact bytes rcgen hands to `sign` are checked first. On a
/// failed check (or a key that cannot sign) `sign` returns
/// `Err(rcgen::Error::RemoteKeyError)` and nothing is signed; the integrator then calls
/// [`CheckedKey::take_failure`] to learn why.
pub struct CheckedKey<'a> {
    key: &'a crate::ca::CaKey,
    check: &'a Check<'a>,
    // A Mutex, not a Cell, so the wrapper stays Sync like the key it wraps.
    failure: Mutex<Option<SignFailure>>,
}

impl<'a> CheckedKey<'a> {
    /// Wraps `key`; every `sign` first runs `check` on the message.
    pub fn new(
        key: &'a crate::ca::CaKey,
        check: &'a (dyn Fn(&[u8]) -> Result<(), LintError> + Sync),
    ) -> Self {
        CheckedKey {
            key,
            check,
            failure: Mutex::new(None),
        }
    }

    /// The failure of the last refused `sign`, if any (taken: a second call gives None).
    pub fn take_failure(&self) -> Option<SignFailure> {
        self.failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn fail(&self, failure: SignFailure) -> rcgen::Error {
        *self.failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(failure);
        rcgen::Error::RemoteKeyError
    }
}

impl std::fmt::Debug for CheckedKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckedKey").finish_non_exhaustive()
    }
}

impl rcgen::PublicKeyData for CheckedKey<'_> {
    fn subject_public_key_info(&self) -> Vec<u8> {
        self.key.spki_der().to_vec()
    }
    fn der_bytes(&self) -> &[u8] {
        rcgen::PublicKeyData::der_bytes(self.key)
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        rcgen::PublicKeyData::algorithm(self.key)
    }
}

impl rcgen::SigningKey for CheckedKey<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        (self.check)(msg).map_err(|failure| self.fail(SignFailure::Check(failure)))?;
        self.key
            .try_sign(msg)
            .map_err(|failure| self.fail(SignFailure::Key(failure)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::asn1::{Any, BitString, OctetString, SetOfVec, UtcTime};
    use der::Encode;
    use rcgen::{
        BasicConstraints as RcgenBasicConstraints, CertificateParams,
        CertificateRevocationListParams, CrlDistributionPoint, CustomExtension, DistinguishedName,
        DnType, DnValue, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair,
        KeyUsagePurpose, PublicKeyData, RevokedCertParams, SanType, SerialNumber,
    };
    use spki::AlgorithmIdentifierOwned;
    use time::OffsetDateTime;
    use x509_cert::attr::AttributeTypeAndValue;
    use x509_cert::certificate::{TbsCertificate, Version};
    use x509_cert::crl::{RevokedCert, TbsCertList};
    use x509_cert::ext::Extension;
    use x509_cert::name::{RdnSequence, RelativeDistinguishedName};

    /// ecdsa-with-SHA256, parameters absent (RFC 5758 §3.2).
    const ECDSA_SHA256: &[u8] = &[
        0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
    ];
    /// id-Ed25519 (RFC 8410 §3).
    const ED25519: &[u8] = &[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70];

    const Y2025: i64 = 1_735_689_600;
    const Y2026: i64 = 1_767_225_600;
    const Y2027: i64 = 1_798_761_600;
    const Y2035: i64 = 2_051_222_400;
    const Y2045: i64 = 2_366_841_600;
    const Y2055: i64 = 2_682_374_400;
    const Y2060: i64 = 2_840_140_800;
    const DAY: i64 = 86_400;

    const POLICY: &[u64] = &[1, 3, 6, 1, 4, 1, 99999, 1, 1];
    const LEAF_KU: &[KeyUsage] = &[KeyUsage::DigitalSignature];
    const LEAF_EKU: &[ExtendedKeyUsage] =
        &[ExtendedKeyUsage::ServerAuth, ExtendedKeyUsage::ClientAuth];

    /// An RSA-2048 SubjectPublicKeyInfo (public key only), from `openssl genpkey`.
    const RSA_SPKI: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA3fRnyhQX/gxkKU6Jrydlfx+W+warKc7+8fFp9eSBZUrLDkEOMHXoAgXbvfysp211MbDjAS38o/yIZDj9jaVi+SO+Q9kYDT7DA+4jJrsTFlzjJ2GbqK+EILHiEcpnoRzfJqEK33+O4KBufxSsauIPEE/7qcu5HMlBH+s5UNSBvkD7qCAGoDZJS8Gk6j1hl7QT9bohFdGjVXu9NaKYyKtmDDrQ2SLhr6V3SLBsIU8ONji1AjGpMGNd1Vfjamr1wVHlD2fktu3VO2L4tklRqtLF2pGDD4AUxCTZs8LJSWGGBXqOzDn55/1mHjR9WPa8fRyOlKkyjNZArrCkwEEzRzY7RQIDAQAB";

    macro_rules! assert_fails {
        ($result:expr, $pattern:pat) => {{
            let result = $result;
            assert!(
                matches!(result, Err($pattern)),
                "expected {}, got {result:?}",
                stringify!($pattern)
            );
        }};
    }

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }

    /// The same key as a CA key (what `CheckedKey` wraps).
    fn ca_key(key: &KeyPair) -> crate::ca::CaKey {
        crate::ca::CaKey::from_key_pair(KeyPair::try_from(key.serialize_der().as_slice()).unwrap())
    }

    fn ec_key() -> KeyPair {
        KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap()
    }

    fn ed25519_key() -> KeyPair {
        KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap()
    }

    fn rsa_key() -> crate::model::PublicKey {
        use base64::Engine;
        let der = base64::engine::general_purpose::STANDARD
            .decode(RSA_SPKI)
            .unwrap();
        crate::model::PublicKey::from_spki_der(&der).unwrap()
    }

    fn rfc7093(key: &impl PublicKeyData) -> KeyIdMethod {
        KeyIdMethod::PreSpecified(key_identifier(&key.subject_public_key_info()).unwrap())
    }

    /// Signs through a `CheckedKey` whose check records the TBS bytes and lets them pass:
    /// the bytes checked below are exactly the bytes rcgen signs.
    fn capture<T>(
        key: &KeyPair,
        sign: impl FnOnce(&CheckedKey<'_>) -> Result<T, rcgen::Error>,
    ) -> (T, Vec<u8>) {
        let seen = Mutex::new(Vec::new());
        let record = |tbs: &[u8]| -> Result<(), LintError> {
            *seen.lock().unwrap() = tbs.to_vec();
            Ok(())
        };
        let key = ca_key(key);
        let checked = CheckedKey::new(&key, &record);
        let out = sign(&checked).unwrap();
        drop(checked);
        let tbs = seen.lock().unwrap().clone();
        assert!(!tbs.is_empty());
        (out, tbs)
    }

    fn subject_der(cert: &[u8]) -> Vec<u8> {
        let (_, cert) = x509_parser::parse_x509_certificate(cert).unwrap();
        cert.subject().as_raw().to_vec()
    }

    fn ca_name(cn: &str) -> DistinguishedName {
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CountryName,
            DnValue::PrintableString("US".try_into().unwrap()),
        );
        dn.push(DnType::OrganizationName, "paypki Test");
        dn.push(DnType::CommonName, cn);
        dn
    }

    /// A CA as `src/ca/mod.rs` builds it, with an RFC 7093 SKI.
    struct Ca {
        key: KeyPair,
        params: CertificateParams,
        tbs: Vec<u8>,
        name: Vec<u8>,
        key_id: Vec<u8>,
        not_before: i64,
        not_after: i64,
    }

    impl Ca {
        fn root_with(key: KeyPair, edit: impl FnOnce(&mut CertificateParams)) -> Ca {
            let mut params = CertificateParams::default();
            params.distinguished_name = ca_name("paypki Test Root CA");
            params.serial_number = Some(SerialNumber::from_slice(&[0x11; 16]));
            params.not_before = at(Y2025);
            params.not_after = at(Y2045);
            params.is_ca = IsCa::Ca(RcgenBasicConstraints::Unconstrained);
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            params.key_identifier_method = rfc7093(&key);
            edit(&mut params);
            let (cert, tbs) = capture(&key, |k| params.self_signed(k));
            Ca::new(key, params, tbs, cert.der())
        }

        fn root() -> Ca {
            Ca::root_with(ec_key(), |_| {})
        }

        fn issuing_params(key: &KeyPair) -> CertificateParams {
            let mut params = CertificateParams::default();
            params.distinguished_name = ca_name("paypki Test Issuing CA");
            params.serial_number = Some(SerialNumber::from_slice(&[0x22; 16]));
            params.not_before = at(Y2025);
            params.not_after = at(Y2035);
            params.is_ca = IsCa::Ca(RcgenBasicConstraints::Constrained(0));
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            params.use_authority_key_identifier_extension = true;
            params.crl_distribution_points = vec![CrlDistributionPoint {
                uris: vec!["http://ca.example/root.crl".into()],
            }];
            params.key_identifier_method = rfc7093(key);
            params
        }

        fn issuing(root: &Ca) -> Ca {
            let key = ec_key();
            let params = Ca::issuing_params(&key);
            let (cert, tbs) = capture(&root.key, |k| {
                params.signed_by(&key, &Issuer::new(root.params.clone(), k))
            });
            Ca::new(key, params, tbs, cert.der())
        }

        fn new(key: KeyPair, params: CertificateParams, tbs: Vec<u8>, der: &[u8]) -> Ca {
            Ca {
                key_id: key_identifier(&key.subject_public_key_info()).unwrap(),
                not_before: params.not_before.unix_timestamp(),
                not_after: params.not_after.unix_timestamp(),
                name: subject_der(der),
                key,
                params,
                tbs,
            }
        }

        /// The TBS bytes of a certificate this CA signs.
        fn sign(&self, params: &CertificateParams, subject: &impl PublicKeyData) -> Vec<u8> {
            capture(&self.key, |k| {
                params.signed_by(subject, &Issuer::new(self.params.clone(), k))
            })
            .1
        }

        fn expect<'a>(&'a self, profile: CertificateProfile<'a>) -> CertificateExpectations<'a> {
            CertificateExpectations {
                profile,
                issuer_name: &self.name,
                issuer_key_id: &self.key_id,
                issuer_not_before: self.not_before,
                issuer_not_after: self.not_after,
                signature_algorithm: ECDSA_SHA256,
            }
        }

        fn crl_expect(&self) -> CrlExpectations<'_> {
            CrlExpectations {
                issuer_name: &self.name,
                issuer_key_id: &self.key_id,
                signature_algorithm: ECDSA_SHA256,
            }
        }
    }

    fn policies(arcs: &[u64]) -> CustomExtension {
        use x509_cert::ext::pkix::certpolicy::PolicyInformation;
        let dotted = arcs
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(".");
        let der = CertificatePolicies(vec![PolicyInformation {
            policy_identifier: ObjectIdentifier::new(&dotted).unwrap(),
            policy_qualifiers: None,
        }])
        .to_der()
        .unwrap();
        CustomExtension::from_oid_content(&[2, 5, 29, 32], der)
    }

    fn ocsp_nocheck() -> CustomExtension {
        CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 48, 1, 5], vec![0x05, 0x00])
    }

    /// A participant certificate as `CertificateAuthority::sign_leaf` builds it.
    fn leaf_params(subject: &impl PublicKeyData) -> CertificateParams {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CountryName,
            DnValue::PrintableString("DE".try_into().unwrap()),
        );
        dn.push(DnType::OrganizationName, "Beispiel Händler GmbH");
        dn.push(DnType::CommonName, "shop.example");
        params.distinguished_name = dn;
        params.subject_alt_names = vec![SanType::DnsName("shop.example".try_into().unwrap())];
        params.serial_number = Some(SerialNumber::from_slice(&[0x42; 16]));
        params.not_before = at(Y2026);
        params.not_after = at(Y2027);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        // The profile lists them the other way round: the comparison is order-free.
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ClientAuth,
            ExtendedKeyUsagePurpose::ServerAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        params.crl_distribution_points = vec![CrlDistributionPoint {
            uris: vec!["http://ca.example/issuing.crl".into()],
        }];
        params.custom_extensions = vec![policies(POLICY)];
        params.key_identifier_method = rfc7093(subject);
        params
    }

    fn leaf_profile(key_usage: &'static [KeyUsage]) -> CertificateProfile<'static> {
        CertificateProfile::Leaf {
            key_usage,
            extended_key_usage: LEAF_EKU,
            policy_oid: POLICY,
            san_required: true,
        }
    }

    struct Pki {
        root: Ca,
        issuing: Ca,
    }

    fn pki() -> Pki {
        let root = Ca::root();
        let issuing = Ca::issuing(&root);
        Pki { root, issuing }
    }

    /// Signs a leaf (ECDSA P-256 subject) edited by `edit`; returns the pki and TBS.
    fn leaf_tbs(edit: impl FnOnce(&mut CertificateParams)) -> (Pki, Vec<u8>) {
        let pki = pki();
        let key = ec_key();
        let mut params = leaf_params(&key);
        edit(&mut params);
        let tbs = pki.issuing.sign(&params, &key);
        (pki, tbs)
    }

    /// Lints a leaf edited by `edit` against the standard leaf profile.
    fn lint_leaf(edit: impl FnOnce(&mut CertificateParams)) -> Result<(), LintError> {
        let (pki, tbs) = leaf_tbs(edit);
        check_certificate(&tbs, &pki.issuing.expect(leaf_profile(LEAF_KU)))
    }

    /// Lints a standard leaf whose DER was edited after rcgen built it.
    fn lint_leaf_der(edit: impl FnOnce(&mut TbsCertificate)) -> Result<(), LintError> {
        let (pki, tbs) = leaf_tbs(|_| {});
        // x509-cert re-encodes rcgen's DER byte for byte: an edit changes only itself.
        assert_eq!(edit_tbs(&tbs, |_| {}), tbs);
        check_certificate(
            &edit_tbs(&tbs, edit),
            &pki.issuing.expect(leaf_profile(LEAF_KU)),
        )
    }

    fn edit_tbs(tbs: &[u8], edit: impl FnOnce(&mut TbsCertificate)) -> Vec<u8> {
        let mut parsed = TbsCertificate::from_der(tbs).unwrap();
        edit(&mut parsed);
        parsed.to_der().unwrap()
    }

    fn extension<'t>(tbs: &'t mut TbsCertificate, dotted: &str) -> &'t mut Extension {
        let id = ObjectIdentifier::new_unwrap(dotted);
        tbs.extensions
            .as_mut()
            .unwrap()
            .iter_mut()
            .find(|e| e.extn_id == id)
            .unwrap()
    }

    fn utc(unix: i64) -> Time {
        let duration = std::time::Duration::from_secs(u64::try_from(unix).unwrap());
        Time::UtcTime(UtcTime::from_unix_duration(duration).unwrap())
    }

    fn generalized(unix: i64) -> Time {
        let duration = std::time::Duration::from_secs(u64::try_from(unix).unwrap());
        Time::GeneralTime(GeneralizedTime::from_unix_duration(duration).unwrap())
    }

    // ----- key identifier -------------------------------------------------------------

    #[test]
    fn key_identifier_is_rfc7093_method_1() {
        let key = ec_key();
        let spki = key.subject_public_key_info();
        let expected = ring::digest::digest(&ring::digest::SHA256, key.der_bytes());
        assert_eq!(key_identifier(&spki).unwrap(), &expected.as_ref()[..20]);
        // Not rcgen's default, which hashes the whole SubjectPublicKeyInfo.
        let whole = ring::digest::digest(&ring::digest::SHA256, &spki);
        assert_ne!(key_identifier(&spki).unwrap(), &whole.as_ref()[..20]);
        assert_fails!(key_identifier(b"\x30\x00"), LintError::Unparsable(_));
    }

    // ----- passing certificates, one per profile ----------------------------------------

    #[test]
    fn root_passes() {
        let root = Ca::root();
        check_certificate(&root.tbs, &root.expect(CertificateProfile::Root)).unwrap();
        // Unbounded issuer validity is allowed for a root.
        let unbounded = CertificateExpectations {
            issuer_not_before: i64::MIN,
            issuer_not_after: i64::MAX,
            ..root.expect(CertificateProfile::Root)
        };
        check_certificate(&root.tbs, &unbounded).unwrap();
    }

    #[test]
    fn root_with_its_own_aki_passes() {
        let root = Ca::root_with(ec_key(), |p| {
            p.use_authority_key_identifier_extension = true
        });
        check_certificate(&root.tbs, &root.expect(CertificateProfile::Root)).unwrap();
        let other = [0xab; 20];
        let expected = CertificateExpectations {
            issuer_key_id: &other,
            ..root.expect(CertificateProfile::Root)
        };
        assert_fails!(
            check_certificate(&root.tbs, &expected),
            LintError::AuthorityKeyIdMismatch
        );
    }

    #[test]
    fn ed25519_root_passes() {
        let root = Ca::root_with(ed25519_key(), |_| {});
        let expected = CertificateExpectations {
            signature_algorithm: ED25519,
            ..root.expect(CertificateProfile::Root)
        };
        check_certificate(&root.tbs, &expected).unwrap();
    }

    #[test]
    fn issuing_ca_passes() {
        let pki = pki();
        check_certificate(
            &pki.issuing.tbs,
            &pki.root.expect(CertificateProfile::IssuingCa),
        )
        .unwrap();
    }

    fn ocsp_params(key: &KeyPair) -> CertificateParams {
        let mut params = CertificateParams::default();
        params.distinguished_name = ca_name("paypki Test OCSP Responder");
        params.serial_number = Some(SerialNumber::from_slice(&[0x33; 16]));
        params.not_before = at(Y2026);
        params.not_after = at(Y2026 + 90 * DAY);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::OcspSigning];
        params.use_authority_key_identifier_extension = true;
        params.custom_extensions = vec![ocsp_nocheck()];
        params.key_identifier_method = rfc7093(key);
        params
    }

    #[test]
    fn ocsp_responder_passes() {
        let pki = pki();
        let key = ec_key();
        let tbs = pki.issuing.sign(&ocsp_params(&key), &key);
        check_certificate(&tbs, &pki.issuing.expect(CertificateProfile::OcspResponder)).unwrap();
    }

    #[test]
    fn ecdsa_leaf_passes() {
        lint_leaf(|_| {}).unwrap();
    }

    #[test]
    fn rsa_leaf_passes() {
        let pki = pki();
        let key = rsa_key();
        let mut params = leaf_params(&key);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let tbs = pki.issuing.sign(&params, &key);
        let profile = leaf_profile(&[KeyUsage::DigitalSignature, KeyUsage::KeyEncipherment]);
        check_certificate(&tbs, &pki.issuing.expect(profile)).unwrap();
    }

    #[test]
    fn ed25519_leaf_passes() {
        let pki = pki();
        let key = ed25519_key();
        let mut params = leaf_params(&key);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::ContentCommitment,
        ];
        let tbs = pki.issuing.sign(&params, &key);
        let profile = leaf_profile(&[KeyUsage::NonRepudiation, KeyUsage::DigitalSignature]);
        check_certificate(&tbs, &pki.issuing.expect(profile)).unwrap();
    }

    #[test]
    fn leaf_with_empty_subject_and_critical_san_passes() {
        lint_leaf(|p| p.distinguished_name = DistinguishedName::new()).unwrap();
    }

    #[test]
    fn times_from_2050_are_generalized_time_and_pass() {
        let root = Ca::root_with(ec_key(), |p| p.not_after = at(Y2060));
        check_certificate(&root.tbs, &root.expect(CertificateProfile::Root)).unwrap();
        let pki = Pki {
            issuing: Ca::issuing(&root),
            root,
        };
        let key = ec_key();
        let mut params = Ca::issuing_params(&key);
        params.not_after = at(Y2055);
        let tbs = pki.root.sign(&params, &key);
        check_certificate(&tbs, &pki.root.expect(CertificateProfile::IssuingCa)).unwrap();
    }

    // ----- structure, version, serial, algorithm, issuer ------------------------------

    #[test]
    fn garbage_and_trailing_bytes_are_unparsable() {
        let (pki, tbs) = leaf_tbs(|_| {});
        let expected = pki.issuing.expect(leaf_profile(LEAF_KU));
        assert_fails!(check_certificate(b"", &expected), LintError::Unparsable(_));
        assert_fails!(
            check_certificate(&tbs[..tbs.len() - 1], &expected),
            LintError::Unparsable(_)
        );
        let mut longer = tbs.clone();
        longer.push(0);
        assert_fails!(
            check_certificate(&longer, &expected),
            LintError::Unparsable(_)
        );
    }

    #[test]
    fn version_other_than_3_fails() {
        assert_fails!(
            lint_leaf_der(|t| t.version = Version::V2),
            LintError::NotVersion3
        );
    }

    #[test]
    fn serial_of_21_octets_fails() {
        assert_fails!(
            lint_leaf(|p| p.serial_number = Some(SerialNumber::from_slice(&[0x01; 21]))),
            LintError::SerialTooLong { octets: 21 }
        );
        // 20 octets whose top bit is set take 21 in DER (a sign octet): refused too.
        assert_fails!(
            lint_leaf(|p| p.serial_number = Some(SerialNumber::from_slice(&[0x80; 20]))),
            LintError::SerialTooLong { octets: 21 }
        );
        lint_leaf(|p| p.serial_number = Some(SerialNumber::from_slice(&[0x7f; 20]))).unwrap();
    }

    #[test]
    fn serial_zero_fails() {
        assert_fails!(
            lint_leaf(|p| p.serial_number = Some(SerialNumber::from_slice(&[0]))),
            LintError::SerialNotPositive
        );
    }

    #[test]
    fn negative_serial_fails() {
        assert_fails!(
            lint_leaf_der(|t| {
                t.serial_number =
                    x509_cert::serial_number::SerialNumber::from_der(&[0x02, 0x01, 0xff]).unwrap();
            }),
            LintError::SerialNotPositive
        );
    }

    #[test]
    fn other_signature_algorithm_fails() {
        let (pki, tbs) = leaf_tbs(|_| {});
        let expected = CertificateExpectations {
            signature_algorithm: ED25519,
            ..pki.issuing.expect(leaf_profile(LEAF_KU))
        };
        assert_fails!(
            check_certificate(&tbs, &expected),
            LintError::SignatureAlgorithmMismatch
        );
    }

    #[test]
    fn other_issuer_name_fails() {
        let (pki, tbs) = leaf_tbs(|_| {});
        let expected = CertificateExpectations {
            issuer_name: &pki.root.name,
            ..pki.issuing.expect(leaf_profile(LEAF_KU))
        };
        assert_fails!(
            check_certificate(&tbs, &expected),
            LintError::IssuerNameMismatch
        );
    }

    #[test]
    fn root_whose_subject_is_not_its_issuer_fails() {
        let pki = pki();
        let expected = CertificateExpectations {
            issuer_name: &pki.issuing.name,
            ..pki.root.expect(CertificateProfile::Root)
        };
        assert_fails!(
            check_certificate(&pki.root.tbs, &expected),
            LintError::IssuerNameMismatch
        );
    }

    #[test]
    fn unique_identifiers_fail() {
        assert_fails!(
            lint_leaf_der(|t| t.subject_unique_id = Some(BitString::from_bytes(&[1]).unwrap())),
            LintError::UniqueIdentifierPresent
        );
    }

    // ----- validity -----------------------------------------------------------------------

    #[test]
    fn validity_past_the_issuer_fails() {
        assert_fails!(
            lint_leaf(|p| p.not_after = at(Y2035 + 1)),
            LintError::ValidityOutsideIssuer {
                not_after: Y2035_PLUS_1,
                ..
            }
        );
        assert_fails!(
            lint_leaf(|p| p.not_before = at(Y2025 - 1)),
            LintError::ValidityOutsideIssuer { .. }
        );
    }
    const Y2035_PLUS_1: i64 = Y2035 + 1;

    #[test]
    fn empty_validity_fails() {
        assert_fails!(
            lint_leaf(|p| p.not_after = at(Y2026 - 1)),
            LintError::ValidityEmpty { .. }
        );
    }

    #[test]
    fn generalized_time_before_2050_fails() {
        assert_fails!(
            lint_leaf_der(|t| t.validity.not_after = generalized(Y2027)),
            LintError::TimeEncoding { field: "notAfter" }
        );
    }

    // ----- names ----------------------------------------------------------------------------

    fn with_name(attributes: &[(DnType, DnValue)]) -> impl FnOnce(&mut CertificateParams) + '_ {
        move |p| {
            let mut dn = DistinguishedName::new();
            for (kind, value) in attributes {
                dn.push(kind.clone(), value.clone());
            }
            p.distinguished_name = dn;
        }
    }

    #[test]
    fn common_name_of_65_characters_fails() {
        let cn = "a".repeat(65);
        assert_fails!(
            lint_leaf(with_name(&[(DnType::CommonName, cn.as_str().into())])),
            LintError::NameAttributeTooLong {
                attribute: "CN",
                length: 65,
                max: 64
            }
        );
        // 64 characters of 2 bytes each are fine: the bound counts characters.
        let cn = "ä".repeat(64);
        lint_leaf(with_name(&[(DnType::CommonName, cn.as_str().into())])).unwrap();
    }

    #[test]
    fn locality_of_129_characters_fails() {
        let l = "l".repeat(129);
        assert_fails!(
            lint_leaf(with_name(&[(DnType::LocalityName, l.as_str().into())])),
            LintError::NameAttributeTooLong { max: 128, .. }
        );
    }

    #[test]
    fn short_country_and_empty_values_fail() {
        assert_fails!(
            lint_leaf(with_name(&[(
                DnType::CountryName,
                DnValue::PrintableString("D".try_into().unwrap())
            )])),
            LintError::NameAttributeTooShort {
                attribute: "C",
                length: 1,
                min: 2
            }
        );
        assert_fails!(
            lint_leaf(with_name(&[(DnType::OrganizationName, "".into())])),
            LintError::NameAttributeTooShort { attribute: "O", .. }
        );
    }

    #[test]
    fn bmp_and_teletex_strings_fail() {
        assert_fails!(
            lint_leaf(with_name(&[(
                DnType::OrganizationName,
                DnValue::BmpString("Shop".try_into().unwrap())
            )])),
            LintError::NameStringType {
                attribute: "O",
                found: "BMPString"
            }
        );
        assert_fails!(
            lint_leaf(with_name(&[(
                DnType::CommonName,
                DnValue::TeletexString("shop".try_into().unwrap())
            )])),
            LintError::NameStringType {
                found: "TeletexString",
                ..
            }
        );
    }

    #[test]
    fn country_as_utf8_string_fails() {
        // rcgen's default for a plain string is UTF8String; C must be PrintableString.
        assert_fails!(
            lint_leaf(with_name(&[(DnType::CountryName, "DE".into())])),
            LintError::NameStringType {
                attribute: "C",
                found: "UTF8String"
            }
        );
    }

    #[test]
    fn printable_string_with_at_sign_fails() {
        // rcgen refuses to build it, so the DER is edited.
        assert_fails!(
            lint_leaf_der(|t| {
                let atv = AttributeTypeAndValue {
                    oid: ObjectIdentifier::new_unwrap("2.5.4.3"),
                    value: Any::new(Tag::PrintableString, b"shop@example".to_vec()).unwrap(),
                };
                let rdn = RelativeDistinguishedName(SetOfVec::try_from(vec![atv]).unwrap());
                t.subject = RdnSequence(vec![rdn]);
            }),
            LintError::NameInvalidCharacters {
                attribute: "CN",
                string_type: "PrintableString"
            }
        );
    }

    #[test]
    fn unknown_name_attribute_fails() {
        assert_fails!(
            lint_leaf(with_name(&[(
                DnType::CustomDnType(vec![1, 3, 6, 1, 4, 1, 99999, 7]),
                "x".into()
            )])),
            LintError::UnknownNameAttribute { .. }
        );
    }

    #[test]
    fn empty_subject_without_san_fails() {
        let (pki, tbs) = leaf_tbs(|p| {
            p.distinguished_name = DistinguishedName::new();
            p.subject_alt_names.clear();
        });
        let profile = CertificateProfile::Leaf {
            key_usage: LEAF_KU,
            extended_key_usage: LEAF_EKU,
            policy_oid: POLICY,
            san_required: false,
        };
        assert_fails!(
            check_certificate(&tbs, &pki.issuing.expect(profile)),
            LintError::EmptySubject
        );
    }

    #[test]
    fn empty_subject_with_non_critical_san_fails() {
        let (pki, tbs) = leaf_tbs(|p| p.distinguished_name = DistinguishedName::new());
        let tbs = edit_tbs(&tbs, |t| extension(t, "2.5.29.17").critical = false);
        assert_fails!(
            check_certificate(&tbs, &pki.issuing.expect(leaf_profile(LEAF_KU))),
            LintError::SanNotCritical
        );
    }

    #[test]
    fn ca_with_empty_subject_fails() {
        let root = Ca::root_with(ec_key(), |p| {
            p.distinguished_name = DistinguishedName::new()
        });
        assert_fails!(
            check_certificate(&root.tbs, &root.expect(CertificateProfile::Root)),
            LintError::EmptySubject
        );
    }

    // ----- key type ---------------------------------------------------------------------

    #[test]
    fn unsupported_key_type_fails() {
        assert_fails!(
            lint_leaf_der(|t| {
                t.subject_public_key_info.algorithm = AlgorithmIdentifierOwned {
                    oid: ObjectIdentifier::new_unwrap("1.3.101.110"),
                    parameters: None,
                };
            }),
            LintError::UnsupportedKeyType { .. }
        );
    }

    // ----- extensions in general ----------------------------------------------------------

    #[test]
    fn duplicate_extension_fails() {
        assert_fails!(
            lint_leaf(|p| p.custom_extensions.push(policies(POLICY))),
            LintError::DuplicateExtension { .. }
        );
        // The same with an extension rcgen writes itself, added to the DER.
        assert_fails!(
            lint_leaf_der(|t| {
                let ku = extension(t, "2.5.29.15").clone();
                t.extensions.as_mut().unwrap().push(ku);
            }),
            LintError::DuplicateExtension { .. }
        );
    }

    #[test]
    fn unknown_critical_extension_fails() {
        assert_fails!(
            lint_leaf(|p| {
                let mut private =
                    CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 99999, 9], vec![5, 0]);
                private.set_criticality(true);
                p.custom_extensions.push(private);
            }),
            LintError::CriticalExtensionNotAllowed { .. }
        );
        // AKI MUST be non-critical (RFC 5280 §4.2.1.1).
        assert_fails!(
            lint_leaf_der(|t| extension(t, "2.5.29.35").critical = true),
            LintError::CriticalExtensionNotAllowed { .. }
        );
    }

    #[test]
    fn malformed_extension_fails() {
        assert_fails!(
            lint_leaf(|p| {
                p.custom_extensions = vec![CustomExtension::from_oid_content(
                    &[2, 5, 29, 32],
                    vec![5, 0],
                )];
            }),
            LintError::MalformedExtension { .. }
        );
    }

    // ----- key identifiers ------------------------------------------------------------------

    #[test]
    fn missing_aki_fails() {
        assert_fails!(
            lint_leaf(|p| p.use_authority_key_identifier_extension = false),
            LintError::MissingAuthorityKeyId
        );
    }

    #[test]
    fn wrong_aki_fails() {
        let (pki, tbs) = leaf_tbs(|_| {});
        let expected = CertificateExpectations {
            issuer_key_id: &pki.root.key_id,
            ..pki.issuing.expect(leaf_profile(LEAF_KU))
        };
        assert_fails!(
            check_certificate(&tbs, &expected),
            LintError::AuthorityKeyIdMismatch
        );
    }

    #[test]
    fn missing_ski_fails() {
        // rcgen writes SKI and basicConstraints only when `is_ca` is not NoCa.
        assert_fails!(
            lint_leaf(|p| p.is_ca = IsCa::NoCa),
            LintError::MissingSubjectKeyId
        );
    }

    #[test]
    fn ski_not_rfc7093_fails() {
        // rcgen's default method hashes the whole SubjectPublicKeyInfo.
        assert_fails!(
            lint_leaf(|p| p.key_identifier_method = KeyIdMethod::Sha256),
            LintError::SubjectKeyIdNotRfc7093
        );
    }

    // ----- key usage ------------------------------------------------------------------------

    #[test]
    fn key_encipherment_on_ed25519_fails() {
        let pki = pki();
        let key = ed25519_key();
        let mut params = leaf_params(&key);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let tbs = pki.issuing.sign(&params, &key);
        let profile = leaf_profile(&[KeyUsage::DigitalSignature, KeyUsage::KeyEncipherment]);
        assert_fails!(
            check_certificate(&tbs, &pki.issuing.expect(profile)),
            LintError::KeyUsageNotForKeyType {
                usage: "keyEncipherment",
                key: "Ed25519"
            }
        );
    }

    #[test]
    fn key_agreement_on_ed25519_fails() {
        let pki = pki();
        let key = ed25519_key();
        let mut params = leaf_params(&key);
        params.key_usages = vec![KeyUsagePurpose::KeyAgreement];
        let tbs = pki.issuing.sign(&params, &key);
        assert_fails!(
            check_certificate(
                &tbs,
                &pki.issuing.expect(leaf_profile(&[KeyUsage::KeyAgreement]))
            ),
            LintError::KeyUsageNotForKeyType {
                usage: "keyAgreement",
                key: "Ed25519"
            }
        );
    }

    #[test]
    fn key_encipherment_on_ecdsa_fails() {
        let (pki, tbs) = leaf_tbs(|p| {
            p.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ];
        });
        let profile = leaf_profile(&[KeyUsage::DigitalSignature, KeyUsage::KeyEncipherment]);
        assert_fails!(
            check_certificate(&tbs, &pki.issuing.expect(profile)),
            LintError::KeyUsageNotForKeyType {
                usage: "keyEncipherment",
                key: "ECDSA"
            }
        );
    }

    #[test]
    fn key_agreement_on_rsa_fails() {
        let pki = pki();
        let key = rsa_key();
        let mut params = leaf_params(&key);
        params.key_usages = vec![KeyUsagePurpose::KeyAgreement];
        let tbs = pki.issuing.sign(&params, &key);
        assert_fails!(
            check_certificate(
                &tbs,
                &pki.issuing.expect(leaf_profile(&[KeyUsage::KeyAgreement]))
            ),
            LintError::KeyUsageNotForKeyType {
                usage: "keyAgreement",
                key: "RSA"
            }
        );
    }

    #[test]
    fn key_usage_other_than_the_profile_fails() {
        assert_fails!(
            lint_leaf(|p| p.key_usages.push(KeyUsagePurpose::ContentCommitment)),
            LintError::KeyUsageMismatch {
                expected: 0x001,
                found: 0x003
            }
        );
        // A CA bit on a leaf.
        assert_fails!(
            lint_leaf(|p| p.key_usages.push(KeyUsagePurpose::KeyCertSign)),
            LintError::KeyUsageMismatch { .. }
        );
        // An issuing CA that could sign OCSP responses itself.
        let root = Ca::root();
        let key = ec_key();
        let mut params = Ca::issuing_params(&key);
        params.key_usages.push(KeyUsagePurpose::DigitalSignature);
        let tbs = root.sign(&params, &key);
        assert_fails!(
            check_certificate(&tbs, &root.expect(CertificateProfile::IssuingCa)),
            LintError::KeyUsageMismatch { .. }
        );
    }

    #[test]
    fn missing_key_usage_fails() {
        assert_fails!(
            lint_leaf(|p| p.key_usages.clear()),
            LintError::MissingExtension { name: "keyUsage" }
        );
    }

    #[test]
    fn key_usage_without_bits_fails() {
        assert_fails!(
            lint_leaf_der(|t| {
                extension(t, "2.5.29.15").extn_value = OctetString::new(vec![3, 1, 0]).unwrap();
            }),
            LintError::MalformedExtension { .. }
        );
    }

    #[test]
    fn non_critical_key_usage_fails() {
        assert_fails!(
            lint_leaf_der(|t| extension(t, "2.5.29.15").critical = false),
            LintError::KeyUsageNotCritical
        );
    }

    // ----- EKU, policies, SAN, basic constraints, ocsp-nocheck ------------------------------

    #[test]
    fn wrong_eku_fails() {
        assert_fails!(
            lint_leaf(|p| p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth]),
            LintError::ExtendedKeyUsageMismatch
        );
        assert_fails!(
            lint_leaf(|p| p
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::CodeSigning)),
            LintError::ExtendedKeyUsageMismatch
        );
        assert_fails!(
            lint_leaf(|p| p.extended_key_usages.clear()),
            LintError::ExtendedKeyUsageMismatch
        );
    }

    #[test]
    fn eku_on_a_root_fails() {
        let root = Ca::root_with(ec_key(), |p| {
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        });
        assert_fails!(
            check_certificate(&root.tbs, &root.expect(CertificateProfile::Root)),
            LintError::ExtendedKeyUsageMismatch
        );
    }

    #[test]
    fn ocsp_responder_with_other_eku_fails() {
        let pki = pki();
        let key = ec_key();
        let mut params = ocsp_params(&key);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::OcspSigning,
            ExtendedKeyUsagePurpose::ServerAuth,
        ];
        let tbs = pki.issuing.sign(&params, &key);
        assert_fails!(
            check_certificate(&tbs, &pki.issuing.expect(CertificateProfile::OcspResponder)),
            LintError::ExtendedKeyUsageMismatch
        );
    }

    #[test]
    fn ocsp_responder_without_nocheck_fails() {
        let pki = pki();
        let key = ec_key();
        let mut params = ocsp_params(&key);
        params.custom_extensions.clear();
        let tbs = pki.issuing.sign(&params, &key);
        assert_fails!(
            check_certificate(&tbs, &pki.issuing.expect(CertificateProfile::OcspResponder)),
            LintError::MissingExtension {
                name: "ocsp-nocheck"
            }
        );
    }

    #[test]
    fn nocheck_on_a_leaf_fails() {
        assert_fails!(
            lint_leaf(|p| p.custom_extensions.push(ocsp_nocheck())),
            LintError::UnexpectedExtension { .. }
        );
    }

    #[test]
    fn wrong_policy_oid_fails() {
        assert_fails!(
            lint_leaf(|p| p.custom_extensions = vec![policies(&[1, 3, 6, 1, 4, 1, 99999, 1, 2])]),
            LintError::PolicyOidMismatch
        );
    }

    #[test]
    fn missing_policy_fails() {
        assert_fails!(
            lint_leaf(|p| p.custom_extensions.clear()),
            LintError::MissingExtension {
                name: "certificatePolicies"
            }
        );
    }

    #[test]
    fn missing_san_when_required_fails() {
        assert_fails!(
            lint_leaf(|p| p.subject_alt_names.clear()),
            LintError::SanRequired
        );
    }

    #[test]
    fn ca_bit_on_a_leaf_fails() {
        assert_fails!(
            lint_leaf(|p| p.is_ca = IsCa::Ca(RcgenBasicConstraints::Unconstrained)),
            LintError::BasicConstraintsMismatch {
                ca: true,
                path_len: None
            }
        );
    }

    #[test]
    fn unconstrained_issuing_ca_fails() {
        let root = Ca::root();
        let key = ec_key();
        let mut params = Ca::issuing_params(&key);
        params.is_ca = IsCa::Ca(RcgenBasicConstraints::Unconstrained);
        let tbs = root.sign(&params, &key);
        assert_fails!(
            check_certificate(&tbs, &root.expect(CertificateProfile::IssuingCa)),
            LintError::BasicConstraintsMismatch {
                ca: true,
                path_len: None
            }
        );
    }

    #[test]
    fn ca_without_basic_constraints_fails() {
        let pki = pki();
        let tbs = edit_tbs(&pki.issuing.tbs, |t| {
            let id = ObjectIdentifier::new_unwrap("2.5.29.19");
            t.extensions.as_mut().unwrap().retain(|e| e.extn_id != id);
        });
        assert_fails!(
            check_certificate(&tbs, &pki.root.expect(CertificateProfile::IssuingCa)),
            LintError::MissingExtension {
                name: "basicConstraints"
            }
        );
    }

    #[test]
    fn non_critical_basic_constraints_on_a_ca_fails() {
        let pki = pki();
        let tbs = edit_tbs(&pki.issuing.tbs, |t| {
            extension(t, "2.5.29.19").critical = false;
        });
        assert_fails!(
            check_certificate(&tbs, &pki.root.expect(CertificateProfile::IssuingCa)),
            LintError::BasicConstraintsNotCritical
        );
    }

    // ----- the signing hook -------------------------------------------------------------

    #[test]
    fn checked_key_refuses_to_sign() {
        let pki = pki();
        let key = ec_key();
        let refuse = |_: &[u8]| -> Result<(), LintError> { Err(LintError::SanRequired) };
        let issuing_key = ca_key(&pki.issuing.key);
        let checked = CheckedKey::new(&issuing_key, &refuse);
        let result =
            leaf_params(&key).signed_by(&key, &Issuer::new(pki.issuing.params.clone(), &checked));
        assert!(matches!(result, Err(rcgen::Error::RemoteKeyError)));
        assert_eq!(
            checked.take_failure(),
            Some(SignFailure::Check(LintError::SanRequired))
        );
        assert_eq!(checked.take_failure(), None);
    }

    #[test]
    fn checked_key_with_the_real_check_signs_good_and_refuses_bad_certificates() {
        let pki = pki();
        let expected = pki.issuing.expect(leaf_profile(LEAF_KU));
        let check = move |tbs: &[u8]| check_certificate(tbs, &expected);
        let issuing_key = ca_key(&pki.issuing.key);
        let checked = CheckedKey::new(&issuing_key, &check);
        let issuer = Issuer::new(pki.issuing.params.clone(), &checked);

        let key = ec_key();
        let cert = leaf_params(&key).signed_by(&key, &issuer).unwrap();
        assert_eq!(checked.take_failure(), None);
        // What was checked is what was signed: the signature verifies.
        let (_, parsed) = x509_parser::parse_x509_certificate(cert.der()).unwrap();
        let spki_der = pki.issuing.key.subject_public_key_info();
        let (_, spki): (_, x509_parser::x509::SubjectPublicKeyInfo<'_>) =
            x509_parser::prelude::FromDer::from_der(&spki_der).unwrap();
        parsed.verify_signature(Some(&spki)).unwrap();

        let mut params = leaf_params(&key);
        params.subject_alt_names.clear();
        assert!(matches!(
            params.signed_by(&key, &issuer),
            Err(rcgen::Error::RemoteKeyError)
        ));
        assert_eq!(
            checked.take_failure(),
            Some(SignFailure::Check(LintError::SanRequired))
        );
    }

    // ----- CRLs -----------------------------------------------------------------------------

    const CRL_AT: i64 = Y2026 + 100 * DAY;

    fn revoked(serial: &[u8], reason: Option<rcgen::RevocationReason>) -> RevokedCertParams {
        RevokedCertParams {
            serial_number: SerialNumber::from_slice(serial),
            revocation_time: at(CRL_AT - DAY),
            reason_code: reason,
            invalidity_date: None,
        }
    }

    /// A CRL built by rcgen the way `src/ca/mod.rs` does (`crl_der` is tested to produce
    /// the same bytes).
    fn rcgen_crl(ca: &Ca, entries: Vec<RevokedCertParams>) -> Vec<u8> {
        let params = CertificateRevocationListParams {
            this_update: at(CRL_AT),
            next_update: at(CRL_AT + DAY),
            crl_number: SerialNumber::from_slice(&[7]),
            issuing_distribution_point: None,
            revoked_certs: entries,
            key_identifier_method: KeyIdMethod::PreSpecified(ca.key_id.clone()),
        };
        capture(&ca.key, |k| {
            params.signed_by(&Issuer::new(ca.params.clone(), k))
        })
        .1
    }

    fn ext(dotted: &str, critical: bool, value: Vec<u8>) -> Extension {
        Extension {
            extn_id: ObjectIdentifier::new_unwrap(dotted),
            critical,
            extn_value: OctetString::new(value).unwrap(),
        }
    }

    fn aki(key_id: &[u8]) -> Extension {
        let value = AuthorityKeyIdentifier {
            key_identifier: Some(OctetString::new(key_id).unwrap()),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        };
        ext("2.5.29.35", false, value.to_der().unwrap())
    }

    fn reason(code: CrlReason) -> Extension {
        ext("2.5.29.21", false, code.to_der().unwrap())
    }

    /// An entry; `serial` is a whole DER INTEGER so that defects can be written.
    fn entry(serial: &[u8], extensions: Vec<Extension>) -> RevokedCert {
        RevokedCert {
            serial_number: x509_cert::serial_number::SerialNumber::from_der(serial).unwrap(),
            revocation_date: utc(CRL_AT - DAY),
            crl_entry_extensions: (!extensions.is_empty()).then_some(extensions),
        }
    }

    /// A CRL built with x509-cert types, edited by `edit`.
    fn crl_tbs(ca: &Ca, edit: impl FnOnce(&mut TbsCertList)) -> Vec<u8> {
        let mut tbs = TbsCertList {
            version: Version::V2,
            signature: AlgorithmIdentifierOwned::from_der(ECDSA_SHA256).unwrap(),
            issuer: Name::from_der(&ca.name).unwrap(),
            this_update: utc(CRL_AT),
            next_update: Some(utc(CRL_AT + DAY)),
            revoked_certificates: Some(vec![
                entry(
                    &[0x02, 0x02, 0x01, 0x02],
                    vec![reason(CrlReason::KeyCompromise)],
                ),
                entry(&[0x02, 0x01, 0x03], vec![]),
            ]),
            crl_extensions: Some(vec![
                aki(&ca.key_id),
                ext("2.5.29.20", false, vec![0x02, 0x01, 0x07]),
            ]),
        };
        edit(&mut tbs);
        tbs.to_der().unwrap()
    }

    fn lint_crl(edit: impl FnOnce(&mut TbsCertList)) -> Result<(), LintError> {
        let ca = Ca::root();
        check_crl(&crl_tbs(&ca, edit), &ca.crl_expect())
    }

    fn crl_extension_mut<'t>(tbs: &'t mut TbsCertList, dotted: &str) -> &'t mut Extension {
        let id = ObjectIdentifier::new_unwrap(dotted);
        tbs.crl_extensions
            .as_mut()
            .unwrap()
            .iter_mut()
            .find(|e| e.extn_id == id)
            .unwrap()
    }

    #[test]
    fn rcgen_crls_pass() {
        let pki = pki();
        // The root's CRL, empty (revokedCertificates absent).
        check_crl(&rcgen_crl(&pki.root, Vec::new()), &pki.root.crl_expect()).unwrap();
        // The issuing CA's CRL with entries, reasons and an invalidity date.
        let mut with_date = revoked(&[0x7f; 16], Some(rcgen::RevocationReason::CertificateHold));
        with_date.invalidity_date = Some(at(CRL_AT - 3 * DAY));
        let crl = rcgen_crl(
            &pki.issuing,
            vec![
                revoked(&[0x01, 0x02], Some(rcgen::RevocationReason::KeyCompromise)),
                revoked(&[0xff, 0x00], None),
                with_date,
            ],
        );
        check_crl(&crl, &pki.issuing.crl_expect()).unwrap();
    }

    /// The entries checked while they were written must be exactly the TBSCertList's.
    #[test]
    fn prechecked_entries_must_be_the_tbs_entries() {
        let pki = pki();
        let tbs = rcgen_crl(
            &pki.issuing,
            vec![
                revoked(&[0x01, 0x02], Some(rcgen::RevocationReason::KeyCompromise)),
                revoked(&[0x03], None),
            ],
        );
        let content = sequence_content(&tbs, "t").unwrap();
        let mut r = reader(content, "t").unwrap();
        for _ in 0..5 {
            read_tlv(&mut r, "t").unwrap();
        }
        let at = tbs.len() - content.len() + usize::try_from(r.position()).unwrap();
        let list = read_tlv(&mut r, "t").unwrap();
        let start = at + list.whole.len() - list.content.len();
        let range = start..start + list.content.len();
        CrlEntriesCheck::default()
            .check(&tbs[range.clone()])
            .unwrap();
        let expect = pki.issuing.crl_expect();
        check_crl_prechecked(&tbs, &expect, range.clone()).unwrap();
        for wrong in [start + 1..range.end, start..range.end - 1, 0..0] {
            assert_fails!(
                check_crl_prechecked(&tbs, &expect, wrong),
                LintError::Unparsable(_)
            );
        }
    }

    #[test]
    fn x509_cert_crl_passes() {
        lint_crl(|_| {}).unwrap();
    }

    #[test]
    fn crl_issuer_name_mismatch_fails() {
        let pki = pki();
        let crl = rcgen_crl(&pki.issuing, vec![revoked(&[1], None)]);
        let expected = CrlExpectations {
            issuer_name: &pki.root.name,
            ..pki.issuing.crl_expect()
        };
        assert_fails!(check_crl(&crl, &expected), LintError::IssuerNameMismatch);
    }

    #[test]
    fn crl_signature_algorithm_mismatch_fails() {
        let pki = pki();
        let crl = rcgen_crl(&pki.issuing, Vec::new());
        let expected = CrlExpectations {
            signature_algorithm: ED25519,
            ..pki.issuing.crl_expect()
        };
        assert_fails!(
            check_crl(&crl, &expected),
            LintError::SignatureAlgorithmMismatch
        );
    }

    #[test]
    fn crl_entry_with_21_octet_serial_fails() {
        let pki = pki();
        let crl = rcgen_crl(
            &pki.issuing,
            vec![revoked(&[1], None), revoked(&[0x01; 21], None)],
        );
        assert_fails!(
            check_crl(&crl, &pki.issuing.crl_expect()),
            LintError::CrlEntrySerialTooLong {
                index: 1,
                octets: 21
            }
        );
    }

    #[test]
    fn crl_entry_serial_not_positive_fails() {
        assert_fails!(
            lint_crl(|t| t.revoked_certificates = Some(vec![entry(&[0x02, 0x01, 0x00], vec![])])),
            LintError::CrlEntrySerialNotPositive { index: 0 }
        );
        assert_fails!(
            lint_crl(|t| t.revoked_certificates = Some(vec![entry(&[0x02, 0x01, 0x80], vec![])])),
            LintError::CrlEntrySerialNotPositive { index: 0 }
        );
    }

    #[test]
    fn crl_next_update_before_this_update_fails() {
        assert_fails!(
            lint_crl(|t| t.next_update = Some(utc(CRL_AT - 1))),
            LintError::CrlThisUpdateAfterNextUpdate { .. }
        );
        assert_fails!(
            lint_crl(|t| t.next_update = Some(utc(CRL_AT))),
            LintError::CrlThisUpdateAfterNextUpdate { .. }
        );
    }

    #[test]
    fn crl_without_next_update_fails() {
        assert_fails!(
            lint_crl(|t| t.next_update = None),
            LintError::NextUpdateMissing
        );
    }

    #[test]
    fn crl_time_encoding_fails() {
        assert_fails!(
            lint_crl(|t| t.this_update = generalized(CRL_AT)),
            LintError::TimeEncoding {
                field: "thisUpdate"
            }
        );
        assert_fails!(
            lint_crl(|t| {
                let mut e = entry(&[0x02, 0x01, 0x05], vec![]);
                e.revocation_date = generalized(CRL_AT - DAY);
                t.revoked_certificates = Some(vec![e]);
            }),
            LintError::TimeEncoding {
                field: "revocationDate"
            }
        );
        // From 2050 on, GeneralizedTime is right.
        lint_crl(|t| {
            t.this_update = generalized(Y2055);
            t.next_update = Some(generalized(Y2055 + DAY));
        })
        .unwrap();
    }

    #[test]
    fn crl_version_1_fails() {
        assert_fails!(
            lint_crl(|t| t.version = Version::V1),
            LintError::NotVersion2
        );
    }

    #[test]
    fn crl_with_empty_revoked_list_fails() {
        assert_fails!(
            lint_crl(|t| t.revoked_certificates = Some(Vec::new())),
            LintError::RevokedCertificatesEmpty
        );
    }

    #[test]
    fn crl_without_crl_number_fails() {
        assert_fails!(
            lint_crl(
                |t| t.crl_extensions = Some(vec![t.crl_extensions.as_ref().unwrap()[0].clone()])
            ),
            LintError::CrlNumberMissing
        );
    }

    #[test]
    fn crl_number_negative_or_too_long_fails() {
        assert_fails!(
            lint_crl(|t| crl_extension_mut(t, "2.5.29.20").extn_value =
                OctetString::new(vec![0x02, 0x01, 0xff]).unwrap()),
            LintError::CrlNumberNegative
        );
        let mut long = vec![0x02, 21];
        long.extend_from_slice(&[0x01; 21]);
        assert_fails!(
            lint_crl(
                |t| crl_extension_mut(t, "2.5.29.20").extn_value = OctetString::new(long).unwrap()
            ),
            LintError::CrlNumberTooLong { octets: 21 }
        );
        // Zero is a valid CRL number.
        lint_crl(|t| {
            crl_extension_mut(t, "2.5.29.20").extn_value =
                OctetString::new(vec![0x02, 0x01, 0x00]).unwrap();
        })
        .unwrap();
    }

    #[test]
    fn crl_critical_crl_number_fails() {
        assert_fails!(
            lint_crl(|t| crl_extension_mut(t, "2.5.29.20").critical = true),
            LintError::CriticalExtensionNotAllowed { .. }
        );
    }

    #[test]
    fn crl_aki_missing_or_wrong_fails() {
        assert_fails!(
            lint_crl(
                |t| t.crl_extensions = Some(vec![t.crl_extensions.as_ref().unwrap()[1].clone()])
            ),
            LintError::MissingAuthorityKeyId
        );
        assert_fails!(
            lint_crl(|t| t.crl_extensions.as_mut().unwrap()[0] = aki(&[0xab; 20])),
            LintError::AuthorityKeyIdMismatch
        );
    }

    #[test]
    fn crl_duplicate_extensions_fail() {
        assert_fails!(
            lint_crl(|t| {
                let number = ext("2.5.29.20", false, vec![0x02, 0x01, 0x08]);
                t.crl_extensions.as_mut().unwrap().push(number);
            }),
            LintError::DuplicateExtension { .. }
        );
        assert_fails!(
            lint_crl(|t| {
                t.revoked_certificates = Some(vec![entry(
                    &[0x02, 0x01, 0x05],
                    vec![
                        reason(CrlReason::KeyCompromise),
                        reason(CrlReason::Superseded),
                    ],
                )]);
            }),
            LintError::DuplicateExtension { .. }
        );
    }

    #[test]
    fn crl_entry_reason_unspecified_or_remove_from_crl_fails() {
        // rcgen (like crl_der) omits an unspecified reason, so x509-cert writes it.
        let pki = pki();
        let crl = rcgen_crl(
            &pki.issuing,
            vec![revoked(&[1], Some(rcgen::RevocationReason::Unspecified))],
        );
        check_crl(&crl, &pki.issuing.crl_expect()).unwrap();
        assert_fails!(
            lint_crl(|t| {
                t.revoked_certificates = Some(vec![
                    entry(&[0x02, 0x01, 0x05], vec![]),
                    entry(&[0x02, 0x01, 0x06], vec![reason(CrlReason::Unspecified)]),
                ]);
            }),
            LintError::CrlEntryReasonInvalid { index: 1, code: 0 }
        );
        assert_fails!(
            lint_crl(|t| {
                t.revoked_certificates = Some(vec![entry(
                    &[0x02, 0x01, 0x05],
                    vec![reason(CrlReason::RemoveFromCRL)],
                )]);
            }),
            LintError::CrlEntryReasonInvalid { index: 0, code: 8 }
        );
    }

    #[test]
    fn crl_entry_unexpected_extension_fails() {
        // holdInstructionCode (RFC 5280 §5.3 lists it; this CA never writes it).
        assert_fails!(
            lint_crl(|t| {
                let hold = ext(
                    "2.5.29.23",
                    false,
                    ObjectIdentifier::new_unwrap("1.2.840.10040.2.1")
                        .to_der()
                        .unwrap(),
                );
                t.revoked_certificates = Some(vec![entry(&[0x02, 0x01, 0x05], vec![hold])]);
            }),
            LintError::CrlEntryExtensionUnexpected { index: 0, .. }
        );
    }

    #[test]
    fn crl_with_100_000_entries_is_checked() {
        let ca = Ca::root();
        let entries = (1u32..=100_000)
            .map(|n| {
                let mut serial = vec![0x02, 0x05, 0x00];
                serial.extend_from_slice(&(n | 0x8000_0000).to_be_bytes());
                let extensions = if n % 3 == 0 {
                    vec![reason(CrlReason::KeyCompromise)]
                } else {
                    Vec::new()
                };
                entry(&serial, extensions)
            })
            .collect();
        let tbs = crl_tbs(&ca, |t| t.revoked_certificates = Some(entries));
        assert!(tbs.len() > 2_000_000);
        check_crl(&tbs, &ca.crl_expect()).unwrap();
    }
}
