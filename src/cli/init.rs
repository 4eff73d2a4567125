//! `paypki init`.

use std::path::PathBuf;

use clap::Args;

use super::{passphrase_from_env, CliError, Context};
use crate::ca::{self, InitOptions};
use crate::model::KeyAlgorithm;

/// Options of `paypki init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Base URL of this CA as relying parties reach it, http:// (not https://): written
    /// into every certificate's AIA (OCSP, caIssuers) and CRL distribution point, which
    /// revocation checkers fetch over plain HTTP. Enrollment and the admin API are
    /// reached at whatever address the proxy gives them (HTTPS); that is not written
    /// into certificates.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub base_url: String,
    /// Organization (O) of the CA certificates.
    #[arg(long, default_value = "paypki Development")]
    pub org: String,
    /// Country (C) of the CA certificates, two letters.
    #[arg(long, default_value = "US")]
    pub country: String,
    /// Common name of the root CA.
    #[arg(long, default_value = "paypki Root CA")]
    pub root_cn: String,
    /// Algorithm of generated CA keys: ecdsa-p256, ecdsa-p384 or ed25519 (RSA keys are imported).
    #[arg(long, default_value = "ecdsa-p256")]
    pub key_alg: KeyAlgorithm,
    /// Use this PKCS#8 PEM key for the root instead of generating one.
    #[arg(long)]
    pub import_root_key: Option<PathBuf>,
    /// Use this PKCS#8 PEM key for the issuing CA instead of generating one.
    #[arg(long)]
    pub import_issuing_key: Option<PathBuf>,
    /// Write the root key into this directory (created 0700) instead of the data
    /// directory: the offline root. Later root operations take `--root-key DIR/root.key.pem`.
    #[arg(long, value_name = "DIR")]
    pub root_key_out: Option<PathBuf>,
    /// Validity of the root CRLs (nextUpdate − thisUpdate): re-sign before it runs out.
    #[arg(long, default_value = "180d")]
    pub root_crl_validity: String,
}

pub(super) fn run(context: &Context, args: InitArgs) -> Result<(), CliError> {
    let mut options = InitOptions::new(args.base_url);
    options.organization = args.org;
    options.country = args.country;
    options.root_common_name = args.root_cn;
    options.key_algorithm = args.key_alg;
    options.import_root_key = args.import_root_key;
    options.import_issuing_key = args.import_issuing_key;
    options.root_key_out = args.root_key_out;
    options.root_crl_validity = super::parse_duration(&args.root_crl_validity)
        .map_err(|e| CliError::Usage(format!("--root-crl-validity: {e}")))?;
    options.passphrase = passphrase_from_env();
    let options_root_offline = options.root_key_out.is_some();
    let report = ca::init(&context.data_dir, &options)?;
    let store = crate::store::SledStore::open(&context.data_dir.database())?;
    store.append_audit(crate::store::AuditEvent::new("init", "cli").detail(format!(
        "CA created; root SHA-256 {}",
        report.root_fingerprint
    )))?;
    let dir = context.data_dir.root().display();
    eprintln!(
        "Created a CA in {dir} ({} keys{}).",
        report.key_algorithm,
        if report.encrypted {
            ", encrypted with PAYPKI_PASSPHRASE"
        } else {
            ""
        }
    );
    eprintln!(
        "Root certificate: {}",
        context.data_dir.cert_file("root").display()
    );
    eprintln!(
        "Root key: {}{}",
        report.root_key.display(),
        if options_root_offline {
            " (keep it offline; root operations take --root-key)"
        } else {
            ""
        }
    );
    eprintln!(
        "First root CRL: {}",
        context.data_dir.root_crl_file().display()
    );
    let credential = create_admin_credential(&context.data_dir, &store)?;
    eprintln!(
        "Admin credential (for the admin API, 0600): {}",
        credential.display()
    );
    eprintln!("Root SHA-256 fingerprint (compare it out of band before trusting the root):");
    println!("{}", report.root_fingerprint);
    Ok(())
}

/// Creates the admin credential: its hash in the database, the secret in `admin.token`
/// (0600) for the CLI. Returns the file's path.
pub(crate) fn create_admin_credential(
    dir: &crate::config::DataDir,
    store: &crate::store::SledStore,
) -> Result<std::path::PathBuf, CliError> {
    let (secret, hash) = crate::ra::enrollment::new_admin_credential()?;
    store.set_admin_credential_hash(&hash)?;
    store.append_audit(
        crate::store::AuditEvent::new("admin-credential", "cli")
            .detail("a new admin credential was created"),
    )?;
    let path = dir.admin_credential();
    crate::ca::keys::write_private_file(&path, format!("{secret}\n").as_bytes())?;
    Ok(path)
}
