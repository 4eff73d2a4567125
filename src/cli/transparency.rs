//! `paypki transparency monitor`: how a bank notices a certificate it never asked for.
//!
//! Each run fetches the newest signed tree head, checks its signature (an RFC 3161
//! token of the CA's TSA, chained to the root), checks that it is consistent with the
//! head the previous run saw (RFC 9162 §2.1.4.2), downloads the entries added since, re-hashes
//! them onto the saved compact range (the subtree roots of the old tree) and checks that
//! they give the signed root. Only when everything holds does it list the certificates
//! whose subject organization matches (and their revocations) and save the new state.
//! A head that is not consistent with the previous one is an alert: printed, exit 1,
//! and the state is left as it was, so every later run repeats the alert.

use std::path::{Path, PathBuf};

use base64::Engine;
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};

use super::remote::{agent, read_response, ClientUrl};
use super::{CliError, Context};
use crate::transparency::entry::LogEntry;
use crate::transparency::tree::{leaf_hash, verify_consistency, Frontier, Hash};
use crate::transparency::{TreeHead, MAX_PAGE};

/// `paypki transparency …`.
#[derive(Debug, Subcommand)]
pub enum TransparencyCommand {
    /// Check the CA's transparency log since the last run and list the certificates
    /// issued to an organization (and their revocations).
    ///
    /// Exit status: 0 the log checked out; 1 ALERT: a tree head that is not
    /// consistent with the previous one, entries that do not hash to the signed root,
    /// or a bad signature (the state file is then not advanced); 2 bad arguments or
    /// state file; 3 the CA could not be reached (try again later).
    Monitor(MonitorArgs),
}

/// Options of `paypki transparency monitor`.
#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// The CA's base URL (default: the server running on the data directory, if any,
    /// else http://127.0.0.1:8080).
    #[arg(long, env = "PAYPKI_URL")]
    pub url: Option<String>,
    /// The subject organization (O) to look for, compared exactly (ignoring ASCII case).
    #[arg(long)]
    pub org: String,
    /// Where the last checked tree head and the log's compact range are kept between
    /// runs (created on the first run).
    #[arg(long, default_value = "paypki-transparency-state.json")]
    pub state: PathBuf,
    /// The CA's root certificate (PEM or DER), obtained out of band: tree heads must be
    /// signed by a TSA under it. Without it the root is fetched from the CA on the
    /// first run and pinned in the state file (trust on first use).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Print the findings as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What the monitor keeps between runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct MonitorState {
    /// The CA's base URL.
    url: String,
    /// SHA-256 of the root certificate (DER), hex.
    root_sha256: String,
    /// The last verified signed tree head.
    sth: Sth,
    /// The compact range of that tree: subtree roots, leftmost first, base64.
    frontier: Vec<String>,
    /// Serials (hex) of matching certificates seen so far, to match their revocations.
    matched: Vec<String>,
}

/// A signed tree head as `/v1/transparency/sth` serves it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Sth {
    tree_size: u64,
    timestamp: u64,
    root_hash: String,
    signature: String,
}

#[derive(Debug, Deserialize)]
struct Consistency {
    consistency_proof: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Entries {
    entries: Vec<EntryItem>,
}

#[derive(Debug, Deserialize)]
struct EntryItem {
    index: u64,
    entry: String,
}

/// One finding of a run.
#[derive(Debug, Serialize)]
struct Finding {
    /// `certificate`, `revocation` or `hold-lifted`.
    #[serde(rename = "type")]
    kind: &'static str,
    leaf_index: u64,
    serial: String,
    /// For a certificate: its subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    /// For a revocation: the reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// When the CA recorded it, RFC 3339.
    recorded_at: String,
}

/// The summary printed with `--json`.
#[derive(Debug, Serialize)]
struct Report<'a> {
    previous_tree_size: u64,
    tree_size: u64,
    new_entries: u64,
    organization: &'a str,
    findings: &'a [Finding],
}

pub(super) fn run(context: &Context, command: TransparencyCommand) -> Result<(), CliError> {
    match command {
        TransparencyCommand::Monitor(args) => {
            let base = ClientUrl::resolve(args.url.as_deref(), &context.data_dir);
            monitor(&base, &args).map_err(|e| match e {
                CliError::Unreachable(_) => base.explain(e),
                other => other,
            })
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn hash_of(text: &str, what: &str) -> Result<Hash, CliError> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()
        .and_then(|b| Hash::try_from(b.as_slice()).ok())
        .ok_or_else(|| alert(format!("{what} is not a base64 SHA-256 hash")))
}

/// A failed check of the log: loud, and exit status 1.
fn alert(message: String) -> CliError {
    CliError::Failed(format!("ALERT: {message}"))
}

fn get<T: serde::de::DeserializeOwned>(base: &ClientUrl, path: &str) -> Result<T, CliError> {
    let url = base.join(path);
    read_response(agent().get(&url).call(), &url)
}

fn get_bytes(base: &ClientUrl, path: &str) -> Result<Vec<u8>, CliError> {
    let url = base.join(path);
    let mut response = agent()
        .get(&url)
        .call()
        .map_err(|e| CliError::Unreachable(format!("cannot reach {url}: {e}")))?;
    if !response.status().is_success() {
        return Err(CliError::Unreachable(format!(
            "{url}: HTTP {}",
            response.status().as_u16()
        )));
    }
    response
        .body_mut()
        .read_to_vec()
        .map_err(|e| CliError::Unreachable(format!("{url}: {e}")))
}

/// Certificates from PEM text or one DER certificate.
fn certificates_of(bytes: &[u8]) -> Vec<Vec<u8>> {
    if bytes.starts_with(b"-----") {
        x509_parser::pem::Pem::iter_from_buffer(bytes)
            .filter_map(Result::ok)
            .filter(|p| p.label == "CERTIFICATE")
            .map(|p| p.contents)
            .collect()
    } else {
        vec![bytes.to_vec()]
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

fn load_state(path: &Path) -> Result<Option<MonitorState>, CliError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            CliError::Usage(format!(
                "{} is not a monitor state file ({e}); move it away to start afresh",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CliError::Usage(format!("{}: {e}", path.display()))),
    }
}

/// Writes the state atomically (a crash leaves the old state or the new one).
fn save_state(path: &Path, state: &MonitorState) -> Result<(), CliError> {
    let text = serde_json::to_vec_pretty(state)
        .map_err(|e| CliError::Failed(format!("cannot encode the state: {e}")))?;
    let tmp = path.with_extension("tmp");
    let io = |e: std::io::Error| CliError::Failed(format!("{}: {e}", path.display()));
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Checks that the head is signed by a TSA under `root`: the token's imprint must be
/// SHA-256 of the head's `TreeHeadDataV2` bytes.
fn check_signature(sth: &Sth, root: &[u8], intermediates: &[Vec<u8>]) -> Result<(), CliError> {
    let head = TreeHead {
        timestamp: sth.timestamp,
        tree_size: sth.tree_size,
        root_hash: hash_of(&sth.root_hash, "the tree head's root hash")?,
    };
    let token = base64::engine::general_purpose::STANDARD
        .decode(&sth.signature)
        .map_err(|_| alert("the tree head's signature is not base64".into()))?;
    let digest = head.signing_digest();
    crate::verify::timestamp::verify_token(
        &token,
        Some((crate::tsp::HashAlgorithm::Sha256, &digest)),
        root,
        intermediates,
    )
    .map(|_| ())
    .map_err(|e| {
        alert(format!(
            "the tree head of size {} is not signed by the CA's TSA: {e}",
            sth.tree_size
        ))
    })
}

fn monitor(base: &ClientUrl, args: &MonitorArgs) -> Result<(), CliError> {
    let previous = load_state(&args.state)?;
    // The trust anchor: given, or pinned by the first run.
    let root = match &args.ca_file {
        Some(path) => {
            let bytes = std::fs::read(path)
                .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
            certificates_of(&bytes).into_iter().next().ok_or_else(|| {
                CliError::Usage(format!("{} holds no certificate", path.display()))
            })?
        }
        None => get_bytes(base, "/ca/root.crt")?,
    };
    let root_sha256 = sha256_hex(&root);
    if let Some(state) = &previous {
        if state.root_sha256 != root_sha256 {
            return Err(alert(format!(
                "the CA's root certificate is not the one this state file was made with \
                 (SHA-256 {} before, {root_sha256} now)",
                state.root_sha256
            )));
        }
    }
    let intermediates = certificates_of(&get_bytes(base, "/ca/chain.pem")?);
    let sth: Sth = get(base, "/v1/transparency/sth")?;
    check_signature(&sth, &root, &intermediates)?;
    let new_root = hash_of(&sth.root_hash, "the tree head's root hash")?;

    let (mut frontier, mut matched, old_size) = match &previous {
        None => (Frontier::new(), Vec::new(), 0),
        Some(state) => {
            let hashes = state
                .frontier
                .iter()
                .map(|h| hash_of(h, "a saved subtree root"))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| CliError::Usage("the state file's frontier is damaged".into()))?;
            let frontier = Frontier::from_parts(state.sth.tree_size, hashes)
                .ok_or_else(|| CliError::Usage("the state file's frontier is damaged".into()))?;
            let old_root = hash_of(&state.sth.root_hash, "the saved root hash")?;
            if frontier.root() != old_root {
                return Err(CliError::Usage(
                    "the state file's frontier does not give its saved root".into(),
                ));
            }
            // RFC 9162 §2.1.4: the new head must extend the old one.
            if sth.tree_size < state.sth.tree_size {
                return Err(alert(format!(
                    "the log shrank: the CA signed a tree of {} entries after one of {}",
                    sth.tree_size, state.sth.tree_size
                )));
            }
            if sth.tree_size == state.sth.tree_size {
                if new_root != old_root {
                    return Err(alert(format!(
                        "the tree head of {} entries (root {}) is NOT CONSISTENT with the one \
                         of {} entries seen before (root {}): two different trees of one size \
                         were signed",
                        sth.tree_size, sth.root_hash, state.sth.tree_size, state.sth.root_hash
                    )));
                }
            } else if state.sth.tree_size > 0 {
                let proof: Consistency = get(
                    base,
                    &format!(
                        "/v1/transparency/consistency?first={}&second={}",
                        state.sth.tree_size, sth.tree_size
                    ),
                )?;
                let proof = proof
                    .consistency_proof
                    .iter()
                    .map(|h| hash_of(h, "a consistency proof hash"))
                    .collect::<Result<Vec<_>, _>>()?;
                if !verify_consistency(
                    state.sth.tree_size,
                    sth.tree_size,
                    &old_root,
                    &new_root,
                    &proof,
                ) {
                    return Err(alert(format!(
                        "the tree head of {} entries (root {}) is NOT CONSISTENT with the one \
                         of {} entries seen before (root {}): the log was rewritten",
                        sth.tree_size, sth.root_hash, state.sth.tree_size, state.sth.root_hash
                    )));
                }
            }
            (frontier, state.matched.clone(), state.sth.tree_size)
        }
    };

    // The new entries, page by page, re-hashed onto the saved compact range.
    let mut findings = Vec::new();
    let mut at = old_size;
    while at < sth.tree_size {
        let end = (at + MAX_PAGE).min(sth.tree_size);
        let page: Entries = get(
            base,
            &format!("/v1/transparency/entries?start={at}&end={end}"),
        )?;
        if page.entries.len() as u64 != end - at {
            return Err(alert(format!(
                "asked for entries {at}..{end}, got {}",
                page.entries.len()
            )));
        }
        for item in page.entries {
            if item.index != at {
                return Err(alert(format!("entry {at} came as index {}", item.index)));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(&item.entry)
                .map_err(|_| alert(format!("entry {at} is not base64")))?;
            frontier.append(leaf_hash(&bytes));
            let entry = LogEntry::decode(&bytes).map_err(|e| alert(format!("entry {at}: {e}")))?;
            if let Some(finding) = examine(at, &entry, &args.org, &mut matched) {
                findings.push(finding);
            }
            at += 1;
        }
    }
    if frontier.root() != new_root {
        return Err(alert(format!(
            "the entries the CA served do not hash to its signed root of {} entries",
            sth.tree_size
        )));
    }

    let new_entries = sth.tree_size - old_size;
    save_state(
        &args.state,
        &MonitorState {
            url: base.join(""),
            root_sha256,
            frontier: frontier.hashes().iter().map(|h| b64(h)).collect(),
            sth: sth.clone(),
            matched,
        },
    )?;
    if args.json {
        let report = Report {
            previous_tree_size: old_size,
            tree_size: sth.tree_size,
            new_entries,
            organization: &args.org,
            findings: &findings,
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&report)
                .map_err(|e| CliError::Failed(format!("cannot encode the report: {e}")))?
        );
    } else {
        println!(
            "log checked: {} entries ({} new since the last run), signed and consistent",
            sth.tree_size, new_entries
        );
        for f in &findings {
            match f.kind {
                "certificate" => println!(
                    "certificate {} issued {} to {} (entry {})",
                    f.serial,
                    f.recorded_at,
                    f.subject.as_deref().unwrap_or(""),
                    f.leaf_index
                ),
                kind => println!(
                    "{kind} of {} {} {} (entry {})",
                    f.serial,
                    f.reason.as_deref().unwrap_or(""),
                    f.recorded_at,
                    f.leaf_index
                ),
            }
        }
        if findings.is_empty() {
            println!("nothing new for organization {:?}", args.org);
        }
    }
    Ok(())
}

fn recorded(ms: u64) -> String {
    i128::from(ms)
        .checked_mul(1_000_000)
        .and_then(|ns| time::OffsetDateTime::from_unix_timestamp_nanos(ns).ok())
        .map(crate::clock::format_time)
        .unwrap_or_else(|| ms.to_string())
}

/// A finding for `org` in this entry, if any; a matching certificate's serial is kept
/// so that its later revocation is reported too.
fn examine(index: u64, entry: &LogEntry, org: &str, matched: &mut Vec<String>) -> Option<Finding> {
    match entry {
        LogEntry::Certificate { der, timestamp, .. } => {
            let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
            let subject = cert.subject();
            let matches = subject
                .iter_organization()
                .filter_map(|o| o.as_str().ok())
                .any(|o| o.eq_ignore_ascii_case(org));
            if !matches {
                return None;
            }
            let serial = crate::model::Serial::from_der_integer(cert.raw_serial())
                .map(|s| s.to_string())
                .unwrap_or_else(|_| hex::encode(cert.raw_serial()));
            matched.push(serial.clone());
            Some(Finding {
                kind: "certificate",
                leaf_index: index,
                serial,
                subject: Some(subject.to_string()),
                reason: None,
                recorded_at: recorded(*timestamp),
            })
        }
        LogEntry::Revocation {
            serial,
            reason,
            timestamp,
            ..
        } => {
            // Magnitude octets, as the CA's serials are shown.
            let serial = hex::encode(serial);
            matched.contains(&serial).then(|| Finding {
                kind: "revocation",
                leaf_index: index,
                serial,
                subject: None,
                reason: Some(reason.name().to_string()),
                recorded_at: recorded(*timestamp),
            })
        }
        LogEntry::HoldLifted {
            serial, timestamp, ..
        } => {
            // Magnitude octets, as the CA's serials are shown.
            let serial = hex::encode(serial);
            matched.contains(&serial).then(|| Finding {
                kind: "hold-lifted",
                leaf_index: index,
                serial,
                subject: None,
                reason: None,
                recorded_at: recorded(*timestamp),
            })
        }
    }
}
