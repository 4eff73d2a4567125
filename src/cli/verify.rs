//! `paypki verify`: the client of the verification service (`/v1/verify`, `/v1/validate`).
//! Prints the verdict as JSON; exits 0 when valid, 1 otherwise.

use std::path::PathBuf;

use base64::Engine;
use clap::Args;

use super::remote::{agent, read_response};
use super::CliError;
use crate::wire::{ValidateBody, VerifyBody};

/// Options of `paypki verify`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("signer").args(["cert", "serial"])))]
pub struct VerifyArgs {
    /// The CA's base URL.
    #[arg(long, env = "PAYPKI_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The signer's certificate (PEM).
    #[arg(long)]
    pub cert: Option<PathBuf>,
    /// Or the serial of a certificate this CA issued.
    #[arg(long)]
    pub serial: Option<String>,
    /// The signed message (file, read as bytes).
    #[arg(long, requires = "signature")]
    pub message: Option<PathBuf>,
    /// The signature (file: raw bytes, or DER/PEM SignedData with --cms).
    #[arg(long, requires = "message")]
    pub signature: Option<PathBuf>,
    /// The signature is a detached CMS / PKCS#7 SignedData.
    #[arg(long)]
    pub cms: bool,
    /// Signature scheme, e.g. rsa-pss-sha256 (default: inferred from the key).
    #[arg(long)]
    pub algorithm: Option<String>,
    /// When the signature was made (RFC 3339; default now).
    #[arg(long)]
    pub time: Option<String>,
    /// The role the signer must have.
    #[arg(long)]
    pub require_role: Option<String>,
    /// Validate this certificate chain (PEM file, leaf first) instead of a signature.
    #[arg(long, conflicts_with_all = ["message", "signature", "serial", "cert"])]
    pub chain: Option<PathBuf>,
    /// With --chain: serverAuth, clientAuth or any.
    #[arg(long)]
    pub usage: Option<String>,
}

fn read(path: &PathBuf) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))
}

pub(super) fn run(args: VerifyArgs) -> Result<(), CliError> {
    let base = args.url.trim_end_matches('/');
    let (url, body) = if let Some(chain) = &args.chain {
        let text = String::from_utf8(read(chain)?)
            .map_err(|_| CliError::Usage(format!("{} is not PEM text", chain.display())))?;
        let body = ValidateBody {
            chain: vec![text],
            time: args.time.clone(),
            usage: args.usage.clone(),
        };
        (format!("{base}/v1/validate"), serde_json::to_value(body))
    } else {
        let (Some(message), Some(signature)) = (&args.message, &args.signature) else {
            return Err(CliError::Usage(
                "give --message and --signature (or --chain to validate a chain)".into(),
            ));
        };
        let certificate = match &args.cert {
            Some(path) => Some(
                String::from_utf8(read(path)?)
                    .map_err(|_| CliError::Usage(format!("{} is not PEM text", path.display())))?,
            ),
            None => None,
        };
        if certificate.is_none() && args.serial.is_none() && !args.cms {
            return Err(CliError::Usage(
                "give the signer with --cert FILE or --serial HEX".into(),
            ));
        }
        let b64 = |bytes: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(bytes);
        let body = VerifyBody {
            certificate,
            serial: args.serial.clone(),
            message: b64(read(message)?),
            signature: b64(read(signature)?),
            format: args.cms.then(|| "cms".to_string()),
            algorithm: args.algorithm.clone(),
            time: args.time.clone(),
            require_role: args.require_role.clone(),
        };
        (format!("{base}/v1/verify"), serde_json::to_value(body))
    };
    let body = body.map_err(|e| CliError::Failed(e.to_string()))?;
    let verdict: serde_json::Value = read_response(agent().post(&url).send_json(&body), &url)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&verdict).unwrap_or_default()
    );
    if verdict.get("valid").and_then(serde_json::Value::as_bool) == Some(true) {
        Ok(())
    } else {
        Err(CliError::Failed(format!(
            "not valid: {}",
            verdict
                .get("message")
                .and_then(|m| m.as_str())
                .unwrap_or("see the reason above")
        )))
    }
}
