//! Domain types shared by every layer: roles, serial numbers, key algorithms, status.
//!
//! "Parse, don't validate": each type can only hold a valid value, so code that receives
//! one never checks it again.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The four kinds of participant of the payment network; each has its own policy file.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A card holder or account holder who signs payment instructions.
    Buyer,
    /// A merchant that signs payment requests.
    Merchant,
    /// An issuing or acquiring bank.
    Bank,
    /// A payment gateway between the Internet and the banks' networks.
    Gateway,
}

impl Role {
    /// Every role, in a fixed order.
    pub const ALL: [Role; 4] = [Role::Buyer, Role::Merchant, Role::Bank, Role::Gateway];

    /// The lowercase name used in files, URLs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Buyer => "buyer",
            Role::Merchant => "merchant",
            Role::Bank => "bank",
            Role::Gateway => "gateway",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown role name.
#[derive(Debug, thiserror::Error)]
#[error("unknown role {0:?}: expected one of buyer, merchant, bank, gateway")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "buyer" => Ok(Role::Buyer),
            "merchant" => Ok(Role::Merchant),
            "bank" => Ok(Role::Bank),
            "gateway" => Ok(Role::Gateway),
            _ => Err(UnknownRole(s.to_string())),
        }
    }
}

/// What an officer may do. Each act of the CA needs one of these (docs/operations.md,
/// "Officers and roles", has the table).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum OfficerRole {
    /// Registers participants and creates enrollment tokens; issues from CSRs.
    RaOfficer,
    /// Revokes certificates, places and lifts holds.
    RevocationOfficer,
    /// Runs the CA: CRLs, the OCSP responder, issuing CAs, keys.
    CaOperator,
    /// Reads: certificate lists, the audit trail, reports.
    Auditor,
    /// Manages officers.
    SecurityOfficer,
}

impl OfficerRole {
    /// Every role, in a fixed order.
    pub const ALL: [OfficerRole; 5] = [
        OfficerRole::RaOfficer,
        OfficerRole::RevocationOfficer,
        OfficerRole::CaOperator,
        OfficerRole::Auditor,
        OfficerRole::SecurityOfficer,
    ];

    /// The kebab-case name used on the command line, in JSON and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            OfficerRole::RaOfficer => "ra-officer",
            OfficerRole::RevocationOfficer => "revocation-officer",
            OfficerRole::CaOperator => "ca-operator",
            OfficerRole::Auditor => "auditor",
            OfficerRole::SecurityOfficer => "security-officer",
        }
    }
}

impl fmt::Display for OfficerRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A certificate serial number: positive, at most 20 octets (RFC 5280 §4.1.2.2),
/// shown as lowercase hex without separators.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial(Vec<u8>);

/// Why a string is not a serial number.
#[derive(Debug, thiserror::Error)]
pub enum SerialError {
    /// Not hexadecimal.
    #[error("serial {0:?} is not hexadecimal")]
    NotHex(String),
    /// Empty, longer than 20 octets, or not positive.
    #[error("serial {0:?} must be a positive number of 1 to 20 octets")]
    OutOfRange(String),
}

impl Serial {
    /// Octets of randomness in a serial: 127 bits from the CSPRNG, well above the 64 that
    /// CA/Browser Forum BR §7.1 asks for.
    const RANDOM_OCTETS: usize = 16;

    /// A fresh random serial. The top octet is forced into 0x01..=0x7f so the DER
    /// INTEGER is positive and exactly 16 octets long, which keeps hex forms stable.
    pub fn random(rng: &dyn ring::rand::SecureRandom) -> Result<Self, ring::error::Unspecified> {
        let mut bytes = [0u8; Self::RANDOM_OCTETS];
        rng.fill(&mut bytes)?;
        bytes[0] &= 0x7f;
        if bytes[0] == 0 {
            bytes[0] = 0x01;
        }
        Ok(Serial(bytes.to_vec()))
    }

    /// From the content octets of a DER INTEGER (as found in a certificate).
    pub fn from_der_integer(bytes: &[u8]) -> Result<Self, SerialError> {
        let trimmed = match bytes.iter().position(|b| *b != 0) {
            Some(start) => bytes.get(start..).unwrap_or_default(),
            None => &[],
        };
        if trimmed.is_empty() || trimmed.len() > 20 || bytes.first().is_some_and(|b| b & 0x80 != 0)
        {
            return Err(SerialError::OutOfRange(hex::encode(bytes)));
        }
        Ok(Serial(trimmed.to_vec()))
    }

    /// The magnitude octets, without leading zeros.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}

impl FromStr for Serial {
    type Err = SerialError;
    /// Accepts lowercase or uppercase hex, with or without `:` separators or a `0x` prefix.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let cleaned: String = s
            .trim()
            .trim_start_matches("0x")
            .chars()
            .filter(|c| *c != ':')
            .collect();
        let padded = if cleaned.len() % 2 == 1 {
            format!("0{cleaned}")
        } else {
            cleaned
        };
        let bytes = hex::decode(&padded).map_err(|_| SerialError::NotHex(s.to_string()))?;
        let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
        // Stored serials are positive DER integers; a high bit means a 0x00 pad octet.
        let der_len = trimmed.len() + usize::from(trimmed.first().is_some_and(|b| b & 0x80 != 0));
        if trimmed.is_empty() || der_len > 20 {
            return Err(SerialError::OutOfRange(s.to_string()));
        }
        Ok(Serial(trimmed))
    }
}

impl Serialize for Serial {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Serial {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A public-key algorithm, as a policy names it and as found in a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256.
    EcdsaP256,
    /// ECDSA on NIST P-384.
    EcdsaP384,
    /// Ed25519 (RFC 8410).
    Ed25519,
    /// RSA, any size (the policy sets the minimum).
    Rsa,
    /// SM2 (GM/T 0003), signing with SM3 (see [`crate::shangmi`]).
    Sm2,
}

impl KeyAlgorithm {
    /// The name used in policy files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::EcdsaP256 => "ecdsa-p256",
            KeyAlgorithm::EcdsaP384 => "ecdsa-p384",
            KeyAlgorithm::Ed25519 => "ed25519",
            KeyAlgorithm::Rsa => "rsa",
            KeyAlgorithm::Sm2 => "sm2",
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown key algorithm name.
#[derive(Debug, thiserror::Error)]
#[error("unknown key algorithm {0:?}: expected ecdsa-p256, ecdsa-p384, ed25519, rsa or sm2")]
pub struct UnknownKeyAlgorithm(pub String);

impl FromStr for KeyAlgorithm {
    type Err = UnknownKeyAlgorithm;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ecdsa-p256" | "p256" | "p-256" => Ok(KeyAlgorithm::EcdsaP256),
            "ecdsa-p384" | "p384" | "p-384" => Ok(KeyAlgorithm::EcdsaP384),
            "ed25519" => Ok(KeyAlgorithm::Ed25519),
            "rsa" => Ok(KeyAlgorithm::Rsa),
            "sm2" => Ok(KeyAlgorithm::Sm2),
            _ => Err(UnknownKeyAlgorithm(s.to_string())),
        }
    }
}

/// Whether a certificate may still be relied on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CertificateStatus {
    /// Issued and not revoked (it may still have expired: see the validity).
    Good,
    /// Revoked; the record says when and why.
    Revoked,
}

impl fmt::Display for CertificateStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CertificateStatus::Good => "good",
            CertificateStatus::Revoked => "revoked",
        })
    }
}

/// keyUsage bits a leaf profile may ask for (RFC 5280 §4.2.1.3). CA bits are not offered:
/// no policy file can make a participant a CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUsage {
    /// digitalSignature
    DigitalSignature,
    /// nonRepudiation / contentCommitment
    NonRepudiation,
    /// keyEncipherment (RSA key transport)
    KeyEncipherment,
    /// keyAgreement (ECDH)
    KeyAgreement,
}

impl KeyUsage {
    /// Parses the name used in policy files.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "digital_signature" => Some(KeyUsage::DigitalSignature),
            "non_repudiation" | "content_commitment" => Some(KeyUsage::NonRepudiation),
            "key_encipherment" => Some(KeyUsage::KeyEncipherment),
            "key_agreement" => Some(KeyUsage::KeyAgreement),
            _ => None,
        }
    }
}

/// An extended key usage purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtendedKeyUsage {
    /// id-kp-serverAuth
    ServerAuth,
    /// id-kp-clientAuth
    ClientAuth,
    /// id-kp-emailProtection
    EmailProtection,
    /// Any other OID, except id-kp-OCSPSigning, which only the CA's responder may hold.
    Other(Vec<u64>),
}

impl ExtendedKeyUsage {
    /// Parses the name used in policy files.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "server_auth" => Some(ExtendedKeyUsage::ServerAuth),
            "client_auth" => Some(ExtendedKeyUsage::ClientAuth),
            "email_protection" => Some(ExtendedKeyUsage::EmailProtection),
            other => {
                let arcs = parse_oid(other)?;
                // id-kp-OCSPSigning (1.3.6.1.5.5.7.3.9) belongs to the CA's responder only.
                (arcs != [1, 3, 6, 1, 5, 5, 7, 3, 9]).then_some(ExtendedKeyUsage::Other(arcs))
            }
        }
    }
}

/// Parses a dotted OID that can be DER-encoded (see [`oid_from_arcs`]).
pub fn parse_oid(text: &str) -> Option<Vec<u64>> {
    let arcs: Vec<u64> = text
        .split('.')
        .map(|a| a.parse::<u64>().ok())
        .collect::<Option<_>>()?;
    oid_from_arcs(&arcs)?;
    Some(arcs)
}

/// The DER object identifier with exactly these arcs, or `None` when paypki cannot
/// encode them: the first arc 0-2, the second at most 39 (const-oid's bound for every
/// first arc), each arc within u32, at most 39 octets, and nothing const-oid cannot read.
///
/// The octets are encoded here, not by const-oid: 0.9.6 does not check that an arc fits
/// its u32 (`1.2.4294967296` overflowed inside it), and it encodes some arcs wrongly (128
/// as `80 00`, which reads back as 0; also 16384..=16511 and others), so a policy could
/// have named one OID and put another in certificates. const-oid only reads them back,
/// and must read back the same arcs.
pub fn oid_from_arcs(arcs: &[u64]) -> Option<der::asn1::ObjectIdentifier> {
    let [first, second, rest @ ..] = arcs else {
        return None;
    };
    if *first > 2 || *second > 39 {
        return None;
    }
    let mut octets = vec![u8::try_from(first * 40 + second).ok()?];
    for &arc in rest {
        u32::try_from(arc).ok()?;
        // Base 128, most significant group first; every group but the last has the top bit.
        let mut groups = vec![u8::try_from(arc & 0x7f).ok()?];
        let mut high = arc >> 7;
        while high > 0 {
            groups.push(0x80 | u8::try_from(high & 0x7f).ok()?);
            high >>= 7;
        }
        octets.extend(groups.iter().rev());
    }
    let oid = der::asn1::ObjectIdentifier::from_bytes(&octets).ok()?;
    // from_bytes checked that every arc reads back, so arcs() cannot panic here.
    oid.arcs()
        .map(u64::from)
        .eq(arcs.iter().copied())
        .then_some(oid)
}

/// A subject public key taken from a CSR: its algorithm family, its size, and its DER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    algorithm: KeyAlgorithm,
    bits: u32,
    spki_der: Vec<u8>,
    raw_key: Vec<u8>,
}

/// A public key paypki cannot certify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublicKeyError {
    /// Not a DER SubjectPublicKeyInfo.
    #[error("the public key is not a valid SubjectPublicKeyInfo")]
    Malformed,
    /// An algorithm or curve outside ECDSA P-256/P-384, Ed25519, RSA and SM2.
    #[error(
        "unsupported public key algorithm {0} (supported: ECDSA P-256, ECDSA P-384, Ed25519, RSA, SM2)"
    )]
    Unsupported(String),
}

impl PublicKeyError {
    /// What kind of failure this is: a key paypki cannot certify.
    pub fn kind(&self) -> crate::error::ErrorKind {
        match self {
            PublicKeyError::Malformed | PublicKeyError::Unsupported(_) => {
                crate::error::ErrorKind::KeyRefused
            }
        }
    }
}

const OID_EC_PUBLIC_KEY: &[u64] = &[1, 2, 840, 10045, 2, 1];
const OID_P256: &[u64] = &[1, 2, 840, 10045, 3, 1, 7];
const OID_P384: &[u64] = &[1, 3, 132, 0, 34];
const OID_ED25519: &[u64] = &[1, 3, 101, 112];
const OID_RSA: &[u64] = &[1, 2, 840, 113549, 1, 1, 1];

impl PublicKey {
    /// Parses a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, PublicKeyError> {
        use x509_parser::prelude::FromDer;
        let (rest, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(der)
            .map_err(|_| PublicKeyError::Malformed)?;
        if !rest.is_empty() {
            return Err(PublicKeyError::Malformed);
        }
        Self::from_x509(&spki)
    }

    /// From a parsed SubjectPublicKeyInfo.
    pub fn from_x509(
        spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>,
    ) -> Result<Self, PublicKeyError> {
        // x509-parser is lenient: it reads an AlgorithmIdentifier whose OID carries another
        // tag as that OID. The CA's pre-issuance checks (and relying parties) read keys as
        // strict DER, so a key is only accepted if a strict parser reads the same one.
        let strict = <spki::SubjectPublicKeyInfoRef<'_> as der::Decode>::from_der(spki.raw)
            .map_err(|_| PublicKeyError::Malformed)?;
        if strict.algorithm.oid.as_bytes() != spki.algorithm.algorithm.as_bytes() {
            return Err(PublicKeyError::Malformed);
        }
        // A key is whole octets: a BIT STRING with unused bits is not one (as_bytes is
        // None then), though x509-parser and ring would take its octets.
        if strict.subject_public_key.as_bytes() != Some(spki.subject_public_key.data.as_ref()) {
            return Err(PublicKeyError::Malformed);
        }
        let arcs = |oid: &x509_parser::der_parser::oid::Oid<'_>| -> Vec<u64> {
            oid.iter().map(|i| i.collect()).unwrap_or_default()
        };
        let alg_oid = arcs(&spki.algorithm.algorithm);
        let raw_key = spki.subject_public_key.data.to_vec();
        let (algorithm, bits) = if alg_oid == OID_EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|oid| arcs(&oid))
                .unwrap_or_default();
            // Uncompressed points only: 0x04 || X || Y (SEC 1 §2.3.3), as ring requires.
            let (algorithm, bits, len) = if curve == OID_P256 {
                (KeyAlgorithm::EcdsaP256, 256, 65)
            } else if curve == OID_P384 {
                (KeyAlgorithm::EcdsaP384, 384, 97)
            } else if curve == crate::shangmi::ARCS_SM2_CURVE {
                (KeyAlgorithm::Sm2, 256, 65)
            } else {
                return Err(PublicKeyError::Unsupported(format!(
                    "EC curve {}",
                    dotted(&curve)
                )));
            };
            if raw_key.len() != len || raw_key.first() != Some(&0x04) {
                return Err(PublicKeyError::Malformed);
            }
            (algorithm, bits)
        } else if alg_oid == OID_ED25519 {
            if raw_key.len() != 32 {
                return Err(PublicKeyError::Malformed);
            }
            (KeyAlgorithm::Ed25519, 256)
        } else if alg_oid == OID_RSA {
            match spki.parsed() {
                Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => {
                    let bits =
                        u32::try_from(rsa.key_size()).map_err(|_| PublicKeyError::Malformed)?;
                    (KeyAlgorithm::Rsa, bits)
                }
                _ => return Err(PublicKeyError::Malformed),
            }
        } else {
            return Err(PublicKeyError::Unsupported(dotted(&alg_oid)));
        };
        Ok(PublicKey {
            algorithm,
            bits,
            spki_der: spki.raw.to_vec(),
            raw_key,
        })
    }

    /// The algorithm family.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }
    /// Key size in bits (the modulus for RSA, the curve for EC).
    pub fn bits(&self) -> u32 {
        self.bits
    }
    /// The key bits inside the SubjectPublicKeyInfo (EC point, Ed25519 key, or RSAPublicKey
    /// DER), which is what ring's verifiers take.
    pub fn raw_key(&self) -> &[u8] {
        &self.raw_key
    }
    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }
    /// A short description such as `rsa-2048` or `ecdsa-p256`.
    pub fn describe(&self) -> String {
        match self.algorithm {
            KeyAlgorithm::Rsa => format!("rsa-{}", self.bits),
            other => other.to_string(),
        }
    }
}

impl rcgen::PublicKeyData for PublicKey {
    /// The SubjectPublicKeyInfo as received. rcgen writes a certificate's key from
    /// [`Self::algorithm`] instead, which cannot name the SM2 curve: the CA puts this one
    /// into an SM2 subject's certificate before signing (`ca::reencode`).
    fn subject_public_key_info(&self) -> Vec<u8> {
        self.spki_der.clone()
    }
    fn der_bytes(&self) -> &[u8] {
        &self.raw_key
    }
    /// rcgen writes the SubjectPublicKeyInfo's AlgorithmIdentifier from this; for RSA any
    /// RSA entry gives `rsaEncryption` with NULL parameters.
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        rcgen_algorithm(self.algorithm)
    }
}

/// What rcgen is told a key of `algorithm` is. rcgen's set of algorithms is closed
/// (`SignatureAlgorithm` has no public constructor) and has no SM2: an SM2 key is
/// presented as P-256 (the same point size), and the CA replaces the key's
/// AlgorithmIdentifier and the signature algorithm before anything is signed.
pub(crate) fn rcgen_algorithm(algorithm: KeyAlgorithm) -> &'static rcgen::SignatureAlgorithm {
    match algorithm {
        KeyAlgorithm::EcdsaP256 | KeyAlgorithm::Sm2 => &rcgen::PKCS_ECDSA_P256_SHA256,
        KeyAlgorithm::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        KeyAlgorithm::Ed25519 => &rcgen::PKCS_ED25519,
        KeyAlgorithm::Rsa => &rcgen::PKCS_RSA_SHA256,
    }
}

fn dotted(arcs: &[u64]) -> String {
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// The SHA-256 fingerprint of DER bytes, as `openssl x509 -fingerprint -sha256` prints it.
pub fn sha256_fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let mut octets = [0u8; 32];
    octets.copy_from_slice(digest.as_ref());
    fingerprint_text(&octets)
}

/// A SHA-256 fingerprint's text: uppercase hex octets separated by colons, as
/// `openssl x509 -fingerprint -sha256` prints them.
pub fn fingerprint_text(octets: &[u8; 32]) -> String {
    // Written directly: once per issuance, where 32 `format!`s cost as much as the hash.
    let digit = |nibble: u8| {
        char::from_digit(u32::from(nibble), 16).map_or('0', |c| c.to_ascii_uppercase())
    };
    let mut text = String::with_capacity(octets.len() * 3);
    for (i, byte) in octets.iter().enumerate() {
        if i > 0 {
            text.push(':');
        }
        text.push(digit(byte >> 4));
        text.push(digit(byte & 0x0f));
    }
    text
}

/// Why a certificate was revoked (RFC 5280 §5.3.1). `removeFromCRL` is not a reason one
/// revokes with; it only appears in delta CRLs, which paypki does not issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    /// unspecified (0)
    Unspecified,
    /// keyCompromise (1)
    KeyCompromise,
    /// cACompromise (2)
    CaCompromise,
    /// affiliationChanged (3)
    AffiliationChanged,
    /// superseded (4)
    Superseded,
    /// cessationOfOperation (5)
    CessationOfOperation,
    /// certificateHold (6): temporary; `paypki unhold` lifts it.
    CertificateHold,
    /// privilegeWithdrawn (9)
    PrivilegeWithdrawn,
    /// aACompromise (10)
    AaCompromise,
}

const REASONS: [(RevocationReason, &str, u8); 9] = [
    (RevocationReason::Unspecified, "unspecified", 0),
    (RevocationReason::KeyCompromise, "keyCompromise", 1),
    (RevocationReason::CaCompromise, "cACompromise", 2),
    (
        RevocationReason::AffiliationChanged,
        "affiliationChanged",
        3,
    ),
    (RevocationReason::Superseded, "superseded", 4),
    (
        RevocationReason::CessationOfOperation,
        "cessationOfOperation",
        5,
    ),
    (RevocationReason::CertificateHold, "certificateHold", 6),
    (
        RevocationReason::PrivilegeWithdrawn,
        "privilegeWithdrawn",
        9,
    ),
    (RevocationReason::AaCompromise, "aACompromise", 10),
];

impl RevocationReason {
    fn entry(self) -> (RevocationReason, &'static str, u8) {
        REASONS.iter().copied().find(|e| e.0 == self).unwrap_or((
            RevocationReason::Unspecified,
            "unspecified",
            0,
        ))
    }
    /// The RFC 5280 name, e.g. `keyCompromise`.
    pub fn name(self) -> &'static str {
        self.entry().1
    }
    /// The CRLReason code.
    pub fn code(self) -> u8 {
        self.entry().2
    }
    /// From a CRLReason code.
    pub fn from_code(code: u8) -> Option<Self> {
        REASONS.iter().find(|e| e.2 == code).map(|e| e.0)
    }
    /// The x509-cert form, for CRL entries and OCSP responses.
    pub fn to_x509(self) -> x509_cert::ext::pkix::CrlReason {
        use x509_cert::ext::pkix::CrlReason as R;
        match self {
            RevocationReason::Unspecified => R::Unspecified,
            RevocationReason::KeyCompromise => R::KeyCompromise,
            RevocationReason::CaCompromise => R::CaCompromise,
            RevocationReason::AffiliationChanged => R::AffiliationChanged,
            RevocationReason::Superseded => R::Superseded,
            RevocationReason::CessationOfOperation => R::CessationOfOperation,
            RevocationReason::CertificateHold => R::CertificateHold,
            RevocationReason::PrivilegeWithdrawn => R::PrivilegeWithdrawn,
            RevocationReason::AaCompromise => R::AaCompromise,
        }
    }

    /// Every accepted name, for messages.
    pub fn all_names() -> String {
        REASONS.iter().map(|e| e.1).collect::<Vec<_>>().join(", ")
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown revocation reason name.
#[derive(Debug, thiserror::Error)]
#[error("unknown revocation reason {0:?}; use one of {all} (RFC 5280 §5.3.1)", all = RevocationReason::all_names())]
pub struct UnknownReason(pub String);

impl FromStr for RevocationReason {
    type Err = UnknownReason;
    /// Accepts the RFC names in any case, with or without `-`/`_` (`key-compromise`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let folded: String = s
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .collect::<String>()
            .to_ascii_lowercase();
        REASONS
            .iter()
            .find(|e| e.1.to_ascii_lowercase() == folded)
            .map(|e| e.0)
            .ok_or_else(|| UnknownReason(s.to_string()))
    }
}

/// In the API: one of the RFC 5280 names, exactly.
impl utoipa::PartialSchema for RevocationReason {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("RFC 5280 §5.3.1 reason name"))
            .enum_values(Some(REASONS.iter().map(|e| e.1)))
            .into()
    }
}

impl utoipa::ToSchema for RevocationReason {}

impl serde::Serialize for RevocationReason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for RevocationReason {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_colon_separated_uppercase_hex_as_openssl_prints_them() {
        // FIPS 180-2 appendix B.1: SHA-256("abc").
        assert_eq!(
            sha256_fingerprint(b"abc"),
            "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:\
             B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"
        );
    }

    #[test]
    fn random_serials_are_positive_16_octets_and_distinct() {
        let rng = ring::rand::SystemRandom::new();
        let a = Serial::random(&rng).unwrap();
        let b = Serial::random(&rng).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.as_bytes().len(), 16);
        assert!(a.as_bytes()[0] >= 1 && a.as_bytes()[0] <= 0x7f);
        assert_eq!(a.to_string(), a.to_string().to_lowercase());
        assert_eq!(a.to_string().parse::<Serial>().unwrap(), a);
    }

    #[test]
    fn serial_parsing_accepts_common_forms_and_rejects_bad_ones() {
        let s: Serial = "0A:1b:2C".parse().unwrap();
        assert_eq!(s.to_string(), "0a1b2c");
        assert_eq!("0x00ff".parse::<Serial>().unwrap().to_string(), "ff");
        assert!("zz".parse::<Serial>().is_err());
        assert!("".parse::<Serial>().is_err());
        assert!("00".parse::<Serial>().is_err());
        assert!("ff".repeat(20).parse::<Serial>().is_err());
        assert!("7f".repeat(20).parse::<Serial>().is_ok());
    }

    #[test]
    fn serial_from_der_integer_rejects_negative_and_oversized() {
        assert!(Serial::from_der_integer(&[0x80]).is_err());
        assert!(Serial::from_der_integer(&[0x00, 0x80]).is_ok());
        assert!(Serial::from_der_integer(&[0x01; 21]).is_err());
        assert!(Serial::from_der_integer(&[]).is_err());
    }

    #[test]
    fn reasons_parse() {
        assert_eq!(
            "keyCompromise".parse::<RevocationReason>().unwrap(),
            RevocationReason::KeyCompromise
        );
        assert_eq!(
            "key-compromise".parse::<RevocationReason>().unwrap().code(),
            1
        );
        assert_eq!(
            "AACompromise".parse::<RevocationReason>().unwrap().code(),
            10
        );
        assert!("removeFromCRL".parse::<RevocationReason>().is_err());
        assert!("stolen".parse::<RevocationReason>().is_err());
        assert_eq!(
            RevocationReason::from_code(9),
            Some(RevocationReason::PrivilegeWithdrawn)
        );
        assert_eq!(RevocationReason::from_code(7), None);
    }

    /// Regression (fuzz/regressions/durations_and_oids): const-oid 0.9.6 does not check
    /// that an arc fits in u32 (`1.2.4294967296` overflows inside it: a panic with
    /// overflow checks, a silently different OID without), so parse_oid checks the range.
    #[test]
    fn oid_arcs_above_u32_are_refused() {
        for text in [
            "1.2.4294967296",
            "1.2.840.4294967296",
            "1.2.99999999999999999999",
            "1.2.18446744073709551615",
        ] {
            assert_eq!(parse_oid(text), None, "{text}");
        }
        assert_eq!(
            parse_oid("1.3.6.1.4.1.99999.1"),
            Some(vec![1, 3, 6, 1, 4, 1, 99999, 1])
        );
        // Within u32, but more than const-oid can hold (it refuses 5-octet arcs it did
        // not encode itself): refused, never mis-encoded.
        assert_eq!(parse_oid("1.2.4294967295"), None);
    }

    /// Regression (fuzz/regressions/csr_policy/spki-oid-wrong-tag): x509-parser reads an
    /// AlgorithmIdentifier whose OID has another tag (here APPLICATION 1) as that OID, so
    /// a CSR with such a key passed every check and the RA approved it; only the CA's
    /// pre-issuance check (strict DER) refused it, as a 500. Such a key is malformed.
    #[test]
    fn a_key_whose_algorithm_is_not_an_oid_is_malformed() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let spki = rcgen::PublicKeyData::subject_public_key_info(&key);
        assert!(PublicKey::from_spki_der(&spki).is_ok());
        // 30 2a 30 05 06 03 2b 65 70 03 21 00 …: the OID's tag is at offset 4.
        assert_eq!(&spki[4..9], &[0x06, 0x03, 0x2b, 0x65, 0x70]);
        for tag in [0x41, 0x86, 0x04] {
            let mut bad = spki.clone();
            bad[4] = tag;
            assert_eq!(
                PublicKey::from_spki_der(&bad),
                Err(PublicKeyError::Malformed),
                "tag {tag:#x}"
            );
        }
    }

    /// Regression (fuzz/regressions/csr_policy/spki-unused-bits): a subjectPublicKey BIT
    /// STRING with unused bits is not a key, but x509-parser and ring took its octets, so
    /// the RA approved such a CSR and the CA's pre-issuance check refused it (a 500).
    #[test]
    fn a_key_bit_string_with_unused_bits_is_malformed() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let mut spki = rcgen::PublicKeyData::subject_public_key_info(&key);
        // 30 2a 30 05 06 03 2b 65 70 03 21 00 …: the unused-bits octet is at offset 11.
        assert_eq!(&spki[9..12], &[0x03, 0x21, 0x00]);
        spki[11] = 0x01;
        // DER wants the unused bit itself zero; with it zero the encoding is valid DER.
        *spki.last_mut().unwrap() &= 0xfe;
        assert_eq!(
            PublicKey::from_spki_der(&spki),
            Err(PublicKeyError::Malformed)
        );
    }

    #[test]
    fn roles_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("admin".parse::<Role>().is_err());
    }
}
