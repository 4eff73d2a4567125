//! Administrator commands that work on the database: `issue`, `list`, `show`, `audit`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};
use time::OffsetDateTime;

use super::{passphrase_from_env, CliError, Context};
use crate::ca::CertificateAuthority;
use crate::model::{CertificateStatus, Role, Serial};
use crate::ra::{IssuanceRequest, Policies, RegistrationAuthority};
use crate::store::{CertificateRecord, CertificateStore, IssuancePath, ListFilter, SledStore};

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

pub(super) fn open_store(context: &Context) -> Result<SledStore, CliError> {
    if !context.data_dir.is_initialized() {
        return Err(crate::ca::CaError::NotInitialized(context.data_dir.root().to_path_buf()).into());
    }
    Ok(SledStore::open(&context.data_dir.database())?)
}

pub(super) fn issue(context: &Context, args: IssueArgs) -> Result<(), CliError> {
    let policies = Arc::new(Policies::load(&context.policies)?);
    let ca = Arc::new(CertificateAuthority::load(&context.data_dir, passphrase_from_env().as_ref())?);
    let csr_bytes = std::fs::read(&args.csr)
        .map_err(|e| CliError::Usage(format!("{}: {e}", args.csr.display())))?;
    let validity = args
        .validity
        .as_deref()
        .map(super::parse_duration)
        .transpose()
        .map_err(CliError::Usage)?;
    let csr = crate::ra::csr::parse(&csr_bytes).map_err(crate::ra::RaError::from)?;
    let store = open_store(context)?;
    let ra = RegistrationAuthority::new(policies, ca, store);
    let issued = ra.issue(IssuanceRequest {
        role: args.role,
        csr,
        subject: None,
        subject_alt_names: None,
        validity,
        via: IssuancePath::CliIssue,
        actor: "cli".into(),
    })?;
    let bundle = format!("{}{}", issued.certificate_pem, issued.chain_pem);
    match args.out {
        Some(path) => {
            std::fs::write(&path, bundle).map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
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
    };
    let records = open_store(context)?.list(&filter)?;
    print_list(&records, args.json)
}

/// A record as JSON for people and scripts: no DER, PEM instead.
pub(crate) fn record_json(record: &CertificateRecord) -> serde_json::Value {
    let mut value = serde_json::to_value(record).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.remove("der");
        object.insert("certificate".into(), crate::ca::to_pem("CERTIFICATE", &record.der).into());
    }
    value
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
        writeln!(out, "{}", serde_json::to_string_pretty(&values).unwrap_or_default())
    } else {
        let mut text = format!("{:<34} {:<8} {:<8} {:<20} SUBJECT\n", "SERIAL", "ROLE", "STATUS", "NOT AFTER");
        for r in records {
            text.push_str(&format!(
                "{:<34} {:<8} {:<8} {:<20} {}\n",
                r.serial,
                r.role,
                r.status,
                format_time(r.not_after),
                r.subject
            ));
        }
        write!(out, "{text}")
    };
    result.map_err(|e| CliError::Failed(format!("cannot write output: {e}")))
}

fn format_time(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}

pub(super) fn show(context: &Context, args: ShowArgs) -> Result<(), CliError> {
    let serial: Serial = args.serial.parse().map_err(|e: crate::model::SerialError| CliError::Usage(e.to_string()))?;
    let record = open_store(context)?
        .certificate(&serial)?
        .ok_or_else(|| CliError::Usage(format!("no certificate with serial {serial} in {}", context.data_dir.root().display())))?;
    if args.pem {
        print!("{}", crate::ca::to_pem("CERTIFICATE", &record.der));
    } else if args.json {
        let mut value = record_json(&record);
        if let Some(o) = value.as_object_mut() {
            o.insert("extensions".into(), describe_extensions(&record.der).into());
        }
        println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
    } else {
        println!("{}", describe_record(&record));
    }
    Ok(())
}

/// The human-readable form of `paypki show`.
pub(crate) fn describe_record(r: &CertificateRecord) -> String {
    let mut lines = vec![
        format!("Serial:        {}", r.serial),
        format!("Role:          {}", r.role),
        format!("Status:        {}", r.status),
    ];
    if let Some(rev) = &r.revocation {
        lines.push(format!("Revoked at:    {} (reason: {})", format_time(rev.revoked_at), rev.reason));
        if let Some(date) = rev.invalidity_date {
            lines.push(format!("Invalid since: {}", format_time(date)));
        }
    }
    lines.push(format!("Subject:       {}", r.subject));
    lines.push(format!(
        "SANs:          {}",
        if r.subject_alt_names.is_empty() { "(none)".to_string() } else { r.subject_alt_names.join(", ") }
    ));
    lines.push(format!("Key:           {}", r.key));
    lines.push(format!("Not before:    {}", format_time(r.not_before)));
    lines.push(format!("Not after:     {}", format_time(r.not_after)));
    lines.push(format!("Issued:        {} via {}", format_time(r.issued_at), r.requested_via));
    lines.push(format!("SHA-256:       {}", r.fingerprint_sha256));
    lines.push("Extensions:".into());
    for e in describe_extensions(&r.der) {
        lines.push(format!("  {e}"));
    }
    lines.join("\n")
}

/// One line per extension, e.g. `keyUsage (critical): digitalSignature, nonRepudiation`.
pub(crate) fn describe_extensions(der: &[u8]) -> Vec<String> {
    use x509_parser::extensions::{GeneralName, ParsedExtension};
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return vec!["(the stored certificate does not parse)".into()];
    };
    let names = |list: &[GeneralName<'_>]| list.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ");
    cert.extensions()
        .iter()
        .map(|ext| {
            let critical = if ext.critical { " (critical)" } else { "" };
            let (name, value) = match ext.parsed_extension() {
                ParsedExtension::BasicConstraints(bc) => (
                    "basicConstraints".to_string(),
                    format!("CA:{}{}", bc.ca, bc.path_len_constraint.map(|p| format!(", pathlen:{p}")).unwrap_or_default()),
                ),
                ParsedExtension::KeyUsage(ku) => ("keyUsage".into(), ku.to_string()),
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    let mut v = Vec::new();
                    if eku.server_auth { v.push("serverAuth".to_string()) }
                    if eku.client_auth { v.push("clientAuth".to_string()) }
                    if eku.email_protection { v.push("emailProtection".to_string()) }
                    if eku.ocsp_signing { v.push("OCSPSigning".to_string()) }
                    v.extend(eku.other.iter().map(|o| o.to_id_string()));
                    ("extendedKeyUsage".into(), v.join(", "))
                }
                ParsedExtension::SubjectAlternativeName(san) => ("subjectAltName".into(), names(&san.general_names)),
                ParsedExtension::SubjectKeyIdentifier(ski) => ("subjectKeyIdentifier".into(), hex::encode(ski.0)),
                ParsedExtension::AuthorityKeyIdentifier(aki) => (
                    "authorityKeyIdentifier".into(),
                    aki.key_identifier.as_ref().map(|k| hex::encode(k.0)).unwrap_or_default(),
                ),
                ParsedExtension::CertificatePolicies(policies) => (
                    "certificatePolicies".into(),
                    policies.iter().map(|p| p.policy_id.to_id_string()).collect::<Vec<_>>().join(", "),
                ),
                ParsedExtension::AuthorityInfoAccess(aia) => (
                    "authorityInfoAccess".into(),
                    aia.accessdescs
                        .iter()
                        .map(|d| {
                            let method = match d.access_method.to_id_string().as_str() {
                                "1.3.6.1.5.5.7.48.1" => "OCSP".to_string(),
                                "1.3.6.1.5.5.7.48.2" => "caIssuers".to_string(),
                                other => other.to_string(),
                            };
                            format!("{method} {}", d.access_location)
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                ParsedExtension::CRLDistributionPoints(points) => (
                    "cRLDistributionPoints".into(),
                    points
                        .iter()
                        .filter_map(|p| match &p.distribution_point {
                            Some(x509_parser::extensions::DistributionPointName::FullName(n)) => Some(names(n)),
                            _ => None,
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                _ => (ext.oid.to_id_string(), hex::encode(ext.value)),
            };
            format!("{name}{critical}: {value}")
        })
        .collect()
}

pub(super) fn audit(context: &Context, command: AuditCommand) -> Result<(), CliError> {
    let store = open_store(context)?;
    match command {
        AuditCommand::Verify => {
            let report = store.verify_audit()?;
            if report.problems.is_empty() {
                println!("audit trail intact: {} entries, head {}", report.entries, report.head_hash);
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
            for entry in store.audit_entries(limit)? {
                println!("{}", serde_json::to_string(&entry).unwrap_or_default());
            }
            Ok(())
        }
    }
}
