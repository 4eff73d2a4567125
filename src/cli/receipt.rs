//! `paypki receipt verify RECEIPT.json [--message FILE] [--ca-file ROOT.pem]`: checks a
//! signed verification receipt offline (no server): the RFC 3161 token's signature and
//! its TSA's chain to the root, that its imprint is SHA-256 of the document's bytes, and
//! with `--message` that the message is the one the receipt is about. Prints the
//! document and the token's time as JSON. Exit status: 0 the receipt checks out; 1 it
//! does not (the reason is printed); 2 bad arguments or unreadable files.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{CliError, Context};
use crate::verify::receipt::{parse_receipt, verify_receipt, ReceiptError};

/// `paypki receipt …`.
#[derive(Debug, Subcommand)]
pub enum ReceiptCommand {
    /// Check a verification receipt offline: the timestamp token's signature and chain
    /// to the root, that it covers the document, and optionally the message.
    ///
    /// Exit status: 0 good; 1 the receipt does not check out (the reason is printed);
    /// 2 bad arguments or unreadable files.
    Verify(ReceiptVerifyArgs),
}

/// Options of `paypki receipt verify`.
#[derive(Debug, Args)]
pub struct ReceiptVerifyArgs {
    /// The receipt: `{"document", "timestamp_token"}`, or a whole `/v1/verify` answer
    /// (or batch result) that holds one under `receipt`.
    pub receipt: PathBuf,
    /// The message the receipt should be about (file, read as bytes).
    #[arg(long)]
    pub message: Option<PathBuf>,
    /// The CA's root certificate (PEM or DER) to check the token against (default: the
    /// data directory's root certificate, when there is one).
    #[arg(long, value_name = "ROOT.pem")]
    pub ca_file: Option<PathBuf>,
}

pub(super) fn run(context: &Context, command: ReceiptCommand) -> Result<(), CliError> {
    match command {
        ReceiptCommand::Verify(args) => verify(context, &args),
    }
}

fn verify(context: &Context, args: &ReceiptVerifyArgs) -> Result<(), CliError> {
    let root = super::timestamp::trust_anchor(context, args.ca_file.as_deref())?;
    let text = std::fs::read_to_string(&args.receipt)
        .map_err(|e| CliError::Usage(format!("{}: {e}", args.receipt.display())))?;
    let message = args
        .message
        .as_ref()
        .map(|path| {
            std::fs::read(path).map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))
        })
        .transpose()?;
    let receipt = parse_receipt(&text).map_err(|e| CliError::Invalid(e.to_string()))?;
    let checked = verify_receipt(&receipt, &root, message.as_deref()).map_err(|e| {
        CliError::Invalid(match e {
            ReceiptError::Timestamp(inner) => format!(
                "the receipt does not check out: {inner} (a changed document, a token of another CA, or a damaged token)"
            ),
            other => format!("the receipt does not check out: {other}"),
        })
    })?;
    let gen_time = checked
        .timestamp
        .gen_time
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let summary = serde_json::json!({
        "receipt": "good",
        "timestamp": {
            "gen_time": gen_time,
            "serial": checked.timestamp.serial,
            "policy": checked.timestamp.policy.to_string(),
        },
        "message_checked": message.is_some(),
        "document": checked.document,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&summary).map_err(|e| CliError::Failed(e.to_string()))?
    );
    Ok(())
}
