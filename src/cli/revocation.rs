//! `paypki revoke`, `paypki unhold`, `paypki crl`.

use std::path::PathBuf;

use clap::Args;

use super::admin::{backend, revocation_ra, Backend};
use super::officer::act_as;
use super::remote::AdminClient;
use super::{passphrase_from_env, CliError, Context};
use crate::model::OfficerRole;
use crate::store::StoreError;
use crate::wire::{revocation_fields, RevocationResult, RevokeRequest};

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
    /// The serial may be one this CA has no record of: a certificate issued after the
    /// backup the data directory was restored from. It is listed on the CRL of the
    /// issuing CA given by --ca (default: the active one) and OCSP answers revoked.
    #[arg(long)]
    pub unrecorded: bool,
    /// With --unrecorded: the issuing CA that issued the serial (`paypki ca list`).
    #[arg(long, requires = "unrecorded")]
    pub ca: Option<u32>,
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
    /// Write the CRL (DER) here; default: stdout, unless stdout is a terminal and the
    /// CRL is DER (binary), which is refused: give --out, --pem, or redirect.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Sign a new root CRL (covering the issuing CAs) with the root key. It is saved as
    /// crl/root.crl in the data directory, which a running `paypki serve` picks up within
    /// seconds and publishes at /crl/root.crl (or post it with POST /v1/admin/crls/root).
    #[arg(long)]
    pub root: bool,
    /// The root key file, for --root (default: keys/root.key.pem in the data directory,
    /// where it is only when the root is not kept offline).
    #[arg(long, value_name = "FILE")]
    pub root_key: Option<PathBuf>,
    /// With --root: the root whose CRL is signed (default 1; N for a root of `paypki ca
    /// add-hierarchy`, saved as crl/root-N.crl and published at /crl/root-N.crl from the
    /// server's next start).
    #[arg(long, requires = "root", value_name = "N")]
    pub hierarchy: Option<u32>,
    /// The issuing CA whose CRL is written (default: 1, whose CRL is /crl/issuing.crl).
    #[arg(long, conflicts_with = "root")]
    pub ca: Option<u32>,
    /// Validity of the CRL (nextUpdate − thisUpdate); default 24h, and for --root the
    /// setting chosen at init (180 days unless changed).
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
    // The API takes a reason exactly as RFC 5280 names it; the command line any spelling
    // of it (`key-compromise`).
    let reason = args
        .reason
        .parse::<crate::model::RevocationReason>()
        .map(|reason| reason.name().to_string())
        .unwrap_or(args.reason);
    let request = RevokeRequest {
        serial: args.serial,
        reason,
        invalidity_date: args.invalidity_date,
        unrecorded: args.unrecorded,
        ca: args.ca,
    };
    let (serial, reason, invalidity) = revocation_fields(&request).map_err(CliError::Usage)?;
    let result = match backend(context)? {
        Backend::Local(store) => {
            let officer = act_as(context, &store, &[OfficerRole::RevocationOfficer])?;
            let actor = officer.actor();
            let ra = revocation_ra(context, store)?;
            if request.unrecorded {
                let outcome =
                    ra.revoke_maybe_unrecorded(&serial, reason, invalidity, request.ca, &actor)?;
                RevocationResult::from_outcome(&outcome)
            } else {
                match ra.revoke_or_request(&serial, reason, invalidity, &officer)? {
                    Ok(record) => RevocationResult::from_record(&record),
                    Err(pending) => return Err(pending_revocation(&pending.id, &pending.summary)),
                }
            }
        }
        Backend::Remote(client) => {
            match client.post::<_, RevocationAnswer>("/v1/admin/revocations", &request)? {
                RevocationAnswer::Done(result) => result,
                RevocationAnswer::Pending(pending) => {
                    return Err(pending_revocation(&pending.approval, &pending.summary))
                }
            }
        }
    };
    print_result(&result);
    if result.unrecorded {
        eprintln!(
            "serial {} had no certificate record: it is on the CRL and OCSP answers revoked",
            result.serial
        );
    }
    Ok(())
}

/// What `POST /v1/admin/revocations` answers.
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
enum RevocationAnswer {
    Done(RevocationResult),
    Pending(crate::http::approvals::PendingResponse),
}

fn pending_revocation(id: &str, summary: &str) -> CliError {
    CliError::Pending(format!(
        "waiting for approval: request {id} ({summary}); another revocation officer approves it with `paypki approval approve {id}`"
    ))
}

pub(super) fn unhold(context: &Context, args: UnholdArgs) -> Result<(), CliError> {
    let serial: crate::model::Serial = args
        .serial
        .parse()
        .map_err(|e: crate::model::SerialError| CliError::Usage(e.to_string()))?;
    let result = match backend(context)? {
        Backend::Local(store) => {
            let officer = act_as(context, &store, &[OfficerRole::RevocationOfficer])?;
            RevocationResult::from_record(
                &revocation_ra(context, store)?.unhold(&serial, &officer.actor())?,
            )
        }
        Backend::Remote(client) => client.post(
            &format!("/v1/admin/revocations/{serial}/unhold"),
            &serde_json::json!({}),
        )?,
    };
    print_result(&result);
    Ok(())
}

/// What `paypki crl` builds the CRL from: on sled the revocation copy beside the
/// database, which loads far less than the database (the database itself when the copy
/// has a change to settle); `None` when the server holds it (then its CRL is fetched).
fn crl_reader(context: &Context) -> Result<Option<crate::store::CrlReader>, CliError> {
    if !context.data_dir.is_initialized() {
        return Err(
            crate::ca::CaError::NotInitialized(context.data_dir.root().to_path_buf()).into(),
        );
    }
    if let Err(e) = context.data_dir.restrict_permissions() {
        tracing::debug!(error = %e, "could not restrict the data directory's permissions");
    }
    match crate::store::CrlReader::open(&context.database_location()) {
        Ok(reader) => Ok(Some(reader)),
        Err(StoreError::Locked(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub(super) fn crl(context: &Context, args: CrlArgs) -> Result<(), CliError> {
    // Checked first, so that nothing is signed (the root CRL) for output that would only
    // garble the terminal.
    if args.out.is_none() && !args.pem && std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        return Err(CliError::Usage(
            "the CRL is binary DER, which a terminal cannot show: give --out FILE, add --pem, or redirect stdout (paypki crl > issuing.crl)".into(),
        ));
    }
    let validity = args
        .validity
        .as_deref()
        .map(super::parse_duration)
        .transpose()
        .map_err(CliError::Usage)?;
    // Closing the revocation copy (sled frees its page cache) takes tens of milliseconds
    // with a million entries: it runs while the CRL is written.
    let mut closing = None;
    let der = if args.root {
        // The root CRL needs the root key, not the database: this works while the server
        // runs (it picks the new file up) and on the offline root machine.
        let hierarchy = args.hierarchy.unwrap_or(1);
        let root_key = crate::ca::load_root_key_of(
            &context.data_dir,
            hierarchy,
            args.root_key.as_deref(),
            passphrase_from_env().as_ref(),
        )?;
        let crl = crate::ca::publish_root_crl_of(
            &context.data_dir,
            hierarchy,
            &root_key,
            validity,
            &crate::clock::SystemClock,
        )?;
        // Signing needs the root key, not an officer; when the database is here (not on
        // the offline root machine, not held by the server) the act is recorded, as the
        // officer's whose credential this CLI has, or as the root key holder's.
        if let Ok(store) = super::admin::open_store(context) {
            let actor = act_as(context, &store, &[OfficerRole::CaOperator])
                .map(|officer| officer.actor())
                .unwrap_or_else(|_| "root key holder (CLI, no officer credential)".into());
            store.append_audit(crate::store::AuditEvent::new("root-crl", &actor).detail(
                format!(
                    "root CRL {} signed ({} revoked issuing CAs)",
                    crl.number,
                    crl.revoked.len()
                ),
            ))?;
        }
        eprintln!(
            "root CRL {} signed, valid until {}; saved as {}",
            crl.number,
            crate::inspect::format_time(crl.next_update),
            context.data_dir.root_crl_file_of(hierarchy).display()
        );
        crl.der
    } else {
        let validity = validity.unwrap_or(time::Duration::hours(24));
        let id = args.ca.unwrap_or(1);
        // A CRL of a million entries takes seconds: a spinner on stderr when it is a
        // terminal (indicatif draws nothing otherwise).
        let spinner =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        spinner.set_message(format!("building the CRL of issuing CA {id}"));
        spinner.enable_steady_tick(std::time::Duration::from_millis(120));
        let der = match crl_reader(context)? {
            Some(reader) => {
                let ca = crate::ca::CertificateAuthority::load(
                    &context.data_dir,
                    passphrase_from_env().as_ref(),
                )?;
                let crl = crate::crl::build(&ca, &reader, id, validity)
                    .map_err(|e| CliError::Failed(e.to_string()))?;
                closing = Some(std::thread::spawn(move || drop(reader)));
                // The only reference: no copy of a CRL that may be tens of MiB.
                std::sync::Arc::try_unwrap(crl.der).unwrap_or_else(|der| der.as_ref().clone())
            }
            None => AdminClient::for_data_dir(&context.data_dir)?
                .get_bytes(&format!("/crl/{}.crl", crate::config::issuing_name(id)))?,
        };
        spinner.finish_and_clear();
        der
    };
    let output = if args.pem {
        crate::ca::to_pem("X509 CRL", &der).into_bytes()
    } else {
        der
    };
    let written = match args.out {
        Some(path) => std::fs::write(&path, output)
            .map_err(|e| CliError::Failed(format!("{}: {e}", path.display()))),
        None => {
            use std::io::Write;
            std::io::stdout()
                .write_all(&output)
                .map_err(|e| CliError::Failed(format!("cannot write the CRL: {e}")))
        }
    };
    if let Some(closing) = closing {
        // The copy is closed before the command returns; a panic there changes nothing
        // the CRL depends on (its counter was made durable before signing).
        let _ = closing.join();
    }
    written
}
