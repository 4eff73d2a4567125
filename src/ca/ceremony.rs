//! Root key operations and the CA's lifecycle: `init` (root, issuing CA 1, its responder,
//! the first root CRL), `rollover` (a new issuing CA), revoking an issuing CA or a
//! responder, and re-signing the root CRL. In production the root key is kept offline
//! (`init --root-key-out`) and these run on the offline machine or with the key brought
//! in for the ceremony (`--root-key FILE`); a running CA never needs it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CrlDistributionPoint, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyIdMethod, KeyUsagePurpose, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use super::authority::{sign_checked, CaCertificate, IssuerRevocation, Signed};
use super::keys::{KeyLocation, KeyStoreChoice, NewKey, TokenConfig};
use super::registry::{CaRevocation, CaState, IssuerEntry, Registry};
use super::{
    ca_name, extensions, issuing_common_name, keys, lint, random_serial, CaError, CaKey,
    Passphrase, BACKDATE,
};
use crate::clock::Clock;
use crate::config::{CaSettings, DataDir};
use crate::model::{sha256_fingerprint, KeyAlgorithm, RevocationReason, Serial};

/// Options of `paypki init`.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Base URL written into AIA and CRL distribution points.
    pub base_url: String,
    /// Organization (O) of the CA certificates.
    pub organization: String,
    /// Country (C) of the CA certificates.
    pub country: String,
    /// Common name of the root.
    pub root_common_name: String,
    /// Algorithm for generated keys.
    pub key_algorithm: KeyAlgorithm,
    /// Where the issuing CA and responder keys are made: key files or a PKCS#11 token.
    pub key_store: KeyStoreChoice,
    /// Where the root key is made (default: a key file, see `root_key_out`).
    pub root_key_store: KeyStoreChoice,
    /// Adopt the issuing CA key pair with this label on the token instead of generating.
    pub issuing_key_label: Option<String>,
    /// Adopt the responder key pair with this label on the token instead of generating.
    pub responder_key_label: Option<String>,
    /// Adopt the root key pair with this label on the root's token instead of generating.
    pub root_key_label: Option<String>,
    /// An existing PKCS#8 root key.
    pub import_root_key: Option<PathBuf>,
    /// An existing PKCS#8 issuing CA key.
    pub import_issuing_key: Option<PathBuf>,
    /// Where the root key goes instead of the data directory (the offline root).
    pub root_key_out: Option<PathBuf>,
    /// Encrypts the key files when set.
    pub passphrase: Option<Passphrase>,
    /// Root validity.
    pub root_validity: Duration,
    /// Issuing CA validity.
    pub issuing_validity: Duration,
    /// OCSP responder certificate validity.
    pub ocsp_validity: Duration,
    /// Validity of root CRLs (nextUpdate − thisUpdate).
    pub root_crl_validity: Duration,
    /// Where "now" comes from.
    pub clock: crate::clock::SharedClock,
}

impl InitOptions {
    /// Defaults: 20-year root, 10-year issuing CA, 90-day OCSP responder, 180-day root
    /// CRLs, ECDSA P-256.
    pub fn new(base_url: String) -> Self {
        InitOptions {
            base_url,
            organization: "paypki Development".into(),
            country: "US".into(),
            root_common_name: "paypki Root CA".into(),
            key_algorithm: KeyAlgorithm::EcdsaP256,
            key_store: KeyStoreChoice::Files,
            root_key_store: KeyStoreChoice::Files,
            issuing_key_label: None,
            responder_key_label: None,
            root_key_label: None,
            import_root_key: None,
            import_issuing_key: None,
            root_key_out: None,
            passphrase: None,
            root_validity: Duration::days(20 * 365 + 5),
            issuing_validity: Duration::days(10 * 365 + 2),
            ocsp_validity: Duration::days(90),
            root_crl_validity: Duration::days(180),
            clock: crate::clock::system(),
        }
    }
}

/// What `init` created.
#[derive(Debug, Clone)]
pub struct InitReport {
    /// SHA-256 fingerprint of the root certificate.
    pub root_fingerprint: String,
    /// The issuing CA key algorithm.
    pub key_algorithm: KeyAlgorithm,
    /// Whether key files are encrypted.
    pub encrypted: bool,
    /// Where the root key (file or token reference) was written.
    pub root_key: PathBuf,
    /// Where the issuing CA key lives.
    pub issuing_key: KeyLocation,
}

/// Reads `ca.toml`.
pub(super) fn read_settings(dir: &DataDir) -> Result<CaSettings, CaError> {
    let path = dir.settings_file();
    let text = std::fs::read_to_string(&path).map_err(|e| CaError::io(&path, e))?;
    toml::from_str(&text).map_err(|e| CaError::Setting(format!("{}: {e}", path.display())))
}

fn existing_ca_files(dir: &DataDir) -> Option<String> {
    [
        dir.settings_file(),
        dir.keys_dir(),
        dir.certs_dir(),
        dir.database(),
    ]
    .into_iter()
    .find(|p| p.exists())
    .map(|p| p.display().to_string())
}

/// Creates a new CA hierarchy in `dir`: root, issuing CA 1 with its delegated OCSP
/// responder and its time-stamping authority, the registry, and the first root CRL (empty, cRLNumber 1).
pub fn init(dir: &DataDir, options: &InitOptions) -> Result<InitReport, CaError> {
    if let Some(found) = existing_ca_files(dir) {
        return Err(CaError::AlreadyInitialized(dir.root().to_path_buf(), found));
    }
    let base_url =
        crate::config::normalize_base_url(&options.base_url).map_err(CaError::Setting)?;
    // Every URL written into the certificates is fetched by relying parties' revocation
    // checkers, which commonly do not speak (or do not follow) HTTPS, and would have to
    // check a TLS certificate before they can check any certificate: RFC 5019 §5 and
    // RFC 5280 §4.2.1.13 / §4.2.2.1 expect http, and the CA/Browser Forum's Baseline
    // Requirements (§7.1.2) require it. OCSP responses and CRLs are signed, so plain
    // HTTP loses nothing.
    if base_url.starts_with("https://") {
        return Err(CaError::Setting(format!(
            "--base-url {base_url:?}: the base URL is written into every certificate as its OCSP, CRL and CA-certificate address, which relying parties fetch over plain HTTP (RFC 5019, RFC 5280); give the http:// address of the same host (the proxy serves /ocsp, /crl/ and /ca/ over HTTP, and enrollment and the admin API over HTTPS: docs/operations.md)"
        )));
    }
    let country = options.country.trim().to_string();
    if !(country.len() == 2 && country.chars().all(|c| c.is_ascii_uppercase())) {
        return Err(CaError::Setting(format!(
            "--country {country:?} must be a two-letter ISO 3166 code"
        )));
    }
    for (flag, value) in [
        ("--org", &options.organization),
        ("--root-cn", &options.root_common_name),
    ] {
        if value.trim().is_empty() || value.chars().count() > 64 {
            return Err(CaError::Setting(format!(
                "{flag} must be 1 to 64 characters"
            )));
        }
    }
    let root_crl_days = u32::try_from(options.root_crl_validity.whole_days())
        .ok()
        .filter(|days| (1..=3660).contains(days))
        .ok_or_else(|| CaError::Setting("--root-crl-validity must be 1 to 3660 days".into()))?;
    let root_key_path = match &options.root_key_out {
        Some(out) => out.join("root.key.pem"),
        None => dir.key_file("root"),
    };
    if let Some(existing) = [root_key_path.clone(), keys::reference_path(&root_key_path)]
        .into_iter()
        .find(|p| p.exists())
    {
        return Err(CaError::Setting(format!(
            "{} exists: nothing was changed; choose an empty --root-key-out directory",
            existing.display()
        )));
    }

    // Everything that can fail on input (imports, tokens) happens before anything is
    // written to the data directory.
    let passphrase = options.passphrase.as_ref();
    let root_key = init_key(
        &options.root_key_store,
        options.import_root_key.as_deref(),
        options.root_key_label.as_deref(),
        options.key_algorithm,
        "root",
        passphrase,
    )?;
    let issuing_key = init_key(
        &options.key_store,
        options.import_issuing_key.as_deref(),
        options.issuing_key_label.as_deref(),
        options.key_algorithm,
        &crate::config::issuing_name(1),
        passphrase,
    )?;
    let issuing_algorithm = issuing_key.key().algorithm();
    let ocsp_key = init_key(
        &options.key_store,
        None,
        options.responder_key_label.as_deref(),
        match options.key_store {
            KeyStoreChoice::Files => responder_algorithm(issuing_algorithm),
            KeyStoreChoice::Pkcs11(_) => issuing_algorithm,
        },
        &crate::config::responder_name(1),
        passphrase,
    )?;
    let (new_root_key, new_issuing_key, new_ocsp_key) = (root_key, issuing_key, ocsp_key);
    let (root_key, issuing_key, ocsp_key) = (
        new_root_key.key(),
        new_issuing_key.key(),
        new_ocsp_key.key(),
    );
    let settings = CaSettings {
        base_url,
        organization: options.organization.trim().to_string(),
        country,
        key_algorithm: issuing_algorithm,
        created_at: options.clock.now(),
        root_crl_validity_days: root_crl_days,
    };
    let now = settings.created_at;

    let root_cert = sign_root(
        &settings,
        options.root_common_name.trim(),
        1,
        root_key,
        now,
        options.root_validity,
    )?;
    let root = CaCertificate::from_der(root_cert.der().to_vec(), "root")?;

    let issuing = sign_issuing_ca(
        &settings,
        1,
        1,
        &root,
        root_key,
        issuing_key,
        now,
        options.issuing_validity,
    )?;
    let issuing_ca = CaCertificate::from_der(issuing.der().to_vec(), "issuing")?;
    let (ocsp_cert, _) = sign_responder(
        &settings,
        &issuing_ca,
        issuing_key,
        ocsp_key,
        now,
        options.ocsp_validity,
    )?;

    // Write: directories, keys (0600), certificates, the registry, the first root CRL,
    // and ca.toml last (it marks completion).
    super::create_private_dir(dir.root())?;
    super::create_private_dir(&dir.keys_dir())?;
    if let Some(out) = &options.root_key_out {
        super::create_private_dir(out)?;
    }
    std::fs::create_dir_all(dir.certs_dir()).map_err(|e| CaError::io(&dir.certs_dir(), e))?;
    let root_key_path = new_root_key.save(&root_key_path, passphrase)?;
    new_issuing_key.save(&dir.issuing_key_file(1), passphrase)?;
    new_ocsp_key.save(&dir.responder_key_file(1), passphrase)?;
    super::write_file(&dir.cert_file("root"), root_cert.pem().as_bytes())?;
    super::write_file(&dir.issuing_cert_file(1), issuing.pem().as_bytes())?;
    super::write_file(&dir.responder_cert_file(1), ocsp_cert.pem().as_bytes())?;
    super::tsa::create(dir, &settings, 1, &issuing_ca, issuing_key, passphrase, now)?;
    let registry = Registry::default();
    registry.save(dir)?;
    let crl = sign_root_crl(&settings, 1, &root, root_key, &registry, 1, now)?;
    super::replace_file(&dir.root_crl_file(), &crl)?;
    let settings_text = toml::to_string(&settings).map_err(|e| CaError::Setting(e.to_string()))?;
    super::write_file(&dir.settings_file(), settings_text.as_bytes())?;

    Ok(InitReport {
        root_fingerprint: sha256_fingerprint(root_cert.der()),
        key_algorithm: issuing_algorithm,
        encrypted: passphrase.is_some(),
        root_key: root_key_path,
        issuing_key: issuing_key.location(),
    })
}

/// A key for `init`: imported from a key file, adopted from a token by label, or
/// generated in `store`.
fn init_key(
    store: &KeyStoreChoice,
    import: Option<&Path>,
    label: Option<&str>,
    algorithm: KeyAlgorithm,
    name: &str,
    passphrase: Option<&Passphrase>,
) -> Result<NewKey, CaError> {
    match (import, label, store) {
        (Some(path), _, KeyStoreChoice::Files) => NewKey::import_file(path, passphrase),
        (Some(_), _, KeyStoreChoice::Pkcs11(_)) => Err(CaError::Setting(format!(
            "the {name} key goes on the token, which makes its own keys: instead of importing a key file, give the label of a key pair already on the token"
        ))),
        (None, Some(label), KeyStoreChoice::Pkcs11(config)) => {
            NewKey::existing_on_token(config, label)
        }
        (None, Some(_), KeyStoreChoice::Files) => Err(CaError::Setting(format!(
            "a key label names a key on a PKCS#11 token, but the {name} key is a key file"
        ))),
        (None, None, store) => NewKey::generate(store, algorithm, &token_label(name)),
    }
}

/// The label of a new key on a token: the CA key's name and a random suffix, so that
/// several CAs (or a key and its successor) can share a token.
pub(super) fn token_label(name: &str) -> String {
    use ring::rand::SecureRandom;
    let mut suffix = [0u8; 4];
    // A failed random generator leaves zeros: the label is still valid, only less unique,
    // and generation refuses a label that exists.
    let _ = ring::rand::SystemRandom::new().fill(&mut suffix);
    format!("paypki-{name}-{}", hex::encode(suffix))
}

/// The algorithm of a responder key made as a key file: the issuing CA's, but P-256 for
/// RSA CAs (ring cannot generate RSA keys; a token can and uses the CA's).
pub(super) fn responder_algorithm(issuing: KeyAlgorithm) -> KeyAlgorithm {
    match issuing {
        KeyAlgorithm::Rsa => KeyAlgorithm::EcdsaP256,
        other => other,
    }
}

/// The key pairs of a new issuing CA `id` and of its OCSP responder. On a token the
/// responder's is of the same algorithm; as key files, `responder_algorithm`'s.
fn generate_issuing_keys(
    store: &KeyStoreChoice,
    algorithm: KeyAlgorithm,
    id: u32,
) -> Result<(NewKey, NewKey), CaError> {
    let responder = match store {
        KeyStoreChoice::Pkcs11(_) => algorithm,
        KeyStoreChoice::Files => responder_algorithm(algorithm),
    };
    Ok((
        NewKey::generate(
            store,
            algorithm,
            &token_label(&crate::config::issuing_name(id)),
        )?,
        NewKey::generate(
            store,
            responder,
            &token_label(&crate::config::responder_name(id)),
        )?,
    ))
}

fn tbs_subject(tbs: &[u8]) -> Result<Vec<u8>, lint::LintError> {
    use x509_parser::prelude::FromDer;
    let (_, parsed) = x509_parser::certificate::TbsCertificate::from_der(tbs)
        .map_err(|e| lint::LintError::Unparsable(e.to_string()))?;
    Ok(parsed.subject().as_raw().to_vec())
}

/// The self-signed certificate of root `root_id` (1, or a further hierarchy's).
fn sign_root(
    settings: &CaSettings,
    common_name: &str,
    root_id: u32,
    root_key: &CaKey,
    now: OffsetDateTime,
    validity: Duration,
) -> Result<Signed, CaError> {
    let mut root_params = CertificateParams::default();
    root_params.distinguished_name = ca_name(settings, common_name)?;
    root_params.serial_number = Some(SerialNumber::from_slice(random_serial()?.as_bytes()));
    root_params.not_before = now - BACKDATE;
    root_params.not_after = now + validity;
    root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    // Strict relying parties (OpenSSL's -crl_check_all) want a CRL for every certificate
    // of the chain, the trust anchor included: the root points at its own CRL.
    root_params.crl_distribution_points = vec![CrlDistributionPoint {
        uris: vec![settings.root_crl_url_of(root_id)],
    }];
    let root_key_id = lint::key_identifier(root_key.spki_der())?;
    root_params.key_identifier_method = KeyIdMethod::PreSpecified(root_key_id.clone());
    let root_algorithm = root_key.signature_algorithm_der()?;
    // A self-signed certificate is its own issuer: the checks compare the issuer field
    // with the subject the TBS carries.
    let check_root = |tbs: &[u8]| {
        let subject = tbs_subject(tbs)?;
        lint::check_certificate(
            tbs,
            &lint::CertificateExpectations {
                profile: lint::CertificateProfile::Root,
                issuer_name: &subject,
                issuer_key_id: &root_key_id,
                issuer_not_before: i64::MIN,
                issuer_not_after: i64::MAX,
                signature_algorithm: &root_algorithm,
            },
        )
    };
    if keys::rcgen_can_sign(root_key.scheme()) {
        let checked_root_key = lint::CheckedKey::new(root_key, &check_root);
        return root_params
            .self_signed(&checked_root_key)
            .map(|cert| Signed(cert.der().to_vec()))
            .map_err(|e| match checked_root_key.take_failure() {
                Some(failure) => CaError::from(failure),
                None => CaError::from(e),
            });
    }
    let placeholder = root_params.self_signed(&super::reencode::Placeholder(root_key))?;
    super::reencode::resign_certificate(
        placeholder.der(),
        root_key.spki_der(),
        root_key,
        &check_root,
    )
    .map(Signed)
}

/// Issuing CA `id`'s certificate, signed by root `root_id`.
#[allow(clippy::too_many_arguments)]
fn sign_issuing_ca(
    settings: &CaSettings,
    id: u32,
    root_id: u32,
    root: &CaCertificate,
    root_key: &CaKey,
    issuing_key: &CaKey,
    now: OffsetDateTime,
    validity: Duration,
) -> Result<Signed, CaError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = ca_name(settings, &issuing_common_name(settings, id))?;
    params.serial_number = Some(SerialNumber::from_slice(random_serial()?.as_bytes()));
    params.not_before = now - BACKDATE;
    params.not_after = (now + validity).min(root.not_after);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.key_identifier_method =
        KeyIdMethod::PreSpecified(lint::key_identifier(issuing_key.spki_der())?);
    params.use_authority_key_identifier_extension = true;
    params.crl_distribution_points = vec![CrlDistributionPoint {
        uris: vec![settings.root_crl_url_of(root_id)],
    }];
    params.custom_extensions = vec![extensions::authority_info_access(
        None,
        &settings.root_cert_url_of(root_id),
    )?];
    let algorithm = root_key.signature_algorithm_der()?;
    let expectations = root_expectations(root, &algorithm);
    sign_checked(&params, issuing_key, root, root_key, &expectations)
}

fn root_expectations<'a>(
    root: &'a CaCertificate,
    algorithm: &'a [u8],
) -> lint::CertificateExpectations<'a> {
    lint::CertificateExpectations {
        profile: lint::CertificateProfile::IssuingCa,
        issuer_name: &root.subject_der,
        issuer_key_id: &root.key_id,
        issuer_not_before: root.not_before.unix_timestamp(),
        issuer_not_after: root.not_after.unix_timestamp(),
        signature_algorithm: algorithm,
    }
}

/// A delegated OCSP responder certificate (RFC 6960 §4.2.2.2) signed by an issuing CA.
/// Returns it and its notAfter.
pub(super) fn sign_responder(
    settings: &CaSettings,
    issuer: &CaCertificate,
    issuer_key: &CaKey,
    responder_key: &CaKey,
    now: OffsetDateTime,
    validity: Duration,
) -> Result<(Signed, OffsetDateTime), CaError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = ca_name(
        settings,
        &format!("{} OCSP Responder", settings.organization),
    )?;
    params.serial_number = Some(SerialNumber::from_slice(random_serial()?.as_bytes()));
    params.not_before = now - BACKDATE;
    params.not_after = super::whole_seconds((now + validity).min(issuer.not_after));
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::OcspSigning];
    params.key_identifier_method =
        KeyIdMethod::PreSpecified(lint::key_identifier(responder_key.spki_der())?);
    params.use_authority_key_identifier_extension = true;
    params.custom_extensions = vec![extensions::ocsp_nocheck()?];
    let algorithm = issuer_key.signature_algorithm_der()?;
    let expectations = lint::CertificateExpectations {
        profile: lint::CertificateProfile::OcspResponder,
        issuer_name: &issuer.subject_der,
        issuer_key_id: &issuer.key_id,
        issuer_not_before: issuer.not_before.unix_timestamp(),
        issuer_not_after: issuer.not_after.unix_timestamp(),
        signature_algorithm: &algorithm,
    };
    let not_after = params.not_after;
    let cert = sign_checked(&params, responder_key, issuer, issuer_key, &expectations)?;
    Ok((cert, not_after))
}

/// Opens the root key for a root operation: `explicit` (`--root-key FILE`: a key file,
/// or a token reference `.toml`) or, when not given, `keys/root.key.pem` (or its token
/// reference `keys/root.key.toml`) in the data directory; proves it is the root's key.
pub fn load_root_key(
    dir: &DataDir,
    explicit: Option<&Path>,
    passphrase: Option<&Passphrase>,
) -> Result<CaKey, CaError> {
    load_root_key_of(dir, 1, explicit, passphrase)
}

/// [`load_root_key`] for root `root_id` (1, or a root of `paypki ca add-hierarchy`, whose
/// key file is `keys/root-N.key.pem` unless it was written elsewhere).
pub fn load_root_key_of(
    dir: &DataDir,
    root_id: u32,
    explicit: Option<&Path>,
    passphrase: Option<&Passphrase>,
) -> Result<CaKey, CaError> {
    let name = crate::config::root_name(root_id);
    let location = match explicit {
        Some(path) if path.exists() => KeyLocation::named(path)?,
        Some(path) => return Err(CaError::RootKeyNeeded(path.to_path_buf())),
        None => KeyLocation::find(&dir.key_file(&name))?
            .ok_or_else(|| CaError::RootKeyNeeded(dir.key_file(&name)))?,
    };
    let root = CaCertificate::read(&dir.root_cert_file(root_id))?;
    super::open_key_at(&location, &root, passphrase, &name)
}

/// Where the newest issuing CA's key lives: a rollover makes the next CA's keys there.
pub(super) fn key_store_of_newest(dir: &DataDir) -> Result<KeyStoreChoice, CaError> {
    let registry = Registry::load(dir)?;
    let newest = registry.issuers.iter().map(|e| e.id).max().unwrap_or(1);
    Ok(match KeyLocation::find(&dir.issuing_key_file(newest))? {
        Some(KeyLocation::Pkcs11(reference)) => KeyStoreChoice::Pkcs11(TokenConfig::of(&reference)),
        _ => KeyStoreChoice::Files,
    })
}

/// One CA key as `paypki keys list` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyReport {
    /// `root`, `issuing`, `ocsp`, `issuing-2`, …
    pub name: String,
    /// `file`, `pkcs11`, or `offline` (a root key not in the data directory).
    pub store: String,
    /// The key file, or the token and label.
    pub location: String,
    /// The key algorithm, from its certificate.
    pub algorithm: String,
    /// The certificate it belongs to: subject and serial.
    pub certificate: String,
    /// `matches` when the key opened and proved to be the certificate's, else why not.
    pub status: String,
}

/// Every CA key of the data directory (root, then each issuing CA and its responder):
/// where it lives, and whether it opens and matches its certificate (a signature over a
/// random challenge, verified with the certificate's key).
pub fn key_inventory(
    dir: &DataDir,
    passphrase: Option<&Passphrase>,
) -> Result<Vec<KeyReport>, CaError> {
    if !dir.is_initialized() {
        return Err(CaError::NotInitialized(dir.root().to_path_buf()));
    }
    let registry = Registry::load(dir)?;
    // Root 1, then the roots of further hierarchies (`ca add-hierarchy`).
    let mut wanted: Vec<_> = std::iter::once(1)
        .chain(registry.other_roots())
        .map(|id| {
            let name = crate::config::root_name(id);
            (name.clone(), dir.key_file(&name), dir.root_cert_file(id))
        })
        .collect();
    for entry in &registry.issuers {
        let (issuing, responder) = (
            crate::config::issuing_name(entry.id),
            crate::config::responder_name(entry.id),
        );
        wanted.push((
            issuing,
            dir.issuing_key_file(entry.id),
            dir.issuing_cert_file(entry.id),
        ));
        wanted.push((
            responder,
            dir.responder_key_file(entry.id),
            dir.responder_cert_file(entry.id),
        ));
        if dir.tsa_cert_file(entry.id).exists() {
            wanted.push((
                crate::config::tsa_name(entry.id),
                dir.tsa_key_file(entry.id),
                dir.tsa_cert_file(entry.id),
            ));
        }
    }
    let mut reports = Vec::with_capacity(wanted.len());
    for (name, key_path, cert_path) in wanted {
        let certificate = CaCertificate::read(&cert_path)?;
        let algorithm =
            crate::model::PublicKey::from_spki_der(&super::certificate_spki(&certificate, &name)?)
                .map(|k| k.algorithm().to_string())
                .unwrap_or_else(|_| "unknown".into());
        let location = KeyLocation::find(&key_path)?;
        let (store, place, status) = match &location {
            None => (
                "offline".to_string(),
                "not in the data directory (root operations take --root-key)".to_string(),
                "not checked".to_string(),
            ),
            Some(location) => (
                location.store_name().to_string(),
                match location {
                    KeyLocation::File(path) => path.display().to_string(),
                    KeyLocation::Pkcs11(r) => format!(
                        "token {:?}, label {:?}, module {}",
                        r.token,
                        r.label,
                        r.module.display()
                    ),
                },
                match super::open_key_at(location, &certificate, passphrase, &name) {
                    Ok(_) => "matches".to_string(),
                    Err(e) => e.to_string(),
                },
            ),
        };
        reports.push(KeyReport {
            name,
            store,
            location: place,
            algorithm,
            certificate: format!("{} (serial {})", certificate.subject, certificate.serial),
            status,
        });
    }
    Ok(reports)
}

/// The root CRL currently published in a data directory, parsed and checked.
#[derive(Debug, Clone)]
pub struct RootCrlInfo {
    /// DER.
    pub der: Vec<u8>,
    /// cRLNumber.
    pub number: u64,
    /// thisUpdate.
    pub this_update: OffsetDateTime,
    /// nextUpdate.
    pub next_update: OffsetDateTime,
    /// Revoked certificates (issuing CAs): serial octets → revocation.
    pub revoked: HashMap<Vec<u8>, IssuerRevocation>,
}

impl RootCrlInfo {
    /// Parses a root CRL and checks it: signed by `root`, issued by its name, with a
    /// cRLNumber and a nextUpdate.
    pub fn parse(der: Vec<u8>, root: &CaCertificate) -> Result<Self, CaError> {
        use x509_parser::extensions::ParsedExtension;
        let invalid = |why: String| CaError::Refused(format!("not a usable root CRL: {why}"));
        let (rest, crl) = x509_parser::parse_x509_crl(&der).map_err(|e| invalid(e.to_string()))?;
        if !rest.is_empty() {
            return Err(invalid("trailing bytes after the CRL".into()));
        }
        let (_, root_cert) = x509_parser::parse_x509_certificate(&root.der)
            .map_err(|e| CaError::Key(format!("root certificate: {e}")))?;
        if crl.issuer().as_raw() != root.subject_der.as_slice() {
            return Err(invalid("its issuer is not this CA's root".into()));
        }
        // x509-parser verifies with ring, which has no SM2.
        let verified = if crl.signature_algorithm.algorithm.to_id_string()
            == crate::shangmi::OID_SM2_WITH_SM3
        {
            crate::shangmi::verify(
                &root_cert.public_key().subject_public_key.data,
                crate::shangmi::DEFAULT_DISTINGUISHING_ID,
                crl.tbs_cert_list.as_ref(),
                &crl.signature_value.data,
            )
        } else {
            crl.verify_signature(root_cert.public_key()).is_ok()
        };
        if !verified {
            return Err(invalid(
                "its signature does not verify with this CA's root key".into(),
            ));
        }
        let number = crl
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::CRLNumber(n) => u64::try_from(n).ok(),
                _ => None,
            })
            .ok_or_else(|| invalid("no usable cRLNumber".into()))?;
        let next_update = crl
            .next_update()
            .map(|t| t.to_datetime())
            .ok_or_else(|| invalid("no nextUpdate".into()))?;
        let mut revoked = HashMap::new();
        for entry in crl.iter_revoked_certificates() {
            let serial = Serial::from_der_integer(entry.raw_serial())
                .map(|s| s.as_bytes().to_vec())
                .unwrap_or_else(|_| entry.raw_serial().to_vec());
            let reason = entry
                .reason_code()
                .and_then(|(_, code)| RevocationReason::from_code(code.0))
                .unwrap_or(RevocationReason::Unspecified);
            revoked.insert(
                serial,
                IssuerRevocation {
                    reason,
                    revoked_at: entry.revocation_date.timestamp(),
                },
            );
        }
        let this_update = crl.last_update().to_datetime();
        Ok(RootCrlInfo {
            number,
            this_update,
            next_update,
            revoked,
            der,
        })
    }
}

/// The root CRL published in the data directory, if there is one.
pub fn current_root_crl(dir: &DataDir) -> Result<Option<RootCrlInfo>, CaError> {
    current_root_crl_of(dir, 1)
}

/// [`current_root_crl`] of root `root_id`.
fn current_root_crl_of(dir: &DataDir, root_id: u32) -> Result<Option<RootCrlInfo>, CaError> {
    let path = dir.root_crl_file_of(root_id);
    let der = match std::fs::read(&path) {
        Ok(der) => der,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CaError::io(&path, e)),
    };
    let root = CaCertificate::read(&dir.root_cert_file(root_id))?;
    RootCrlInfo::parse(der, &root).map(Some)
}

/// Signs a root CRL listing every issuing CA the registry marks revoked.
fn sign_root_crl(
    settings: &CaSettings,
    root_id: u32,
    root: &CaCertificate,
    root_key: &CaKey,
    registry: &Registry,
    number: u64,
    now: OffsetDateTime,
) -> Result<Vec<u8>, CaError> {
    let this_update = super::whole_seconds(now);
    let next_update = this_update + Duration::days(i64::from(settings.root_crl_validity_days));
    let number_bytes = number.to_be_bytes();
    let first = number_bytes.iter().position(|b| *b != 0).unwrap_or(7);
    let mut revoked_certs = Vec::new();
    for revocation in registry
        .issuers
        .iter()
        .filter(|e| e.hierarchy() == root_id)
        .filter_map(|e| e.revocation.as_ref())
    {
        let serial: Serial = revocation
            .serial
            .parse()
            .map_err(|e: crate::model::SerialError| CaError::Setting(e.to_string()))?;
        revoked_certs.push(rcgen::RevokedCertParams {
            serial_number: SerialNumber::from_slice(serial.as_bytes()),
            revocation_time: super::whole_seconds(revocation.revoked_at),
            reason_code: Some(rcgen_reason(revocation.reason)),
            invalidity_date: None,
        });
    }
    let params = rcgen::CertificateRevocationListParams {
        this_update,
        next_update,
        crl_number: SerialNumber::from_slice(number_bytes.get(first..).unwrap_or(&[0])),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: KeyIdMethod::PreSpecified(root.key_id.clone()),
    };
    let algorithm = root_key.signature_algorithm_der()?;
    let expectations = lint::CrlExpectations {
        issuer_name: &root.subject_der,
        issuer_key_id: &root.key_id,
        signature_algorithm: &algorithm,
    };
    let check = |tbs: &[u8]| lint::check_crl(tbs, &expectations);
    if !keys::rcgen_can_sign(root_key.scheme()) {
        let signer = Issuer::from_ca_cert_der(
            &root.der.as_slice().into(),
            super::reencode::Placeholder(root_key),
        )?;
        let placeholder = params.signed_by(&signer)?;
        return super::reencode::resign_crl(placeholder.der(), root_key, &check);
    }
    let signer = Issuer::from_ca_cert_der(
        &root.der.as_slice().into(),
        lint::CheckedKey::new(root_key, &check),
    )?;
    let crl = params
        .signed_by(&signer)
        .map_err(|e| match signer.key().take_failure() {
            Some(failure) => CaError::from(failure),
            None => CaError::from(e),
        })?;
    Ok(crl.der().to_vec())
}

fn rcgen_reason(reason: RevocationReason) -> rcgen::RevocationReason {
    use rcgen::RevocationReason as R;
    match reason {
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

/// Signs the next root CRL (cRLNumber one above the published one) with `validity`
/// (default: the setting chosen at init), listing the revoked issuing CAs, and saves it
/// as the published root CRL (a running server picks it up). Returns it.
pub fn publish_root_crl(
    dir: &DataDir,
    root_key: &CaKey,
    validity: Option<Duration>,
    clock: &dyn Clock,
) -> Result<RootCrlInfo, CaError> {
    publish_root_crl_of(dir, 1, root_key, validity, clock)
}

/// [`publish_root_crl`] for root `root_id`: `crl/root-N.crl` for a root of `paypki ca
/// add-hierarchy`, which a server publishes from its next start.
pub fn publish_root_crl_of(
    dir: &DataDir,
    root_id: u32,
    root_key: &CaKey,
    validity: Option<Duration>,
    clock: &dyn Clock,
) -> Result<RootCrlInfo, CaError> {
    let mut settings = read_settings(dir)?;
    if let Some(validity) = validity {
        settings.root_crl_validity_days = u32::try_from(validity.whole_days().max(1))
            .map_err(|_| CaError::Setting("the root CRL validity is out of range".into()))?;
    }
    let root = CaCertificate::read(&dir.root_cert_file(root_id))?;
    let registry = Registry::load(dir)?;
    // A published CRL that no longer parses (or was never made) restarts the numbering
    // above anything the old store counter may have handed out.
    let number = match current_root_crl_of(dir, root_id) {
        Ok(Some(current)) => current.number.saturating_add(1),
        _ => 1,
    };
    let der = sign_root_crl(
        &settings,
        root_id,
        &root,
        root_key,
        &registry,
        number,
        clock.now(),
    )?;
    super::replace_file(&dir.root_crl_file_of(root_id), &der)?;
    RootCrlInfo::parse(der, &root)
}

/// Creates a new issuing CA (and its OCSP responder and TSA) signed by the root; the previously
/// active CA is retired (it keeps serving status for what it issued). Returns the new id.
pub fn rollover(
    dir: &DataDir,
    root_key: &CaKey,
    passphrase: Option<&Passphrase>,
    key_algorithm: Option<KeyAlgorithm>,
    issuing_validity: Duration,
    ocsp_validity: Duration,
    clock: &dyn Clock,
) -> Result<u32, CaError> {
    let settings = read_settings(dir)?;
    let root = CaCertificate::read(&dir.cert_file("root"))?;
    let mut registry = Registry::load(dir)?;
    let id = registry.next_id();
    let store = key_store_of_newest(dir)?;
    let on_token = matches!(store, KeyStoreChoice::Pkcs11(_));
    let algorithm = key_algorithm.unwrap_or(match settings.key_algorithm {
        KeyAlgorithm::Rsa if !on_token => KeyAlgorithm::EcdsaP256,
        other => other,
    });
    let now = clock.now();
    if root.not_after - now < Duration::days(30) {
        return Err(CaError::Refused(
            "the root expires within 30 days: a new issuing CA under it would be useless".into(),
        ));
    }
    let (new_issuing_key, new_responder_key) = generate_issuing_keys(&store, algorithm, id)?;
    // The new CA's TSA signs the tokens from now on; the old one's certificate stays
    // valid, so the tokens it signed still verify.
    create_issuing_ca(
        dir,
        &settings,
        (&root, 1, root_key),
        id,
        (&new_issuing_key, &new_responder_key),
        passphrase,
        now,
        (issuing_validity, ocsp_validity),
    )?;
    // The registry is written last: until then the new files are unused.
    // Another hierarchy's active CA (an SM2 one beside ECDSA) goes on issuing.
    for entry in &mut registry.issuers {
        if entry.state == CaState::Active && entry.hierarchy() == 1 {
            entry.state = CaState::Retired;
        }
    }
    registry.issuers.push(IssuerEntry {
        id,
        state: CaState::Active,
        revocation: None,
        revoked_responders: Vec::new(),
        root: None,
    });
    registry.save(dir)?;
    Ok(id)
}

/// Makes issuing CA `id` under `root` (its certificate, number and key): signs its
/// certificate and its OCSP responder's, writes their keys (`new_keys`: issuing CA,
/// responder) and certificates, and makes its TSA. `validities`: the CA's, the
/// responder's.
#[allow(clippy::too_many_arguments)]
fn create_issuing_ca(
    dir: &DataDir,
    settings: &CaSettings,
    (root, root_id, root_key): (&CaCertificate, u32, &CaKey),
    id: u32,
    (new_issuing_key, new_responder_key): (&NewKey, &NewKey),
    passphrase: Option<&Passphrase>,
    now: OffsetDateTime,
    (issuing_validity, ocsp_validity): (Duration, Duration),
) -> Result<(), CaError> {
    let issuing_key = new_issuing_key.key();
    let issuing = sign_issuing_ca(
        settings,
        id,
        root_id,
        root,
        root_key,
        issuing_key,
        now,
        issuing_validity,
    )?;
    let issuing_ca = CaCertificate::from_der(issuing.der().to_vec(), "new issuing CA")?;
    let (responder, _) = sign_responder(
        settings,
        &issuing_ca,
        issuing_key,
        new_responder_key.key(),
        now,
        ocsp_validity,
    )?;
    new_issuing_key.save(&dir.issuing_key_file(id), passphrase)?;
    new_responder_key.save(&dir.responder_key_file(id), passphrase)?;
    super::write_file(&dir.issuing_cert_file(id), issuing.pem().as_bytes())?;
    super::write_file(&dir.responder_cert_file(id), responder.pem().as_bytes())?;
    super::tsa::create(dir, settings, id, &issuing_ca, issuing_key, passphrase, now)
}

/// What `paypki ca add-hierarchy` made.
#[derive(Debug, Clone)]
pub struct HierarchyReport {
    /// The new root's number (2, 3, …): `certs/root-N.crt.pem`, `/ca/root-N.crt`.
    pub root: u32,
    /// The new issuing CA's id.
    pub issuing: u32,
    /// Where the new root key was written.
    pub root_key: PathBuf,
    /// SHA-256 fingerprint of the new root certificate.
    pub root_fingerprint: String,
}

/// Adds a second hierarchy beside the first: a new root of `algorithm` (an SM2 root
/// beside an ECDSA one, say), an issuing CA under it with its OCSP responder and TSA,
/// and the root's first CRL. The new issuing CA is active beside root 1's: enrollment
/// gives it the keys of its algorithm family (`CertificateAuthority::active_for`).
/// Its keys are key files. The root key goes to `root_key_out` when given (offline),
/// else to `keys/root-N.key.pem`. Take effect when the server next starts.
#[allow(clippy::too_many_arguments)]
pub fn add_hierarchy(
    dir: &DataDir,
    passphrase: Option<&Passphrase>,
    algorithm: KeyAlgorithm,
    root_common_name: Option<&str>,
    root_key_out: Option<&Path>,
    root_validity: Duration,
    issuing_validity: Duration,
    ocsp_validity: Duration,
    clock: &dyn Clock,
) -> Result<HierarchyReport, CaError> {
    if !dir.is_initialized() {
        return Err(CaError::NotInitialized(dir.root().to_path_buf()));
    }
    let settings = read_settings(dir)?;
    let mut registry = Registry::load(dir)?;
    let root_id = registry
        .other_roots()
        .last()
        .copied()
        .unwrap_or(1)
        .saturating_add(1);
    let id = registry.next_id();
    let root_name = crate::config::root_name(root_id);
    let root_key_path = match root_key_out {
        Some(out) => out.join(format!("{root_name}.key.pem")),
        None => dir.key_file(&root_name),
    };
    if root_key_path.exists() || dir.root_cert_file(root_id).exists() {
        return Err(CaError::Setting(format!(
            "{} or {} exists: nothing was changed",
            root_key_path.display(),
            dir.root_cert_file(root_id).display()
        )));
    }
    let now = clock.now();
    let files = KeyStoreChoice::Files;
    let new_root_key = NewKey::generate(&files, algorithm, &token_label(&root_name))?;
    let (new_issuing_key, new_responder_key) = generate_issuing_keys(&files, algorithm, id)?;
    let root_key = new_root_key.key();
    let common_name = match root_common_name {
        Some(name) => name.trim().to_string(),
        None => format!("{} Root CA {root_id}", settings.organization),
    };
    let root_cert = sign_root(
        &settings,
        &common_name,
        root_id,
        root_key,
        now,
        root_validity,
    )?;
    let root = CaCertificate::from_der(root_cert.der().to_vec(), &root_name)?;
    registry.issuers.push(IssuerEntry {
        id,
        state: CaState::Active,
        revocation: None,
        revoked_responders: Vec::new(),
        root: Some(root_id),
    });
    let crl = sign_root_crl(&settings, root_id, &root, root_key, &registry, 1, now)?;

    if let Some(out) = root_key_out {
        super::create_private_dir(out)?;
    }
    let root_key_path = new_root_key.save(&root_key_path, passphrase)?;
    super::write_file(&dir.root_cert_file(root_id), root_cert.pem().as_bytes())?;
    create_issuing_ca(
        dir,
        &settings,
        (&root, root_id, root_key),
        id,
        (&new_issuing_key, &new_responder_key),
        passphrase,
        now,
        (issuing_validity, ocsp_validity),
    )?;
    super::replace_file(&dir.root_crl_file_of(root_id), &crl)?;
    // The registry is written last: until then the new files are unused.
    registry.save(dir)?;
    Ok(HierarchyReport {
        root: root_id,
        issuing: id,
        root_key: root_key_path,
        root_fingerprint: sha256_fingerprint(root_cert.der()),
    })
}

/// Revokes issuing CA `id` with the root: records it in the registry and publishes a new
/// root CRL that lists it. Returns the new root CRL.
pub fn revoke_issuing(
    dir: &DataDir,
    root_key: &CaKey,
    id: u32,
    reason: RevocationReason,
    clock: &dyn Clock,
) -> Result<RootCrlInfo, CaError> {
    if reason == RevocationReason::CertificateHold {
        return Err(CaError::Refused(
            "a CA is not put on hold: revoke it for good, or not at all".into(),
        ));
    }
    let mut registry = Registry::load(dir)?;
    let serial = CaCertificate::read(&dir.issuing_cert_file(id))?.serial;
    let entry = registry.get_mut(id).ok_or(CaError::UnknownIssuer(id))?;
    if entry.hierarchy() != 1 {
        return Err(CaError::Refused(format!(
            "issuing CA {id} is under root {} (`paypki ca add-hierarchy`), whose CRL only that root's key signs: revoking such a CA is not supported yet",
            entry.hierarchy()
        )));
    }
    if let Some(existing) = &entry.revocation {
        return Err(CaError::Refused(format!(
            "issuing CA {id} is already revoked ({}); nothing was changed",
            existing.reason
        )));
    }
    entry.state = CaState::Revoked;
    entry.revocation = Some(CaRevocation {
        serial: serial.to_string(),
        reason,
        revoked_at: super::whole_seconds(clock.now()),
    });
    registry.save(dir)?;
    publish_root_crl(dir, root_key, None, clock)
}

/// Revokes issuing CA `id`'s OCSP responder certificate (listed on that CA's CRL from the
/// next one on) and replaces it with a new key and certificate. Returns the revoked
/// serial.
pub fn revoke_responder(
    dir: &DataDir,
    passphrase: Option<&Passphrase>,
    id: u32,
    reason: RevocationReason,
    validity: Duration,
    clock: &dyn Clock,
) -> Result<Serial, CaError> {
    let ca = super::CertificateAuthority::load(dir, passphrase)?;
    let (old_serial, _) = ca.renew_ocsp_responder(dir, passphrase, id, validity)?;
    let mut registry = Registry::load(dir)?;
    let entry = registry.get_mut(id).ok_or(CaError::UnknownIssuer(id))?;
    entry.revoked_responders.push(CaRevocation {
        serial: old_serial.to_string(),
        reason,
        revoked_at: super::whole_seconds(clock.now()),
    });
    registry.save(dir)?;
    Ok(old_serial)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_signs_the_first_root_crl_and_rollover_adds_a_ca() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path().join("ca"));
        let mut options = InitOptions::new("http://127.0.0.1:1".into());
        options.root_key_out = Some(dir.path().join("offline"));
        let report = init(&data, &options).unwrap();
        assert!(!data.key_file("root").exists());
        assert_eq!(report.root_key, dir.path().join("offline/root.key.pem"));
        let crl = current_root_crl(&data).unwrap().unwrap();
        assert_eq!(crl.number, 1);
        assert!(crl.revoked.is_empty());
        assert_eq!((crl.next_update - crl.this_update).whole_days(), 180);

        assert!(matches!(
            load_root_key(&data, None, None),
            Err(CaError::RootKeyNeeded(_))
        ));
        let root_key = load_root_key(&data, Some(&report.root_key), None).unwrap();
        let id = rollover(
            &data,
            &root_key,
            None,
            None,
            Duration::days(3650),
            Duration::days(90),
            &crate::clock::SystemClock,
        )
        .unwrap();
        assert_eq!(id, 2);
        let ca = super::super::CertificateAuthority::load(&data, None).unwrap();
        assert_eq!(ca.active().unwrap().id(), 2);
        assert_eq!(ca.issuer(1).unwrap().state(), CaState::Retired);
        assert!(ca
            .issuer(2)
            .unwrap()
            .certificate()
            .subject
            .contains("Issuing CA 2"));

        let clock = crate::clock::SystemClock;
        let crl =
            revoke_issuing(&data, &root_key, 1, RevocationReason::CaCompromise, &clock).unwrap();
        assert_eq!(crl.number, 2);
        let serial = ca
            .issuer(1)
            .unwrap()
            .certificate()
            .serial
            .as_bytes()
            .to_vec();
        assert_eq!(
            crl.revoked.get(&serial).map(|r| r.reason),
            Some(RevocationReason::CaCompromise)
        );
        assert!(
            revoke_issuing(&data, &root_key, 1, RevocationReason::CaCompromise, &clock).is_err()
        );
    }
}
