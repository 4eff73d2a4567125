//! The certificate authority: the only code that holds CA private keys. It creates the CA
//! hierarchy (`init`) and signs what the registration authority has decided to issue,
//! re-checking the request first. It never parses HTTP, never reads policies and never
//! touches the database.

mod crl_der;
mod extensions;
pub mod keys;

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CrlDistributionPoint, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use crate::config::{CaSettings, DataDir};
use crate::model::{
    sha256_fingerprint, ExtendedKeyUsage, KeyAlgorithm, KeyUsage, PublicKey, RevocationReason,
    Serial,
};
use crate::names::{SubjectAltName, SubjectName};
pub use crl_der::CrlEntryWriter;
pub use keys::Passphrase;

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
    /// A setting given to `init` is not usable.
    #[error("{0}")]
    Setting(String),
    /// The CA refuses to sign what it was asked to sign.
    #[error("the CA refused to sign: {0}")]
    Refused(String),
    /// Building or signing a certificate failed.
    #[error("cannot build the certificate: {0}")]
    Build(String),
}

impl CaError {
    pub(crate) fn io(path: &Path, e: std::io::Error) -> Self {
        CaError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    }
}

impl From<rcgen::Error> for CaError {
    fn from(e: rcgen::Error) -> Self {
        CaError::Build(e.to_string())
    }
}

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
    /// An existing PKCS#8 root key.
    pub import_root_key: Option<PathBuf>,
    /// An existing PKCS#8 issuing CA key.
    pub import_issuing_key: Option<PathBuf>,
    /// Encrypts the key files when set.
    pub passphrase: Option<Passphrase>,
    /// Root validity.
    pub root_validity: Duration,
    /// Issuing CA validity.
    pub issuing_validity: Duration,
    /// OCSP responder certificate validity.
    pub ocsp_validity: Duration,
}

impl InitOptions {
    /// Defaults: 20-year root, 10-year issuing CA, 90-day OCSP responder, ECDSA P-256.
    pub fn new(base_url: String) -> Self {
        InitOptions {
            base_url,
            organization: "paypki Development".into(),
            country: "US".into(),
            root_common_name: "paypki Root CA".into(),
            key_algorithm: KeyAlgorithm::EcdsaP256,
            import_root_key: None,
            import_issuing_key: None,
            passphrase: None,
            root_validity: Duration::days(20 * 365 + 5),
            issuing_validity: Duration::days(10 * 365 + 2),
            ocsp_validity: Duration::days(90),
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
}

/// What the registration authority asks the CA to sign. The CA adds what only it knows:
/// issuer, AKI, AIA and CRL distribution point.
#[derive(Debug, Clone)]
pub struct LeafRequest {
    /// A fresh, reserved serial.
    pub serial: Serial,
    /// The checked subject.
    pub subject: SubjectName,
    /// The checked SANs.
    pub subject_alt_names: Vec<SubjectAltName>,
    /// The subject's public key (proof of possession already checked).
    pub public_key: PublicKey,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// keyUsage bits (never CA bits: the type cannot express them).
    pub key_usage: Vec<KeyUsage>,
    /// Extended key usages.
    pub extended_key_usage: Vec<ExtendedKeyUsage>,
    /// The role's certificate-policy OID.
    pub policy_oid: Vec<u64>,
}

/// A CA certificate with its parsed validity.
#[derive(Debug, Clone)]
pub struct CaCertificate {
    /// DER bytes.
    pub der: Vec<u8>,
    /// End of validity.
    pub not_after: OffsetDateTime,
}

/// The loaded CA: certificates, keys and settings.
pub struct CertificateAuthority {
    settings: CaSettings,
    root: CaCertificate,
    issuing: CaCertificate,
    ocsp: CaCertificate,
    issuing_signer: Issuer<'static, KeyPair>,
    issuing_key_id: Vec<u8>,
    issuing_subject: Vec<u8>,
    issuing_signature_algorithm: Vec<u8>,
    ocsp_key: KeyPair,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Backdating absorbs clock skew between paypki and relying parties (Boulder backdates 1h).
const BACKDATE: Duration = Duration::minutes(5);

/// Creates a new CA hierarchy in `dir`: root, issuing CA and delegated OCSP responder.
pub fn init(dir: &DataDir, options: &InitOptions) -> Result<InitReport, CaError> {
    if let Some(found) = existing_ca_files(dir) {
        return Err(CaError::AlreadyInitialized(dir.root().to_path_buf(), found));
    }
    let base_url =
        crate::config::normalize_base_url(&options.base_url).map_err(CaError::Setting)?;
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

    // Everything that can fail on input (imports) happens before anything is written.
    let passphrase = options.passphrase.as_ref();
    let root_key = match &options.import_root_key {
        Some(path) => keys::read_key_file(path, passphrase)?,
        None => keys::generate(options.key_algorithm)?,
    };
    let issuing_key = match &options.import_issuing_key {
        Some(path) => keys::read_key_file(path, passphrase)?,
        None => keys::generate(options.key_algorithm)?,
    };
    let issuing_algorithm = keys::algorithm_of(&issuing_key);
    let ocsp_key = keys::generate(match issuing_algorithm {
        KeyAlgorithm::Rsa => KeyAlgorithm::EcdsaP256,
        other => other,
    })?;
    let settings = CaSettings {
        base_url,
        organization: options.organization.trim().to_string(),
        country,
        key_algorithm: issuing_algorithm,
        created_at: OffsetDateTime::now_utc(),
    };
    let now = settings.created_at;
    let rng = ring::rand::SystemRandom::new();
    let serial = || {
        Serial::random(&rng).map_err(|_| CaError::Key("the system random generator failed".into()))
    };

    let ca_name = |cn: &str| {
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CountryName,
            rcgen::DnValue::PrintableString(settings.country.as_str().try_into()?),
        );
        dn.push(DnType::OrganizationName, settings.organization.as_str());
        dn.push(DnType::CommonName, cn);
        Ok::<_, rcgen::Error>(dn)
    };

    let mut root_params = CertificateParams::default();
    root_params.distinguished_name = ca_name(options.root_common_name.trim())?;
    root_params.serial_number = Some(SerialNumber::from_slice(serial()?.as_bytes()));
    root_params.not_before = now - BACKDATE;
    root_params.not_after = now + options.root_validity;
    root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let root_cert = root_params.self_signed(&root_key)?;
    let root_signer = Issuer::new(root_params.clone(), &root_key);

    let mut issuing_params = CertificateParams::default();
    issuing_params.distinguished_name = ca_name(&format!("{} Issuing CA", settings.organization))?;
    issuing_params.serial_number = Some(SerialNumber::from_slice(serial()?.as_bytes()));
    issuing_params.not_before = now - BACKDATE;
    issuing_params.not_after = (now + options.issuing_validity).min(root_params.not_after);
    issuing_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    issuing_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    issuing_params.use_authority_key_identifier_extension = true;
    issuing_params.crl_distribution_points = vec![CrlDistributionPoint {
        uris: vec![settings.root_crl_url()],
    }];
    issuing_params.custom_extensions = vec![extensions::authority_info_access(
        None,
        &settings.root_cert_url(),
    )?];
    let issuing_cert = issuing_params.signed_by(&issuing_key, &root_signer)?;
    let issuing_signer = Issuer::new(issuing_params.clone(), &issuing_key);

    let ocsp_cert = ocsp_responder_params(
        &settings,
        now,
        options.ocsp_validity,
        issuing_params.not_after,
        serial()?,
    )?
    .signed_by(&ocsp_key, &issuing_signer)?;

    // Write: directories, keys (0600), certificates, and ca.toml last (it marks completion).
    create_private_dir(dir.root())?;
    create_private_dir(&dir.keys_dir())?;
    std::fs::create_dir_all(dir.certs_dir()).map_err(|e| CaError::io(&dir.certs_dir(), e))?;
    keys::write_key_file(&dir.key_file("root"), &root_key, passphrase)?;
    keys::write_key_file(&dir.key_file("issuing"), &issuing_key, passphrase)?;
    keys::write_key_file(&dir.key_file("ocsp"), &ocsp_key, passphrase)?;
    write_file(&dir.cert_file("root"), root_cert.pem().as_bytes())?;
    write_file(&dir.cert_file("issuing"), issuing_cert.pem().as_bytes())?;
    write_file(&dir.cert_file("ocsp"), ocsp_cert.pem().as_bytes())?;
    let settings_text = toml::to_string(&settings).map_err(|e| CaError::Setting(e.to_string()))?;
    write_file(&dir.settings_file(), settings_text.as_bytes())?;

    Ok(InitReport {
        root_fingerprint: sha256_fingerprint(root_cert.der()),
        key_algorithm: issuing_algorithm,
        encrypted: passphrase.is_some(),
    })
}

/// The delegated OCSP responder's profile (RFC 6960 §4.2.2.2).
fn ocsp_responder_params(
    settings: &CaSettings,
    now: OffsetDateTime,
    validity: Duration,
    issuer_not_after: OffsetDateTime,
    serial: Serial,
) -> Result<CertificateParams, CaError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CountryName,
        rcgen::DnValue::PrintableString(settings.country.as_str().try_into()?),
    );
    dn.push(DnType::OrganizationName, settings.organization.as_str());
    dn.push(
        DnType::CommonName,
        format!("{} OCSP Responder", settings.organization),
    );
    params.distinguished_name = dn;
    params.serial_number = Some(SerialNumber::from_slice(serial.as_bytes()));
    params.not_before = now - BACKDATE;
    params.not_after = (now + validity).min(issuer_not_after);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::OcspSigning];
    params.use_authority_key_identifier_extension = true;
    params.custom_extensions = vec![extensions::ocsp_nocheck()?];
    Ok(params)
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

fn write_file(path: &Path, contents: &[u8]) -> Result<(), CaError> {
    use std::io::Write;
    let io = |e| CaError::io(path, e);
    let mut file = std::fs::File::create_new(path).map_err(io)?;
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)
}

fn read_cert(path: &Path) -> Result<CaCertificate, CaError> {
    let text = std::fs::read_to_string(path).map_err(|e| CaError::io(path, e))?;
    let parsed = pem::parse(&text)
        .map_err(|_| CaError::Key(format!("{}: not a PEM certificate", path.display())))?;
    let der = parsed.into_contents();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|e| {
        CaError::Key(format!(
            "{}: cannot parse the certificate: {e}",
            path.display()
        ))
    })?;
    let not_after = cert.validity().not_after.to_datetime();
    Ok(CaCertificate { der, not_after })
}

impl CertificateAuthority {
    /// Loads the CA from a data directory, checking that every key matches its certificate.
    pub fn load(dir: &DataDir, passphrase: Option<&Passphrase>) -> Result<Self, CaError> {
        if !dir.is_initialized() {
            return Err(CaError::NotInitialized(dir.root().to_path_buf()));
        }
        let settings_path = dir.settings_file();
        let settings_text =
            std::fs::read_to_string(&settings_path).map_err(|e| CaError::io(&settings_path, e))?;
        let settings: CaSettings = toml::from_str(&settings_text)
            .map_err(|e| CaError::Setting(format!("{}: {e}", settings_path.display())))?;
        let root = read_cert(&dir.cert_file("root"))?;
        let issuing = read_cert(&dir.cert_file("issuing"))?;
        let ocsp = read_cert(&dir.cert_file("ocsp"))?;
        let issuing_key = keys::read_key_file(&dir.key_file("issuing"), passphrase)?;
        let ocsp_key = keys::read_key_file(&dir.key_file("ocsp"), passphrase)?;
        check_key_matches(&issuing, &issuing_key, "issuing")?;
        check_key_matches(&ocsp, &ocsp_key, "ocsp")?;
        let issuing_key_id = subject_key_id(&issuing.der)?;
        let issuing_subject = x509_parser::parse_x509_certificate(&issuing.der)
            .map(|(_, c)| c.subject().as_raw().to_vec())
            .map_err(|e| CaError::Key(format!("issuing certificate: {e}")))?;
        let issuing_signature_algorithm =
            signature_algorithm_der(keys::algorithm_of(&issuing_key))?;
        let issuing_signer = Issuer::from_ca_cert_der(&issuing.der.clone().into(), issuing_key)?;
        Ok(CertificateAuthority {
            settings,
            root,
            issuing,
            ocsp,
            issuing_signer,
            issuing_key_id,
            issuing_subject,
            issuing_signature_algorithm,
            ocsp_key,
        })
    }

    /// Replaces the delegated OCSP responder's key and certificate (same profile, new key,
    /// `validity` from now). The old files are kept beside the new ones with a `.old-<unix
    /// time>` suffix. Takes effect in servers started afterwards. Returns the new notAfter.
    pub fn renew_ocsp_responder(
        &self,
        dir: &DataDir,
        passphrase: Option<&Passphrase>,
        validity: Duration,
    ) -> Result<OffsetDateTime, CaError> {
        let key = keys::generate(match keys::algorithm_of(self.issuing_signer.key()) {
            KeyAlgorithm::Rsa => KeyAlgorithm::EcdsaP256,
            other => other,
        })?;
        let rng = ring::rand::SystemRandom::new();
        let serial = Serial::random(&rng)
            .map_err(|_| CaError::Key("the system random generator failed".into()))?;
        let now = OffsetDateTime::now_utc();
        let params = ocsp_responder_params(
            &self.settings,
            now,
            validity,
            self.issuing.not_after,
            serial,
        )?;
        let cert = params.signed_by(&key, &self.issuing_signer)?;
        let suffix = format!("old-{}", now.unix_timestamp());
        let (key_path, cert_path) = (dir.key_file("ocsp"), dir.cert_file("ocsp"));
        let (new_key, new_cert) = (
            key_path.with_extension("pem.new"),
            cert_path.with_extension("pem.new"),
        );
        keys::write_key_file(&new_key, &key, passphrase)?;
        write_file(&new_cert, cert.pem().as_bytes())?;
        for (current, fresh) in [(&key_path, &new_key), (&cert_path, &new_cert)] {
            std::fs::rename(current, current.with_extension(format!("pem.{suffix}")))
                .map_err(|e| CaError::io(current, e))?;
            std::fs::rename(fresh, current).map_err(|e| CaError::io(current, e))?;
        }
        Ok(params.not_after)
    }

    /// The settings chosen at `init`.
    pub fn settings(&self) -> &CaSettings {
        &self.settings
    }
    /// The root certificate.
    pub fn root(&self) -> &CaCertificate {
        &self.root
    }
    /// The issuing CA certificate.
    pub fn issuing(&self) -> &CaCertificate {
        &self.issuing
    }
    /// The delegated OCSP responder certificate.
    pub fn ocsp_responder(&self) -> &CaCertificate {
        &self.ocsp
    }
    /// Signs the issuing CA's CRL. `fill` receives a writer and pushes every revoked
    /// certificate into it; entries are encoded as they come (see `crl_der`). Returns the
    /// DER and the number of entries.
    pub fn sign_crl(
        &self,
        number: u64,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
        fill: &mut dyn FnMut(&mut CrlEntryWriter),
    ) -> Result<(Vec<u8>, usize), CaError> {
        if next_update <= this_update {
            return Err(CaError::Refused(
                "nextUpdate must be after thisUpdate".into(),
            ));
        }
        let frame = crl_der::CrlFrame {
            signature_algorithm: &self.issuing_signature_algorithm,
            issuer: &self.issuing_subject,
            this_update: this_update.unix_timestamp(),
            next_update: next_update.unix_timestamp(),
            number,
            authority_key_id: &self.issuing_key_id,
        };
        crl_der::build(&frame, fill, &|tbs| {
            use rcgen::SigningKey;
            self.issuing_signer
                .key()
                .sign(tbs)
                .map_err(|e| CaError::Build(format!("CRL signing failed: {e}")))
        })
    }

    /// Signs OCSP `ResponseData` (DER) with the delegated responder key. Returns the
    /// signature algorithm's OID (dotted), whether it takes NULL parameters, and the signature.
    pub fn sign_ocsp(
        &self,
        tbs_response_data: &[u8],
    ) -> Result<(&'static str, bool, Vec<u8>), CaError> {
        use rcgen::SigningKey;
        let signature = self
            .ocsp_key
            .sign(tbs_response_data)
            .map_err(|e| CaError::Build(format!("OCSP signing failed: {e}")))?;
        let (oid, null_params) = signature_algorithm(keys::algorithm_of(&self.ocsp_key));
        Ok((oid, null_params, signature))
    }

    /// The chain a participant installs: issuing CA, then root, in PEM.
    pub fn chain_pem(&self) -> String {
        let mut out = to_pem("CERTIFICATE", &self.issuing.der);
        out.push_str(&to_pem("CERTIFICATE", &self.root.der));
        out
    }

    /// Signs a participant certificate, after re-checking the request: the CA trusts the
    /// RA's policy decision but not its arithmetic.
    pub fn sign_leaf(&self, request: &LeafRequest) -> Result<Vec<u8>, CaError> {
        if request.not_after <= request.not_before {
            return Err(CaError::Refused("the validity period is empty".into()));
        }
        if request.not_after > self.issuing.not_after {
            return Err(CaError::Refused(format!(
                "the certificate would outlive the issuing CA (which expires {})",
                request.not_after.date()
            )));
        }
        if request.key_usage.is_empty() {
            return Err(CaError::Refused("no key usage".into()));
        }
        let mut params = CertificateParams::default();
        params.distinguished_name = request.subject.to_rcgen()?;
        params.subject_alt_names = request
            .subject_alt_names
            .iter()
            .map(SubjectAltName::to_rcgen)
            .collect::<Result<_, _>>()?;
        params.serial_number = Some(SerialNumber::from_slice(request.serial.as_bytes()));
        params.not_before = request.not_before;
        params.not_after = request.not_after;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = request
            .key_usage
            .iter()
            .map(|u| match u {
                KeyUsage::DigitalSignature => KeyUsagePurpose::DigitalSignature,
                KeyUsage::NonRepudiation => KeyUsagePurpose::ContentCommitment,
                KeyUsage::KeyEncipherment => KeyUsagePurpose::KeyEncipherment,
                KeyUsage::KeyAgreement => KeyUsagePurpose::KeyAgreement,
            })
            .collect();
        params.extended_key_usages = request
            .extended_key_usage
            .iter()
            .map(|e| match e {
                ExtendedKeyUsage::ServerAuth => ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsage::ClientAuth => ExtendedKeyUsagePurpose::ClientAuth,
                ExtendedKeyUsage::EmailProtection => ExtendedKeyUsagePurpose::EmailProtection,
                ExtendedKeyUsage::Other(arcs) => ExtendedKeyUsagePurpose::Other(arcs.clone()),
            })
            .collect();
        params.use_authority_key_identifier_extension = true;
        params.crl_distribution_points = vec![CrlDistributionPoint {
            uris: vec![self.settings.issuing_crl_url()],
        }];
        params.custom_extensions = vec![
            extensions::certificate_policies(&request.policy_oid)?,
            extensions::authority_info_access(
                Some(&self.settings.ocsp_url()),
                &self.settings.issuing_cert_url(),
            )?,
        ];
        let cert = params.signed_by(&request.public_key, &self.issuing_signer)?;
        Ok(cert.der().to_vec())
    }
}

/// The signature algorithm rcgen/ring sign with for a key: OID and whether it takes NULL
/// parameters (RFC 4055 for RSA; RFC 5758 and RFC 8410 say absent for ECDSA and Ed25519).
fn signature_algorithm(key: KeyAlgorithm) -> (&'static str, bool) {
    match key {
        KeyAlgorithm::EcdsaP256 => ("1.2.840.10045.4.3.2", false),
        KeyAlgorithm::EcdsaP384 => ("1.2.840.10045.4.3.3", false),
        KeyAlgorithm::Ed25519 => ("1.3.101.112", false),
        KeyAlgorithm::Rsa => ("1.2.840.113549.1.1.11", true),
    }
}

fn signature_algorithm_der(key: KeyAlgorithm) -> Result<Vec<u8>, CaError> {
    use der::Encode;
    let (oid, null) = signature_algorithm(key);
    spki::AlgorithmIdentifierOwned {
        oid: der::asn1::ObjectIdentifier::new(oid).map_err(|e| CaError::Build(e.to_string()))?,
        parameters: null.then(|| der::Any::from(der::asn1::Null)),
    }
    .to_der()
    .map_err(|e| CaError::Build(e.to_string()))
}

fn subject_key_id(der: &[u8]) -> Result<Vec<u8>, CaError> {
    use x509_parser::extensions::ParsedExtension;
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| CaError::Key(format!("issuing certificate: {e}")))?;
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(ski) => Some(ski.0.to_vec()),
            _ => None,
        })
        .ok_or_else(|| CaError::Key("the issuing certificate has no subject key identifier".into()))
}

/// One CRL entry to sign.
#[derive(Debug, Clone)]
pub struct CrlEntry {
    /// Serial magnitude octets.
    pub serial: Vec<u8>,
    /// When it was revoked.
    pub revoked_at: OffsetDateTime,
    /// Why (None for unspecified: RFC 5280 §5.3.1 says omit it).
    pub reason: Option<RevocationReason>,
    /// Since when the key is suspect.
    pub invalidity_date: Option<OffsetDateTime>,
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

fn crl_params(
    number: u64,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
    entries: Vec<CrlEntry>,
    key_id: Vec<u8>,
) -> rcgen::CertificateRevocationListParams {
    let number_bytes = number.to_be_bytes();
    let first = number_bytes.iter().position(|b| *b != 0).unwrap_or(7);
    rcgen::CertificateRevocationListParams {
        this_update,
        next_update,
        crl_number: SerialNumber::from_slice(number_bytes.get(first..).unwrap_or(&[0])),
        issuing_distribution_point: None,
        revoked_certs: entries
            .into_iter()
            .map(|e| rcgen::RevokedCertParams {
                serial_number: SerialNumber::from_slice(&e.serial),
                revocation_time: e.revoked_at,
                reason_code: e.reason.map(rcgen_reason),
                invalidity_date: e.invalidity_date,
            })
            .collect(),
        key_identifier_method: rcgen::KeyIdMethod::PreSpecified(key_id),
    }
}

/// Signs the root's CRL (which covers the issuing CA). The root key is read from disk for
/// this call only: in production it lives offline and this runs on the offline machine.
pub fn sign_root_crl(
    dir: &DataDir,
    passphrase: Option<&Passphrase>,
    number: u64,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
) -> Result<Vec<u8>, CaError> {
    let root = read_cert(&dir.cert_file("root"))?;
    let root_key = keys::read_key_file(&dir.key_file("root"), passphrase)?;
    check_key_matches(&root, &root_key, "root")?;
    let key_id = subject_key_id(&root.der)?;
    let signer = Issuer::from_ca_cert_der(&root.der.clone().into(), &root_key)?;
    let crl =
        crl_params(number, this_update, next_update, Vec::new(), key_id).signed_by(&signer)?;
    Ok(crl.der().to_vec())
}

fn check_key_matches(cert: &CaCertificate, key: &KeyPair, name: &str) -> Result<(), CaError> {
    let (_, parsed) = x509_parser::parse_x509_certificate(&cert.der)
        .map_err(|e| CaError::Key(format!("{name} certificate: {e}")))?;
    if parsed.public_key().raw != keys::spki_der(key).as_slice() {
        return Err(CaError::Key(format!(
            "the {name} key file does not match the {name} certificate"
        )));
    }
    Ok(())
}

/// PEM-encodes DER.
pub fn to_pem(tag: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(tag, der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_crl_equals_rcgens_crl() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path().join("ca"));
        init(&data, &InitOptions::new("http://127.0.0.1:1".into())).unwrap();
        let ca = CertificateAuthority::load(&data, None).unwrap();
        let now = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
        let entries = vec![
            CrlEntry {
                serial: vec![0x01, 0x02],
                revoked_at: now,
                reason: Some(RevocationReason::KeyCompromise),
                invalidity_date: None,
            },
            CrlEntry {
                serial: vec![0xff, 0x00],
                revoked_at: now,
                reason: None,
                invalidity_date: None,
            },
            CrlEntry {
                serial: vec![0x7f; 16],
                revoked_at: now,
                reason: Some(RevocationReason::CertificateHold),
                invalidity_date: Some(now - Duration::days(2)),
            },
        ];
        let next = now + Duration::days(1);
        let (streamed, count) = ca
            .sign_crl(7, now, next, &mut |w| {
                for e in &entries {
                    w.push(
                        &e.serial,
                        e.revoked_at.unix_timestamp(),
                        e.reason,
                        e.invalidity_date.map(|d| d.unix_timestamp()),
                    );
                }
            })
            .unwrap();
        assert_eq!(count, 3);
        let reference = crl_params(7, now, next, entries, ca.issuing_key_id.clone())
            .signed_by(&ca.issuing_signer)
            .unwrap();
        let tbs = |der: &[u8]| {
            let (_, crl) = x509_parser::parse_x509_crl(der).unwrap();
            crl.tbs_cert_list.as_ref().to_vec()
        };
        assert_eq!(tbs(&streamed), tbs(reference.der()));
        // And the signature verifies with the issuing CA's key.
        let (_, crl) = x509_parser::parse_x509_crl(&streamed).unwrap();
        let (_, issuing) = x509_parser::parse_x509_certificate(&ca.issuing().der).unwrap();
        crl.verify_signature(issuing.public_key()).unwrap();
        // An empty CRL omits revokedCertificates, as RFC 5280 §5.1.2.6 requires.
        let (empty, _) = ca.sign_crl(8, now, next, &mut |_| {}).unwrap();
        let reference = crl_params(8, now, next, Vec::new(), ca.issuing_key_id.clone())
            .signed_by(&ca.issuing_signer)
            .unwrap();
        assert_eq!(tbs(&empty), tbs(reference.der()));
    }
}
