//! Administrator commands that work on the database: `issue`, `list`, `show`, `audit`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};
use time::OffsetDateTime;

use super::officer::act_as;
use super::remote::AdminClient;
use crate::model::OfficerRole;

/// The roles that may read certificate records (as on the admin API).
pub(super) const READERS: &[OfficerRole] = &[
    OfficerRole::Auditor,
    OfficerRole::RaOfficer,
    OfficerRole::RevocationOfficer,
    OfficerRole::CaOperator,
];
use super::{passphrase_from_env, CliError, Context};
use crate::ca::CertificateAuthority;
use crate::inspect::{describe_extensions, describe_record, format_time, record_json};
use crate::model::{CertificateStatus, Role, Serial};
use crate::ra::{IssuanceRequest, Policies, RegistrationAuthority};
use crate::store::{AuditReport, CertificateRecord, IssuancePath, ListFilter, StoreError};

/// Options of `paypki issue`.
#[derive(Debug, Args)]
pub struct IssueArgs {
    /// The CSR, PEM or DER.
    #[arg(long)]
    pub csr: PathBuf,
    /// The participant role whose policy applies: buyer, merchant, bank or gateway.
    #[arg(long)]
    pub role: Role,
    /// Validity, e.g. 90d (default: the policy's default_days).
    #[arg(long)]
    pub validity: Option<String>,
    /// Write the certificate and chain (PEM) here and print only the serial; without it the
    /// PEM goes to stdout and the serial to stderr.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Options of `paypki list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this role.
    #[arg(long)]
    pub role: Option<Role>,
    /// Only this status: good or revoked.
    #[arg(long)]
    pub status: Option<StatusArg>,
    /// Only certificates that expire within this time, e.g. 30d.
    #[arg(long)]
    pub expiring_within: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// A status filter.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum StatusArg {
    /// Not revoked.
    Good,
    /// Revoked.
    Revoked,
}

/// Options of `paypki show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The serial number (hex).
    pub serial: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Print the certificate PEM only.
    #[arg(long)]
    pub pem: bool,
}

/// `paypki audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain of the audit trail; exits non-zero if it is broken.
    Verify,
    /// Print the audit trail (JSON lines).
    Log {
        /// At most this many entries.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
}

pub(super) fn open_store(context: &Context) -> Result<crate::store::SharedStore, CliError> {
    if !context.data_dir.is_initialized() {
        return Err(
            crate::ca::CaError::NotInitialized(context.data_dir.root().to_path_buf()).into(),
        );
    }
    // Best effort: a command run by another user (read-only) must still work.
    if let Err(e) = context.data_dir.restrict_permissions() {
        tracing::debug!(error = %e, "could not restrict the data directory's permissions");
    }
    Ok(crate::store::open(&context.database_location())?)
}

/// Where a command's data comes from: the database itself, or the running server.
pub(super) enum Backend {
    /// The database, opened by this process.
    Local(crate::store::SharedStore),
    /// `paypki serve` holds the database; go through its admin API.
    Remote(AdminClient),
}

/// Opens the database, or falls back to the running server's admin API when it holds it.
pub(super) fn backend(context: &Context) -> Result<Backend, CliError> {
    match open_store(context) {
        Ok(store) => Ok(Backend::Local(store)),
        Err(CliError::Store(StoreError::Locked(_))) => Ok(Backend::Remote(
            AdminClient::for_data_dir(&context.data_dir)?,
        )),
        Err(e) => Err(e),
    }
}

/// An RA for revocation: it applies no policy, so the policy files are not read.
pub(super) fn revocation_ra(
    context: &Context,
    store: crate::store::SharedStore,
) -> Result<RegistrationAuthority, CliError> {
    let ca = Arc::new(CertificateAuthority::load(
        &context.data_dir,
        passphrase_from_env().as_ref(),
    )?);
    Ok(RegistrationAuthority::new(
        Arc::new(Policies::none()),
        ca,
        store,
    ))
}

/// Loads policies, CA and store into an RA (for commands that issue or create tokens).
pub(super) fn local_ra(
    context: &Context,
    store: crate::store::SharedStore,
) -> Result<RegistrationAuthority, CliError> {
    let policies = Arc::new(Policies::load(&context.policies)?);
    let ca = Arc::new(CertificateAuthority::load(
        &context.data_dir,
        passphrase_from_env().as_ref(),
    )?);
    Ok(RegistrationAuthority::new(policies, ca, store))
}

pub(super) fn issue(context: &Context, args: IssueArgs) -> Result<(), CliError> {
    let csr_bytes = std::fs::read(&args.csr)
        .map_err(|e| CliError::Usage(format!("{}: {e}", args.csr.display())))?;
    let validity = args
        .validity
        .as_deref()
        .map(super::parse_duration)
        .transpose()
        .map_err(CliError::Usage)?;
    let csr = crate::ra::csr::parse(&csr_bytes).map_err(crate::ra::RaError::from)?;
    let store = match open_store(context) {
        Err(CliError::Store(StoreError::Locked(_))) => {
            return Err(CliError::Usage("`paypki issue` signs offline and needs the database: stop `paypki serve`, or enroll the participant with `paypki token create` + `paypki enroll`".into()))
        }
        other => other?,
    };
    let officer = act_as(context, &store, &[OfficerRole::RaOfficer])?;
    let ra = local_ra(context, store)?;
    // Open the output first, so an unwritable path refuses before anything is issued.
    let out_file = match &args.out {
        Some(path) => Some((
            path.clone(),
            std::fs::File::create(path)
                .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?,
        )),
        None => None,
    };
    let result = ra.issue_or_request(
        IssuanceRequest {
            role: args.role,
            csr,
            subject: None,
            subject_alt_names: None,
            validity,
            via: IssuancePath::CliIssue,
            actor: officer.actor(),
            parent: None,
        },
        &csr_bytes,
        &officer,
    );
    let issued = match result {
        Ok(Ok(issued)) => issued,
        Ok(Err(pending)) => {
            if let Some(path) = &args.out {
                let _ = std::fs::remove_file(path);
            }
            return Err(CliError::Pending(format!(
                "waiting for approval: request {} ({}); another ra-officer approves it with `paypki approval approve {}`, then `paypki show SERIAL --pem` gives the certificate",
                pending.id, pending.summary, pending.id
            )));
        }
        Err(e) => {
            if let Some(path) = &args.out {
                let _ = std::fs::remove_file(path);
            }
            return Err(e.into());
        }
    };
    let bundle = format!("{}{}", issued.certificate_pem, issued.chain_pem);
    match out_file {
        Some((path, mut file)) => {
            // The certificate is already recorded: on a write failure still name the serial.
            file.write_all(bundle.as_bytes()).map_err(|e| {
                CliError::Failed(format!(
                    "certificate {} was issued but could not be written to {}: {e}; get it with `paypki show {} --pem`",
                    issued.record.serial,
                    path.display(),
                    issued.record.serial
                ))
            })?;
            println!("{}", issued.record.serial);
        }
        None => {
            print!("{bundle}");
            eprintln!("issued serial {}", issued.record.serial);
        }
    }
    Ok(())
}

pub(super) fn list(context: &Context, args: ListArgs) -> Result<(), CliError> {
    let expiring_before = args
        .expiring_within
        .as_deref()
        .map(super::parse_duration)
        .transpose()
        .map_err(CliError::Usage)?
        .map(|d| OffsetDateTime::now_utc() + d);
    let filter = ListFilter {
        role: args.role,
        status: args.status.map(|s| match s {
            StatusArg::Good => CertificateStatus::Good,
            StatusArg::Revoked => CertificateStatus::Revoked,
        }),
        expiring_before,
        limit: None,
        after: None,
    };
    let records = match backend(context)? {
        Backend::Local(store) => {
            act_as(context, &store, READERS)?;
            store.list(&filter)?
        }
        Backend::Remote(client) => {
            let mut query = Vec::new();
            if let Some(role) = args.role {
                query.push(format!("role={role}"));
            }
            if let Some(status) = filter.status {
                query.push(format!("status={status}"));
            }
            if let Some(within) = &args.expiring_within {
                query.push(format!("expiring_within={within}"));
            }
            remote_records(&client, query)?
        }
    };
    print_list(&records, args.json)
}

/// Every certificate record the running server lists for `query` (`role=…` and the
/// like), a page at a time.
pub(super) fn remote_records(
    client: &AdminClient,
    query: Vec<String>,
) -> Result<Vec<CertificateRecord>, CliError> {
    client.get_all("/v1/admin/certificates", "certificates", query)
}

fn print_list(records: &[CertificateRecord], json: bool) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    let result = if json {
        let values: Vec<_> = records
            .iter()
            .map(|r| {
                let mut v = record_json(r);
                if let Some(o) = v.as_object_mut() {
                    o.remove("certificate");
                }
                v
            })
            .collect();
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&values).unwrap_or_default()
        )
    } else {
        let rows = records
            .iter()
            .map(|r| {
                vec![
                    r.serial.to_string(),
                    r.role.to_string(),
                    r.status.to_string(),
                    format_time(r.not_after),
                    r.subject.clone(),
                ]
            })
            .collect();
        let text = super::table::render(
            &["SERIAL", "ROLE", "STATUS", "NOT AFTER", "SUBJECT"],
            rows,
            &[],
        );
        write!(out, "{text}")
    };
    result.map_err(|e| CliError::Failed(format!("cannot write output: {e}")))
}

pub(super) fn show(context: &Context, args: ShowArgs) -> Result<(), CliError> {
    let serial: Serial = args
        .serial
        .parse()
        .map_err(|e: crate::model::SerialError| CliError::Usage(e.to_string()))?;
    let record = match backend(context)? {
        Backend::Local(store) => {
            act_as(context, &store, READERS)?;
            store.certificate(&serial)?.ok_or_else(|| {
                CliError::Usage(format!(
                    "no certificate with serial {serial} in {}",
                    context.data_dir.root().display()
                ))
            })?
        }
        Backend::Remote(client) => client.get(&format!("/v1/admin/certificates/{serial}"))?,
    };
    if args.pem {
        print!("{}", crate::ca::to_pem("CERTIFICATE", &record.der));
    } else if args.json {
        let mut value = record_json(&record);
        if let Some(o) = value.as_object_mut() {
            o.insert("extensions".into(), describe_extensions(&record.der).into());
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    } else {
        println!("{}", describe_record(&record));
    }
    Ok(())
}

pub(super) fn audit(context: &Context, command: AuditCommand) -> Result<(), CliError> {
    let backend = backend(context)?;
    if let Backend::Local(store) = &backend {
        act_as(context, store, &[OfficerRole::Auditor])?;
    }
    match command {
        AuditCommand::Verify => {
            let report: AuditReport = match &backend {
                Backend::Local(store) => store.verify_audit()?,
                Backend::Remote(client) => client.get("/v1/admin/audit/verify")?,
            };
            if report.problems.is_empty() {
                println!(
                    "audit trail intact: {} entries, head {}",
                    report.entries, report.head_hash
                );
                Ok(())
            } else {
                for problem in &report.problems {
                    eprintln!("audit: {problem}");
                }
                Err(CliError::Failed(format!(
                    "the audit trail is broken: {} problem(s) in {} entries",
                    report.problems.len(),
                    report.entries
                )))
            }
        }
        AuditCommand::Log { limit } => {
            let Backend::Local(store) = backend else {
                return Err(CliError::Usage("`audit log` needs the database: stop `paypki serve` first, or read the log from a backup copy of the data directory".into()));
            };
            for entry in store.audit_entries(limit)? {
                println!("{}", serde_json::to_string(&entry).unwrap_or_default());
            }
            Ok(())
        }
    }
}
