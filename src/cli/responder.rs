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
    let officer =
        super::officer::act_as(context, &store, &[crate::model::OfficerRole::CaOperator])?;
    let passphrase = passphrase_from_env();
    let ca = CertificateAuthority::load(&context.data_dir, passphrase.as_ref())?;
    let id = match args.ca {
        Some(id) => id,
        None => ca.active()?.id(),
    };
    let not_after = renew_responder(context, &ca, &store, id, validity, &officer.actor())?;
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
    store: &crate::store::SharedStore,
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
    /// Replace your own officer credential (the one this CLI acts with): a credential
    /// file is rewritten in place (0600); a credential from PAYPKI_OFFICER_CREDENTIAL is
    /// printed once. The old credential stops working at once, also on a running server.
    Rotate,
}

pub(super) fn credential(context: &Context, command: CredentialCommand) -> Result<(), CliError> {
    let CredentialCommand::Rotate = command;
    let (secret, via) = super::officer::credential(&context.data_dir)?;
    let (name, new_credential) = match super::admin::backend(context)? {
        super::admin::Backend::Local(store) => {
            let me = super::officer::act_as(context, &store, &crate::model::OfficerRole::ALL)?;
            let rotated = crate::ra::officers::rotate(
                &*store,
                &me,
                me.name(),
                time::OffsetDateTime::now_utc(),
            )
            .map_err(crate::ra::RaError::from)?;
            (rotated.officer.name, rotated.credential)
        }
        super::admin::Backend::Remote(client) => {
            let name = crate::ra::officers::name_in_credential(&secret)
                .ok_or_else(|| CliError::Failed("the officer credential is malformed".into()))?;
            let rotated: serde_json::Value = client.post(
                &format!("/v1/admin/officers/{name}/rotate"),
                &serde_json::json!({}),
            )?;
            let credential = rotated
                .get("credential")
                .and_then(|c| c.as_str())
                .ok_or_else(|| CliError::Failed("the server sent no credential".into()))?
                .to_string();
            (name.to_string(), credential)
        }
    };
    match via {
        crate::ra::officers::AuthMethod::CliFile(path) => {
            let path = std::path::PathBuf::from(path);
            let tmp = path.with_extension("new");
            let _ = std::fs::remove_file(&tmp);
            crate::ca::keys::write_private_file(&tmp, format!("{new_credential}\n").as_bytes())?;
            std::fs::rename(&tmp, &path)
                .map_err(|e| CliError::Failed(format!("{}: {e}", path.display())))?;
            eprintln!(
                "officer {name}: new credential written to {}; the old one no longer works",
                path.display()
            );
        }
        _ => {
            println!("{new_credential}");
            eprintln!(
                "officer {name}: the credential above replaces the old one, which no longer works"
            );
        }
    }
    Ok(())
}
