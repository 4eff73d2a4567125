//! `paypki timestamp FILE`: asks a paypki TSA (`POST /tsa`, RFC 3161) for a token over a
//! file's digest, checks the reply offline (signature, signing certificate, the TSA's
//! chain to the root, the imprint and the nonce) and writes the DER TimeStampResp, the
//! `.tsr` that `openssl ts -reply` writes and `openssl ts -verify -in` reads.

use std::path::{Path, PathBuf};

use clap::Args;

use super::remote::{agent, ClientUrl};
use super::{CliError, Context};
use crate::tsp::{HashAlgorithm, PkiStatus};

/// Options of `paypki timestamp`.
#[derive(Debug, Args)]
pub struct TimestampArgs {
    /// The file to time-stamp (only its digest leaves this machine).
    pub file: PathBuf,
    /// The CA's base URL (default: the server running on the data directory, if any,
    /// else http://127.0.0.1:8080).
    #[arg(long, env = "PAYPKI_URL")]
    pub url: Option<String>,
    /// Where to write the DER TimeStampResp (default: FILE.tsr).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The digest algorithm: sha256, sha384 or sha512.
    #[arg(long, default_value = "sha256")]
    pub hash: String,
    /// The root certificate (PEM) the TSA must chain to (default: the data directory's
    /// root certificate).
    #[arg(long, value_name = "ROOT.pem")]
    pub ca_file: Option<PathBuf>,
}

/// Reads the first certificate of a PEM file (or DER) as DER.
pub(super) fn read_root(path: &Path) -> Result<Vec<u8>, CliError> {
    let bytes =
        std::fs::read(path).map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
    if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        pem::parse_many(&bytes)
            .ok()
            .and_then(|blocks| {
                blocks
                    .into_iter()
                    .find(|b| b.tag() == "CERTIFICATE")
                    .map(pem::Pem::into_contents)
            })
            .ok_or_else(|| CliError::Usage(format!("{} holds no PEM certificate", path.display())))
    } else {
        Ok(bytes)
    }
}

/// The trust anchor: `--ca-file`, else the data directory's root certificate.
pub(super) fn trust_anchor(context: &Context, ca_file: Option<&Path>) -> Result<Vec<u8>, CliError> {
    match ca_file {
        Some(path) => read_root(path),
        None => {
            let path = context.data_dir.cert_file("root");
            if path.exists() {
                read_root(&path)
            } else {
                Err(CliError::Usage(format!(
                    "no root certificate to check the TSA against: give --ca-file ROOT.pem (the CA's root, e.g. from GET /ca/root.crt through a channel you trust); {} does not exist",
                    path.display()
                )))
            }
        }
    }
}

pub(super) fn run(context: &Context, args: TimestampArgs) -> Result<(), CliError> {
    let base = ClientUrl::resolve(args.url.as_deref(), &context.data_dir);
    timestamp(context, &base, &args).map_err(|e| base.explain(e))
}

fn timestamp(context: &Context, base: &ClientUrl, args: &TimestampArgs) -> Result<(), CliError> {
    use ring::rand::SecureRandom;
    let hash = HashAlgorithm::from_name(&args.hash).ok_or_else(|| {
        CliError::Usage(format!(
            "--hash {}: use sha256, sha384 or sha512",
            args.hash
        ))
    })?;
    let root = trust_anchor(context, args.ca_file.as_deref())?;
    let data = std::fs::read(&args.file)
        .map_err(|e| CliError::Usage(format!("{}: {e}", args.file.display())))?;
    let digest = hash.digest(&data);
    // A 64-bit nonce ties the reply to this request (RFC 3161 §2.4.1).
    let mut nonce = [0u8; 8];
    ring::rand::SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| CliError::Failed("the system random generator failed".into()))?;
    nonce[0] = (nonce[0] & 0x7f) | 0x01;
    let request = crate::tsp::request_der(hash, &digest, Some(&nonce), true)
        .map_err(|e| CliError::Failed(format!("cannot encode the request: {e}")))?;
    let url = base.join("/tsa");
    let mut response = agent()
        .post(&url)
        .header("Content-Type", crate::http::tsa::TIMESTAMP_QUERY)
        .send(&request[..])
        .map_err(|e| CliError::Unreachable(format!("cannot reach {url}: {e}")))?;
    let status = response.status();
    let body = response
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_vec()
        .map_err(|e| CliError::Unreachable(format!("{url}: cannot read the response: {e}")))?;
    if !status.is_success() {
        let detail = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        let message = format!("{url}: {detail} (HTTP {})", status.as_u16());
        return Err(if status.is_server_error() || status.as_u16() == 429 {
            CliError::Unreachable(message)
        } else {
            CliError::Failed(message)
        });
    }
    let reply = crate::tsp::decode_reply(&body)
        .map_err(|e| CliError::Failed(format!("{url}: not a TimeStampResp: {e}")))?;
    let token = match (reply.status, &reply.token) {
        (PkiStatus::Granted | PkiStatus::GrantedWithMods, Some(token)) => token.clone(),
        _ => {
            let failures: Vec<&str> = reply.failures.iter().map(|f| f.name()).collect();
            return Err(CliError::Failed(format!(
                "the TSA refused: status {:?}, failInfo {}{}",
                reply.status,
                if failures.is_empty() {
                    "none".to_string()
                } else {
                    failures.join(", ")
                },
                reply.text.map(|t| format!(": {t}")).unwrap_or_default()
            )));
        }
    };
    let verified =
        crate::verify::timestamp::verify_token(&token, Some((hash, &digest)), &root, &[])
            .map_err(|e| CliError::Failed(format!("the reply does not check out: {e}")))?;
    let echoed = verified.nonce.as_deref() == Some(&nonce[..]);
    if !echoed {
        return Err(CliError::Failed(
            "the reply does not echo this request's nonce (a replayed or misdirected reply)".into(),
        ));
    }
    let out = args.out.clone().unwrap_or_else(|| {
        let mut name = args.file.as_os_str().to_os_string();
        name.push(".tsr");
        PathBuf::from(name)
    });
    std::fs::write(&out, &body).map_err(|e| CliError::Failed(format!("{}: {e}", out.display())))?;
    let gen_time = verified
        .gen_time
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    println!("{}", out.display());
    eprintln!(
        "time-stamped {} ({} {}) at {gen_time}, token serial {}, policy {}",
        args.file.display(),
        hash.name(),
        hex::encode(&digest),
        verified.serial,
        verified.policy
    );
    Ok(())
}
