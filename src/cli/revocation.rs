//! `paypki revoke`, `paypki unhold`, `paypki crl`.

use std::path::PathBuf;

use clap::Args;
use time::OffsetDateTime;

use super::admin::{backend, revocation_ra, Backend};
use super::{passphrase_from_env, CliError, Context};
use crate::http::admin::{revocation_fields, RevocationResult, RevokeRequest};
use crate::store::RevocationStore;

/// Options of `paypki revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// Serial number (hex).
    pub serial: String,
    /// RFC 5280 §5.3.1 reason: unspecified, keyCompromise, cACompromise, affiliationChanged,
    /// superseded, cessationOfOperation, certificateHold, privilegeWithdrawn, aACompromise.
    #[arg(long, default_value = "unspecified")]
    pub reason: String,
    /// When the key is known or suspected to have been compromised (RFC 3339).
    #[arg(long)]
    pub invalidity_date: Option<String>,
}

/// Options of `paypki unhold`.
#[derive(Debug, Args)]
pub struct UnholdArgs {
    /// Serial number (hex) of a certificate on hold.
    pub serial: String,
}

/// Options of `paypki crl`.
#[derive(Debug, Args)]
pub struct CrlArgs {
    /// Write the CRL (DER) here; default: stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Produce the root's CRL (covering the issuing CA) with the root key, for offline
    /// publication; it is also saved as crl/root.crl in the data directory, which
    /// `paypki serve` publishes at /crl/root.crl.
    #[arg(long)]
    pub root: bool,
    /// Validity of the CRL (nextUpdate − thisUpdate).
    #[arg(long)]
    pub validity: Option<String>,
    /// PEM instead of DER.
    #[arg(long)]
    pub pem: bool,
}

fn print_result(result: &RevocationResult) {
    println!("{}", result.serial);
    match (&result.reason, &result.revoked_at) {
        (Some(reason), Some(at)) => {
            eprintln!("certificate {} revoked ({reason}) at {at}", result.serial)
        }
        _ => eprintln!("certificate {} is {}", result.serial, result.status),
    }
}

pub(super) fn revoke(context: &Context, args: RevokeArgs) -> Result<(), CliError> {
    let request = RevokeRequest {
        serial: args.serial,
        reason: args.reason,
        invalidity_date: args.invalidity_date,
    };
    let (serial, reason, invalidity) = revocation_fields(&request).map_err(CliError::Usage)?;
    let result = match backend(context)? {
        Backend::Local(store) => {
            let record =
                revocation_ra(context, store)?.revoke(&serial, reason, invalidity, "cli")?;
            RevocationResult::from_record(&record)
        }
        Backend::Remote(client) => client.post("/v1/admin/revocations", &request)?,
    };
    print_result(&result);
    Ok(())
}

pub(super) fn unhold(context: &Context, args: UnholdArgs) -> Result<(), CliError> {
    let serial: crate::model::Serial = args
        .serial
        .parse()
        .map_err(|e: crate::model::SerialError| CliError::Usage(e.to_string()))?;
    let result = match backend(context)? {
        Backend::Local(store) => {
            RevocationResult::from_record(&revocation_ra(context, store)?.unhold(&serial, "cli")?)
        }
        Backend::Remote(client) => client.post(
            &format!("/v1/admin/revocations/{serial}/unhold"),
            &serde_json::json!({}),
        )?,
    };
    print_result(&result);
    Ok(())
}

pub(super) fn crl(context: &Context, args: CrlArgs) -> Result<(), CliError> {
    let default_validity = if args.root { "180d" } else { "24h" };
    let validity = super::parse_duration(args.validity.as_deref().unwrap_or(default_validity))
        .map_err(CliError::Usage)?;
    let der = match backend(context)? {
        Backend::Local(store) if args.root => {
            let number = store.next_counter(crate::crl::ROOT_CRL_COUNTER)?;
            let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap_or_else(|_| OffsetDateTime::now_utc());
            let der = crate::ca::sign_root_crl(&context.data_dir, passphrase_from_env().as_ref(), number, now, now + validity)?;
            save_root_crl(context, &der)?;
            der
        }
        Backend::Local(store) => {
            let ca = crate::ca::CertificateAuthority::load(&context.data_dir, passphrase_from_env().as_ref())?;
            crate::crl::build(&ca, &store, validity)
                .map_err(|e| CliError::Failed(e.to_string()))?
                .der
                .as_ref()
                .clone()
        }
        Backend::Remote(_) if args.root => {
            return Err(CliError::Usage("`paypki crl --root` uses the root key and the database: stop `paypki serve` first (in production, run it on the offline root machine)".into()))
        }
        Backend::Remote(client) => client.get_bytes("/crl/issuing.crl")?,
    };
    let output = if args.pem {
        crate::ca::to_pem("X509 CRL", &der).into_bytes()
    } else {
        der
    };
    match args.out {
        Some(path) => std::fs::write(&path, output)
            .map_err(|e| CliError::Failed(format!("{}: {e}", path.display()))),
        None => {
            use std::io::Write;
            std::io::stdout()
                .write_all(&output)
                .map_err(|e| CliError::Failed(format!("cannot write the CRL: {e}")))
        }
    }
}

fn save_root_crl(context: &Context, der: &[u8]) -> Result<(), CliError> {
    let path = context.data_dir.root_crl_file();
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| CliError::Failed(format!("{}: {e}", parent.display())))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, der).map_err(|e| CliError::Failed(format!("{}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, &path).map_err(|e| CliError::Failed(format!("{}: {e}", path.display())))
}
