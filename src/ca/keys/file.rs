//! The file key store: CA keys as PKCS#8 PEM files, 0600, encrypted when a passphrase is
//! given (PBES2: PBKDF2-SHA256 with AES-256-CBC, which `openssl pkey -passin` reads), and
//! signed with in-process.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use pkcs8::der::Decode;
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519};
use ring::rand::SecureRandom;
use zeroize::Zeroizing;

use super::{CaSigner, KeyError, KeyLocation};
use crate::ca::CaError;
use crate::model::KeyAlgorithm;

/// PBKDF2 iterations for encrypted key files (OWASP 2023 guidance for PBKDF2-SHA256).
const PBKDF2_ITERATIONS: u32 = 600_000;

/// A passphrase protecting CA key files; wiped from memory when dropped.
#[derive(Clone)]
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    /// Wraps a passphrase; an empty one means none.
    pub fn new(text: String) -> Option<Self> {
        (!text.is_empty()).then(|| Passphrase(Zeroizing::new(text)))
    }
}

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

/// Generates a CA key. RSA keys cannot be generated with ring; they are imported.
pub fn generate(algorithm: KeyAlgorithm) -> Result<KeyPair, CaError> {
    let alg = match algorithm {
        KeyAlgorithm::EcdsaP256 => &PKCS_ECDSA_P256_SHA256,
        KeyAlgorithm::EcdsaP384 => &PKCS_ECDSA_P384_SHA384,
        KeyAlgorithm::Ed25519 => &PKCS_ED25519,
        KeyAlgorithm::Rsa => {
            return Err(CaError::Key(
                "RSA CA keys cannot be generated here; create one with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072` and pass it with --import-root-key/--import-issuing-key".into(),
            ))
        }
    };
    KeyPair::generate_for(alg).map_err(|e| CaError::Key(format!("key generation failed: {e}")))
}

/// The algorithm family of a key pair.
pub fn algorithm_of(key: &KeyPair) -> KeyAlgorithm {
    let alg = key.algorithm();
    if alg == &PKCS_ECDSA_P256_SHA256 {
        KeyAlgorithm::EcdsaP256
    } else if alg == &PKCS_ECDSA_P384_SHA384 {
        KeyAlgorithm::EcdsaP384
    } else if alg == &PKCS_ED25519 {
        KeyAlgorithm::Ed25519
    } else {
        KeyAlgorithm::Rsa
    }
}

/// A key held in memory, read from a key file (or generated and not yet written).
pub(super) struct FileKey {
    pair: KeyPair,
    spki: Vec<u8>,
    algorithm: KeyAlgorithm,
    path: Option<std::path::PathBuf>,
}

impl FileKey {
    pub(super) fn new(pair: KeyPair, path: Option<std::path::PathBuf>) -> Self {
        FileKey {
            spki: spki_der(&pair),
            algorithm: algorithm_of(&pair),
            pair,
            path,
        }
    }
}

impl CaSigner for FileKey {
    fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }
    fn subject_public_key_info(&self) -> &[u8] {
        &self.spki
    }
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        rcgen::SigningKey::sign(&self.pair, message)
            .map_err(|e| KeyError::Failed(format!("signing failed: {e}")))
    }
    fn location(&self) -> KeyLocation {
        KeyLocation::File(self.path.clone().unwrap_or_default())
    }
}

/// Writes a key as PKCS#8 PEM to a new file, mode 0600, flushed to disk.
pub fn write_key_file(
    path: &Path,
    key: &KeyPair,
    passphrase: Option<&Passphrase>,
) -> Result<(), CaError> {
    write_key_der(path, &Zeroizing::new(key.serialize_der()), passphrase)
}

/// Writes PKCS#8 DER as PEM to a new file, mode 0600, flushed to disk.
pub(super) fn write_key_der(
    path: &Path,
    pkcs8_der: &[u8],
    passphrase: Option<&Passphrase>,
) -> Result<(), CaError> {
    let der = Zeroizing::new(portable_pkcs8(pkcs8_der)?);
    let pem = match passphrase {
        None => Zeroizing::new(pem::encode(&pem::Pem::new("PRIVATE KEY", der.to_vec()))),
        Some(passphrase) => {
            let rng = ring::rand::SystemRandom::new();
            let mut salt = [0u8; 16];
            let mut iv = [0u8; 16];
            rng.fill(&mut salt)
                .and_then(|()| rng.fill(&mut iv))
                .map_err(|_| CaError::Key("the system random generator failed".into()))?;
            let params = pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(
                PBKDF2_ITERATIONS,
                &salt,
                &iv,
            )
            .map_err(|e| CaError::Key(format!("bad encryption parameters: {e}")))?;
            let info = pkcs8::PrivateKeyInfo::from_der(der.as_slice())
                .map_err(|e| CaError::Key(format!("cannot re-read the generated key: {e}")))?;
            let encrypted = info
                .encrypt_with_params(params, passphrase.0.as_bytes())
                .map_err(|e| CaError::Key(format!("cannot encrypt the key: {e}")))?;
            Zeroizing::new(pem::encode(&pem::Pem::new(
                "ENCRYPTED PRIVATE KEY",
                encrypted.as_bytes().to_vec(),
            )))
        }
    };
    write_private_file(path, pem.as_bytes())
}

/// ring writes Ed25519 keys as PKCS#8 v2 (RFC 5958, with the public key), which OpenSSL
/// 3.0 and Python `cryptography` refuse; v1 (RFC 5208, private key only) is read by all,
/// ring included. Other keys are returned unchanged.
fn portable_pkcs8(der: &[u8]) -> Result<Vec<u8>, CaError> {
    use pkcs8::der::Encode;
    let mut info = pkcs8::PrivateKeyInfo::from_der(der)
        .map_err(|e| CaError::Key(format!("cannot re-read the generated key: {e}")))?;
    if info.public_key.is_none() {
        return Ok(der.to_vec());
    }
    info.public_key = None;
    info.to_der()
        .map_err(|e| CaError::Key(format!("cannot encode the key: {e}")))
}

/// Creates a new file readable by the owner only and writes `contents` durably.
pub fn write_private_file(path: &Path, contents: &[u8]) -> Result<(), CaError> {
    let io = |e: std::io::Error| CaError::io(path, e);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)
}

/// Reads a PKCS#8 PEM key file, decrypting it with the passphrase when it is encrypted.
pub fn read_key_file(path: &Path, passphrase: Option<&Passphrase>) -> Result<KeyPair, CaError> {
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| CaError::io(path, e))?);
    let parsed = pem::parse(text.as_bytes())
        .map_err(|_| CaError::Key(format!("{}: not a PEM file", path.display())))?;
    let der: Zeroizing<Vec<u8>> = match parsed.tag() {
        "PRIVATE KEY" => Zeroizing::new(parsed.contents().to_vec()),
        "ENCRYPTED PRIVATE KEY" => {
            let passphrase = passphrase.ok_or_else(|| {
                CaError::Key(format!("{} is encrypted: set PAYPKI_PASSPHRASE", path.display()))
            })?;
            let info = pkcs8::EncryptedPrivateKeyInfo::from_der(parsed.contents())
                .map_err(|e| CaError::Key(format!("{}: not encrypted PKCS#8: {e}", path.display())))?;
            let document = info.decrypt(passphrase.0.as_bytes()).map_err(|_| {
                CaError::Key(format!("{}: cannot decrypt: wrong PAYPKI_PASSPHRASE?", path.display()))
            })?;
            Zeroizing::new(document.as_bytes().to_vec())
        }
        other => {
            return Err(CaError::Key(format!(
                "{}: expected a PKCS#8 key (\"PRIVATE KEY\" or \"ENCRYPTED PRIVATE KEY\"), found \"{other}\"; convert it with `openssl pkcs8 -topk8`",
                path.display()
            )))
        }
    };
    KeyPair::try_from(der.as_slice()).map_err(|e| {
        CaError::Key(format!(
            "{}: unsupported key ({e}); use ECDSA P-256/P-384, Ed25519 or RSA 2048-8192",
            path.display()
        ))
    })
}

/// Re-encodes a key pair's public key as DER SubjectPublicKeyInfo.
pub fn spki_der(key: &KeyPair) -> Vec<u8> {
    use rcgen::PublicKeyData;
    key.subject_public_key_info()
}
