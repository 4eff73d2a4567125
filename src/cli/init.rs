//! `paypki init`.

use std::path::PathBuf;

use clap::Args;

use super::{passphrase_from_env, CliError, Context};
use crate::ca::{self, InitOptions, KeyStoreChoice, TokenConfig};
use crate::model::KeyAlgorithm;

/// Where `init` makes the issuing CA and responder keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyStoreKind {
    /// Key files in the data directory.
    File,
    /// A PKCS#11 token.
    Pkcs11,
}

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
    /// Algorithm of generated CA keys: ecdsa-p256, ecdsa-p384 or ed25519; rsa (3072 bits)
    /// on a PKCS#11 token (RSA key files are imported with --import-*-key).
    #[arg(long, default_value = "ecdsa-p256")]
    pub key_alg: KeyAlgorithm,
    /// Where the issuing CA and OCSP responder keys live: `file` (keys/, 0600) or
    /// `pkcs11` (generated inside the token, never extractable; the PIN comes from
    /// PAYPKI_PKCS11_PIN).
    #[arg(long, value_enum, default_value = "file")]
    pub key_store: KeyStoreKind,
    /// The PKCS#11 module (shared library), for --key-store pkcs11.
    #[arg(long, env = "PAYPKI_PKCS11_MODULE", value_name = "PATH")]
    pub pkcs11_module: Option<PathBuf>,
    /// The label of the token the keys are made on, for --key-store pkcs11.
    #[arg(long, value_name = "LABEL")]
    pub pkcs11_token: Option<String>,
    /// Use the key pair with this label on the token as the issuing CA key instead of
    /// generating one.
    #[arg(long, value_name = "LABEL")]
    pub issuing_key_label: Option<String>,
    /// Use the key pair with this label on the token as the OCSP responder key instead
    /// of generating one.
    #[arg(long, value_name = "LABEL")]
    pub responder_key_label: Option<String>,
    /// Make the root key on this token (of the same module) instead of a key file; its
    /// PIN comes from PAYPKI_ROOT_PKCS11_PIN when set, else PAYPKI_PKCS11_PIN. The
    /// token reference goes where the key file would (--root-key-out or keys/).
    #[arg(long, value_name = "LABEL")]
    pub root_pkcs11_token: Option<String>,
    /// RSA token keys sign with RSASSA-PSS (SHA-256, MGF1-SHA-256, 32-byte salt; RFC 4055)
    /// instead of PKCS#1 v1.5. Needs --key-alg rsa and keys on a token.
    #[arg(long)]
    pub rsa_pss: bool,
    /// The roles of the first officer, `admin` (repeat for several; default: every
    /// role). A production CA gives it `security-officer` alone, and `admin` then adds
    /// the other officers (docs/operations.md, "Officers and roles").
    #[arg(long = "first-officer-role", value_enum, value_name = "ROLE")]
    pub first_officer_roles: Vec<crate::model::OfficerRole>,
    /// Use the key pair with this label on the root's token as the root key.
    #[arg(long, value_name = "LABEL", requires = "root_pkcs11_token")]
    pub root_key_label: Option<String>,
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
    if args.rsa_pss
        && (args.key_store != KeyStoreKind::Pkcs11
            || args.key_alg != crate::model::KeyAlgorithm::Rsa)
    {
        return Err(CliError::Usage(
            "--rsa-pss is for RSA keys on a token: add --key-store pkcs11 --key-alg rsa".into(),
        ));
    }
    if args.key_alg == crate::model::KeyAlgorithm::Sm2
        && (args.key_store == KeyStoreKind::Pkcs11 || args.root_pkcs11_token.is_some())
    {
        return Err(CliError::Usage(ca::keys::SM2_ON_TOKEN.into()));
    }
    options.issuing_key_label = args.issuing_key_label;
    options.responder_key_label = args.responder_key_label;
    options.root_key_label = args.root_key_label;
    if let Some(token) = &args.root_pkcs11_token {
        let module = args.pkcs11_module.clone().ok_or_else(|| {
            CliError::Usage("--root-pkcs11-token needs --pkcs11-module PATH".into())
        })?;
        let pin_env = if std::env::var_os("PAYPKI_ROOT_PKCS11_PIN").is_some() {
            "PAYPKI_ROOT_PKCS11_PIN"
        } else {
            ca::keys::pkcs11::PIN_ENV
        };
        options.root_key_store = KeyStoreChoice::Pkcs11(TokenConfig {
            module,
            token: token.clone(),
            pin_env: pin_env.into(),
            rsa_pss: args.rsa_pss,
        });
    }
    options.key_store = match args.key_store {
        KeyStoreKind::File => {
            if args.pkcs11_token.is_some() {
                return Err(CliError::Usage(
                    "--pkcs11-token makes keys on a token: add --key-store pkcs11".into(),
                ));
            }
            KeyStoreChoice::Files
        }
        KeyStoreKind::Pkcs11 => {
            let (Some(module), Some(token)) = (args.pkcs11_module, args.pkcs11_token) else {
                return Err(CliError::Usage(
                    "--key-store pkcs11 needs --pkcs11-module PATH (or PAYPKI_PKCS11_MODULE) and --pkcs11-token LABEL".into(),
                ));
            };
            KeyStoreChoice::Pkcs11(TokenConfig {
                module,
                token,
                pin_env: ca::keys::pkcs11::PIN_ENV.into(),
                rsa_pss: args.rsa_pss,
            })
        }
    };
    let options_root_offline = options.root_key_out.is_some();
    let args_roles = if args.first_officer_roles.is_empty() {
        crate::model::OfficerRole::ALL.to_vec()
    } else {
        args.first_officer_roles.clone()
    };
    let roles_text = args_roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    // A shared PostgreSQL database gets its schema here (init creates everything), and
    // must not hold another CA's records already.
    let store = if let Some(url) = &context.database {
        crate::store::postgres::PgStore::migrate(url)?;
        let store = crate::store::open(&context.database_location())?;
        if !store.is_empty()? {
            return Err(CliError::Usage(format!(
                "the database {} already holds a CA's records: give `init` an empty database (a second node of the same CA needs no init: copy this CA's data directory to it and point it at the same database)",
                store.location()
            )));
        }
        Some(store)
    } else {
        None
    };
    let report = ca::init(&context.data_dir, &options)?;
    let store = match store {
        Some(store) => store,
        None => crate::store::open(&context.database_location())?,
    };
    store.append_audit(crate::store::AuditEvent::new("init", "cli").detail(format!(
        "CA created; root SHA-256 {}",
        report.root_fingerprint
    )))?;
    let dir = context.data_dir.root().display();
    let on_token = matches!(report.issuing_key, ca::KeyLocation::Pkcs11(_));
    eprintln!(
        "Created a CA in {dir} ({} keys{}).",
        report.key_algorithm,
        if on_token {
            ", issuing CA and OCSP responder keys on the PKCS#11 token"
        } else if report.encrypted {
            ", encrypted with PAYPKI_PASSPHRASE"
        } else {
            ""
        }
    );
    eprintln!("Issuing CA key: {}", report.issuing_key);
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
    let credential = create_first_officer(&context.data_dir, &store, args_roles, "init")?;
    eprintln!(
        "First officer `admin` ({}); its credential (0600, the CLI's default): {}",
        roles_text,
        credential.display()
    );
    eprintln!("Root SHA-256 fingerprint (compare it out of band before trusting the root):");
    println!("{}", report.root_fingerprint);
    Ok(())
}

/// Creates the first officer (`admin`) with `roles`: its credential's hash in the
/// database, the credential in `admin.token` (0600), where the CLI finds it by default.
/// Returns the file's path.
pub(crate) fn create_first_officer(
    dir: &crate::config::DataDir,
    store: &crate::store::SharedStore,
    roles: Vec<crate::model::OfficerRole>,
    actor: &str,
) -> Result<std::path::PathBuf, CliError> {
    let made = crate::ra::officers::create_first(
        &**store,
        "admin",
        roles,
        time::OffsetDateTime::now_utc(),
        actor,
    )
    .map_err(crate::ra::RaError::from)?;
    let path = dir.admin_credential();
    crate::ca::keys::write_private_file(&path, format!("{}\n", made.credential).as_bytes())?;
    Ok(path)
}
