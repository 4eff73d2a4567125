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
        // rcgen's key pairs have no SM2; SM2 keys are `Sm2FileKey`s (`generate_sm2`).
        KeyAlgorithm::Sm2 => {
            return Err(CaError::Key(
                "SM2 keys are not made here; create one with `openssl genpkey -algorithm sm2`".into(),
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

/// An SM2 key held in memory (rcgen's key pairs cannot hold one): signs SM2-with-SM3
/// with the default distinguishing ID, as certificates, CRLs and OCSP responses need
/// (GM/T 0015, GM/T 0009 §10).
pub(super) struct Sm2FileKey {
    secret: sm2::SecretKey,
    spki: Vec<u8>,
    path: Option<std::path::PathBuf>,
}

impl Sm2FileKey {
    /// From PKCS#8 DER, or None when it is no SM2 key.
    fn from_pkcs8(der: &[u8], path: Option<std::path::PathBuf>) -> Option<Result<Self, CaError>> {
        use sm2::pkcs8::DecodePrivateKey;
        let info = pkcs8::PrivateKeyInfo::from_der(der).ok()?;
        let curve = info.algorithm.parameters_oid().ok()?;
        if curve.to_string() != crate::shangmi::OID_SM2_CURVE {
            return None;
        }
        Some(
            sm2::SecretKey::from_pkcs8_der(der)
                .map_err(|e| CaError::Key(format!("not a valid SM2 private key: {e}")))
                .and_then(|secret| Self::new(secret, path)),
        )
    }

    fn new(secret: sm2::SecretKey, path: Option<std::path::PathBuf>) -> Result<Self, CaError> {
        use sm2::pkcs8::EncodePublicKey;
        let spki = secret
            .public_key()
            .to_public_key_der()
            .map_err(|e| CaError::Key(format!("cannot encode the SM2 public key: {e}")))?
            .into_vec();
        Ok(Sm2FileKey { secret, spki, path })
    }
}

impl CaSigner for Sm2FileKey {
    fn algorithm(&self) -> KeyAlgorithm {
        KeyAlgorithm::Sm2
    }
    fn subject_public_key_info(&self) -> &[u8] {
        &self.spki
    }
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        crate::shangmi::sign(
            &self.secret,
            crate::shangmi::DEFAULT_DISTINGUISHING_ID,
            message,
        )
        .map_err(KeyError::Failed)
    }
    fn location(&self) -> KeyLocation {
        KeyLocation::File(self.path.clone().unwrap_or_default())
    }
}

/// A new SM2 key and its PKCS#8 DER (RFC 5915 ECPrivateKey inside, curve SM2).
pub(super) fn generate_sm2() -> Result<(Sm2FileKey, Zeroizing<Vec<u8>>), CaError> {
    use sm2::pkcs8::EncodePrivateKey;
    let secret = crate::shangmi::generate_secret().map_err(CaError::Key)?;
    let der = secret
        .to_pkcs8_der()
        .map_err(|e| CaError::Key(format!("cannot encode the SM2 key: {e}")))?;
    let der = Zeroizing::new(der.as_bytes().to_vec());
    Ok((Sm2FileKey::new(secret, None)?, der))
}

type SharedSigner = std::sync::Arc<dyn CaSigner>;

/// Opens a CA key file: an SM2 key, or any key rcgen reads.
pub(super) fn open_key_file(
    path: &Path,
    passphrase: Option<&Passphrase>,
) -> Result<SharedSigner, CaError> {
    let der = read_pkcs8(path, passphrase)?;
    if let Some(sm2) = Sm2FileKey::from_pkcs8(&der, Some(path.to_path_buf())) {
        return Ok(std::sync::Arc::new(sm2?));
    }
    Ok(std::sync::Arc::new(FileKey::new(
        pair_from_pkcs8(path, &der)?,
        Some(path.to_path_buf()),
    )))
}

/// An imported key file as a new CA key: its signer and its PKCS#8 DER.
pub(super) fn import_key_file(
    path: &Path,
    passphrase: Option<&Passphrase>,
) -> Result<(SharedSigner, Zeroizing<Vec<u8>>), CaError> {
    let der = read_pkcs8(path, passphrase)?;
    if let Some(sm2) = Sm2FileKey::from_pkcs8(&der, None) {
        return Ok((std::sync::Arc::new(sm2?), der));
    }
    let pair = pair_from_pkcs8(path, &der)?;
    let der = Zeroizing::new(pair.serialize_der());
    Ok((std::sync::Arc::new(FileKey::new(pair, None)), der))
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
    pair_from_pkcs8(path, &read_pkcs8(path, passphrase)?)
}

/// The PKCS#8 DER of a PEM key file, decrypted with the passphrase when it is encrypted.
fn read_pkcs8(path: &Path, passphrase: Option<&Passphrase>) -> Result<Zeroizing<Vec<u8>>, CaError> {
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
    Ok(der)
}

fn pair_from_pkcs8(path: &Path, der: &[u8]) -> Result<KeyPair, CaError> {
    KeyPair::try_from(der).map_err(|e| {
        CaError::Key(format!(
            "{}: unsupported key ({e}); use ECDSA P-256/P-384, Ed25519, RSA 2048-8192 or SM2",
            path.display()
        ))
    })
}

/// Re-encodes a key pair's public key as DER SubjectPublicKeyInfo.
pub fn spki_der(key: &KeyPair) -> Vec<u8> {
    use rcgen::PublicKeyData;
    key.subject_public_key_info()
}
