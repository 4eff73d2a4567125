//! Where CA private keys live and how the CA signs with them. Every CA key (root, issuing
//! CA, OCSP responder) is a [`CaKey`]: a public key and a `sign` operation behind the
//! narrow [`CaSigner`] trait, with two implementations:
//!
//! - `file`: a PKCS#8 PEM file in `keys/` (0600, encrypted with a passphrase when set),
//!   signed with in-process by ring. The default.
//! - `pkcs11`: a key pair that never leaves a PKCS#11 token (an HSM; SoftHSM2 in tests),
//!   signed with through a pool of token sessions.
//!
//! Which one holds a key is recorded per key in the data directory: `keys/<name>.key.pem`
//! is a key file, `keys/<name>.key.toml` a [`TokenKeyRef`] naming the module, the token,
//! the key's label and where its PIN comes from (never the PIN itself). Callers do not
//! learn which one they sign with; only `keys list` and error messages say.

mod file;
pub mod pkcs11;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use file::{
    algorithm_of, generate, read_key_file, spki_der, write_key_file, write_private_file, Passphrase,
};
pub use pkcs11::{TokenConfig, TokenKeyRef};

/// rcgen signs only the schemes it knows; RSASSA-PSS and SM2-with-SM3 go through
/// [`super::reencode`].
pub(crate) fn rcgen_can_sign(scheme: SignatureScheme) -> bool {
    !matches!(
        scheme,
        SignatureScheme::RsaPssSha256 | SignatureScheme::Sm2Sm3
    )
}

use super::CaError;
use crate::model::KeyAlgorithm;

/// Why a key could not sign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key's store cannot be reached now (a token removed, a module failing): the
    /// request may be retried, and signing resumes when the store is back.
    #[error("the CA key is unavailable: {0}")]
    Unavailable(String),
    /// The key exists but refused to sign, or signed something unusable.
    #[error("the CA key failed to sign: {0}")]
    Failed(String),
}

impl From<KeyError> for CaError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Unavailable(why) => CaError::KeyUnavailable(why),
            KeyError::Failed(why) => CaError::Key(why),
        }
    }
}

/// The signature algorithm a CA key signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureScheme {
    /// ecdsa-with-SHA256 (P-256 keys).
    EcdsaSha256,
    /// ecdsa-with-SHA384 (P-384 keys).
    EcdsaSha384,
    /// Ed25519 (RFC 8410).
    Ed25519,
    /// sha256WithRSAEncryption: RSASSA-PKCS1-v1_5 (RFC 8017 §8.2), the RSA default.
    RsaPkcs1Sha256,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt (RFC 4055 §3.1); token
    /// RSA keys only.
    RsaPssSha256,
    /// SM2-with-SM3 (GM/T 0006 OID 1.2.156.10197.1.501) with the default distinguishing
    /// ID (GM/T 0009 §10, GM/T 0015); SM2 key files only.
    Sm2Sm3,
}

impl SignatureScheme {
    /// What a key of `algorithm` signs with unless configured otherwise.
    pub fn default_for(algorithm: KeyAlgorithm) -> Self {
        match algorithm {
            KeyAlgorithm::EcdsaP256 => SignatureScheme::EcdsaSha256,
            KeyAlgorithm::EcdsaP384 => SignatureScheme::EcdsaSha384,
            KeyAlgorithm::Ed25519 => SignatureScheme::Ed25519,
            KeyAlgorithm::Rsa => SignatureScheme::RsaPkcs1Sha256,
            KeyAlgorithm::Sm2 => SignatureScheme::Sm2Sm3,
        }
    }

    /// Whether a key of `algorithm` can sign with it.
    pub fn fits(self, algorithm: KeyAlgorithm) -> bool {
        self == Self::default_for(algorithm)
            || (self == SignatureScheme::RsaPssSha256 && algorithm == KeyAlgorithm::Rsa)
    }

    /// Its DER AlgorithmIdentifier, as it goes into certificates, CRLs and OCSP responses.
    pub fn algorithm_identifier(self) -> Result<Vec<u8>, CaError> {
        use der::Encode;
        let (oid, null) = match self {
            SignatureScheme::EcdsaSha256 => ("1.2.840.10045.4.3.2", false),
            SignatureScheme::EcdsaSha384 => ("1.2.840.10045.4.3.3", false),
            SignatureScheme::Ed25519 => ("1.3.101.112", false),
            SignatureScheme::RsaPkcs1Sha256 => ("1.2.840.113549.1.1.11", true),
            // GM/T 0006; no parameters, as OpenSSL and GM/T 0015 certificates have it.
            SignatureScheme::Sm2Sm3 => (crate::shangmi::OID_SM2_WITH_SM3, false),
            SignatureScheme::RsaPssSha256 => {
                // The parameters (hash, MGF, salt length) as rustls-pki-types spells them;
                // it keeps the contents of the SEQUENCE.
                let contents: &[u8] = &rustls_pki_types::alg_id::RSA_PSS_SHA256;
                let length = der::Length::try_from(contents.len())
                    .and_then(|l| l.to_der())
                    .map_err(|e| CaError::Build(e.to_string()))?;
                return Ok([&[0x30][..], &length, contents].concat());
            }
        };
        // Parameters: NULL for RSA (RFC 4055 §5), absent for ECDSA and Ed25519 (RFC 5758
        // §3.2, RFC 8410 §3).
        spki::AlgorithmIdentifierOwned {
            oid: der::asn1::ObjectIdentifier::new(oid)
                .map_err(|e| CaError::Build(e.to_string()))?,
            parameters: null.then(|| der::Any::from(der::asn1::Null)),
        }
        .to_der()
        .map_err(|e| CaError::Build(e.to_string()))
    }

    /// ring's verifier for it; None for SM2, which ring lacks.
    fn verification(self) -> Option<&'static dyn ring::signature::VerificationAlgorithm> {
        use ring::signature as sig;
        Some(match self {
            SignatureScheme::EcdsaSha256 => &sig::ECDSA_P256_SHA256_ASN1,
            SignatureScheme::EcdsaSha384 => &sig::ECDSA_P384_SHA384_ASN1,
            SignatureScheme::Ed25519 => &sig::ED25519,
            SignatureScheme::RsaPkcs1Sha256 => &sig::RSA_PKCS1_2048_8192_SHA256,
            SignatureScheme::RsaPssSha256 => &sig::RSA_PSS_2048_8192_SHA256,
            SignatureScheme::Sm2Sm3 => return None,
        })
    }
}

/// A CA private key wherever it lives. Implementations never reveal key material.
pub trait CaSigner: Send + Sync {
    /// The key's algorithm family.
    fn algorithm(&self) -> KeyAlgorithm;
    /// The signature algorithm it signs with.
    fn scheme(&self) -> SignatureScheme {
        SignatureScheme::default_for(self.algorithm())
    }
    /// Its public key, DER SubjectPublicKeyInfo.
    fn subject_public_key_info(&self) -> &[u8];
    /// Signs `message` with [`Self::scheme`]: the signature value as it goes into a BIT
    /// STRING (DER ECDSA-Sig-Value for ECDSA).
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError>;
    /// Where the key lives, for `keys list` and messages.
    fn location(&self) -> KeyLocation;
}

/// Where a key lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyLocation {
    /// A PKCS#8 PEM file.
    File(PathBuf),
    /// A key pair on a PKCS#11 token.
    Pkcs11(TokenKeyRef),
}

impl std::fmt::Display for KeyLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyLocation::File(path) => write!(f, "file {}", path.display()),
            KeyLocation::Pkcs11(reference) => write!(
                f,
                "pkcs11 token {:?} label {:?} ({})",
                reference.token,
                reference.label,
                reference.module.display()
            ),
        }
    }
}

impl KeyLocation {
    /// `file` or `pkcs11`.
    pub fn store_name(&self) -> &'static str {
        match self {
            KeyLocation::File(_) => "file",
            KeyLocation::Pkcs11(_) => "pkcs11",
        }
    }

    /// Where CA key `pem_path` (`keys/<name>.key.pem`) lives: the key file when it
    /// exists, else the token reference `keys/<name>.key.toml`; None when neither exists.
    pub fn find(pem_path: &Path) -> Result<Option<Self>, CaError> {
        if pem_path.exists() {
            return Ok(Some(KeyLocation::File(pem_path.to_path_buf())));
        }
        let reference = reference_path(pem_path);
        if reference.exists() {
            return TokenKeyRef::read(&reference).map(|r| Some(KeyLocation::Pkcs11(r)));
        }
        Ok(None)
    }

    /// The location an operator names on the command line (`--root-key`): a token
    /// reference when the file is one (`.toml`), else a key file.
    pub fn named(path: &Path) -> Result<Self, CaError> {
        if path.extension().is_some_and(|e| e == "toml") {
            TokenKeyRef::read(path).map(KeyLocation::Pkcs11)
        } else {
            Ok(KeyLocation::File(path.to_path_buf()))
        }
    }

    /// Opens the key. `expected_spki` is the public key of the certificate the key must
    /// match, when known: a token key whose public half is not on the token takes it
    /// from there (its private half is still proven against it by the caller).
    pub fn open(
        &self,
        passphrase: Option<&Passphrase>,
        expected_spki: Option<&[u8]>,
    ) -> Result<CaKey, CaError> {
        match self {
            KeyLocation::File(path) => Ok(CaKey::new(file::open_key_file(path, passphrase)?)),
            KeyLocation::Pkcs11(reference) => {
                let signer = pkcs11::TokenKey::open(reference, expected_spki)?;
                Ok(CaKey::new(Arc::new(signer)))
            }
        }
    }
}

/// The token-reference file beside a key file's path: `issuing.key.pem` → `issuing.key.toml`.
pub fn reference_path(pem_path: &Path) -> PathBuf {
    pem_path.with_extension("toml")
}

/// Where new CA keys are made.
#[derive(Debug, Clone)]
pub enum KeyStoreChoice {
    /// Key files (generated by ring, SM2 by the `sm2` crate; RSA keys can only be
    /// imported).
    Files,
    /// Key pairs generated inside a PKCS#11 token.
    Pkcs11(TokenConfig),
}

/// A freshly made (or adopted) CA key that is not yet recorded in a data directory.
pub struct NewKey {
    key: CaKey,
    material: NewKeyMaterial,
}

enum NewKeyMaterial {
    /// PKCS#8 DER, written to a key file by [`NewKey::save`].
    File(zeroize::Zeroizing<Vec<u8>>),
    /// Already on the token; [`NewKey::save`] writes the reference.
    Token(TokenKeyRef),
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("algorithm", &self.key.algorithm())
            .finish_non_exhaustive()
    }
}

impl NewKey {
    /// Makes a key in `store`. `label` names it on a token (e.g. `paypki-issuing-2`).
    pub fn generate(
        store: &KeyStoreChoice,
        algorithm: KeyAlgorithm,
        label: &str,
    ) -> Result<Self, CaError> {
        match store {
            KeyStoreChoice::Files if algorithm == KeyAlgorithm::Sm2 => {
                let (signer, der) = file::generate_sm2()?;
                Ok(NewKey {
                    key: CaKey::new(Arc::new(signer)),
                    material: NewKeyMaterial::File(der),
                })
            }
            KeyStoreChoice::Files => Ok(NewKey::from_key_pair(generate(algorithm)?)),
            KeyStoreChoice::Pkcs11(_) if algorithm == KeyAlgorithm::Sm2 => {
                Err(CaError::Key(SM2_ON_TOKEN.into()))
            }
            KeyStoreChoice::Pkcs11(config) => {
                let (signer, reference) = pkcs11::TokenKey::generate(config, algorithm, label)?;
                Ok(NewKey {
                    key: CaKey::new(Arc::new(signer)),
                    material: NewKeyMaterial::Token(reference),
                })
            }
        }
    }

    /// Adopts a key pair that already exists on a token, found by its label.
    pub fn existing_on_token(config: &TokenConfig, label: &str) -> Result<Self, CaError> {
        let mut reference = config.reference(label);
        let signer = pkcs11::TokenKey::open(&reference, None)?;
        if config.rsa_pss && signer.algorithm() == KeyAlgorithm::Rsa {
            reference.scheme = Some(SignatureScheme::RsaPssSha256);
        }
        let signer = pkcs11::TokenKey::open(&reference, None)?;
        Ok(NewKey {
            key: CaKey::new(Arc::new(signer)),
            material: NewKeyMaterial::Token(reference),
        })
    }

    /// Imports a key file (`--import-root-key`, `--import-issuing-key`): any key rcgen
    /// reads, or an SM2 key.
    pub fn import_file(path: &Path, passphrase: Option<&Passphrase>) -> Result<Self, CaError> {
        let (signer, der) = file::import_key_file(path, passphrase)?;
        Ok(NewKey {
            key: CaKey::new(signer),
            material: NewKeyMaterial::File(der),
        })
    }

    /// Wraps an in-memory key pair (generated or imported) that goes to a key file.
    pub fn from_key_pair(pair: rcgen::KeyPair) -> Self {
        let der = zeroize::Zeroizing::new(pair.serialize_der());
        NewKey {
            key: CaKey::from_key_pair(pair),
            material: NewKeyMaterial::File(der),
        }
    }

    /// The key, to sign with.
    pub fn key(&self) -> &CaKey {
        &self.key
    }

    /// Records the key as CA key `pem_path` (`keys/<name>.key.pem`): a key file (0600,
    /// encrypted with `passphrase` when given), or for a token key the reference file
    /// beside it (`<name>.key.toml`). Returns the path written.
    pub fn save(
        &self,
        pem_path: &Path,
        passphrase: Option<&Passphrase>,
    ) -> Result<PathBuf, CaError> {
        let path = self.path_for(pem_path);
        self.save_as(&path, passphrase)?;
        Ok(path)
    }

    /// The file that records this key as CA key `pem_path`: the key file itself, or the
    /// token reference beside it.
    pub fn path_for(&self, pem_path: &Path) -> PathBuf {
        match &self.material {
            NewKeyMaterial::File(_) => pem_path.to_path_buf(),
            NewKeyMaterial::Token(_) => reference_path(pem_path),
        }
    }

    /// Writes the key file or token reference to exactly `path` (a new file).
    pub fn save_as(&self, path: &Path, passphrase: Option<&Passphrase>) -> Result<(), CaError> {
        match &self.material {
            NewKeyMaterial::File(der) => file::write_key_der(path, der, passphrase),
            NewKeyMaterial::Token(reference) => reference.write(path),
        }
    }
}

/// A CA key: what the CA signs with. Cheap to clone.
#[derive(Clone)]
pub struct CaKey {
    signer: Arc<dyn CaSigner>,
    algorithm: KeyAlgorithm,
    scheme: SignatureScheme,
    /// The subjectPublicKey BIT STRING's contents, which rcgen wants.
    raw_public_key: Vec<u8>,
}

impl std::fmt::Debug for CaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaKey")
            .field("algorithm", &self.algorithm)
            .field("location", &self.signer.location())
            .finish()
    }
}

impl CaKey {
    /// Wraps a signer.
    pub fn new(signer: Arc<dyn CaSigner>) -> Self {
        let raw_public_key = raw_public_key(signer.subject_public_key_info());
        CaKey {
            algorithm: signer.algorithm(),
            scheme: signer.scheme(),
            signer,
            raw_public_key,
        }
    }

    /// An in-memory key pair (a key file's, or a test's).
    pub fn from_key_pair(pair: rcgen::KeyPair) -> Self {
        Self::new(Arc::new(file::FileKey::new(pair, None)))
    }

    /// Its algorithm family.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The signature algorithm it signs with.
    pub fn scheme(&self) -> SignatureScheme {
        self.scheme
    }

    /// Its signature algorithm's DER AlgorithmIdentifier.
    pub fn signature_algorithm_der(&self) -> Result<Vec<u8>, CaError> {
        self.scheme.algorithm_identifier()
    }

    /// Its public key, DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        self.signer.subject_public_key_info()
    }

    /// Where it lives.
    pub fn location(&self) -> KeyLocation {
        self.signer.location()
    }

    /// Signs `message`; the error says whether a retry may succeed.
    pub fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.signer.sign(message)
    }

    /// Proves the private key belongs to `spki` (a CA certificate's public key): signs a
    /// random challenge and verifies the signature with `spki`. This catches a token
    /// whose public object does not belong to the private key it labels.
    pub fn prove_matches(&self, spki: &[u8], name: &str) -> Result<(), CaError> {
        use ring::rand::SecureRandom;
        let mismatch = || {
            CaError::Key(format!(
                "the {name} key ({}) does not match the {name} certificate",
                self.location()
            ))
        };
        if spki != self.spki_der() {
            return Err(mismatch());
        }
        let mut challenge = *b"paypki key check: ................";
        if let Some(tail) = challenge.get_mut(18..) {
            ring::rand::SystemRandom::new()
                .fill(tail)
                .map_err(|_| CaError::Key("the system random generator failed".into()))?;
        }
        let signature = self.try_sign(&challenge)?;
        if verifies(self.scheme, &self.raw_public_key, &challenge, &signature) {
            Ok(())
        } else {
            Err(mismatch())
        }
    }
}

/// The subjectPublicKey BIT STRING's contents of a DER SubjectPublicKeyInfo.
fn raw_public_key(spki: &[u8]) -> Vec<u8> {
    spki::SubjectPublicKeyInfoRef::try_from(spki)
        .ok()
        .and_then(|info| info.subject_public_key.as_bytes().map(<[u8]>::to_vec))
        .unwrap_or_default()
}

/// Whether `signature` over `message` verifies with `raw_public_key` under `scheme`
/// (ring does the work; the `sm2` crate for SM2).
fn verifies(
    scheme: SignatureScheme,
    raw_public_key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> bool {
    match scheme.verification() {
        Some(algorithm) => ring::signature::UnparsedPublicKey::new(algorithm, raw_public_key)
            .verify(message, signature)
            .is_ok(),
        None => crate::shangmi::verify(
            raw_public_key,
            crate::shangmi::DEFAULT_DISTINGUISHING_ID,
            message,
            signature,
        ),
    }
}

/// Why an SM2 CA cannot keep its keys on a PKCS#11 token (the refusal `init` prints).
pub const SM2_ON_TOKEN: &str = "SM2 CA keys cannot be kept on a PKCS#11 token: PKCS#11 \
    3.x defines no SM2 mechanism and SoftHSM2 has none; use --key-store file (the key files \
    are encrypted with PAYPKI_PASSPHRASE when it is set)";

impl rcgen::PublicKeyData for CaKey {
    /// An SM2 key's own SubjectPublicKeyInfo (rcgen's, made from [`Self::algorithm`],
    /// would name P-256); any other key's as rcgen writes it.
    fn subject_public_key_info(&self) -> Vec<u8> {
        if self.algorithm == KeyAlgorithm::Sm2 {
            return self.spki_der().to_vec();
        }
        RcgenView(self).subject_public_key_info()
    }
    fn der_bytes(&self) -> &[u8] {
        &self.raw_public_key
    }
    /// What rcgen writes. rcgen has no RSASSA-PSS and no SM2: a PSS key reports PKCS#1
    /// here, an SM2 key P-256, and certificates and CRLs signed with them are re-encoded
    /// (`super::reencode`).
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        crate::model::rcgen_algorithm(self.algorithm)
    }
}

/// A CA key as rcgen alone sees it (its default SubjectPublicKeyInfo encoding).
struct RcgenView<'a>(&'a CaKey);

impl rcgen::PublicKeyData for RcgenView<'_> {
    fn der_bytes(&self) -> &[u8] {
        &self.0.raw_public_key
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        crate::model::rcgen_algorithm(self.0.algorithm)
    }
}

impl rcgen::SigningKey for CaKey {
    /// rcgen's error cannot carry why; [`super::lint::CheckedKey`] keeps it.
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.try_sign(msg).map_err(|_| rcgen::Error::RemoteKeyError)
    }
}
