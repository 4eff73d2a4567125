//! The `paypki` command line: argument definitions and one `run` function per command.
//! Commands are thin: they parse flags, call the RA/CA/store, and print.

mod admin;
mod approval;
mod ca;
mod db;
mod init;
mod keys;
mod officer;
mod participant;
mod policy;
mod receipt;
mod registry;
pub mod remote;
mod report;
mod responder;
mod revocation;
mod serve;
mod table;
mod timestamp;
mod token;
mod transparency;
mod verify;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::ca::{CaError, Passphrase};
use crate::ra::{PolicyError, RaError};
use crate::store::StoreError;

/// paypki: the certificate authority of an online-payment network.
///
/// Issues and maintains the certificates of buyers, merchants, banks and payment
/// gateways, and answers status and signature checks for them.
#[derive(Debug, Parser)]
#[command(name = "paypki", version, propagate_version = true)]
pub struct Cli {
    /// Data directory: the CA keys and the database.
    #[arg(
        long,
        global = true,
        env = "PAYPKI_DATA_DIR",
        default_value = "ca-data"
    )]
    pub data_dir: PathBuf,
    /// Directory of the role policies (buyer.toml, merchant.toml, bank.toml, gateway.toml).
    #[arg(
        long,
        global = true,
        env = "PAYPKI_POLICIES",
        default_value = "policies"
    )]
    pub policies: PathBuf,
    /// The shared database (`postgres://user@host:port/db`); without it, the sled
    /// database in the data directory. Several `paypki serve` nodes may share one
    /// PostgreSQL database (docs/operations.md).
    #[arg(
        long = "database",
        global = true,
        env = "PAYPKI_DATABASE_URL",
        value_name = "URL"
    )]
    pub database: Option<String>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Every subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the CA: root, issuing CA and OCSP responder, in the data directory.
    Init(init::InitArgs),
    /// Run the HTTP server (creates a development CA first on an empty data directory).
    Serve(serve::ServeArgs),
    /// Enrollment tokens (administrator).
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// The participant registry: banks, merchants, gateways and buyers (administrator;
    /// also while the server runs).
    #[command(subcommand)]
    Participant(registry::ParticipantCommand),
    /// Get a certificate from a CA with a one-time token (participant).
    Enroll(participant::EnrollArgs),
    /// Renew your current certificate (participant).
    Renew(participant::RenewArgs),
    /// Issue a certificate from a CSR file, offline (administrator).
    Issue(admin::IssueArgs),
    /// Revoke a certificate (also while the server runs).
    Revoke(revocation::RevokeArgs),
    /// Lift a certificateHold.
    Unhold(revocation::UnholdArgs),
    /// Write the current CRL (or, with --root, produce the root's CRL).
    Crl(revocation::CrlArgs),
    /// The admin credential.
    #[command(subcommand)]
    Credential(responder::CredentialCommand),
    /// The delegated OCSP responder's certificate.
    #[command(subcommand)]
    Responder(responder::ResponderCommand),
    /// Verify a signature over a message, or validate a chain, with a paypki server.
    ///
    /// Exit status: 0 valid; 1 not valid (the verdict is printed); 2 bad arguments or
    /// input, or a request the server refused; 3 no answer (unreachable, time-out, 429,
    /// 5xx): try again later, and never read 3 as "not valid".
    Verify(verify::VerifyArgs),
    /// Get an RFC 3161 timestamp token for a file from a paypki TSA, check it, and write
    /// the DER TimeStampResp (FILE.tsr, as `openssl ts -reply` writes it).
    ///
    /// Exit status: 0 written; 1 refused by the TSA or a reply that does not check out;
    /// 2 bad arguments or input; 3 no answer (unreachable, time-out, 429, 5xx).
    Timestamp(timestamp::TimestampArgs),
    /// Signed verification receipts (from `/v1/verify` with `"receipt": true`): check
    /// one offline.
    #[command(subcommand)]
    Receipt(receipt::ReceiptCommand),
    /// List issued certificates.
    List(admin::ListArgs),
    /// Issued, renewed, revoked (by reason) and expired certificates per day, week or
    /// month and role, as a table, CSV, JSON or an SVG chart.
    Report(report::ReportArgs),
    /// Print a shell completion script (bash, zsh or fish) on stdout.
    Completions(report::CompletionsArgs),
    /// Show one certificate: subject, SANs, role, validity, status, fingerprints, extensions.
    Show(admin::ShowArgs),
    /// Audit-trail commands.
    #[command(subcommand)]
    Audit(admin::AuditCommand),
    /// The issuing CAs: list, rollover, revoke (root ceremonies).
    #[command(subcommand)]
    Ca(ca::CaCommand),
    /// The role policy files: check them.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// The CA keys: where each lives (file or PKCS#11 token) and whether it matches.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Officers: named accounts with roles (security officers manage them).
    #[command(subcommand)]
    Officer(officer::OfficerCommand),
    /// Dual control: requests waiting for other officers' approval.
    #[command(subcommand)]
    Approval(approval::ApprovalCommand),
    /// The database: apply the PostgreSQL schema, show its state, copy a whole store
    /// between sled and PostgreSQL.
    #[command(subcommand)]
    Db(db::DbCommand),
    /// The issuance transparency log: monitor it for certificates issued in an
    /// organization's name.
    #[command(subcommand)]
    Transparency(transparency::TransparencyCommand),
}

/// A failed command: the message is for the person at the terminal.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// From the CA layer.
    #[error(transparent)]
    Ca(#[from] CaError),
    /// From the RA layer.
    #[error(transparent)]
    Ra(#[from] RaError),
    /// A policy file.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bad argument or input file.
    #[error("{0}")]
    Usage(String),
    /// A check found problems (e.g. the audit chain is broken), or a server refused.
    #[error("{0}")]
    Failed(String),
    /// `paypki verify`: the server answered, and the signature or chain is not valid.
    #[error("{0}")]
    Invalid(String),
    /// No answer to act on: the server cannot be reached, timed out, or answered 429 or
    /// a 5xx. Trying again later may work.
    #[error("{0}")]
    Unreachable(String),
    /// Accepted, but under dual control: waiting for other officers' approval.
    #[error("{0}")]
    Pending(String),
}

impl CliError {
    /// The process exit status for this error (docs/api.md, "Exit status"): 1 for a
    /// failure or a verdict of "not valid", 2 for bad arguments or input files (as clap
    /// uses for its own usage errors), 3 when no server answered, 4 when the act waits
    /// for approval (dual control). Scripts can then tell "the signature is bad" from
    /// "ask again later".
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Unreachable(_) => 3,
            CliError::Pending(_) => 4,
            _ => 1,
        }
    }
}

impl Cli {
    /// Runs the parsed command.
    pub fn run(self) -> Result<(), CliError> {
        let context = Context {
            data_dir: crate::config::DataDir::new(&self.data_dir),
            policies: self.policies.clone(),
            database: self.database.clone().filter(|url| !url.trim().is_empty()),
        };
        match self.command {
            Command::Init(args) => init::run(&context, args),
            Command::Serve(args) => serve::run(&context, args),
            Command::Token(command) => token::run(&context, command),
            Command::Participant(command) => registry::run(&context, command),
            Command::Enroll(args) => participant::enroll(&context, args),
            Command::Renew(args) => participant::renew(&context, args),
            Command::Issue(args) => admin::issue(&context, args),
            Command::Revoke(args) => revocation::revoke(&context, args),
            Command::Unhold(args) => revocation::unhold(&context, args),
            Command::Crl(args) => revocation::crl(&context, args),
            Command::Verify(args) => verify::run(&context, args),
            Command::Timestamp(args) => timestamp::run(&context, args),
            Command::Receipt(command) => receipt::run(&context, command),
            Command::Responder(command) => responder::run(&context, command),
            Command::Credential(command) => responder::credential(&context, command),
            Command::List(args) => admin::list(&context, args),
            Command::Report(args) => report::run(&context, args),
            Command::Completions(args) => report::completions(args),
            Command::Show(args) => admin::show(&context, args),
            Command::Audit(command) => admin::audit(&context, command),
            Command::Ca(command) => ca::run(&context, command),
            Command::Policy(command) => policy::run(&context, command),
            Command::Keys(command) => keys::run(&context, command),
            Command::Officer(command) => officer::run(&context, command),
            Command::Approval(command) => approval::run(&context, command),
            Command::Db(command) => db::run(&context, command),
            Command::Transparency(command) => transparency::run(&context, command),
        }
    }
}

/// What every command gets.
#[derive(Debug, Clone)]
pub(crate) struct Context {
    pub(crate) data_dir: crate::config::DataDir,
    pub(crate) policies: PathBuf,
    /// `--database` / `PAYPKI_DATABASE_URL`, when given (and not empty).
    pub(crate) database: Option<String>,
}

impl Context {
    /// Where the certificate database is: PostgreSQL when a URL was given, otherwise
    /// sled in the data directory.
    pub(crate) fn database_location(&self) -> crate::store::DatabaseLocation {
        match &self.database {
            Some(url) => crate::store::DatabaseLocation::Postgres(url.clone()),
            None => crate::store::DatabaseLocation::Sled(self.data_dir.database()),
        }
    }
}

/// A progress bar on stderr for `len` items of `unit`; indicatif draws nothing when stderr
/// is not a terminal (logs, pipes, CI), so scripts see no bar.
pub(crate) fn progress(len: u64, unit: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(len),
        indicatif::ProgressDrawTarget::stderr(),
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{msg}} [{{bar:40}}] {{pos}}/{{len}} {unit} ({{per_sec}}, {{eta}} left)"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// The passphrase from `PAYPKI_PASSPHRASE`, if set (never a flag: flags show in `ps`).
pub(crate) fn passphrase_from_env() -> Option<Passphrase> {
    std::env::var("PAYPKI_PASSPHRASE")
        .ok()
        .and_then(Passphrase::new)
}

/// Durations on the command line (`24h`, `30d`): see [`crate::clock::parse_duration`].
pub use crate::clock::parse_duration;

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (fuzz/regressions/durations_and_oids): `time::Duration::weeks` and its
    /// siblings panic on overflow, so a huge count must be refused before one is built.
    /// The admin API's `ttl` and `expiring_within` reach this with untrusted text.
    #[test]
    fn huge_durations_are_refused_not_a_panic() {
        for unit in ["s", "m", "h", "d", "w"] {
            for number in ["100001", "9999999999999999", "9223372036854775807"] {
                let text = format!("{number}{unit}");
                assert!(parse_duration(&text).is_err(), "{text}");
            }
            assert!(parse_duration(&format!("100000{unit}")).is_ok(), "{unit}");
        }
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
