//! `paypki responder renew`: a new key and certificate for the delegated OCSP responder.

use clap::{Args, Subcommand};

use super::admin::open_store;
use super::{passphrase_from_env, CliError, Context};
use crate::ca::CertificateAuthority;
use crate::store::AuditEvent;

/// `paypki responder …`
#[derive(Debug, Subcommand)]
pub enum ResponderCommand {
    /// Replace the OCSP responder key and certificate (restart `paypki serve` afterwards;
    /// `serve` also does this by itself when the certificate has under 30 days left).
    Renew(RenewResponderArgs),
}

/// Options of `paypki responder renew`.
#[derive(Debug, Args)]
pub struct RenewResponderArgs {
    /// Validity of the new responder certificate.
    #[arg(long, default_value = "90d")]
    pub validity: String,
    /// The issuing CA whose responder is renewed (default: the active one).
    #[arg(long)]
    pub ca: Option<u32>,
}

pub(super) fn run(context: &Context, command: ResponderCommand) -> Result<(), CliError> {
    let ResponderCommand::Renew(args) = command;
    let validity = super::parse_duration(&args.validity).map_err(CliError::Usage)?;
    // The database must be free: a running server keeps serving the old responder.
    let store = match open_store(context) {
        Err(CliError::Store(crate::store::StoreError::Locked(_))) => {
            return Err(CliError::Usage(
                "stop `paypki serve` first: it signs with the current responder key".into(),
            ))
        }
        other => other?,
    };
    let passphrase = passphrase_from_env();
    let ca = CertificateAuthority::load(&context.data_dir, passphrase.as_ref())?;
    let id = match args.ca {
        Some(id) => id,
        None => ca.active()?.id(),
    };
    let not_after = renew_responder(context, &ca, &store, id, validity, "cli")?;
    println!("{}", crate::inspect::format_time(not_after));
    eprintln!(
        "new OCSP responder certificate: {}",
        context.data_dir.responder_cert_file(id).display()
    );
    Ok(())
}

/// Renews the responder and audits it (shared with `serve`'s automatic renewal).
pub(super) fn renew_responder(
    context: &Context,
    ca: &CertificateAuthority,
    store: &crate::store::SledStore,
    issuer: u32,
    validity: time::Duration,
    actor: &str,
) -> Result<time::OffsetDateTime, CliError> {
    let (_, not_after) = ca.renew_ocsp_responder(
        &context.data_dir,
        passphrase_from_env().as_ref(),
        issuer,
        validity,
    )?;
    store.append_audit(AuditEvent::new("responder-renew", actor).detail(format!(
        "new OCSP responder certificate of issuing CA {issuer} valid until {not_after}"
    )))?;
    Ok(not_after)
}

/// `paypki credential …`
#[derive(Debug, Subcommand)]
pub enum CredentialCommand {
    /// Replace the admin credential (stop `paypki serve` first): writes a new admin.token
    /// (0600) and stores only its hash; the old credential stops working.
    Rotate,
}

pub(super) fn credential(context: &Context, command: CredentialCommand) -> Result<(), CliError> {
    let CredentialCommand::Rotate = command;
    let store = match open_store(context) {
        Err(CliError::Store(crate::store::StoreError::Locked(_))) => {
            return Err(CliError::Usage(
                "stop `paypki serve` first: it holds the current credential's hash".into(),
            ))
        }
        other => other?,
    };
    let path = context.data_dir.admin_credential();
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(CliError::Failed(format!("{}: {e}", path.display()))),
    }
    let path = super::init::create_admin_credential(&context.data_dir, &store)?;
    eprintln!("new admin credential written to {}", path.display());
    Ok(())
}
