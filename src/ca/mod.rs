//! The certificate authority: the only code that holds CA private keys. It creates the CA
//! hierarchy and changes it (`ceremony`: init, rollover, CA revocation, root CRLs), and
//! signs what the registration authority has decided to issue (`authority`), re-checking
//! every to-be-signed certificate and CRL first (`lint`). It never parses HTTP, never reads
//! policies and never touches the database.
//!
//! | file | job |
//! | --- | --- |
//! | `authority.rs` | the loaded CA: issuing CAs, leaf/CRL/OCSP signing |
//! | `ceremony.rs` | init, rollover, CA revocation, the root CRL (root key operations) |
//! | `registry.rs` | `cas.toml`: the issuing CAs and their lifecycle |
//! | `lint.rs` | pre-issuance checks of every TBS certificate and CRL |
//! | `crl_der.rs` | the streamed CRL encoder |
//! | `keys/` | where CA keys live: key files or a PKCS#11 token, behind `CaKey` |
//! | `extensions.rs` | extensions rcgen lacks |
//! | `tsa.rs` | the RFC 3161 time-stamping authority: its certificate and its tokens |

mod authority;
mod ceremony;
mod crl_der;
pub(crate) mod extensions;
pub mod keys;
pub mod lint;
mod reencode;
pub mod registry;
mod tsa;

use std::path::{Path, PathBuf};

use rcgen::{DistinguishedName, DnType};
use time::{Duration, OffsetDateTime};

use crate::config::CaSettings;
use crate::model::Serial;
pub use authority::{
    CaCertificate, CertificateAuthority, CrlEntry, IssuerRevocation, IssuingCa, LeafRequest,
};
pub use ceremony::{
    add_hierarchy, current_root_crl, init, key_inventory, load_root_key, load_root_key_of,
    publish_root_crl, publish_root_crl_of, revoke_issuing, revoke_responder, rollover,
    HierarchyReport, InitOptions, InitReport, KeyReport, RootCrlInfo,
};
pub use crl_der::CrlEntryWriter;
pub use keys::{CaKey, KeyLocation, KeyStoreChoice, Passphrase, TokenConfig};
pub use lint::LintError;
pub use registry::{CaRevocation, CaState, Registry};
pub use tsa::{TimestampRequest, TimestampToken};

/// What can go wrong in the CA layer.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// `init` on a data directory that already has a CA.
    #[error("{0} already holds a CA (found {1}); nothing was changed. Use another --data-dir to create a new CA")]
    AlreadyInitialized(PathBuf, String),
    /// A command that needs a CA on an empty data directory.
    #[error(
        "no CA in {0}: run `paypki init` first (or `paypki serve`, which creates a development CA)"
    )]
    NotInitialized(PathBuf),
    /// A root operation without the root key.
    #[error("this operation needs the root key: pass --root-key FILE (there is no root key at {0}; in production it is kept offline)")]
    RootKeyNeeded(PathBuf),
    /// No issuing CA with that id.
    #[error("there is no issuing CA {0}; `paypki ca list` shows them")]
    UnknownIssuer(u32),
    /// No issuing CA may issue: the active one was revoked and none replaced it.
    #[error("no issuing CA can issue: the last one was revoked; run `paypki ca rollover`")]
    NoActiveIssuer,
    /// A file could not be read or written.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        reason: String,
    },
    /// A key could not be generated, imported, decrypted or used.
    #[error("{0}")]
    Key(String),
    /// A CA key's store (a PKCS#11 token) cannot be reached now; retrying may succeed.
    #[error("the CA key is unavailable: {0}")]
    KeyUnavailable(String),
    /// A setting is not usable.
    #[error("{0}")]
    Setting(String),
    /// The CA refuses to sign what it was asked to sign.
    #[error("the CA refused to sign: {0}")]
    Refused(String),
    /// A pre-issuance check of the to-be-signed bytes failed: nothing was signed.
    #[error("a pre-issuance check failed, nothing was signed: {0}")]
    PreIssuanceCheck(#[from] LintError),
    /// Building or signing a certificate failed.
    #[error("cannot build the certificate: {0}")]
    Build(String),
}

impl CaError {
    /// What kind of failure this is.
    pub fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind as K;
        match self {
            CaError::UnknownIssuer(_) => K::NotFound,
            CaError::NoActiveIssuer => K::NoIssuingCa,
            CaError::PreIssuanceCheck(_) => K::PreIssuanceCheck,
            CaError::KeyUnavailable(_) => K::Unavailable,
            CaError::AlreadyInitialized(..)
            | CaError::NotInitialized(_)
            | CaError::RootKeyNeeded(_)
            | CaError::Io { .. }
            | CaError::Key(_)
            | CaError::Setting(_)
            | CaError::Refused(_)
            | CaError::Build(_) => K::Internal,
        }
    }
}

impl CaError {
    pub(crate) fn io(path: &Path, e: std::io::Error) -> Self {
        CaError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    }
}

impl From<lint::SignFailure> for CaError {
    fn from(failure: lint::SignFailure) -> Self {
        match failure {
            lint::SignFailure::Check(e) => CaError::PreIssuanceCheck(e),
            lint::SignFailure::Key(e) => e.into(),
        }
    }
}

impl From<rcgen::Error> for CaError {
    fn from(e: rcgen::Error) -> Self {
        CaError::Build(e.to_string())
    }
}

/// Backdating absorbs clock skew between paypki and relying parties (Boulder backdates 1h).
const BACKDATE: Duration = Duration::minutes(5);

/// The distinguished name of a CA certificate: C, O, CN.
fn ca_name(settings: &CaSettings, common_name: &str) -> Result<DistinguishedName, CaError> {
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CountryName,
        rcgen::DnValue::PrintableString(settings.country.as_str().try_into()?),
    );
    dn.push(DnType::OrganizationName, settings.organization.as_str());
    dn.push(DnType::CommonName, common_name);
    Ok(dn)
}

/// The common name of issuing CA `id`: generations get distinct names, so relying
/// parties never have to tell two issuers apart by key identifier alone.
fn issuing_common_name(settings: &CaSettings, id: u32) -> String {
    if id <= 1 {
        format!("{} Issuing CA", settings.organization)
    } else {
        format!("{} Issuing CA {id}", settings.organization)
    }
}

fn random_serial() -> Result<Serial, CaError> {
    Serial::random(&ring::rand::SystemRandom::new())
        .map_err(|_| CaError::Key("the system random generator failed".into()))
}

fn create_private_dir(path: &Path) -> Result<(), CaError> {
    use std::os::unix::fs::DirBuilderExt;
    if path.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| CaError::io(path, e))
}

/// Creates a new file (never overwrites) and makes it durable.
fn write_file(path: &Path, contents: &[u8]) -> Result<(), CaError> {
    use std::io::Write;
    let io = |e| CaError::io(path, e);
    let mut file = std::fs::File::create_new(path).map_err(io)?;
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)
}

/// Replaces a file atomically: a temporary file beside it, fsync, rename.
fn replace_file(path: &Path, contents: &[u8]) -> Result<(), CaError> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| CaError::io(parent, e))?;
    }
    let tmp = path.with_extension("tmp");
    let io = |e| CaError::io(&tmp, e);
    let mut file = std::fs::File::create(&tmp).map_err(io)?;
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(|e| CaError::io(path, e))
}

/// Opens CA key `name` (`keys/<name>.key.pem` or its token reference) and proves it is
/// the private key of `cert`: nothing is signed with a key other than the one the
/// configuration names.
fn open_ca_key(
    pem_path: &Path,
    cert: &CaCertificate,
    passphrase: Option<&Passphrase>,
    name: &str,
) -> Result<CaKey, CaError> {
    let location = KeyLocation::find(pem_path)?.ok_or_else(|| CaError::Io {
        path: pem_path.to_path_buf(),
        reason: format!(
            "the {name} key is missing (neither this key file nor its token reference {} exists)",
            keys::reference_path(pem_path).display()
        ),
    })?;
    open_key_at(&location, cert, passphrase, name)
}

/// Opens the key at `location` and proves it belongs to `cert`.
fn open_key_at(
    location: &KeyLocation,
    cert: &CaCertificate,
    passphrase: Option<&Passphrase>,
    name: &str,
) -> Result<CaKey, CaError> {
    let spki = certificate_spki(cert, name)?;
    let key = location.open(passphrase, Some(&spki))?;
    key.prove_matches(&spki, name)?;
    Ok(key)
}

fn certificate_spki(cert: &CaCertificate, name: &str) -> Result<Vec<u8>, CaError> {
    let (_, parsed) = x509_parser::parse_x509_certificate(&cert.der)
        .map_err(|e| CaError::Key(format!("{name} certificate: {e}")))?;
    Ok(parsed.public_key().raw.to_vec())
}

/// Whole seconds: what certificates and CRLs encode.
fn whole_seconds(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_nanosecond(0).unwrap_or(at)
}

/// PEM-encodes DER (RFC 7468: 64 base64 characters a line, LF endings; the bytes the
/// `pem` crate writes, which a unit test checks). Written out here because every
/// issuance answers with one and the `pem` crate copied the DER and the text again.
pub fn to_pem(tag: &str, der: &[u8]) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 64 + 2 * tag.len() + 32);
    out.push_str("-----BEGIN ");
    out.push_str(tag);
    out.push_str("-----\n");
    for line in encoded.as_bytes().chunks(64) {
        // Base64 is ASCII: every chunk is text.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(tag);
    out.push_str("-----\n");
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn pem_is_what_the_pem_crate_writes_and_reads_back() {
        for len in (0..300).chain([1_000, 4_096]) {
            let der: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let ours = super::to_pem("CERTIFICATE", &der);
            let theirs = pem::encode_config(
                &pem::Pem::new("CERTIFICATE", der.clone()),
                pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
            );
            assert_eq!(ours, theirs, "{len}");
            assert_eq!(pem::parse(&ours).unwrap().contents(), der.as_slice());
        }
    }
}
