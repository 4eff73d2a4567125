//! `paypki ca …`: the issuing CAs' lifecycle — list, rollover, revoke. Rollover and
//! revoking an issuing CA are root ceremonies (`--root-key`); all changes except `list`
//! are made with the server stopped and take effect when it starts again.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;

use super::{passphrase_from_env, CliError, Context};
use crate::ca::{CaState, CertificateAuthority};
use crate::model::{KeyAlgorithm, OfficerRole, RevocationReason};
use crate::store::AuditEvent;

/// `paypki ca …`
#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// List the issuing CAs with their state (active, retired, revoked).
    List(ListArgs),
    /// Create a new issuing CA (and its OCSP responder) signed by the root; new
    /// certificates come from it, while the old CA keeps serving status for what it
    /// issued. Needs the root key; stop `paypki serve` first.
    Rollover(RolloverArgs),
    /// Add a second hierarchy beside the first: a new root (its own key, e.g. SM2 beside
    /// ECDSA), an issuing CA under it with its OCSP responder, and the root's CRL. Both
    /// hierarchies issue: a CSR gets the active CA of its key's family (SM2 or not).
    /// Prints the new issuing CA's id. Stop `paypki serve` first.
    AddHierarchy(AddHierarchyArgs),
    /// Revoke an issuing CA (with the root key; the root CRL lists it) or an OCSP
    /// responder certificate (with its issuing CA; its CRL lists it, and a new responder
    /// is made). Stop `paypki serve` first.
    Revoke(RevokeArgs),
}

/// Options of `paypki ca list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Options of `paypki ca rollover`.
#[derive(Debug, Args)]
pub struct RolloverArgs {
    /// The root key file (default: keys/root.key.pem in the data directory).
    #[arg(long, value_name = "FILE")]
    pub root_key: Option<PathBuf>,
    /// Algorithm of the new issuing CA key (default: the CA's, or ecdsa-p256 for RSA CAs).
    #[arg(long)]
    pub key_alg: Option<KeyAlgorithm>,
    /// Validity of the new issuing CA certificate (capped by the root's).
    #[arg(long, default_value = "3652d")]
    pub validity: String,
}

/// Options of `paypki ca add-hierarchy`.
#[derive(Debug, Args)]
pub struct AddHierarchyArgs {
    /// Algorithm of the new root, issuing CA and responder keys (key files).
    #[arg(long, default_value = "sm2")]
    pub key_alg: KeyAlgorithm,
    /// Write the new root key to DIR/root-N.key.pem (0600) instead of the data
    /// directory: an offline root, as `init --root-key-out`.
    #[arg(long, value_name = "DIR")]
    pub root_key_out: Option<PathBuf>,
    /// Common name of the new root (default: "<organization> Root CA N").
    #[arg(long)]
    pub root_cn: Option<String>,
    /// Validity of the new root certificate.
    #[arg(long, default_value = "7305d")]
    pub root_validity: String,
    /// Validity of the new issuing CA certificate (capped by the root's).
    #[arg(long, default_value = "3652d")]
    pub validity: String,
}

/// What `paypki ca revoke` revokes.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RevokeTarget {
    /// An issuing CA (the root revokes it).
    Issuing,
    /// An issuing CA's delegated OCSP responder certificate.
    Responder,
}

/// Options of `paypki ca revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// What to revoke.
    pub target: RevokeTarget,
    /// RFC 5280 §5.3.1 reason, e.g. cACompromise, keyCompromise, superseded,
    /// cessationOfOperation.
    #[arg(long)]
    pub reason: String,
    /// The issuing CA (for `responder`: whose responder); default: the active one.
    #[arg(long)]
    pub ca: Option<u32>,
    /// The root key file, for `issuing` (default: keys/root.key.pem in the data directory).
    #[arg(long, value_name = "FILE")]
    pub root_key: Option<PathBuf>,
}

/// One row of `paypki ca list`.
#[derive(Debug, Serialize)]
struct CaRow {
    id: u32,
    /// The root that signed it (1, or a root of `ca add-hierarchy`).
    root: u32,
    state: &'static str,
    subject: String,
    serial: String,
    not_before: String,
    not_after: String,
    sha256: String,
    crl_url: String,
    certificate_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked: Option<String>,
}

pub(super) fn run(context: &Context, command: CaCommand) -> Result<(), CliError> {
    match command {
        CaCommand::List(args) => list(context, args),
        CaCommand::Rollover(args) => rollover(context, args),
        CaCommand::AddHierarchy(args) => add_hierarchy(context, args),
        CaCommand::Revoke(args) => revoke(context, args),
    }
}

fn list(context: &Context, args: ListArgs) -> Result<(), CliError> {
    let ca = CertificateAuthority::load(&context.data_dir, passphrase_from_env().as_ref())?;
    // The published root CRL is what relying parties see: an issuing CA it lists is
    // revoked whatever the registry says.
    if let Ok(Some(root_crl)) = crate::ca::current_root_crl(&context.data_dir) {
        ca.apply_root_crl(&root_crl.revoked);
    }
    let format = crate::inspect::format_time;
    let rows: Vec<CaRow> = ca
        .issuers()
        .iter()
        .map(|issuer| {
            let certificate = issuer.certificate();
            let revocation = ca.issuer_revocation(issuer.id());
            CaRow {
                id: issuer.id(),
                root: issuer.root_id(),
                state: if revocation.is_some() {
                    CaState::Revoked.as_str()
                } else {
                    issuer.state().as_str()
                },
                subject: certificate.subject.clone(),
                serial: certificate.serial.to_string(),
                not_before: format(certificate.not_before),
                not_after: format(certificate.not_after),
                sha256: crate::model::sha256_fingerprint(&certificate.der),
                crl_url: ca.settings().issuing_crl_url(issuer.id()),
                certificate_url: ca.settings().issuing_cert_url(issuer.id()),
                revoked: revocation.map(|r| {
                    format!(
                        "{} at {}",
                        r.reason,
                        time::OffsetDateTime::from_unix_timestamp(r.revoked_at)
                            .map(format)
                            .unwrap_or_default()
                    )
                }),
            }
        })
        .collect();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).map_err(|e| CliError::Failed(e.to_string()))?
        );
        return Ok(());
    }
    println!(
        "{:<4} {:<8} {:<40} {:<22} CRL",
        "ID", "STATE", "SUBJECT", "NOT AFTER"
    );
    for row in rows {
        println!(
            "{:<4} {:<8} {:<40} {:<22} {}",
            row.id, row.state, row.subject, row.not_after, row.crl_url
        );
    }
    Ok(())
}

/// The database for a lifecycle change: the server must be stopped, because it loads the
/// CAs at start and holds the database.
fn store_for_ceremony(context: &Context) -> Result<crate::store::SharedStore, CliError> {
    match super::admin::open_store(context) {
        Err(CliError::Store(crate::store::StoreError::Locked(_))) => Err(CliError::Usage(
            "stop `paypki serve` first: it loads the CAs at start; start it again afterwards"
                .into(),
        )),
        other => other,
    }
}

fn rollover(context: &Context, args: RolloverArgs) -> Result<(), CliError> {
    let validity = super::parse_duration(&args.validity)
        .map_err(|e| CliError::Usage(format!("--validity: {e}")))?;
    let store = store_for_ceremony(context)?;
    let officer = super::officer::act_as(context, &store, &[OfficerRole::CaOperator])?;
    let passphrase = passphrase_from_env();
    let root_key = crate::ca::load_root_key(
        &context.data_dir,
        args.root_key.as_deref(),
        passphrase.as_ref(),
    )?;
    let id = crate::ca::rollover(
        &context.data_dir,
        &root_key,
        passphrase.as_ref(),
        args.key_alg,
        validity,
        time::Duration::days(90),
        &crate::clock::SystemClock,
    )?;
    let ca = CertificateAuthority::load(&context.data_dir, passphrase.as_ref())?;
    let issuer = ca.issuer(id)?;
    store.append_audit(
        AuditEvent::new("ca-rollover", &officer.actor()).detail(format!(
            "issuing CA {id} created ({}, serial {}); it issues from now on",
            issuer.certificate().subject,
            issuer.certificate().serial
        )),
    )?;
    eprintln!(
        "Created issuing CA {id}: {} (valid until {}). New certificates come from it once `paypki serve` starts again; the previous CA keeps serving status for what it issued.",
        issuer.certificate().subject,
        crate::inspect::format_time(issuer.certificate().not_after)
    );
    println!("{id}");
    Ok(())
}

fn add_hierarchy(context: &Context, args: AddHierarchyArgs) -> Result<(), CliError> {
    let duration = |flag: &str, text: &str| {
        super::parse_duration(text).map_err(|e| CliError::Usage(format!("{flag}: {e}")))
    };
    let root_validity = duration("--root-validity", &args.root_validity)?;
    let validity = duration("--validity", &args.validity)?;
    let store = store_for_ceremony(context)?;
    let officer = super::officer::act_as(context, &store, &[OfficerRole::CaOperator])?;
    let passphrase = passphrase_from_env();
    let report = crate::ca::add_hierarchy(
        &context.data_dir,
        passphrase.as_ref(),
        args.key_alg,
        args.root_cn.as_deref(),
        args.root_key_out.as_deref(),
        root_validity,
        validity,
        time::Duration::days(90),
        &crate::clock::SystemClock,
    )?;
    let ca = CertificateAuthority::load(&context.data_dir, passphrase.as_ref())?;
    let issuer = ca.issuer(report.issuing)?;
    store.append_audit(
        AuditEvent::new("ca-add-hierarchy", &officer.actor()).detail(format!(
            "root {} ({}, SHA-256 {}) and issuing CA {} ({}, serial {}) created",
            report.root,
            ca.root_by_id(report.root)?.subject,
            report.root_fingerprint,
            report.issuing,
            issuer.certificate().subject,
            issuer.certificate().serial
        )),
    )?;
    eprintln!(
        "Created root {} ({}; key {}) and issuing CA {}: {}. It issues to {} keys once `paypki serve` starts again, beside the active CA of the other hierarchy.\nRoot {} SHA-256 fingerprint (compare it out of band before trusting the root):\n{}",
        report.root,
        ca.root_by_id(report.root)?.subject,
        report.root_key.display(),
        report.issuing,
        issuer.certificate().subject,
        if args.key_alg == KeyAlgorithm::Sm2 { "SM2" } else { "non-SM2" },
        report.root,
        report.root_fingerprint
    );
    println!("{}", report.issuing);
    Ok(())
}

fn revoke(context: &Context, args: RevokeArgs) -> Result<(), CliError> {
    let reason: RevocationReason = args
        .reason
        .parse()
        .map_err(|e: crate::model::UnknownReason| CliError::Usage(e.to_string()))?;
    let store = store_for_ceremony(context)?;
    let officer = super::officer::act_as(context, &store, &[OfficerRole::CaOperator])?;
    let passphrase = passphrase_from_env();
    let ca = CertificateAuthority::load(&context.data_dir, passphrase.as_ref())?;
    let id = match args.ca {
        Some(id) => ca.issuer(id)?.id(),
        None => ca.active()?.id(),
    };
    match args.target {
        RevokeTarget::Issuing => {
            let root_key = crate::ca::load_root_key(
                &context.data_dir,
                args.root_key.as_deref(),
                passphrase.as_ref(),
            )?;
            let serial = ca.issuer(id)?.certificate().serial.clone();
            let crl = crate::ca::revoke_issuing(
                &context.data_dir,
                &root_key,
                id,
                reason,
                &crate::clock::SystemClock,
            )?;
            store.append_audit(
                AuditEvent::new("ca-revoke", &officer.actor())
                    .serial(&serial)
                    .detail(format!(
                        "issuing CA {id} revoked ({reason}); root CRL {} lists it",
                        crl.number
                    )),
            )?;
            eprintln!(
                "Issuing CA {id} is revoked ({reason}); root CRL {} lists it. Its certificates are no longer good; until `paypki ca rollover` creates a new issuing CA, enrollment answers 503.",
                crl.number
            );
            println!("{serial}");
        }
        RevokeTarget::Responder => {
            let serial = crate::ca::revoke_responder(
                &context.data_dir,
                passphrase.as_ref(),
                id,
                reason,
                time::Duration::days(90),
                &crate::clock::SystemClock,
            )?;
            store.append_audit(
                AuditEvent::new("responder-revoke", &officer.actor())
                    .serial(&serial)
                    .detail(format!(
                    "OCSP responder of issuing CA {id} revoked ({reason}); a new one replaces it"
                )),
            )?;
            eprintln!(
                "The OCSP responder certificate {serial} of issuing CA {id} is revoked ({reason}) and listed on that CA's CRL from the next one on; a new responder signs OCSP answers once `paypki serve` starts again."
            );
            println!("{serial}");
        }
    }
    Ok(())
}
