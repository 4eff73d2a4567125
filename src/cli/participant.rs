//! The participant's side: `paypki enroll` and `paypki renew`. The private key is made
//! here and never leaves this machine; only the CSR (public key) is sent.

use std::path::{Path, PathBuf};

use base64::Engine;
use clap::Args;
use rcgen::{CertificateParams, DistinguishedName, KeyPair, SigningKey};
use serde::Deserialize;

use super::remote::{agent, read_response, ClientUrl};
use super::{CliError, Context};
use crate::model::{KeyAlgorithm, Serial};

/// Options of `paypki enroll`.
#[derive(Debug, Args)]
pub struct EnrollArgs {
    /// The CA's base URL (default: the server running on the data directory, if any,
    /// else http://127.0.0.1:8080).
    #[arg(long, env = "PAYPKI_URL")]
    pub url: Option<String>,
    /// The one-time enrollment token (or set PAYPKI_TOKEN).
    #[arg(long, env = "PAYPKI_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Key algorithm: ecdsa-p256, ecdsa-p384 or ed25519.
    #[arg(long, default_value = "ecdsa-p256")]
    pub key_alg: KeyAlgorithm,
    /// Where to write key.pem (0600), cert.pem and chain.pem. A key.pem there without
    /// a cert.pem (an earlier attempt whose answer was lost) is used again.
    #[arg(long, default_value = ".")]
    pub out_dir: PathBuf,
    /// Under dual control (the answer says the issuance waits for approval): keep asking
    /// for this long (`30s`, `10m`) before giving up with exit status 4.
    #[arg(long, default_value = "0s")]
    pub wait: String,
}

/// Options of `paypki renew`.
#[derive(Debug, Args)]
pub struct RenewArgs {
    /// The CA's base URL (default: the server running on the data directory, if any,
    /// else http://127.0.0.1:8080).
    #[arg(long, env = "PAYPKI_URL")]
    pub url: Option<String>,
    /// The current certificate (PEM).
    #[arg(long, default_value = "cert.pem")]
    pub cert: PathBuf,
    /// The current private key (PKCS#8 PEM).
    #[arg(long, default_value = "key.pem")]
    pub key: PathBuf,
    /// Generate a new key instead of re-certifying the current one.
    #[arg(long)]
    pub new_key: bool,
    /// Algorithm of the new key (with --new-key).
    #[arg(long, default_value = "ecdsa-p256")]
    pub key_alg: KeyAlgorithm,
    /// Where to write cert.pem, chain.pem (and key.pem with --new-key); default: beside --cert.
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// Under dual control: keep asking for this long (`30s`, `10m`) before giving up with
    /// exit status 4.
    #[arg(long, default_value = "0s")]
    pub wait: String,
    /// Fetch what the approved renewal request ID produced (after an exit status 4).
    #[arg(long, value_name = "ID")]
    pub approval: Option<String>,
}

#[derive(Debug, Deserialize)]
struct IssuedBody {
    serial: String,
    certificate: String,
    chain: String,
    not_after: String,
}

/// What `/v1/enroll` and `/v1/renew` answer: a certificate, or (202, dual control) a
/// request waiting for officers' approval.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Answer {
    Issued(IssuedBody),
    Pending(crate::http::approvals::PendingResponse),
}

/// Polls a pending request's location until it is decided or `wait` runs out.
fn wait_for_approval(
    base: &ClientUrl,
    pending: crate::http::approvals::PendingResponse,
    wait: std::time::Duration,
    again: &str,
) -> Result<IssuedBody, CliError> {
    let deadline = std::time::Instant::now() + wait;
    let url = base.join(&pending.location);
    loop {
        if std::time::Instant::now() >= deadline {
            return Err(CliError::Pending(format!(
                "waiting for approval: request {} ({}), expires {}; {again}",
                pending.approval, pending.summary, pending.expires_at
            )));
        }
        std::thread::sleep(std::time::Duration::from_secs(2).min(wait));
        match read_response::<Answer>(agent().get(&url).call(), &url)? {
            Answer::Issued(issued) => return Ok(issued),
            Answer::Pending(_) => continue,
        }
    }
}

fn parse_wait(text: &str) -> Result<std::time::Duration, CliError> {
    // The default: do not wait.
    if matches!(text.trim(), "0" | "0s") {
        return Ok(std::time::Duration::ZERO);
    }
    super::parse_duration(text)
        .map_err(|e| CliError::Usage(format!("--wait: {e}")))
        .map(|d| std::time::Duration::from_secs(u64::try_from(d.whole_seconds()).unwrap_or(0)))
}

fn new_key(algorithm: KeyAlgorithm) -> Result<KeyPair, CliError> {
    crate::ca::keys::generate(algorithm).map_err(|_| {
        CliError::Usage(format!(
            "cannot generate a {algorithm} key here: use ecdsa-p256, ecdsa-p384 or ed25519 (or make an RSA CSR with openssl and POST it to /v1/enroll)"
        ))
    })
}

/// A CSR with an empty subject: the token (or the renewed certificate) decides the names.
fn csr_for(key: &KeyPair) -> Result<(String, Vec<u8>), CliError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    let csr = params
        .serialize_request(key)
        .map_err(|e| CliError::Failed(format!("cannot build the CSR: {e}")))?;
    let pem = csr
        .pem()
        .map_err(|e| CliError::Failed(format!("cannot encode the CSR: {e}")))?;
    Ok((pem, csr.der().to_vec()))
}

fn io_error(path: &Path, e: std::io::Error) -> CliError {
    CliError::Failed(format!("{}: {e}", path.display()))
}

/// Writes a file by way of a temporary name, so a reader never sees half of it.
fn replace_file(path: &Path, contents: &[u8]) -> Result<(), CliError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).map_err(|e| io_error(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_error(path, e))
}

pub(super) fn enroll(context: &Context, args: EnrollArgs) -> Result<(), CliError> {
    let base = ClientUrl::resolve(args.url.as_deref(), &context.data_dir);
    std::fs::create_dir_all(&args.out_dir).map_err(|e| io_error(&args.out_dir, e))?;
    let key_path = args.out_dir.join("key.pem");
    let cert_path = args.out_dir.join("cert.pem");
    // The key is written before the request is sent: if the answer is lost, the next
    // attempt proves possession of the same key and the CA sends the certificate it
    // already issued (the token alone cannot be used twice).
    let (key, reused) = if key_path.exists() {
        if cert_path.exists() {
            return Err(CliError::Usage(format!(
                "{} and {} already exist: this directory is enrolled; choose another --out-dir (paypki never overwrites a key)",
                key_path.display(),
                cert_path.display()
            )));
        }
        eprintln!(
            "{} exists without a cert.pem (an earlier attempt whose answer was lost?): enrolling with that key",
            key_path.display()
        );
        (crate::ca::keys::read_key_file(&key_path, None)?, true)
    } else {
        let key = new_key(args.key_alg)?;
        crate::ca::keys::write_key_file(&key_path, &key, None)?;
        (key, false)
    };
    let (csr_pem, _) = csr_for(&key)?;
    let url = base.join("/v1/enroll");
    let response = agent()
        .post(&url)
        .send_json(serde_json::json!({ "token": args.token.trim(), "csr": csr_pem }));
    let answer = match read_response::<Answer>(response, &url) {
        Ok(Answer::Issued(issued)) => Ok(issued),
        Ok(Answer::Pending(pending)) => wait_for_approval(
            &base,
            pending,
            parse_wait(&args.wait)?,
            &format!(
                "{} is kept: run the same command again (same token, same --out-dir) once officers approved, or add --wait",
                key_path.display()
            ),
        ),
        Err(e) => Err(e),
    };
    let issued: IssuedBody = match answer {
        Ok(issued) => issued,
        Err(e @ CliError::Pending(_)) => return Err(e),
        Err(CliError::Unreachable(message)) => {
            return Err(base.explain(CliError::Unreachable(format!(
                "{message}; {} is kept: run the same command again (same token, same --out-dir) and, if the CA issued the certificate meanwhile, it sends that one",
                key_path.display()
            ))))
        }
        Err(e) => {
            // Refused: no certificate exists for this key, so a new key made for this
            // attempt goes (one brought from an earlier attempt stays).
            if !reused {
                let _ = std::fs::remove_file(&key_path);
            }
            return Err(e);
        }
    };
    replace_file(&cert_path, issued.certificate.as_bytes())?;
    replace_file(&args.out_dir.join("chain.pem"), issued.chain.as_bytes())?;
    println!("{}", issued.serial);
    eprintln!(
        "enrolled: {}/key.pem, cert.pem and chain.pem (the CA certificates: issuing CA, then root) written; valid until {}",
        args.out_dir.display(),
        issued.not_after
    );
    Ok(())
}

pub(super) fn renew(context: &Context, args: RenewArgs) -> Result<(), CliError> {
    let base = ClientUrl::resolve(args.url.as_deref(), &context.data_dir);
    renew_with(&base, &args).map_err(|e| base.explain(e))
}

fn renew_with(base: &ClientUrl, args: &RenewArgs) -> Result<(), CliError> {
    if let Some(approval) = &args.approval {
        return fetch_approved_renewal(base, args, approval);
    }
    let cert_text = std::fs::read_to_string(&args.cert).map_err(|e| io_error(&args.cert, e))?;
    let cert_der = pem::parse(&cert_text)
        .map_err(|_| CliError::Usage(format!("{} is not a PEM certificate", args.cert.display())))?
        .into_contents();
    let (_, cert) = x509_parser::parse_x509_certificate(&cert_der)
        .map_err(|e| CliError::Usage(format!("{}: {e}", args.cert.display())))?;
    let serial = Serial::from_der_integer(cert.raw_serial())
        .map_err(|e| CliError::Usage(format!("{}: {e}", args.cert.display())))?;
    let out_dir = args
        .out_dir
        .clone()
        .or_else(|| args.cert.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    // Make sure the result can be written before the CA issues anything.
    std::fs::create_dir_all(&out_dir).map_err(|e| io_error(&out_dir, e))?;
    let probe = out_dir.join(".paypki-write-test");
    std::fs::write(&probe, b"").map_err(|e| io_error(&out_dir, e))?;
    let _ = std::fs::remove_file(&probe);
    let current_key = crate::ca::keys::read_key_file(&args.key, None)?;
    let next_key = if args.new_key {
        Some(new_key(args.key_alg)?)
    } else {
        None
    };
    let csr_key = next_key.as_ref().unwrap_or(&current_key);
    let (csr_pem, csr_der) = csr_for(csr_key)?;
    let time = time::OffsetDateTime::now_utc().unix_timestamp();
    let message = crate::ra::enrollment::renewal_message(&serial, time, &csr_der);
    let proof = current_key
        .sign(&message)
        .map_err(|e| CliError::Failed(format!("cannot sign the renewal proof: {e}")))?;
    let url = base.join("/v1/renew");
    let response = agent().post(&url).send_json(serde_json::json!({
        "serial": serial.to_string(),
        "csr": csr_pem,
        "time": time,
        "proof": base64::engine::general_purpose::STANDARD.encode(proof),
    }));
    let issued = match read_response::<Answer>(response, &url)? {
        Answer::Issued(issued) => issued,
        Answer::Pending(pending) => {
            // The new key must outlive this process: the certificate comes later.
            if let Some(key) = &next_key {
                let pending_key = out_dir.join(format!("key.pem.{}", pending.approval));
                crate::ca::keys::write_key_file(&pending_key, key, None)?;
            }
            let id = pending.approval.clone();
            match wait_for_approval(
                base,
                pending,
                parse_wait(&args.wait)?,
                &format!(
                    "fetch it afterwards with `paypki renew --cert {} --approval {id}`",
                    args.cert.display()
                ),
            ) {
                Ok(issued) => {
                    finish_pending_key(&out_dir, &id, next_key.is_some())?;
                    return write_renewed(&out_dir, &serial, &issued);
                }
                Err(e) => return Err(e),
            }
        }
    };
    if let Some(key) = &next_key {
        let key_path = out_dir.join("key.pem");
        let tmp = out_dir.join("key.pem.new");
        let _ = std::fs::remove_file(&tmp);
        crate::ca::keys::write_key_file(&tmp, key, None)?;
        std::fs::rename(&tmp, &key_path).map_err(|e| io_error(&key_path, e))?;
    }
    write_renewed(&out_dir, &serial, &issued)?;
    Ok(())
}

/// Writes a renewed certificate and its chain beside the key.
fn write_renewed(out_dir: &Path, serial: &Serial, issued: &IssuedBody) -> Result<(), CliError> {
    replace_file(&out_dir.join("cert.pem"), issued.certificate.as_bytes())?;
    replace_file(&out_dir.join("chain.pem"), issued.chain.as_bytes())?;
    println!("{}", issued.serial);
    eprintln!(
        "renewed {serial} as {}; valid until {}",
        issued.serial, issued.not_after
    );
    Ok(())
}

/// After an approved renewal with a new key: the key kept for it becomes `key.pem`.
fn finish_pending_key(out_dir: &Path, approval: &str, new_key: bool) -> Result<(), CliError> {
    let pending_key = out_dir.join(format!("key.pem.{approval}"));
    if new_key || pending_key.exists() {
        let key_path = out_dir.join("key.pem");
        std::fs::rename(&pending_key, &key_path).map_err(|e| io_error(&key_path, e))?;
    }
    Ok(())
}

/// `paypki renew --approval ID`: fetches what an approved renewal produced.
fn fetch_approved_renewal(
    base: &ClientUrl,
    args: &RenewArgs,
    approval: &str,
) -> Result<(), CliError> {
    let out_dir = args
        .out_dir
        .clone()
        .or_else(|| args.cert.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    let url = base.join(&format!("/v1/enroll/approvals/{approval}"));
    match read_response::<Answer>(agent().get(&url).call(), &url)? {
        Answer::Issued(issued) => {
            finish_pending_key(&out_dir, approval, false)?;
            let serial = issued
                .serial
                .parse::<Serial>()
                .map_err(|e| CliError::Failed(e.to_string()))?;
            write_renewed(&out_dir, &serial, &issued)
        }
        Answer::Pending(pending) => Err(CliError::Pending(format!(
            "request {} is still waiting for approval ({}); expires {}",
            pending.approval, pending.summary, pending.expires_at
        ))),
    }
}
