//! The loaded CA: the root certificate, every issuing CA of the registry with its keys and
//! OCSP responder, and the signing operations of a running CA. Every to-be-signed
//! certificate and CRL passes the pre-issuance checks (`lint`) before a key signs it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::RwLock;

use rcgen::{
    CertificateParams, CrlDistributionPoint, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod,
    KeyUsagePurpose, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use super::keys::{KeyLocation, KeyStoreChoice, NewKey, TokenConfig};
use super::registry::{CaRevocation, CaState, Registry};
use super::{
    ceremony, crl_der, extensions, keys, lint, CaError, CaKey, CrlEntryWriter, Passphrase,
};
use crate::config::{CaSettings, DataDir};
use crate::model::{ExtendedKeyUsage, KeyAlgorithm, KeyUsage, PublicKey, RevocationReason, Serial};
use crate::names::{SubjectAltName, SubjectName};

/// What the registration authority asks the CA to sign. The CA adds what only it knows:
/// issuer, AKI, AIA and CRL distribution point.
#[derive(Debug, Clone)]
pub struct LeafRequest {
    /// The issuing CA that signs (the RA picks the active one).
    pub issuer: u32,
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
    /// Whether the role's policy requires a subject alternative name.
    pub san_required: bool,
}

/// A CA certificate with what the CA needs of it, parsed once.
#[derive(Debug, Clone)]
pub struct CaCertificate {
    /// DER bytes.
    pub der: Vec<u8>,
    /// DER of its subject Name.
    pub subject_der: Vec<u8>,
    /// Its subject, `CN=…,O=…` form.
    pub subject: String,
    /// Its serial.
    pub serial: Serial,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// Its subject key identifier (the AKI of what it signs).
    pub key_id: Vec<u8>,
}

impl CaCertificate {
    /// Parses a CA certificate from DER.
    pub fn from_der(der: Vec<u8>, what: &str) -> Result<Self, CaError> {
        use x509_parser::extensions::ParsedExtension;
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| CaError::Key(format!("{what}: cannot parse the certificate: {e}")))?;
        let key_id = cert
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(ski) => Some(ski.0.to_vec()),
                _ => None,
            })
            .ok_or_else(|| CaError::Key(format!("{what}: no subject key identifier")))?;
        let serial = Serial::from_der_integer(cert.raw_serial())
            .map_err(|e| CaError::Key(format!("{what}: {e}")))?;
        let subject = SubjectName::from_x509(cert.subject())
            .map(|n| n.to_string())
            .unwrap_or_else(|_| cert.subject().to_string());
        Ok(CaCertificate {
            subject_der: cert.subject().as_raw().to_vec(),
            subject,
            serial,
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
            key_id,
            der,
        })
    }

    /// Reads a PEM certificate file.
    pub fn read(path: &Path) -> Result<Self, CaError> {
        let text = std::fs::read_to_string(path).map_err(|e| CaError::io(path, e))?;
        let parsed = pem::parse(&text)
            .map_err(|_| CaError::Key(format!("{}: not a PEM certificate", path.display())))?;
        Self::from_der(parsed.into_contents(), &path.display().to_string())
    }

    /// The pre-issuance expectations of what this certificate's key signs.
    fn expectations<'a>(
        &'a self,
        profile: lint::CertificateProfile<'a>,
        signature_algorithm: &'a [u8],
    ) -> lint::CertificateExpectations<'a> {
        lint::CertificateExpectations {
            profile,
            issuer_name: &self.subject_der,
            issuer_key_id: &self.key_id,
            issuer_not_before: self.not_before.unix_timestamp(),
            issuer_not_after: self.not_after.unix_timestamp(),
            signature_algorithm,
        }
    }
}

/// A certificate the CA signed: DER, and PEM on demand.
#[derive(Debug, Clone)]
pub(super) struct Signed(pub(super) Vec<u8>);

impl Signed {
    pub(super) fn der(&self) -> &[u8] {
        &self.0
    }
    pub(super) fn pem(&self) -> String {
        super::to_pem("CERTIFICATE", &self.0)
    }
}

/// Signs `params` for `subject_key` with `issuer_cert`/`issuer_key`, after the
/// pre-issuance checks pass on the exact to-be-signed bytes.
pub(super) fn sign_checked(
    params: &CertificateParams,
    subject_key: &impl rcgen::PublicKeyData,
    issuer_cert: &CaCertificate,
    issuer_key: &CaKey,
    expectations: &lint::CertificateExpectations<'_>,
) -> Result<Signed, CaError> {
    let check = |tbs: &[u8]| lint::check_certificate(tbs, expectations);
    let subject_spki = subject_key.subject_public_key_info();
    // rcgen can neither sign with these schemes nor write an SM2 subject key.
    if !keys::rcgen_can_sign(issuer_key.scheme()) || crate::shangmi::is_sm2_spki(&subject_spki) {
        let signer = Issuer::from_ca_cert_der(
            &issuer_cert.der.as_slice().into(),
            super::reencode::Placeholder(issuer_key),
        )?;
        let placeholder = params.signed_by(subject_key, &signer)?;
        return super::reencode::resign_certificate(
            placeholder.der(),
            &subject_spki,
            issuer_key,
            &check,
        )
        .map(Signed);
    }
    let signer = Issuer::from_ca_cert_der(
        &issuer_cert.der.as_slice().into(),
        lint::CheckedKey::new(issuer_key, &check),
    )?;
    params
        .signed_by(subject_key, &signer)
        .map(|cert| Signed(cert.der().to_vec()))
        .map_err(|e| match signer.key().take_failure() {
            Some(failure) => CaError::from(failure),
            None => CaError::from(e),
        })
}

/// How an issuing CA stands after the root's revocation of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssuerRevocation {
    /// The reason on the root CRL.
    pub reason: RevocationReason,
    /// When the root revoked it (Unix seconds).
    pub revoked_at: i64,
}

/// One issuing CA: its certificate and key, and its delegated OCSP responder.
pub struct IssuingCa {
    id: u32,
    /// The root (hierarchy) that signed it: 1, or a root of `paypki ca add-hierarchy`.
    root_id: u32,
    state: CaState,
    certificate: CaCertificate,
    key: CaKey,
    signature_algorithm: Vec<u8>,
    responder: CaCertificate,
    responder_key: CaKey,
    responder_signature_algorithm: Vec<u8>,
    revoked_responders: Vec<CaRevocation>,
    /// Its time-stamping authority; every issuing CA made or loaded as active has one.
    pub(super) tsa: Option<super::tsa::Tsa>,
    /// Its chain as PEM (itself, then its root), made once: every issuance answers it.
    chain_pem: std::sync::OnceLock<String>,
}

impl std::fmt::Debug for IssuingCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuingCa")
            .field("id", &self.id)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl IssuingCa {
    /// Its id (1, 2, …).
    pub fn id(&self) -> u32 {
        self.id
    }
    /// The root that signed it (1 unless it belongs to a further hierarchy).
    pub fn root_id(&self) -> u32 {
        self.root_id
    }
    /// Its lifecycle state as the registry records it.
    pub fn state(&self) -> CaState {
        self.state
    }
    /// Its certificate.
    pub fn certificate(&self) -> &CaCertificate {
        &self.certificate
    }
    /// Its delegated OCSP responder's certificate.
    pub fn responder(&self) -> &CaCertificate {
        &self.responder
    }
    /// Responder certificates it revoked (listed on its CRL).
    pub fn revoked_responders(&self) -> &[CaRevocation] {
        &self.revoked_responders
    }
    /// Its key (where it lives, its algorithm).
    pub fn key(&self) -> &CaKey {
        &self.key
    }
    /// Its responder's key.
    pub fn responder_key(&self) -> &CaKey {
        &self.responder_key
    }
    /// Its time-stamping authority's certificate, if it has one.
    pub fn tsa_certificate(&self) -> Option<&CaCertificate> {
        self.tsa.as_ref().map(|tsa| tsa.certificate())
    }
    /// Its time-stamping authority's key, if it has one.
    pub fn tsa_key(&self) -> Option<&CaKey> {
        self.tsa.as_ref().map(|tsa| tsa.key())
    }
}

/// The loaded CA: certificates, keys and settings.
pub struct CertificateAuthority {
    settings: CaSettings,
    root: CaCertificate,
    /// The roots of further hierarchies (`paypki ca add-hierarchy`), by number.
    other_roots: Vec<(u32, CaCertificate)>,
    /// Their CRLs as `add-hierarchy` signed them (`crl/root-N.crl`), by number.
    other_root_crls: Vec<(u32, Vec<u8>)>,
    issuers: Vec<IssuingCa>,
    /// Issuing CAs the published root CRL lists (and those the registry marks revoked).
    revoked_issuers: RwLock<HashMap<u32, IssuerRevocation>>,
    pub(super) clock: crate::clock::SharedClock,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("settings", &self.settings)
            .field("issuers", &self.issuers)
            .finish_non_exhaustive()
    }
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

impl CertificateAuthority {
    /// Loads the CA from a data directory: the root certificate and every issuing CA of
    /// the registry, checking that every key matches its certificate. The root key is
    /// never loaded: a running CA does not need it.
    pub fn load(dir: &DataDir, passphrase: Option<&Passphrase>) -> Result<Self, CaError> {
        if !dir.is_initialized() {
            return Err(CaError::NotInitialized(dir.root().to_path_buf()));
        }
        let settings = ceremony::read_settings(dir)?;
        let root = CaCertificate::read(&dir.cert_file("root"))?;
        let registry = Registry::load(dir)?;
        let mut issuers = Vec::with_capacity(registry.issuers.len());
        let mut revoked_issuers = HashMap::new();
        let other_roots = registry
            .other_roots()
            .into_iter()
            .map(|id| Ok((id, CaCertificate::read(&dir.root_cert_file(id))?)))
            .collect::<Result<Vec<_>, CaError>>()?;
        let other_root_crls = other_roots
            .iter()
            .filter_map(|(id, _)| {
                std::fs::read(dir.root_crl_file_of(*id))
                    .ok()
                    .map(|der| (*id, der))
            })
            .collect();
        // The issuing CA that signs gets a TSA if it has none (a data directory from
        // before TSAs existed); the others keep what they have. Time-stamps chain to
        // root 1, so it is root 1's.
        let signing_id = registry
            .issuers
            .iter()
            .rev()
            .find(|e| e.state == CaState::Active && e.revocation.is_none() && e.hierarchy() == 1)
            .map(|e| e.id);
        for entry in &registry.issuers {
            let certificate = CaCertificate::read(&dir.issuing_cert_file(entry.id))?;
            let key = super::open_ca_key(
                &dir.issuing_key_file(entry.id),
                &certificate,
                passphrase,
                &crate::config::issuing_name(entry.id),
            )?;
            let responder = CaCertificate::read(&dir.responder_cert_file(entry.id))?;
            let responder_key = super::open_ca_key(
                &dir.responder_key_file(entry.id),
                &responder,
                passphrase,
                &crate::config::responder_name(entry.id),
            )?;
            let tsa = if Some(entry.id) == signing_id {
                Some(super::tsa::open_or_create(
                    dir,
                    &settings,
                    entry.id,
                    &certificate,
                    &key,
                    passphrase,
                    crate::clock::system().now(),
                )?)
            } else {
                super::tsa::open(dir, entry.id, &certificate, passphrase)?
            };
            if let Some(revocation) = &entry.revocation {
                revoked_issuers.insert(
                    entry.id,
                    IssuerRevocation {
                        reason: revocation.reason,
                        revoked_at: revocation.revoked_at.unix_timestamp(),
                    },
                );
            }
            issuers.push(IssuingCa {
                id: entry.id,
                root_id: entry.hierarchy(),
                state: entry.state,
                signature_algorithm: key.signature_algorithm_der()?,
                certificate,
                key,
                responder_signature_algorithm: responder_key.signature_algorithm_der()?,
                responder,
                responder_key,
                revoked_responders: entry.revoked_responders.clone(),
                tsa,
                chain_pem: std::sync::OnceLock::new(),
            });
        }
        Ok(CertificateAuthority {
            settings,
            root,
            other_roots,
            other_root_crls,
            issuers,
            revoked_issuers: RwLock::new(revoked_issuers),
            clock: crate::clock::system(),
        })
    }

    /// The same CA reading `clock` for "now".
    pub fn with_clock(mut self, clock: crate::clock::SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The settings chosen at `init`.
    pub fn settings(&self) -> &CaSettings {
        &self.settings
    }
    /// The root certificate (root 1: receipts, time-stamps and the transparency log's
    /// heads chain to it).
    pub fn root(&self) -> &CaCertificate {
        &self.root
    }
    /// Root `id`: 1, or a further hierarchy's.
    pub fn root_by_id(&self, id: u32) -> Result<&CaCertificate, CaError> {
        if id == 1 {
            return Ok(&self.root);
        }
        self.other_roots
            .iter()
            .find(|(number, _)| *number == id)
            .map(|(_, root)| root)
            .ok_or_else(|| CaError::Setting(format!("no root {id} in this data directory")))
    }
    /// The CRL of root `id` of a further hierarchy (DER), if it has one.
    pub fn other_root_crl(&self, id: u32) -> Option<&[u8]> {
        self.other_root_crls
            .iter()
            .find(|(number, _)| *number == id)
            .map(|(_, der)| der.as_slice())
    }
    /// Every root, root 1 first: the trust anchors of path validation.
    pub fn roots(&self) -> Vec<&CaCertificate> {
        std::iter::once(&self.root)
            .chain(self.other_roots.iter().map(|(_, root)| root))
            .collect()
    }
    /// Every issuing CA, oldest first.
    pub fn issuers(&self) -> &[IssuingCa] {
        &self.issuers
    }
    /// One issuing CA.
    pub fn issuer(&self, id: u32) -> Result<&IssuingCa, CaError> {
        self.issuers
            .iter()
            .find(|ca| ca.id == id)
            .ok_or(CaError::UnknownIssuer(id))
    }
    /// The issuing CA that signs new certificates under root 1, unless the root revoked
    /// it.
    pub fn active(&self) -> Result<&IssuingCa, CaError> {
        self.issuers
            .iter()
            .rev()
            .find(|ca| self.may_issue(ca) && ca.root_id == 1)
            .ok_or(CaError::NoActiveIssuer)
    }

    /// The issuing CA for a subject key of `algorithm`: with several hierarchies (an SM2
    /// one beside ECDSA), the newest active CA whose key is of the same family — SM2 for
    /// an SM2 key, not SM2 for any other — root 1's first; when none is, [`Self::active`].
    /// So an SM2 CSR gets an all-SM2 chain and an ECDSA one an ECDSA chain.
    pub fn active_for(&self, algorithm: KeyAlgorithm) -> Result<&IssuingCa, CaError> {
        let sm2 = |a: KeyAlgorithm| a == KeyAlgorithm::Sm2;
        let matching =
            |ca: &&IssuingCa| self.may_issue(ca) && sm2(ca.key.algorithm()) == sm2(algorithm);
        self.issuers
            .iter()
            .rev()
            .filter(matching)
            .find(|ca| ca.root_id == 1)
            .or_else(|| self.issuers.iter().rev().find(matching))
            .map_or_else(|| self.active(), Ok)
    }

    fn may_issue(&self, ca: &IssuingCa) -> bool {
        ca.state == CaState::Active && self.issuer_revocation(ca.id).is_none()
    }

    /// The root's revocation of issuing CA `id`, if the published root CRL (or the
    /// registry) lists it.
    pub fn issuer_revocation(&self, id: u32) -> Option<IssuerRevocation> {
        self.revoked_issuers
            .read()
            .ok()
            .and_then(|revoked| revoked.get(&id).copied())
    }

    /// Takes the issuing CAs a newly published root CRL lists (serial → revocation) as
    /// revoked, in addition to those the registry marks. Returns whether anything changed.
    pub fn apply_root_crl(&self, listed: &HashMap<Vec<u8>, IssuerRevocation>) -> bool {
        let Ok(mut revoked) = self.revoked_issuers.write() else {
            return false;
        };
        let mut changed = false;
        for ca in &self.issuers {
            if let Some(revocation) = listed.get(ca.certificate.serial.as_bytes()) {
                if revoked.insert(ca.id, *revocation) != Some(*revocation) {
                    changed = true;
                }
            }
        }
        changed
    }

    /// The chain a participant installs for a certificate of issuing CA `id`: the issuing
    /// CA, then the root, in PEM.
    pub fn chain_pem(&self, id: u32) -> Result<String, CaError> {
        let issuer = self.issuer(id)?;
        if let Some(chain) = issuer.chain_pem.get() {
            return Ok(chain.clone());
        }
        let mut out = super::to_pem("CERTIFICATE", &issuer.certificate.der);
        out.push_str(&super::to_pem(
            "CERTIFICATE",
            &self.root_by_id(issuer.root_id)?.der,
        ));
        // Certificates do not change once loaded (a rollover loads the CA again).
        let _ = issuer.chain_pem.set(out.clone());
        Ok(out)
    }

    /// Replaces issuing CA `id`'s delegated OCSP responder key and certificate (same
    /// profile, new key, `validity` from now). The old files are kept beside the new ones
    /// with a `.old-<unix time>` suffix. Takes effect in servers started afterwards.
    /// Returns the old responder's serial and the new notAfter.
    pub fn renew_ocsp_responder(
        &self,
        dir: &DataDir,
        passphrase: Option<&Passphrase>,
        id: u32,
        validity: Duration,
    ) -> Result<(Serial, OffsetDateTime), CaError> {
        let issuer = self.issuer(id)?;
        let now = self.clock.now();
        // The new key is made where the current one lives (a file, or the same token).
        let (store, algorithm) = match issuer.responder_key.location() {
            KeyLocation::Pkcs11(reference) => (
                KeyStoreChoice::Pkcs11(TokenConfig::of(&reference)),
                issuer.key.algorithm(),
            ),
            KeyLocation::File(_) => (
                KeyStoreChoice::Files,
                ceremony::responder_algorithm(issuer.key.algorithm()),
            ),
        };
        let key = NewKey::generate(
            &store,
            algorithm,
            &ceremony::token_label(&crate::config::responder_name(id)),
        )?;
        let (cert, not_after) = ceremony::sign_responder(
            &self.settings,
            &issuer.certificate,
            &issuer.key,
            key.key(),
            now,
            validity,
        )?;
        let suffix = format!("old-{}", now.unix_timestamp());
        let key_path = dir.responder_key_file(id);
        let cert_path = dir.responder_cert_file(id);
        let current_key = match KeyLocation::find(&key_path)? {
            Some(KeyLocation::Pkcs11(_)) => keys::reference_path(&key_path),
            _ => key_path.clone(),
        };
        let new_key_target = key.path_for(&key_path);
        let staged_key = with_suffix(&new_key_target, "new");
        let staged_cert = with_suffix(&cert_path, "new");
        key.save_as(&staged_key, passphrase)?;
        super::write_file(&staged_cert, cert.pem().as_bytes())?;
        for (current, fresh, target) in [
            (&current_key, &staged_key, &new_key_target),
            (&cert_path, &staged_cert, &cert_path),
        ] {
            std::fs::rename(current, with_suffix(current, &suffix))
                .map_err(|e| CaError::io(current, e))?;
            std::fs::rename(fresh, target).map_err(|e| CaError::io(target, e))?;
        }
        Ok((issuer.responder.serial.clone(), not_after))
    }

    /// Signs issuing CA `id`'s CRL. `fill` receives a writer and pushes every revoked
    /// certificate into it; entries are encoded as they come (see `crl_der`); the
    /// responder certificates the CA revoked are added. The to-be-signed bytes pass the
    /// pre-issuance checks first. Returns the DER and the number of entries.
    pub fn sign_crl(
        &self,
        id: u32,
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
        let issuer = self.issuer(id)?;
        let frame = crl_der::CrlFrame {
            signature_algorithm: &issuer.signature_algorithm,
            issuer: &issuer.certificate.subject_der,
            this_update: this_update.unix_timestamp(),
            next_update: next_update.unix_timestamp(),
            number,
            authority_key_id: &issuer.certificate.key_id,
        };
        let expectations = lint::CrlExpectations {
            issuer_name: &issuer.certificate.subject_der,
            issuer_key_id: &issuer.certificate.key_id,
            signature_algorithm: &issuer.signature_algorithm,
        };
        let mut fill_all = |writer: &mut CrlEntryWriter| {
            for responder in &issuer.revoked_responders {
                if let Ok(serial) = responder.serial.parse::<Serial>() {
                    writer.push(
                        serial.as_bytes(),
                        responder.revoked_at.unix_timestamp(),
                        Some(responder.reason),
                        None,
                    );
                }
            }
            fill(writer);
        };
        crl_der::build(&frame, &mut fill_all, &|tbs, entries| {
            lint::check_crl_prechecked(tbs, &expectations, entries)?;
            Ok(issuer.key.try_sign(tbs)?)
        })
    }

    /// Signs OCSP `ResponseData` (DER) with issuing CA `id`'s delegated responder key.
    /// Returns the signature algorithm (DER AlgorithmIdentifier) and the signature.
    pub fn sign_ocsp(
        &self,
        id: u32,
        tbs_response_data: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), CaError> {
        let issuer = self.issuer(id)?;
        let signature = issuer.responder_key.try_sign(tbs_response_data)?;
        Ok((issuer.responder_signature_algorithm.clone(), signature))
    }

    /// Signs a participant certificate with the issuing CA the request names, after
    /// re-checking the request (the CA trusts the RA's policy decision but not its
    /// arithmetic) and the pre-issuance checks of the exact to-be-signed bytes.
    pub fn sign_leaf(&self, request: &LeafRequest) -> Result<Vec<u8>, CaError> {
        let issuer = self.issuer(request.issuer)?;
        if let Some(revocation) = self.issuer_revocation(issuer.id) {
            return Err(CaError::Refused(format!(
                "issuing CA {} was revoked ({})",
                issuer.id, revocation.reason
            )));
        }
        if request.not_after <= request.not_before {
            return Err(CaError::Refused("the validity period is empty".into()));
        }
        if request.not_after > issuer.certificate.not_after {
            return Err(CaError::Refused(format!(
                "the certificate would outlive the issuing CA (which expires {})",
                issuer.certificate.not_after.date()
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
        params.key_identifier_method =
            KeyIdMethod::PreSpecified(lint::key_identifier(request.public_key.spki_der())?);
        params.use_authority_key_identifier_extension = true;
        params.crl_distribution_points = vec![CrlDistributionPoint {
            uris: vec![self.settings.issuing_crl_url(issuer.id)],
        }];
        params.custom_extensions = vec![
            extensions::certificate_policies(&request.policy_oid)?,
            extensions::authority_info_access(
                Some(&self.settings.ocsp_url()),
                &self.settings.issuing_cert_url(issuer.id),
            )?,
        ];
        let expectations = issuer.certificate.expectations(
            lint::CertificateProfile::Leaf {
                key_usage: &request.key_usage,
                extended_key_usage: &request.extended_key_usage,
                policy_oid: &request.policy_oid,
                san_required: request.san_required,
            },
            &issuer.signature_algorithm,
        );
        let cert = sign_checked(
            &params,
            &request.public_key,
            &issuer.certificate,
            &issuer.key,
            &expectations,
        )?;
        Ok(cert.der().to_vec())
    }
}

/// `path` with `.suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(suffix);
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::super::{init, InitOptions};
    use super::*;

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
                serial: vec![0x7f, 0x00],
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
            .sign_crl(1, 7, now, next, &mut |w| {
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
        let issuing = ca.issuer(1).unwrap();
        let reference = |number: u64, entries: Vec<CrlEntry>| {
            let signer =
                Issuer::from_ca_cert_der(&issuing.certificate.der.as_slice().into(), &issuing.key)
                    .unwrap();
            rcgen::CertificateRevocationListParams {
                this_update: now,
                next_update: next,
                crl_number: SerialNumber::from_slice(&[number as u8]),
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
                key_identifier_method: KeyIdMethod::PreSpecified(
                    issuing.certificate.key_id.clone(),
                ),
            }
            .signed_by(&signer)
            .unwrap()
        };
        let tbs = |der: &[u8]| {
            let (_, crl) = x509_parser::parse_x509_crl(der).unwrap();
            crl.tbs_cert_list.as_ref().to_vec()
        };
        assert_eq!(tbs(&streamed), tbs(reference(7, entries).der()));
        // And the signature verifies with the issuing CA's key.
        let (_, crl) = x509_parser::parse_x509_crl(&streamed).unwrap();
        let (_, issuing_cert) =
            x509_parser::parse_x509_certificate(&issuing.certificate.der).unwrap();
        crl.verify_signature(issuing_cert.public_key()).unwrap();
        // An empty CRL omits revokedCertificates, as RFC 5280 §5.1.2.6 requires.
        let (empty, _) = ca.sign_crl(1, 8, now, next, &mut |_| {}).unwrap();
        assert_eq!(tbs(&empty), tbs(reference(8, Vec::new()).der()));
    }
}
