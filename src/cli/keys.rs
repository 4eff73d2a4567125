//! `paypki keys list`: where every CA key lives (a key file or a PKCS#11 token) and
//! whether it opens and matches its certificate.

use clap::{Args, Subcommand};

use super::{passphrase_from_env, CliError, Context};

/// `paypki keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the CA keys: root, each issuing CA and its OCSP responder, with where each
    /// lives (file, or token and label), its algorithm, its certificate, and whether the
    /// key opens and proves to be that certificate's (needs the passphrase or PIN).
    List(KeysListArgs),
}

/// Options of `paypki keys list`.
#[derive(Debug, Args)]
pub struct KeysListArgs {
    /// JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub(super) fn run(context: &Context, command: KeysCommand) -> Result<(), CliError> {
    let KeysCommand::List(args) = command;
    let reports = crate::ca::key_inventory(&context.data_dir, passphrase_from_env().as_ref())?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&reports).map_err(|e| CliError::Failed(e.to_string()))?
        );
    } else {
        println!(
            "{:<10} {:<8} {:<10} {:<9} LOCATION / CERTIFICATE",
            "KEY", "STORE", "ALGORITHM", "STATUS"
        );
        for report in &reports {
            let status = if report.status == "matches" || report.status == "not checked" {
                report.status.as_str()
            } else {
                "ERROR"
            };
            println!(
                "{:<10} {:<8} {:<10} {:<9} {}",
                report.name, report.store, report.algorithm, status, report.location
            );
            println!("{:<40} {}", "", report.certificate);
            if status == "ERROR" {
                println!("{:<40} {}", "", report.status);
            }
        }
    }
    // A key that does not open (or does not match) is worth a non-zero exit for scripts.
    if reports
        .iter()
        .any(|r| r.status != "matches" && r.status != "not checked")
    {
        return Err(CliError::Failed(
            "a CA key did not open or does not match its certificate (see above)".into(),
        ));
    }
    Ok(())
}
