//! `paypki verify`: the client of the verification service (`/v1/verify`, `/v1/validate`).
//! Prints the verdict as JSON. Exit status: 0 valid, 1 not valid, 2 bad arguments or
//! input (also a request the server refused as malformed), 3 no answer from the server
//! (unreachable, time-out, 429, 5xx): scripts must not take 3 for "not valid".

use std::path::PathBuf;

use base64::Engine;
use clap::Args;

use super::remote::{agent, read_response, ClientUrl};
use super::{CliError, Context};
use crate::wire::{ValidateBody, VerifyBody};

/// Options of `paypki verify`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("signer").args(["cert", "serial"])))]
pub struct VerifyArgs {
    /// The CA's base URL (default: the server running on the data directory, if any,
    /// else http://127.0.0.1:8080).
    #[arg(long, env = "PAYPKI_URL")]
    pub url: Option<String>,
    /// The signer's certificate (PEM); with --chain, the leaf of the chain.
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
    /// The SM2 distinguishing ID of an SM2 signature (default 1234567812345678, GM/T
    /// 0009; "" for OpenSSL's default, an empty ID).
    #[arg(long)]
    pub sm2_distinguishing_id: Option<String>,
    /// When the signature was made (RFC 3339; default now).
    #[arg(long)]
    pub time: Option<String>,
    /// The role the signer must have.
    #[arg(long)]
    pub require_role: Option<String>,
    /// Validate a certificate chain instead of a signature: a PEM file, leaf first, or
    /// with --cert only the CA certificates (such as the chain.pem `paypki enroll` writes).
    #[arg(long, conflicts_with_all = ["message", "signature", "serial"])]
    pub chain: Option<PathBuf>,
    /// With --chain: serverAuth, clientAuth or any.
    #[arg(long)]
    pub usage: Option<String>,
}

fn read(path: &PathBuf) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))
}

fn read_text(path: &PathBuf) -> Result<String, CliError> {
    String::from_utf8(read(path)?)
        .map_err(|_| CliError::Usage(format!("{} is not PEM text", path.display())))
}

pub(super) fn run(context: &Context, args: VerifyArgs) -> Result<(), CliError> {
    let base = ClientUrl::resolve(args.url.as_deref(), &context.data_dir);
    verify(&base, &args).map_err(|e| base.explain(e))
}

fn verify(base: &ClientUrl, args: &VerifyArgs) -> Result<(), CliError> {
    let (url, body) = if let Some(chain) = &args.chain {
        let mut texts = Vec::new();
        if let Some(leaf) = &args.cert {
            texts.push(read_text(leaf)?);
        }
        texts.push(read_text(chain)?);
        let body = ValidateBody {
            chain: texts,
            time: args.time.clone(),
            usage: args.usage.clone(),
        };
        (base.join("/v1/validate"), serde_json::to_value(body))
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
            receipt: None,
            sm2_distinguishing_id: args.sm2_distinguishing_id.clone(),
        };
        (base.join("/v1/verify"), serde_json::to_value(body))
    };
    let body = body.map_err(|e| CliError::Failed(e.to_string()))?;
    let verdict: serde_json::Value = read_response(agent().post(&url).send_json(&body), &url)
        .map_err(|e| match e {
            // The server refused the request itself (400, 413, 415): no verdict, and
            // nothing that asking again would change.
            CliError::Failed(message) => {
                CliError::Usage(format!("the server refused the request: {message}"))
            }
            other => other,
        })?;
    println!(
        "{}",
        serde_json::to_string_pretty(&verdict).unwrap_or_default()
    );
    if verdict.get("valid").and_then(serde_json::Value::as_bool) == Some(true) {
        Ok(())
    } else {
        Err(CliError::Invalid(format!(
            "not valid: {}",
            verdict
                .get("message")
                .and_then(|m| m.as_str())
                .unwrap_or("see the reason above")
        )))
    }
}
