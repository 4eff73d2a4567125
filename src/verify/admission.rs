//! Which certificates are ours: parsing, admission (chained to our root by signature,
//! and byte for byte the certificate our records hold for its serial) and the caches of
//! admitted certificates.

use super::*;

/// What the hot path needs of a certificate, parsed once. Only certificates admitted as
/// ours (chained to our root by signature, and byte for byte the certificate our records
/// hold for the serial) are cached, by fingerprint.
#[derive(Debug, Clone)]
pub(super) struct Leaf {
    pub(super) der: Arc<Vec<u8>>,
    pub(super) fingerprint: [u8; 32],
    pub(super) public_key: PublicKey,
    pub(super) serial: Serial,
    pub(super) subject: String,
    pub(super) role: Option<Role>,
    pub(super) can_sign: bool,
    /// The issuing CA (id) named as its issuer, when it is one of ours.
    pub(super) issuer: Option<u32>,
    pub(super) not_before: i64,
    pub(super) not_after: i64,
    /// Where the whole chain is valid; known once the leaf is admitted.
    pub(super) window: Option<chain::Window>,
}

impl Leaf {
    /// What caching it costs, in bytes.
    pub(super) fn weight(&self) -> usize {
        self.der.len() + self.subject.len() + self.public_key.spki_der().len() + 256
    }
}

impl Verifier {
    /// Parses a certificate; caches nothing.
    pub(super) fn parse_leaf(&self, der: Vec<u8>) -> Result<Leaf, String> {
        let fp = fingerprint(&der);
        let (rest, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| format!("not an X.509 certificate: {e}"))?;
        if !rest.is_empty() {
            return Err("trailing bytes after the certificate".into());
        }
        let public_key = PublicKey::from_x509(cert.public_key()).map_err(|e| e.to_string())?;
        let serial = Serial::from_der_integer(cert.raw_serial()).map_err(|e| e.to_string())?;
        let role = cert
            .extensions()
            .iter()
            .find_map(|ext| match ext.parsed_extension() {
                x509_parser::extensions::ParsedExtension::CertificatePolicies(policies) => {
                    policies.iter().find_map(|p| {
                        let arcs: Vec<u64> =
                            p.policy_id.iter().map(|i| i.collect()).unwrap_or_default();
                        self.policies.role_for_policy_oid(&arcs)
                    })
                }
                _ => None,
            });
        // RFC 5280 §4.2.1.3: without keyUsage the key is unrestricted.
        let can_sign = match cert.key_usage() {
            Ok(Some(ku)) => ku.value.digital_signature() || ku.value.non_repudiation(),
            Ok(None) => true,
            Err(_) => false,
        };
        let leaf = Leaf {
            fingerprint: fp,
            public_key,
            // The same `CN=…,O=…` form as everywhere else in paypki.
            subject: crate::names::SubjectName::from_x509(cert.subject())
                .map(|n| n.to_string())
                .unwrap_or_else(|_| cert.subject().to_string()),
            role,
            can_sign,
            issuer: self.issuing_subjects.get(cert.issuer().as_raw()).copied(),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            serial,
            window: None,
            der: Arc::new(der),
        };
        Ok(leaf)
    }

    /// An admitted leaf, by fingerprint.
    pub(super) fn known(&self, fingerprint: &[u8; 32]) -> Option<Arc<Leaf>> {
        self.known.get(fingerprint)
    }

    /// Admits a leaf as ours, or says why not: issued under one of our issuing CAs (by
    /// signature, with rustls-webpki), and exactly the certificate our records hold for
    /// its serial. Only then is it cached, so what callers send cannot fill the memory.
    pub(super) fn admit(
        &self,
        leaf: Leaf,
        record: Option<crate::store::CertificateRecord>,
    ) -> Result<Arc<Leaf>, Rejection> {
        let info = signer_info(&leaf);
        self.admit_checked(leaf, record)
            .map_err(|(reason, message)| (reason, message, Some(info)))
    }

    pub(super) fn admit_checked(
        &self,
        mut leaf: Leaf,
        record: Option<crate::store::CertificateRecord>,
    ) -> Result<Arc<Leaf>, (Reason, String)> {
        if let Some(known) = self.known(&leaf.fingerprint) {
            return Ok(known);
        }
        if leaf.issuer.is_none() {
            return Err((
                Reason::UnknownIssuer,
                "the certificate was not issued by this CA".into(),
            ));
        }
        let window = match self.chains.window(&leaf.der) {
            Ok(window) => window,
            Err(ChainError::Expired) => {
                return Err((
                    Reason::Expired,
                    "the certificate's chain has no moment at which every certificate is valid"
                        .into(),
                ))
            }
            Err(ChainError::NotYetValid) => {
                return Err((Reason::NotYetValid, "the chain is not yet valid".into()))
            }
            Err(ChainError::UnsupportedAlgorithm(e)) => {
                return Err((Reason::UnsupportedAlgorithm, e))
            }
            Err(ChainError::Malformed(e)) => {
                return Err((
                    Reason::Malformed,
                    format!("the certificate is malformed: {e}"),
                ))
            }
            Err(ChainError::UnknownIssuer(e)) | Err(ChainError::Usage(e)) => {
                return Err((
                    Reason::UnknownIssuer,
                    format!("the certificate does not chain to this CA's root by signature: {e}"),
                ))
            }
        };
        let record = match record {
            Some(record) => record,
            None => match self.store.certificate(&leaf.serial) {
                Ok(Some(record)) => record,
                Ok(None) => {
                    return Err((
                        Reason::UnknownIssuer,
                        "this CA has no record of the certificate".into(),
                    ))
                }
                Err(e) => {
                    tracing::error!(error = %e, "certificate lookup failed");
                    return Err((
                        Reason::Unavailable,
                        "the CA's records could not be read; try again".into(),
                    ));
                }
            },
        };
        // The serial alone proves nothing: a certificate with a recorded serial but
        // another key or other names is not the one this CA issued.
        if record.fingerprint_sha256 != crate::model::sha256_fingerprint(&leaf.der) {
            return Err((
                Reason::UnknownIssuer,
                format!(
                    "the certificate is not the one this CA issued with serial {}",
                    leaf.serial
                ),
            ));
        }
        leaf.window = Some(window);
        let weight = leaf.weight();
        let leaf = Arc::new(leaf);
        self.known.insert(leaf.fingerprint, leaf.clone(), weight);
        self.by_serial.insert(
            leaf.serial.as_bytes().into(),
            leaf.fingerprint,
            leaf.serial.as_bytes().len() + 32,
        );
        Ok(leaf)
    }

    /// The admitted leaf a PEM text was already found to be (by this request, or by an
    /// earlier one through the cache), without decoding it.
    pub(super) fn admitted_by_pem(&self, pem: &PemText) -> Option<Arc<Leaf>> {
        pem.admitted_or(|| self.by_pem.get(pem.as_str()).and_then(|fp| self.known(&fp)))
    }

    pub(super) fn leaf_by_pem(&self, pem: &PemText) -> Result<Arc<Leaf>, Rejection> {
        if let Some(leaf) = self.admitted_by_pem(pem) {
            return Ok(leaf);
        }
        let text = pem.as_str();
        let malformed = |e: String| {
            (
                Reason::Malformed,
                format!("the certificate is unusable: {e}"),
                None,
            )
        };
        let der = certificate_from_pem(text).map_err(malformed)?;
        let leaf = match self.known(&fingerprint(&der)) {
            Some(leaf) => leaf,
            None => self.admit(self.parse_leaf(der).map_err(malformed)?, None)?,
        };
        // The key is the text: it is what the entry costs (plus the fingerprint).
        self.by_pem
            .insert(text.into(), leaf.fingerprint, text.len() + 32);
        Ok(leaf)
    }

    pub(super) fn leaf_by_serial(&self, text: &str) -> Result<Arc<Leaf>, Rejection> {
        let serial: Serial = text
            .parse()
            .map_err(|e: crate::model::SerialError| (Reason::Malformed, e.to_string(), None))?;
        if let Some(leaf) = self
            .by_serial
            .get(serial.as_bytes())
            .and_then(|fp| self.known(&fp))
        {
            return Ok(leaf);
        }
        match self.store.certificate(&serial) {
            Ok(Some(record)) => {
                let leaf = self
                    .parse_leaf(record.der.clone())
                    .map_err(|e| (Reason::Malformed, e, None))?;
                self.admit(leaf, Some(record))
            }
            Ok(None) => Err((
                Reason::UnknownIssuer,
                format!("this CA issued no certificate with serial {text}"),
                None,
            )),
            Err(e) => {
                tracing::error!(error = %e, "certificate lookup failed");
                Err((
                    Reason::Unavailable,
                    "the CA's records could not be read; try again".into(),
                    None,
                ))
            }
        }
    }

    /// The signer's admitted certificate for a request.
    pub(super) fn signer_leaf(
        &self,
        certificate: &SignerCertificate,
        detached: Option<&cms::DetachedSignature>,
    ) -> Result<Arc<Leaf>, Rejection> {
        match certificate {
            SignerCertificate::Pem(text) => self.leaf_by_pem(text),
            SignerCertificate::Serial(text) => self.leaf_by_serial(text),
            SignerCertificate::FromSignature => {
                let der = detached.and_then(|d| d.carried_signer().cloned()).ok_or((
                    Reason::Malformed,
                    "no signer certificate: send \"certificate\" or \"serial\", or include it in the CMS signature".to_string(),
                    None,
                ))?;
                match self.known(&fingerprint(&der)) {
                    Some(leaf) => Ok(leaf),
                    None => {
                        let leaf = self.parse_leaf(der).map_err(|e| {
                            (
                                Reason::Malformed,
                                format!("the signer certificate is unusable: {e}"),
                                None,
                            )
                        })?;
                        self.admit(leaf, None)
                    }
                }
            }
        }
    }
}
