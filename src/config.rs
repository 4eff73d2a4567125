//! The data directory's layout and the CA settings stored in it.
//!
//! ```text
//! ca-data/
//!   ca.toml              settings written by `init` (base URL, names, key algorithm)
//!   keys/                0700; root.key.pem, issuing.key.pem, ocsp.key.pem, tsa.key.pem
//!                        (0600, PKCS#8)
//!   certs/               root.crt.pem, issuing.crt.pem, ocsp.crt.pem, tsa.crt.pem (the
//!                        time-stamping authority; made on first start in data
//!                        directories from before it existed)
//!   db/                  the sled database (certificates, tokens, audit trail)
//!   admin.token          0600; the admin credential, for the CLI while `serve` runs
//!   server.json          written by `serve`: where the running server listens
//!   cas.toml             the issuing CAs: which one issues, which are retired or revoked
//!                        (absent in data directories made before rollover existed: one CA, id 1)
//!   crl/root.crl         the root's CRL: signed at init, re-signed by `paypki crl --root`
//! ```
//!
//! Issuing CA 1 keeps the file and URL names of the first version (`issuing`, `ocsp`,
//! `/crl/issuing.crl`); CA n > 1 uses `issuing-n`, `ocsp-n`, `tsa-n`, `/crl/issuing-n.crl`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::KeyAlgorithm;

/// The line in a data directory's README.md that lets `paypki serve` create a development
/// CA there when the directory holds none (the repository's `ca-data/README.md` has it).
pub const DEVELOPMENT_MARK: &str =
    "<!-- paypki: development data directory (serve may create a development CA here) -->";

/// Paths inside a data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Wraps a data directory path (it need not exist yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// `ca.toml`: its presence means "initialized".
    pub fn settings_file(&self) -> PathBuf {
        self.root.join("ca.toml")
    }
    /// The private-key directory.
    pub fn keys_dir(&self) -> PathBuf {
        self.root.join("keys")
    }
    /// The CA certificate directory.
    pub fn certs_dir(&self) -> PathBuf {
        self.root.join("certs")
    }
    /// The sled database directory.
    pub fn database(&self) -> PathBuf {
        self.root.join("db")
    }
    /// The admin credential file.
    pub fn admin_credential(&self) -> PathBuf {
        self.root.join("admin.token")
    }
    /// The running server's address file.
    pub fn server_file(&self) -> PathBuf {
        self.root.join("server.json")
    }
    /// The root's current CRL, which `serve` publishes (and picks up when it changes).
    pub fn root_crl_file(&self) -> PathBuf {
        self.root.join("crl").join("root.crl")
    }
    /// Root `id`'s published CRL (`crl/root.crl` for root 1, `crl/root-N.crl`).
    pub fn root_crl_file_of(&self, id: u32) -> PathBuf {
        self.root.join("crl").join(format!("{}.crl", root_name(id)))
    }
    /// Root `id`'s certificate (`certs/root.crt.pem`, `certs/root-N.crt.pem`).
    pub fn root_cert_file(&self, id: u32) -> PathBuf {
        self.cert_file(&root_name(id))
    }
    /// The registry of issuing CAs (`cas.toml`).
    pub fn ca_registry(&self) -> PathBuf {
        self.root.join("cas.toml")
    }
    /// The issuing CA `id`'s certificate file.
    pub fn issuing_cert_file(&self, id: u32) -> PathBuf {
        self.cert_file(&issuing_name(id))
    }
    /// The issuing CA `id`'s key file.
    pub fn issuing_key_file(&self, id: u32) -> PathBuf {
        self.key_file(&issuing_name(id))
    }
    /// The certificate file of issuing CA `id`'s OCSP responder.
    pub fn responder_cert_file(&self, id: u32) -> PathBuf {
        self.cert_file(&responder_name(id))
    }
    /// The key file of issuing CA `id`'s OCSP responder.
    pub fn responder_key_file(&self, id: u32) -> PathBuf {
        self.key_file(&responder_name(id))
    }
    /// The certificate file of issuing CA `id`'s time-stamping authority (RFC 3161).
    pub fn tsa_cert_file(&self, id: u32) -> PathBuf {
        self.cert_file(&tsa_name(id))
    }
    /// The key file of issuing CA `id`'s time-stamping authority.
    pub fn tsa_key_file(&self, id: u32) -> PathBuf {
        self.key_file(&tsa_name(id))
    }
    /// A CA key file (`root`, `issuing`, `ocsp`, `tsa`).
    pub fn key_file(&self, name: &str) -> PathBuf {
        self.keys_dir().join(format!("{name}.key.pem"))
    }
    /// A CA certificate file (`root`, `issuing`, `ocsp`).
    pub fn cert_file(&self, name: &str) -> PathBuf {
        self.certs_dir().join(format!("{name}.crt.pem"))
    }
    /// Whether `init` has completed here.
    pub fn is_initialized(&self) -> bool {
        self.settings_file().exists()
    }
    /// The README that marks a development data directory: the repository's
    /// `ca-data/README.md` carries [`DEVELOPMENT_MARK`], so the quick start works on a
    /// fresh clone.
    pub fn development_readme(&self) -> PathBuf {
        self.root.join("README.md")
    }

    /// Whether `serve` may create a development CA here on its own: the directory's
    /// README carries [`DEVELOPMENT_MARK`] on a line of its own.
    pub fn is_development(&self) -> bool {
        // Checkouts from before the mark moved into the README had a marker file.
        self.root.join(".paypki-dev").exists()
            || std::fs::read_to_string(self.development_readme())
                .is_ok_and(|text| text.lines().any(|line| line.trim() == DEVELOPMENT_MARK))
    }

    /// Makes the data directory private: the directory and every directory below it 0700,
    /// every file 0600. A directory made by an older paypki, or copied with a loose
    /// umask, may have 0644 database files; with the directory itself 0700, files sled
    /// creates later are out of other users' reach too.
    pub fn restrict_permissions(&self) -> std::io::Result<()> {
        restrict(&self.root)
    }
}

fn restrict(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    if meta.is_dir() {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
        for entry in std::fs::read_dir(path)? {
            restrict(&entry?.path())?;
        }
    } else if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// File stem of root `id`: `root` for the first, `root-N` for the root of a further
/// hierarchy (`paypki ca add-hierarchy`).
pub fn root_name(id: u32) -> String {
    if id <= 1 {
        "root".into()
    } else {
        format!("root-{id}")
    }
}

/// File stem of issuing CA `id`: `issuing` for the first (as before rollover existed).
pub fn issuing_name(id: u32) -> String {
    if id <= 1 {
        "issuing".into()
    } else {
        format!("issuing-{id}")
    }
}

/// File stem of issuing CA `id`'s OCSP responder.
pub fn responder_name(id: u32) -> String {
    if id <= 1 {
        "ocsp".into()
    } else {
        format!("ocsp-{id}")
    }
}

/// File stem of issuing CA `id`'s time-stamping authority: `tsa`, then `tsa-2`, ….
pub fn tsa_name(id: u32) -> String {
    if id <= 1 {
        "tsa".into()
    } else {
        format!("tsa-{id}")
    }
}

/// Settings chosen at `init`, stored in `ca.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaSettings {
    /// Base URL written into AIA and CRL distribution points, without a trailing slash.
    pub base_url: String,
    /// Organization name of the CA certificates.
    pub organization: String,
    /// Country code of the CA certificates.
    pub country: String,
    /// The CA key algorithm.
    pub key_algorithm: KeyAlgorithm,
    /// When `init` ran (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
    /// Validity of the root CRLs this CA signs, in days (absent before root CRLs were
    /// signed at init: 180).
    #[serde(default = "default_root_crl_days")]
    pub root_crl_validity_days: u32,
}

fn default_root_crl_days() -> u32 {
    180
}

impl CaSettings {
    /// The OCSP responder URL (AIA id-ad-ocsp).
    pub fn ocsp_url(&self) -> String {
        format!("{}/ocsp", self.base_url)
    }
    /// Issuing CA `id`'s certificate URL (AIA id-ad-caIssuers of its leaves).
    pub fn issuing_cert_url(&self, id: u32) -> String {
        format!("{}/ca/{}.crt", self.base_url, issuing_name(id))
    }
    /// The root certificate URL (AIA id-ad-caIssuers of the issuing CA).
    pub fn root_cert_url(&self) -> String {
        format!("{}/ca/root.crt", self.base_url)
    }
    /// Issuing CA `id`'s CRL (CRL distribution point of its leaves).
    pub fn issuing_crl_url(&self, id: u32) -> String {
        format!("{}/crl/{}.crl", self.base_url, issuing_name(id))
    }
    /// The root's CRL (CRL distribution point of the issuing CA).
    pub fn root_crl_url(&self) -> String {
        format!("{}/crl/root.crl", self.base_url)
    }
    /// Root `id`'s certificate (AIA caIssuers of its issuing CAs).
    pub fn root_cert_url_of(&self, id: u32) -> String {
        format!("{}/ca/{}.crt", self.base_url, root_name(id))
    }
    /// Root `id`'s CRL (CRL distribution point of it and of its issuing CAs).
    pub fn root_crl_url_of(&self, id: u32) -> String {
        format!("{}/crl/{}.crl", self.base_url, root_name(id))
    }
}

/// Checks and normalizes a base URL: `http://` or `https://`, a host, no query or fragment.
pub fn normalize_base_url(url: &str) -> Result<String, String> {
    let trimmed = url.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("http://")
        .or_else(|| trimmed.strip_prefix("https://"))
        .ok_or_else(|| format!("base URL {url:?} must start with http:// or https://"))?;
    if rest.is_empty()
        || rest.starts_with('/')
        || rest.contains(['?', '#', ' '])
        || !rest.is_ascii()
    {
        return Err(format!(
            "base URL {url:?} needs a host and no query, fragment or spaces"
        ));
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restricting_makes_everything_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path().join("ca-data"));
        std::fs::create_dir_all(data.database()).unwrap();
        let file = data.database().join("db");
        std::fs::write(&file, b"x").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(data.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
        data.restrict_permissions().unwrap();
        assert_eq!(mode(data.root()), 0o700);
        assert_eq!(mode(&data.database()), 0o700);
        assert_eq!(mode(&file), 0o600);
    }

    #[test]
    fn the_development_mark_is_a_line_of_the_readme() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        assert!(!data.is_development());
        std::fs::write(data.development_readme(), "# notes\nnot the mark\n").unwrap();
        assert!(!data.is_development());
        std::fs::write(
            data.development_readme(),
            format!("# ca-data/\n\n{DEVELOPMENT_MARK}\n"),
        )
        .unwrap();
        assert!(data.is_development());
        // The repository's own README carries it.
        let shipped = DataDir::new(concat!(env!("CARGO_MANIFEST_DIR"), "/ca-data"));
        assert!(shipped.is_development());
    }

    #[test]
    fn base_urls() {
        assert_eq!(
            normalize_base_url("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            normalize_base_url("https://pki.pay.example/x").unwrap(),
            "https://pki.pay.example/x"
        );
        assert!(normalize_base_url("ftp://x").is_err());
        assert!(normalize_base_url("http://").is_err());
        assert!(normalize_base_url("http://a?b").is_err());
    }
}
