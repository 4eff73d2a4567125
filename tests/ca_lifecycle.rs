//! The CA's own lifecycle, as strict relying parties see it (issue "The whole chain
//! validates for strict relying parties"): the root CRL signed at `init` and served at
//! `/crl/root.crl`, re-signed with `paypki crl --root` or published through the admin API;
//! an offline root key (`init --root-key-out`); revoking the issuing CA or its OCSP
//! responder (`paypki ca revoke`); rollover to a second issuing CA (`paypki ca rollover`,
//! `paypki ca list`); health and metrics about CRL freshness; and data directories made by
//! the previous version.
//!
//! A strict relying party checks revocation of every certificate of the chain and fails
//! hard: `openssl verify -crl_check_all -crl_download -CAfile root -untrusted issuing
//! leaf`. OpenSSL then fetches each CRL from the distribution point written in the
//! certificate, so these tests create their CA with `paypki init --base-url
//! http://127.0.0.1:PORT` for a port picked beforehand ([`pick_free_port`]) and run
//! `paypki serve --listen 127.0.0.1:PORT` on it ([`TestServer::start_on_port`]).
//!
//! Everything is checked with tools that share no code with paypki: `openssl` (`verify`,
//! `ocsp`, `ca -gencrl`, `crl`, `dgst`) and Python's `cryptography`
//! (`tests/py/check_crl_chain.py`, `check_crl.py`, `check_cert.py`).

// Test code may panic freely (helpers outside `#[test]` functions included).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use common::*;

// ---------------------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------------------

/// `--org` of every CA made here: issuing CA n > 1 is named "<org> Issuing CA n".
const ORG: &str = "Lifecycle Payments";
/// `--country` of every CA made here.
const COUNTRY: &str = "DE";
/// `--root-cn` of every CA made here.
const ROOT_CN: &str = "Lifecycle Payments Root CA";

/// One day in seconds.
const DAY: i64 = 86_400;
/// Slack allowed on a CRL validity (thisUpdate and nextUpdate should come from one clock
/// reading; a minute covers rounding).
const VALIDITY_SLACK: i64 = 60;
/// How long a running server may take to show a change (it picks a new `crl/root.crl` up
/// within about 3 s; the issue bounds the wait to 10 s).
const PICKUP_LIMIT: Duration = Duration::from_secs(10);
/// Bound on a network-using `openssl` command (its CRL download has no time-out).
const OPENSSL_LIMIT: Duration = Duration::from_secs(60);

/// The 503 of `POST /v1/enroll` while no issuing CA is active.
const PROBLEM_NO_ISSUING_CA: &str = "urn:paypki:problem:no-issuing-ca";
/// The 401 of an admin call without the credential.
const PROBLEM_UNAUTHORIZED: &str = "urn:paypki:problem:unauthorized";
/// A 404.
const PROBLEM_NOT_FOUND: &str = "urn:paypki:problem:not-found";
/// The 422 of `POST /v1/admin/crls/root` with a CRL that is not this root's (the issue
/// names only the status; the type is the one paypki chose).
const PROBLEM_BAD_CRL: &str = "urn:paypki:problem:bad-crl";
/// The 409 of `POST /v1/admin/crls/root` with a cRLNumber not above the current one
/// (likewise).
const PROBLEM_CRL_NOT_NEWER: &str = "urn:paypki:problem:crl-not-newer";

// ---------------------------------------------------------------------------------------
// A CA whose URLs reach its test server
// ---------------------------------------------------------------------------------------

/// A CA made by `paypki init --base-url http://127.0.0.1:PORT --org ORG --country COUNTRY
/// --root-cn ROOT_CN`, whose servers listen on that port.
struct PortedCa {
    ca: TestCa,
    port: u16,
    /// `http://127.0.0.1:PORT`, the base URL in its certificates.
    base: String,
}

impl PortedCa {
    /// `paypki init` with the names above, the picked port, and `extra` arguments.
    fn init(extra: &[&str]) -> Self {
        let port = pick_free_port();
        let base = format!("http://127.0.0.1:{port}");
        let mut args = vec![
            "--base-url",
            base.as_str(),
            "--org",
            ORG,
            "--country",
            COUNTRY,
            "--root-cn",
            ROOT_CN,
        ];
        args.extend_from_slice(extra);
        let ca = TestCa::init(&args, &[]);
        PortedCa { ca, port, base }
    }

    /// `paypki serve --listen 127.0.0.1:PORT` with the shipped policies.
    fn serve(&self) -> TestServer<'_> {
        TestServer::start_on_port(&self.ca, self.port, &[])
    }

    /// `paypki serve --listen 127.0.0.1:PORT --policies POLICIES`.
    fn serve_with_policies(&self, policies: &Path) -> TestServer<'_> {
        TestServer::start_listening(&self.ca, policies, &format!("127.0.0.1:{}", self.port), &[])
    }

    /// `<base>/<path>`.
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// `<data>/crl/root.crl`, where `init`, `crl --root` and `serve` keep the root CRL.
fn root_crl_file(ca: &TestCa) -> PathBuf {
    ca.data_dir().join("crl").join("root.crl")
}

/// Copies a file into the CA's temporary directory as `<tmp>/<name>`.
fn keep_copy(ca: &TestCa, from: &Path, name: &str) -> PathBuf {
    let to = ca.path(name);
    std::fs::copy(from, &to).unwrap_or_else(|e| panic!("cannot copy {}: {e}", from.display()));
    to
}

/// A participant enrolled with `paypki token create` + `paypki enroll` (ECDSA P-256).
#[derive(Debug, Clone)]
struct Leaf {
    serial: String,
    /// `cert.pem`.
    cert: PathBuf,
    /// `key.pem`.
    key: PathBuf,
    /// `chain.pem`: the chain the enrollment answer handed out.
    chain: PathBuf,
}

/// Enrolls a participant of `role` into `<tmp>/<name>/`.
fn enroll(server: &TestServer<'_>, role: &str, name: &str) -> Leaf {
    let (serial, dir) = server.enroll_case(&enroll_case(role), "ecdsa-p256", name);
    Leaf {
        serial,
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
        chain: dir.join("chain.pem"),
    }
}

/// Serials compare equal whatever their case and leading zeros.
fn same_serial(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.trim()
            .to_ascii_lowercase()
            .trim_start_matches('0')
            .to_string()
    };
    norm(a) == norm(b)
}

/// Polls `attempt` until it succeeds, at most `limit`; `Err` describes the last state seen,
/// for the failure message.
#[track_caller]
fn wait_for<T>(what: &str, limit: Duration, mut attempt: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match attempt() {
            Ok(value) => return value,
            Err(last) => {
                assert!(
                    Instant::now() < deadline,
                    "{what}: not within {limit:?}; last seen:\n{last}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// An ISO 8601 / RFC 3339 time (as Python's `isoformat()` prints it), in Unix seconds.
fn unix_time(text: &str) -> i64 {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{text:?} is not an RFC 3339 time: {e}"))
        .unix_timestamp()
}

/// nextUpdate − thisUpdate of a CRL parsed by `check_crl.py`, in seconds.
fn crl_validity(crl: &Value) -> i64 {
    unix_time(
        crl["next_update"]
            .as_str()
            .expect("a CRL without nextUpdate"),
    ) - unix_time(
        crl["this_update"]
            .as_str()
            .expect("a CRL without thisUpdate"),
    )
}

/// Asserts a root CRL (parsed by `check_crl.py` against the root): this cRLNumber, this
/// validity, no entries, issued by the root.
#[track_caller]
fn assert_root_crl(crl: &Value, number: u64, validity_days: i64, what: &str) {
    assert_eq!(crl["issuer_matches"], true, "{what}: issuer\n{crl:#}");
    assert_eq!(
        crl["crl_number"].as_u64(),
        Some(number),
        "{what}: cRLNumber\n{crl:#}"
    );
    let validity = crl_validity(crl);
    assert!(
        (validity - validity_days * DAY).abs() <= VALIDITY_SLACK,
        "{what}: nextUpdate − thisUpdate is {validity} s, expected {validity_days} days\n{crl:#}"
    );
    assert!(
        crl["entries"].as_array().is_some_and(Vec::is_empty),
        "{what}: expected an empty CRL\n{crl:#}"
    );
}

/// Status and headers of a response whose body is binary (a CRL, a certificate), with
/// the body's length instead of its bytes.
fn describe_head(response: &HttpResponse) -> String {
    let headers: Vec<String> = response
        .headers
        .iter()
        .map(|(n, v)| format!("{n}: {v}"))
        .collect();
    format!(
        "HTTP {}\n{}\n\n({} bytes of body)",
        response.status,
        headers.join("\n"),
        response.body.len()
    )
}

/// Asserts the caching headers `/crl/issuing.crl` has: `application/pkix-crl`, `ETag`,
/// `Last-Modified`, and `Cache-Control` with a positive `max-age`.
#[track_caller]
fn assert_crl_http(response: &HttpResponse, what: &str) {
    if response.status != 200 {
        // A problem document (text) explains the refusal.
        response.assert_status(200, what);
    }
    assert_eq!(
        response.content_type(),
        "application/pkix-crl",
        "{what}: content type\n{}",
        describe_head(response)
    );
    for header in ["etag", "last-modified", "cache-control"] {
        assert!(
            response
                .header(header)
                .is_some_and(|v| !v.trim().is_empty()),
            "{what}: no {header} header\n{}",
            describe_head(response)
        );
    }
    let max_age = response
        .header("cache-control")
        .unwrap_or_default()
        .split(',')
        .find_map(|d| d.trim().strip_prefix("max-age="))
        .and_then(|v| v.parse::<u64>().ok());
    assert!(
        max_age.is_some_and(|v| v > 0),
        "{what}: Cache-Control without a positive max-age\n{}",
        describe_head(response)
    );
}

/// `GET path` of a CRL; asserts 200 with the CRL headers and writes the body to
/// `<tmp>/<name>`.
fn fetch_crl(server: &TestServer<'_>, path: &str, name: &str) -> (PathBuf, HttpResponse) {
    let response = server.get(path);
    assert_crl_http(&response, &format!("GET {path}"));
    let file = server.ca().path(name);
    std::fs::write(&file, &response.body).unwrap();
    (file, response)
}

/// The served root CRL, checked by `check_crl.py` against the root.
fn served_root_crl(server: &TestServer<'_>, name: &str) -> Value {
    let (file, _) = fetch_crl(server, "/crl/root.crl", name);
    check_crl(&file, &server.ca().root_cert())
}

/// Polls `/crl/root.crl` until it carries cRLNumber `number`; returns it parsed.
#[track_caller]
fn wait_for_root_crl_number(server: &TestServer<'_>, number: u64, what: &str) -> Value {
    wait_for(
        &format!("{what}: GET /crl/root.crl with cRLNumber {number}"),
        PICKUP_LIMIT,
        || {
            let response = server.get("/crl/root.crl");
            if response.status != 200 {
                return Err(response.describe());
            }
            let file = server.ca().path("polled-root.crl");
            std::fs::write(&file, &response.body).unwrap();
            let crl = check_crl(&file, &server.ca().root_cert());
            if crl["crl_number"].as_u64() == Some(number) {
                Ok(crl)
            } else {
                Err(format!("{crl:#}"))
            }
        },
    )
}

/// `GET path` of a DER CA certificate (`/ca/*.crt`); asserts 200 `application/pkix-cert`
/// and writes it as PEM to `<tmp>/<name>`.
fn served_certificate(server: &TestServer<'_>, path: &str, name: &str) -> PathBuf {
    let response = server.get(path);
    response.assert_status(200, &format!("GET {path}"));
    assert!(
        response.content_type().starts_with("application/pkix-cert"),
        "GET {path}: content type\n{}",
        describe_head(&response)
    );
    let ca = server.ca();
    let pem = der_certificate_to_pem(&response.body, &ca.path(&format!("{name}.der")));
    let file = ca.path(name);
    std::fs::write(&file, pem).unwrap();
    file
}

/// `GET path` of a PEM chain; asserts 200 and returns its certificates.
fn served_chain(server: &TestServer<'_>, path: &str) -> Vec<String> {
    let response = server.get(path);
    response.assert_status(200, &format!("GET {path}"));
    assert!(
        response
            .content_type()
            .starts_with("application/pem-certificate-chain"),
        "GET {path}: content type\n{}",
        response.describe()
    );
    split_pem_certificates(&response.text())
}

/// The certificates of a JSON `chain` field: one PEM string, or an array of them.
fn json_chain(value: &Value, what: &str) -> Vec<String> {
    match value {
        Value::String(pem) => split_pem_certificates(pem),
        Value::Array(items) => items
            .iter()
            .flat_map(|item| {
                split_pem_certificates(
                    item.as_str()
                        .unwrap_or_else(|| panic!("{what}: a chain item is not PEM text: {item}")),
                )
            })
            .collect(),
        other => panic!("{what}: no chain (PEM text or an array of PEM texts): {other}"),
    }
}

/// Asserts that `chain` is exactly the certificates of `expected` (PEM files), in order.
#[track_caller]
fn assert_chain_is(chain: &[String], expected: &[&Path], what: &str) {
    let got: Vec<String> = chain.iter().map(|pem| normalize_pem(pem)).collect();
    let want: Vec<String> = expected
        .iter()
        .map(|file| normalize_pem(&split_pem_certificates(&read_text(file))[0]))
        .collect();
    let names = |files: &[&Path]| {
        files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" then ")
    };
    assert!(
        got == want,
        "{what}: expected the chain {} ({} certificates), got {} certificates:\n{}",
        names(expected),
        want.len(),
        got.len(),
        chain.join("")
    );
}

/// Writes the concatenation of PEM files to `<tmp>/<name>` (an `-CAfile` bundle).
fn bundle(ca: &TestCa, files: &[&Path], name: &str) -> PathBuf {
    let text: String = files.iter().map(|f| read_text(f)).collect();
    let file = ca.path(name);
    std::fs::write(&file, text).unwrap();
    file
}

// ---------------------------------------------------------------------------------------
// The strict relying party and the other verifiers
// ---------------------------------------------------------------------------------------

/// `openssl verify -crl_check_all -crl_download -CAfile ROOT -untrusted ISSUING LEAF`,
/// without proxies and bounded in time.
fn strict_verify(root: &Path, issuing: &Path, leaf: &Path) -> Output {
    let mut command = Command::new("openssl");
    command
        .args(["verify", "-crl_check_all", "-crl_download", "-CAfile"])
        .arg(root)
        .arg("-untrusted")
        .arg(issuing)
        .arg(leaf);
    run_with_deadline(without_proxy(&mut command), OPENSSL_LIMIT)
}

/// Asserts that the strict relying party accepts `leaf`; on failure, says which
/// certificate's CRL OpenSSL could not get or did not accept.
#[track_caller]
fn assert_strict_accepts(root: &Path, issuing: &Path, leaf: &Path, what: &str) {
    let output = strict_verify(root, issuing, leaf);
    if output.status.success() && output.stdout_text().trim_end().ends_with(": OK") {
        return;
    }
    let text = output.describe();
    let hint = if text.contains("at 2 depth lookup: unable to get certificate CRL") {
        "OpenSSL got and accepted the CRLs of the leaf (depth 0) and of the issuing CA \
         (depth 1), then found no CRL for the root itself (depth 2): -crl_check_all checks the \
         trust anchor too, and with -crl_download OpenSSL looks for a CRL only at a \
         certificate's own CRL distribution point, so the root certificate needs one \
         (<base>/crl/root.crl; the root CRL covers the root, its own issuer)."
    } else if text.contains("at 1 depth lookup: unable to get certificate CRL") {
        "no CRL for the issuing CA (depth 1): its CRL distribution point must be \
         <base>/crl/root.crl, and GET /crl/root.crl must answer the root's CRL."
    } else if text.contains("at 0 depth lookup: unable to get certificate CRL") {
        "no CRL for the leaf (depth 0): GET at its CRL distribution point failed."
    } else {
        "see OpenSSL's output."
    };
    panic!(
        "{what}: the strict relying party (openssl verify -crl_check_all -crl_download) \
         refused {}\nHint: {hint}\n{text}",
        leaf.display()
    );
}

/// Asserts that the strict relying party rejects `leaf` as revoked, at one of `depths`
/// (0: the leaf is on its issuing CA's CRL; 1: the issuing CA is on the root CRL).
#[track_caller]
fn assert_strict_rejects_revoked(
    root: &Path,
    issuing: &Path,
    leaf: &Path,
    depths: &[u8],
    what: &str,
) {
    let output = strict_verify(root, issuing, leaf);
    output.assert_failure(what);
    let text = output.describe();
    assert!(
        depths
            .iter()
            .any(|depth| text.contains(&format!("at {depth} depth lookup: certificate revoked"))),
        "{what}: expected openssl to reject it as revoked (at depth {depths:?})\n{text}"
    );
}

/// `openssl dgst -sha256 -sign KEY` over `message`; returns the signature.
fn sign(ca: &TestCa, key: &Path, message: &[u8], stem: &str) -> Vec<u8> {
    let message_file = ca.path(&format!("{stem}.msg"));
    std::fs::write(&message_file, message).unwrap();
    let signature = ca.path(&format!("{stem}.sig"));
    openssl(&[
        "dgst".as_ref(),
        "-sha256".as_ref(),
        "-sign".as_ref(),
        key.as_os_str(),
        "-out".as_ref(),
        signature.as_os_str(),
        message_file.as_os_str(),
    ]);
    read_bytes(&signature)
}

/// Standard base64.
fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Asserts a verification verdict `valid: false, reason: "revoked"` whose message says
/// that the issuing CA was revoked.
#[track_caller]
fn assert_revoked_by_its_ca(outcome: &Value, what: &str) {
    assert_eq!(
        outcome["valid"], false,
        "{what}: expected invalid: {outcome}"
    );
    assert_eq!(outcome["reason"], "revoked", "{what}: reason: {outcome}");
    let message = outcome["message"].as_str().unwrap_or_default();
    assert!(
        message.to_lowercase().contains("issuing ca"),
        "{what}: the message must say that the issuing CA was revoked: {outcome}"
    );
}

/// `POST /v1/validate {"chain": [leaf, issuing]}`; asserts `valid: true`.
#[track_caller]
fn assert_validates(server: &TestServer<'_>, leaf: &Path, issuing: &Path, what: &str) {
    let outcome = server.post_json_ok(
        "/v1/validate",
        &json!({ "chain": [read_text(leaf), read_text(issuing)] }),
        what,
    );
    assert_eq!(outcome["valid"], true, "{what}: {outcome}");
    assert!(outcome.get("reason").is_none(), "{what}: {outcome}");
}

/// The OCSP responder certificate embedded in a response from `openssl ocsp` for `leaf`
/// (written as PEM to `<tmp>/<name>`).
fn responder_in_response(
    server: &TestServer<'_>,
    issuing: &Path,
    ca_file: &Path,
    leaf: &Path,
    name: &str,
) -> PathBuf {
    let ca = server.ca();
    let response = ca.path(&format!("{name}.der"));
    let text = openssl_ocsp(
        &server.url_for("/ocsp"),
        issuing,
        ca_file,
        &[
            "-no_nonce".as_ref(),
            "-cert".as_ref(),
            leaf.as_os_str(),
            "-respout".as_ref(),
            response.as_os_str(),
        ],
    );
    let label = leaf.to_str().unwrap();
    assert_eq!(
        ocsp_status_line(&text, label),
        format!("{label}: good"),
        "{text}"
    );
    let printed = openssl(&[
        "ocsp".as_ref(),
        "-respin".as_ref(),
        response.as_os_str(),
        "-resp_text".as_ref(),
        "-noverify".as_ref(),
    ])
    .stdout_text();
    let certificates = split_pem_certificates(&printed);
    assert_eq!(
        certificates.len(),
        1,
        "expected one responder certificate in the OCSP response:\n{printed}"
    );
    let file = ca.path(name);
    std::fs::write(&file, &certificates[0]).unwrap();
    file
}

// ---------------------------------------------------------------------------------------
// Problems, health, metrics, the `ca` commands
// ---------------------------------------------------------------------------------------

/// Asserts a problem document with this status and exactly this `type`.
#[track_caller]
fn assert_problem_type(response: &HttpResponse, status: u16, kind: &str, what: &str) -> Value {
    let slug = kind.strip_prefix("urn:paypki:problem:").unwrap_or(kind);
    response.assert_problem(status, slug, what)
}

/// `GET /healthz`: asserts HTTP 200 JSON and returns it.
fn health(server: &TestServer<'_>) -> Value {
    let response = server.get("/healthz");
    response.assert_status(200, "GET /healthz");
    response.json()
}

/// Asserts `{"status": "ok"}` (no reasons).
#[track_caller]
fn assert_healthy(health: &Value, what: &str) {
    assert_eq!(health["status"], "ok", "{what}: {health}");
    assert!(
        health
            .get("reasons")
            .is_none_or(|r| r.as_array().is_some_and(Vec::is_empty)),
        "{what}: reasons on a healthy answer: {health}"
    );
}

/// The reasons of a `degraded` answer, or `Err` (for [`wait_for`]) if it is not degraded.
fn degraded_reasons(health: &Value) -> Result<Vec<String>, String> {
    if health["status"] != "degraded" {
        return Err(health.to_string());
    }
    let reasons: Vec<String> = health["reasons"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|r| r.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if reasons.is_empty() || reasons.iter().any(|r| r.trim().is_empty()) {
        return Err(format!(
            "degraded without reasons (non-empty strings): {health}"
        ));
    }
    Ok(reasons)
}

/// The value of `name{…label…}` in Prometheus / OpenMetrics text, if present.
fn gauge(metrics: &str, name: &str, label: &str) -> Option<f64> {
    metrics
        .lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let labels_and_value = line.strip_prefix(name)?.strip_prefix('{')?;
            let (labels, value) = labels_and_value.split_once('}')?;
            if !labels.split(',').any(|l| l.trim() == label) {
                return None;
            }
            value.split_whitespace().next()?.parse().ok()
        })
}

/// `GET /metrics` text.
fn metrics(server: &TestServer<'_>) -> String {
    let response = server.get("/metrics");
    response.assert_status(200, "GET /metrics");
    response.text()
}

/// `paypki ca list --json` (server stopped), parsed; panics unless it is a JSON array.
fn ca_list(ca: &TestCa) -> Vec<Value> {
    let output = ca.paypki(&["ca", "list", "--json"]);
    output.assert_success("paypki ca list --json");
    match serde_json::from_slice(&output.stdout) {
        Ok(Value::Array(items)) => items,
        Ok(other) => panic!("paypki ca list --json printed {other}, not an array"),
        Err(e) => panic!(
            "paypki ca list --json is not JSON: {e}\n{}",
            output.describe()
        ),
    }
}

/// The entry with this `id` in `paypki ca list --json`.
#[track_caller]
fn ca_entry(list: &[Value], id: u64) -> &Value {
    list.iter()
        .find(|entry| entry["id"].as_u64() == Some(id))
        .unwrap_or_else(|| {
            panic!("paypki ca list --json has no CA with id {id} (a number): {list:#?}")
        })
}

/// Asserts one `paypki ca list --json` entry against its certificate.
#[track_caller]
fn assert_ca_entry(entry: &Value, state: &str, cert: &CertSummary, crl_url: &str, what: &str) {
    assert_eq!(entry["state"], state, "{what}: state\n{entry:#}");
    assert_eq!(entry["crl_url"], crl_url, "{what}: crl_url\n{entry:#}");
    let serial = entry["serial"].as_str().unwrap_or_default();
    assert!(
        same_serial(serial, &cert.serial),
        "{what}: serial {serial:?}, the certificate's is {}\n{entry:#}",
        cert.serial
    );
    let subject = entry["subject"].as_str().unwrap_or_default();
    let cn = cert
        .subject_attributes
        .iter()
        .find(|(k, _)| k == "CN")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    assert!(
        !cn.is_empty() && subject.contains(&cn),
        "{what}: subject {subject:?} does not name {cn:?}\n{entry:#}"
    );
    let not_after = entry["not_after"].as_str().unwrap_or_default();
    let year = time::OffsetDateTime::from_unix_timestamp(cert.not_after_unix)
        .unwrap()
        .year()
        .to_string();
    assert!(
        not_after.contains(&year),
        "{what}: not_after {not_after:?} is not the certificate's ({})\n{entry:#}",
        cert.not_after
    );
}

/// `paypki ca rollover [EXTRA…]` (server stopped); asserts that it prints the new CA's id
/// alone on stdout and returns it.
#[track_caller]
fn rollover(ca: &TestCa, extra: &[&str], expected_id: u32) {
    let mut args = vec!["ca", "rollover"];
    args.extend_from_slice(extra);
    let output = ca.paypki(&args);
    output.assert_success("paypki ca rollover (server stopped)");
    assert_eq!(
        output.stdout_text().trim_end_matches('\n'),
        expected_id.to_string(),
        "paypki ca rollover must print the new CA's id alone on stdout\n{}",
        output.describe()
    );
}

/// `paypki ca revoke WHAT --reason REASON [EXTRA…]` (server stopped); asserts success.
fn ca_revoke(ca: &TestCa, what: &str, reason: &str, extra: &[&str]) -> Output {
    let mut args = vec!["ca", "revoke", what, "--reason", reason];
    args.extend_from_slice(extra);
    let output = ca.paypki(&args);
    output.assert_success(&format!(
        "paypki ca revoke {what} --reason {reason} (server stopped)"
    ));
    output
}

/// `paypki crl --root [EXTRA…] --out <tmp>/<name>`; asserts success and returns the file.
fn crl_root(ca: &TestCa, extra: &[&str], name: &str) -> PathBuf {
    let out = ca.path(name);
    let mut args = vec!["crl", "--root"];
    args.extend_from_slice(extra);
    args.extend(["--out", out.to_str().unwrap()]);
    ca.paypki(&args)
        .assert_success(&format!("paypki crl --root {}", extra.join(" ")));
    assert!(
        out.is_file(),
        "paypki crl --root wrote no {}",
        out.display()
    );
    out
}

/// A root CRL "made elsewhere": `openssl ca -gencrl` with this CA certificate and key and
/// cRLNumber `number` (empty, 30 days, v2 with an authorityKeyIdentifier); returns DER.
fn openssl_made_crl(ca: &TestCa, cert: &Path, key: &Path, number: u64, stem: &str) -> Vec<u8> {
    let dir = ca.path(&format!("openssl-ca-{stem}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.txt"), "").unwrap();
    std::fs::write(dir.join("crlnumber"), format!("{number:02X}\n")).unwrap();
    let config = dir.join("ca.cnf");
    std::fs::write(
        &config,
        format!(
            "[ca]\ndefault_ca = root_ca\n[root_ca]\ndatabase = {}\ncrlnumber = {}\n\
             default_md = sha256\ndefault_crl_days = 30\ncrl_extensions = crl_ext\n\
             [crl_ext]\nauthorityKeyIdentifier = keyid:always\n",
            dir.join("index.txt").display(),
            dir.join("crlnumber").display()
        ),
    )
    .unwrap();
    let pem = dir.join("crl.pem");
    let der = dir.join("crl.der");
    openssl(&[
        "ca".as_ref(),
        "-config".as_ref(),
        config.as_os_str(),
        "-gencrl".as_ref(),
        "-keyfile".as_ref(),
        key.as_os_str(),
        "-cert".as_ref(),
        cert.as_os_str(),
        "-out".as_ref(),
        pem.as_os_str(),
    ]);
    openssl(&[
        "crl".as_ref(),
        "-in".as_ref(),
        pem.as_os_str(),
        "-outform".as_ref(),
        "DER".as_ref(),
        "-out".as_ref(),
        der.as_os_str(),
    ]);
    read_bytes(&der)
}

/// What the previous version left in a data directory: no `crl/root.crl`, no `cas.toml`,
/// no `root_crl_validity_days` in `ca.toml` (the new version must read all of these as
/// "one issuing CA, id 1, active; root CRLs of 180 days").
fn make_previous_version_data_dir(ca: &TestCa) {
    let data = ca.data_dir();
    let root_crl = root_crl_file(ca);
    if root_crl.exists() {
        std::fs::remove_file(&root_crl).unwrap();
    }
    let registry = data.join("cas.toml");
    if registry.exists() {
        std::fs::remove_file(&registry).unwrap();
    }
    let settings = data.join("ca.toml");
    let text: String = read_text(&settings)
        .lines()
        .filter(|line| !line.trim_start().starts_with("root_crl_validity_days"))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(&settings, text).unwrap();
}

// ---------------------------------------------------------------------------------------
// 1. The root CRL is always there
// ---------------------------------------------------------------------------------------

#[test]
fn init_signs_the_first_root_crl_and_a_strict_relying_party_accepts_the_chain() {
    let pca = PortedCa::init(&[]);
    let ca = &pca.ca;

    // The issuing CA points relying parties at the root CRL.
    let issuing = check_cert(&ca.issuing_cert(), &ca.root_cert(), &ca.root_cert());
    assert_eq!(
        issuing.crl_urls,
        vec![pca.url("/crl/root.crl")],
        "the issuing CA's CRL distribution point"
    );

    // init signed the first root CRL: empty, number 1, 180 days.
    let file = root_crl_file(ca);
    assert!(
        file.is_file(),
        "paypki init did not write {}",
        file.display()
    );
    let first = check_crl(&file, &ca.root_cert());
    assert_root_crl(&first, 1, 180, "the root CRL signed by paypki init");

    // serve publishes it with the caching headers of /crl/issuing.crl.
    let server = pca.serve();
    let (_, response) = fetch_crl(&server, "/crl/root.crl", "served-root.crl");
    assert_eq!(
        response.body,
        read_bytes(&file),
        "GET /crl/root.crl is not <data>/crl/root.crl"
    );
    let etag = response.header("etag").unwrap().to_string();
    server
        .get_with("/crl/root.crl", &[("If-None-Match", &etag)])
        .assert_status(
            304,
            "GET /crl/root.crl with If-None-Match: the current ETag",
        );

    // The headline: a strict relying party accepts a fresh leaf.
    let leaf = enroll(&server, "merchant", "merchant");
    let summary = ca.check_cert(&leaf.cert);
    assert_eq!(summary.crl_urls, vec![pca.url("/crl/issuing.crl")]);
    assert_strict_accepts(
        &ca.root_cert(),
        &ca.issuing_cert(),
        &leaf.cert,
        "a leaf of a CA made by paypki init",
    );
    server.stop();
}

#[test]
fn init_root_crl_validity_sets_the_first_root_crl_validity() {
    let ca = TestCa::init(&["--root-crl-validity", "30d"], &[]);
    let file = root_crl_file(&ca);
    assert!(
        file.is_file(),
        "paypki init did not write {}",
        file.display()
    );
    let crl = check_crl(&file, &ca.root_cert());
    assert_root_crl(&crl, 1, 30, "init --root-crl-validity 30d");
}

#[test]
fn the_development_ca_made_by_serve_signs_and_serves_the_root_crl() {
    let ca = TestCa::uninitialized();
    let port = pick_free_port();
    let server = TestServer::start_on_port(&ca, port, &["--dev"]);
    let base = format!("http://127.0.0.1:{port}");

    let file = root_crl_file(&ca);
    assert!(
        file.is_file(),
        "serve on an empty data directory did not write {}\n--- server log ---\n{}",
        file.display(),
        server.log()
    );
    assert_root_crl(
        &check_crl(&file, &ca.root_cert()),
        1,
        180,
        "the development CA's first root CRL",
    );
    let (_, response) = fetch_crl(&server, "/crl/root.crl", "served-root.crl");
    assert_eq!(response.body, read_bytes(&file));

    // Its base URL is the listen address, so a strict relying party reaches every CRL.
    let issuing = check_cert(&ca.issuing_cert(), &ca.root_cert(), &ca.root_cert());
    assert_eq!(issuing.crl_urls, vec![format!("{base}/crl/root.crl")]);
    let leaf = enroll(&server, "buyer", "buyer");
    assert_eq!(
        ca.check_cert(&leaf.cert).crl_urls,
        vec![format!("{base}/crl/issuing.crl")]
    );
    assert_strict_accepts(
        &ca.root_cert(),
        &ca.issuing_cert(),
        &leaf.cert,
        "a leaf of the development CA",
    );
    server.stop();
}

#[test]
fn crl_root_resigns_while_serving_and_the_server_picks_it_up() {
    let pca = PortedCa::init(&[]);
    let ca = &pca.ca;
    let server = pca.serve();
    assert_eq!(served_root_crl(&server, "before.crl")["crl_number"], 1);

    // Re-signed while the server runs: number + 1, the requested validity, saved in the
    // data directory, and served within seconds.
    let out = crl_root(ca, &["--validity", "10d"], "resigned.crl");
    let resigned = check_crl(&out, &ca.root_cert());
    assert_root_crl(&resigned, 2, 10, "paypki crl --root --validity 10d");
    assert_eq!(
        read_bytes(&root_crl_file(ca)),
        read_bytes(&out),
        "paypki crl --root did not save its CRL as <data>/crl/root.crl"
    );
    wait_for_root_crl_number(&server, 2, "after paypki crl --root");
    let (_, served) = fetch_crl(&server, "/crl/root.crl", "served-2.crl");
    assert_eq!(served.body, read_bytes(&out));

    // Once more: 3, with the default validity.
    let again = crl_root(ca, &[], "again.crl");
    assert_root_crl(
        &check_crl(&again, &ca.root_cert()),
        3,
        180,
        "paypki crl --root again",
    );
    wait_for_root_crl_number(&server, 3, "after a second paypki crl --root");
    server.stop();
}

#[test]
fn the_admin_api_publishes_a_root_crl_made_with_openssl() {
    const PATH: &str = "/v1/admin/crls/root";
    const PKIX_CRL: &str = "application/pkix-crl";
    let pca = PortedCa::init(&[]);
    let ca = &pca.ca;
    let server = pca.serve();

    let root_key = ca.key_file("root");
    let good = openssl_made_crl(ca, &ca.root_cert(), &root_key, 5, "good");
    let stale = openssl_made_crl(ca, &ca.root_cert(), &root_key, 1, "stale");
    // Same issuer name, another key: the root certificate re-signed by an impostor key.
    let other_key = generate_key(KeyType::EcP256, &ca.path("impostor.key.pem"));
    let impostor = ca.path("impostor.pem");
    openssl(&[
        "x509".as_ref(),
        "-in".as_ref(),
        ca.root_cert().as_os_str(),
        "-signkey".as_ref(),
        other_key.as_os_str(),
        "-out".as_ref(),
        impostor.as_os_str(),
    ]);
    let forged = openssl_made_crl(ca, &impostor, &other_key, 7, "forged");

    // Without the admin credential: 401.
    let response = server.post_bytes(PATH, Some(PKIX_CRL), &good);
    assert_problem_type(
        &response,
        401,
        PROBLEM_UNAUTHORIZED,
        "POST /v1/admin/crls/root without credential",
    );
    // Not signed by the root (though naming it): 422.
    let response = server.admin_post_bytes(PATH, PKIX_CRL, &forged);
    assert_problem_type(
        &response,
        422,
        PROBLEM_BAD_CRL,
        "a root CRL signed by another key",
    );
    // Not newer than the current one (number 1, from init): 409.
    let response = server.admin_post_bytes(PATH, PKIX_CRL, &stale);
    assert_problem_type(
        &response,
        409,
        PROBLEM_CRL_NOT_NEWER,
        "a root CRL whose cRLNumber is not greater than the current",
    );
    // Not a CRL at all.
    let response = server.admin_post_bytes(PATH, PKIX_CRL, b"not a CRL");
    assert_problem_type(&response, 422, PROBLEM_BAD_CRL, "a body that is not a CRL");
    assert_eq!(
        served_root_crl(&server, "still-1.crl")["crl_number"],
        1,
        "a refused CRL replaced the served one"
    );

    // A good one: 200 with its summary, then served as is.
    let response = server.admin_post_bytes(PATH, PKIX_CRL, &good);
    response.assert_status(
        200,
        "POST /v1/admin/crls/root with a CRL signed by the root",
    );
    assert!(
        response.content_type().starts_with("application/json"),
        "POST /v1/admin/crls/root: content type\n{}",
        response.describe()
    );
    let summary = response.json();
    assert_eq!(summary["number"].as_u64(), Some(5), "{summary}");
    for field in ["this_update", "next_update"] {
        assert!(
            summary[field].as_str().is_some_and(|v| !v.is_empty()),
            "no {field} in {summary}"
        );
    }
    let entries = &summary["entries"];
    assert!(
        entries.as_u64() == Some(0) || entries.as_array().is_some_and(Vec::is_empty),
        "entries of an empty CRL (a count or a list): {summary}"
    );
    wait_for(
        "GET /crl/root.crl serving the published CRL",
        PICKUP_LIMIT,
        || {
            let response = server.get("/crl/root.crl");
            if response.status == 200 && response.body == good {
                Ok(())
            } else {
                Err(describe_head(&response))
            }
        },
    );

    // The next CRL signed here continues from the published number.
    let next = crl_root(ca, &[], "next.crl");
    assert_root_crl(
        &check_crl(&next, &ca.root_cert()),
        6,
        180,
        "paypki crl --root after a published cRLNumber 5",
    );
    server.stop();
}

#[test]
fn healthz_is_degraded_when_the_root_crl_is_close_to_its_next_update() {
    let pca = PortedCa::init(&[]);
    let ca = &pca.ca;
    let server = pca.serve();
    assert_healthy(&health(&server), "a fresh CA");

    crl_root(ca, &["--validity", "2d"], "short.crl");
    let reasons = wait_for(
        "/healthz degraded after a root CRL valid for 2 days",
        PICKUP_LIMIT,
        || degraded_reasons(&health(&server)),
    );
    assert!(
        reasons.iter().any(|r| r.to_lowercase().contains("root")),
        "no reason names the root CRL: {reasons:?}"
    );

    // A long-lived root CRL makes it healthy again.
    crl_root(ca, &["--validity", "90d"], "long.crl");
    wait_for("/healthz ok again", PICKUP_LIMIT, || {
        let answer = health(&server);
        if answer["status"] == "ok" {
            Ok(())
        } else {
            Err(answer.to_string())
        }
    });
    server.stop();
}

#[test]
fn metrics_give_the_seconds_until_each_crl_next_update() {
    const NAME: &str = "paypki_crl_next_update_seconds";
    let pca = PortedCa::init(&[]);
    let ca = &pca.ca;
    let server = pca.serve();
    let text = metrics(&server);
    let root = gauge(&text, NAME, "crl=\"root\"")
        .unwrap_or_else(|| panic!("no {NAME}{{crl=\"root\"}} in /metrics:\n{text}"));
    assert!(
        root > (180 * DAY - DAY) as f64 && root <= (180 * DAY + VALIDITY_SLACK) as f64,
        "{NAME}{{crl=\"root\"}} = {root}, expected about 180 days"
    );
    let issuing = gauge(&text, NAME, "crl=\"issuing-1\"")
        .unwrap_or_else(|| panic!("no {NAME}{{crl=\"issuing-1\"}} in /metrics:\n{text}"));
    assert!(
        issuing > 0.0 && issuing <= (DAY + VALIDITY_SLACK) as f64,
        "{NAME}{{crl=\"issuing-1\"}} = {issuing}, expected at most serve's --crl-validity (24h)"
    );

    crl_root(ca, &["--validity", "2d"], "short.crl");
    wait_for(
        "the root CRL gauge after paypki crl --root --validity 2d",
        PICKUP_LIMIT,
        || {
            let text = metrics(&server);
            match gauge(&text, NAME, "crl=\"root\"") {
                Some(v) if v > 0.0 && v <= (2 * DAY + VALIDITY_SLACK) as f64 => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    );
    server.stop();
}

// ---------------------------------------------------------------------------------------
// 2. Offline root
// ---------------------------------------------------------------------------------------

#[test]
fn an_offline_root_key_stays_out_of_the_data_dir_and_the_ca_still_works() {
    let offline = tempfile::Builder::new()
        .prefix("paypki-offline-root-")
        .tempdir()
        .unwrap();
    let pca = PortedCa::init(&["--root-key-out", offline.path().to_str().unwrap()]);
    let ca = &pca.ca;

    // The key went to DIR/root.key.pem (0600), and nowhere in the data directory.
    let root_key = offline.path().join("root.key.pem");
    assert!(
        root_key.is_file(),
        "init --root-key-out wrote no {}",
        root_key.display()
    );
    assert_eq!(
        file_mode(&root_key),
        0o600,
        "{} must be 0600",
        root_key.display()
    );
    let root_public = normalize_pem(&public_key_pem(&root_key));
    let cert_public = normalize_pem(&certificate_public_key_pem(&ca.root_cert()));
    assert_eq!(
        root_public, cert_public,
        "DIR/root.key.pem is not the root's key"
    );
    assert!(
        !ca.key_file("root").exists(),
        "the root key is still in <data>/keys"
    );
    for entry in std::fs::read_dir(ca.data_dir().join("keys")).unwrap() {
        let path = entry.unwrap().path();
        assert_ne!(
            normalize_pem(&public_key_pem(&path)),
            root_public,
            "{} holds the root key",
            path.display()
        );
    }
    assert!(
        root_crl_file(ca).is_file(),
        "init signed no root CRL before the key left"
    );

    // Offline issuance, revocation and the issuing CRL (server stopped).
    let case = enroll_case("merchant");
    let issue = |name: &str| {
        let key = generate_key(KeyType::EcP256, &ca.path(&format!("{name}.key.pem")));
        let csr = make_csr(
            &key,
            case.openssl_subject,
            case.openssl_addext,
            &ca.path(&format!("{name}.csr")),
        );
        ca.issue(&csr, "merchant", &format!("{name}.pem"))
    };
    let kept = issue("kept");
    let dropped = issue("dropped");
    ca.paypki(&["revoke", &dropped.serial, "--reason", "keyCompromise"])
        .assert_success("paypki revoke without the root key");
    let crl = ca.path("issuing-offline.crl");
    ca.paypki(&["crl", "--out", crl.to_str().unwrap()])
        .assert_success("paypki crl (the issuing CA's) without the root key");
    let issuing_crl = check_crl(&crl, &ca.issuing_cert());
    assert!(
        crl_entry(&issuing_crl, &dropped.serial).is_some(),
        "{issuing_crl:#}"
    );

    // Serving, enrollment, revocation while serving.
    let server = pca.serve();
    let leaf = enroll(&server, "bank", "bank");
    ca.paypki(&["revoke", &leaf.serial, "--reason", "superseded"])
        .assert_success("paypki revoke while serving without the root key");
    assert_strict_accepts(
        &ca.root_cert(),
        &ca.issuing_cert(),
        &kept.leaf,
        "a leaf of a CA whose root key is offline",
    );

    // The root CRL needs the key file, and says how to pass it.
    let before = read_bytes(&root_crl_file(ca));
    let refused_out = ca.path("refused.crl");
    let refused = ca.paypki(&["crl", "--root", "--out", refused_out.to_str().unwrap()]);
    refused.assert_failure("paypki crl --root without the root key");
    assert_contains_all(
        &format!("{}{}", refused.stdout_text(), refused.stderr_text()),
        &["--root-key"],
        "paypki crl --root without the root key",
    );
    assert!(
        !refused_out.exists(),
        "a refused paypki crl --root wrote {}",
        refused_out.display()
    );
    assert_eq!(
        read_bytes(&root_crl_file(ca)),
        before,
        "a refused paypki crl --root changed <data>/crl/root.crl"
    );
    let made = crl_root(
        ca,
        &["--root-key", root_key.to_str().unwrap()],
        "with-key.crl",
    );
    assert_root_crl(
        &check_crl(&made, &ca.root_cert()),
        2,
        180,
        "paypki crl --root --root-key",
    );
    wait_for_root_crl_number(&server, 2, "after paypki crl --root --root-key");
    server.stop();
}

#[test]
fn ca_ceremonies_with_an_offline_root_take_the_root_key_file() {
    let offline = tempfile::Builder::new()
        .prefix("paypki-offline-root-")
        .tempdir()
        .unwrap();
    let pca = PortedCa::init(&["--root-key-out", offline.path().to_str().unwrap()]);
    let ca = &pca.ca;
    let root_key = offline.path().join("root.key.pem");
    let key_arg = root_key.to_str().unwrap();

    // Without the key file, rollover and revocation of the issuing CA change nothing.
    ca.paypki(&["ca", "rollover"])
        .assert_failure("paypki ca rollover without --root-key (root key offline)");
    ca.paypki(&["ca", "revoke", "issuing", "--reason", "cACompromise"])
        .assert_failure("paypki ca revoke issuing without --root-key (root key offline)");
    assert_eq!(
        ca_list(ca).len(),
        1,
        "a refused ceremony changed the CA list"
    );

    // With it: CA 2, then revoking the active CA (2) puts it on the root CRL.
    rollover(ca, &["--root-key", key_arg], 2);
    let ca2 = ca_entry(&ca_list(ca), 2).clone();
    assert_eq!(ca2["state"], "active", "{ca2:#}");
    ca_revoke(ca, "issuing", "cACompromise", &["--root-key", key_arg]);
    let list = ca_list(ca);
    assert_eq!(ca_entry(&list, 2)["state"], "revoked", "{list:#?}");
    assert_eq!(ca_entry(&list, 1)["state"], "retired", "{list:#?}");
    let root_crl = check_crl(&root_crl_file(ca), &ca.root_cert());
    let serial = ca2["serial"].as_str().unwrap();
    let entry = root_crl["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| same_serial(e["serial"].as_str().unwrap_or_default(), serial))
        .unwrap_or_else(|| panic!("the root CRL does not list CA 2 ({serial})\n{root_crl:#}"));
    assert_eq!(entry["reason"], "cACompromise", "{root_crl:#}");

    // No active issuing CA: enrollment waits for the next rollover.
    let server = pca.serve();
    let token = server.create_case_token(&enroll_case("buyer"));
    let key = generate_key(KeyType::EcP256, &ca.path("waiting.key.pem"));
    let csr = make_csr(&key, "/", &[], &ca.path("waiting.csr"));
    let response = server.post_json(
        "/v1/enroll",
        &json!({ "token": token, "csr": read_text(&csr) }),
    );
    assert_problem_type(
        &response,
        503,
        PROBLEM_NO_ISSUING_CA,
        "POST /v1/enroll with no active issuing CA",
    );
    server.stop();
}

// ---------------------------------------------------------------------------------------
// 3. Revoking a CA
// ---------------------------------------------------------------------------------------

#[test]
fn ca_commands_refuse_while_the_server_runs() {
    let pca = PortedCa::init(&[]);
    let ca = &pca.ca;
    let server = pca.serve();
    let root_crl_before = std::fs::read(root_crl_file(ca)).ok();
    for args in [
        vec!["ca", "revoke", "issuing", "--reason", "cACompromise"],
        vec!["ca", "revoke", "responder", "--reason", "keyCompromise"],
        vec!["ca", "rollover"],
    ] {
        let what = format!("paypki {} while serving", args.join(" "));
        let output = ca.paypki(&args);
        output.assert_failure(&what);
        assert!(
            output.stderr_text().to_lowercase().contains("stop"),
            "{what}: the message must say to stop the server\n{}",
            output.describe()
        );
    }
    assert_eq!(
        std::fs::read(root_crl_file(ca)).ok(),
        root_crl_before,
        "a refused command changed the root CRL"
    );
    server.get("/ca/issuing-2.crt").assert_problem(
        404,
        "not-found",
        "GET /ca/issuing-2.crt after a refused rollover",
    );
    let leaf = enroll(&server, "merchant", "still");
    ca.check_cert(&leaf.cert);
    server.stop();
}

#[test]
fn a_revoked_issuing_ca_is_on_the_root_crl_and_its_leaves_fail_everywhere() {
    let pca = PortedCa::init(&[]);
    let ca = &pca.ca;
    let server = pca.serve();
    let leaf = enroll(&server, "merchant", "merchant");
    let chain = server.save_chain("chain-1.pem");
    server.stop();
    let issuing = check_cert(&ca.issuing_cert(), &ca.root_cert(), &ca.root_cert());

    ca_revoke(ca, "issuing", "cACompromise", &[]);
    let root_crl = check_crl(&root_crl_file(ca), &ca.root_cert());
    assert_eq!(
        root_crl["crl_number"].as_u64(),
        Some(2),
        "a new root CRL\n{root_crl:#}"
    );
    assert_eq!(
        crl_entry(&root_crl, &issuing.serial).map(|e| e["reason"].clone()),
        Some(json!("cACompromise")),
        "the root CRL must list the issuing CA ({})\n{root_crl:#}",
        issuing.serial
    );
    assert_eq!(ca_entry(&ca_list(ca), 1)["state"], "revoked");

    let server = pca.serve();
    let served = served_root_crl(&server, "served-root.crl");
    assert_eq!(served["crl_number"].as_u64(), Some(2), "{served:#}");
    assert!(crl_entry(&served, &issuing.serial).is_some(), "{served:#}");

    // The strict relying party: revoked (the issuing CA on the root CRL, or the leaf on
    // its CA's CRL if paypki lists the leaves of a revoked CA there too).
    assert_strict_rejects_revoked(
        &ca.root_cert(),
        &ca.issuing_cert(),
        &leaf.cert,
        &[0, 1],
        "a leaf of a revoked issuing CA",
    );

    // The verification service says the issuer was revoked.
    let message = br#"{"amount":"10.00","currency":"EUR"}"#;
    let signature = sign(ca, &leaf.key, message, "order");
    let verdict = server.post_json_ok(
        "/v1/verify",
        &json!({ "certificate": read_text(&leaf.cert), "message": b64(message), "signature": b64(&signature) }),
        "verify a signature by a leaf of a revoked CA",
    );
    assert_revoked_by_its_ca(&verdict, "POST /v1/verify");
    let verdict = server.post_json_ok(
        "/v1/validate",
        &json!({ "chain": [read_text(&leaf.cert), read_text(&ca.issuing_cert())] }),
        "validate the chain of a leaf of a revoked CA",
    );
    assert_revoked_by_its_ca(&verdict, "POST /v1/validate");

    // OCSP: revoked, cACompromise.
    let label = leaf.cert.to_str().unwrap();
    let text = openssl_ocsp(
        &server.url_for("/ocsp"),
        &ca.issuing_cert(),
        &chain,
        &["-cert", label],
    );
    assert_contains_all(
        &ocsp_block(&text, label),
        &[&format!("{label}: revoked"), "Reason: cACompromise"],
        "openssl ocsp for a leaf of a revoked issuing CA",
    );
    server.stop();
}

#[test]
fn enrollment_is_unavailable_until_a_rollover_replaces_a_revoked_issuing_ca() {
    let pca = PortedCa::init(&[]);
    let ca = &pca.ca;
    let root = keep_copy(ca, &ca.root_cert(), "root.pem");
    let server = pca.serve();
    let token = server.create_case_token(&enroll_case("merchant"));
    server.stop();
    ca_revoke(ca, "issuing", "cACompromise", &[]);

    let server = pca.serve();
    let case = enroll_case("merchant");
    let key = generate_key(KeyType::EcP256, &ca.path("waiting.key.pem"));
    let csr = make_csr(
        &key,
        case.openssl_subject,
        case.openssl_addext,
        &ca.path("waiting.csr"),
    );
    let response = server.post_json(
        "/v1/enroll",
        &json!({ "token": token, "csr": read_text(&csr) }),
    );
    assert_problem_type(
        &response,
        503,
        PROBLEM_NO_ISSUING_CA,
        "POST /v1/enroll after the issuing CA was revoked",
    );
    server.stop();

    rollover(ca, &[], 2);
    let server = pca.serve();
    let ca2 = served_certificate(&server, "/ca/issuing-2.crt", "issuing-2.pem");
    let leaf = enroll(&server, "merchant", "after-rollover");
    let summary = check_cert(&leaf.cert, &ca2, &root);
    assert!(
        summary
            .issuer
            .starts_with(&format!("CN={ORG} Issuing CA 2,")),
        "issued after the rollover by {}",
        summary.issuer
    );
    assert_chain_is(
        &split_pem_certificates(&read_text(&leaf.chain)),
        &[&ca2, &root],
        "the chain of the enrollment after the rollover",
    );
    assert_verifies_with_chain(&leaf.chain, &leaf.cert);
    server.stop();
}

#[test]
fn revoking_the_responder_makes_a_new_one_that_signs_ocsp() {
    // The root key is offline: revoking the responder needs only the issuing CA's key.
    let offline = tempfile::Builder::new()
        .prefix("paypki-offline-root-")
        .tempdir()
        .unwrap();
    let pca = PortedCa::init(&["--root-key-out", offline.path().to_str().unwrap()]);
    let ca = &pca.ca;
    let issuing = keep_copy(ca, &ca.issuing_cert(), "issuing.pem");
    let root = keep_copy(ca, &ca.root_cert(), "root.pem");
    let chain = bundle(ca, &[&issuing, &root], "chain.pem");

    let server = pca.serve();
    let leaf = enroll(&server, "gateway", "gateway");
    let old = responder_in_response(&server, &issuing, &chain, &leaf.cert, "old-responder.pem");
    let old = check_cert(&old, &issuing, &root);
    server.stop();

    ca_revoke(ca, "responder", "keyCompromise", &[]);

    let server = pca.serve();
    let crl = wait_for(
        "the issuing CA's CRL listing the old responder",
        PICKUP_LIMIT,
        || {
            let (file, _) = fetch_crl(&server, "/crl/issuing.crl", "issuing.crl");
            let crl = check_crl(&file, &issuing);
            if crl_entry(&crl, &old.serial).is_some() {
                Ok(crl)
            } else {
                Err(format!("{crl:#}"))
            }
        },
    );
    assert_eq!(
        crl_entry(&crl, &old.serial).unwrap()["reason"],
        "keyCompromise",
        "{crl:#}"
    );
    let new = responder_in_response(&server, &issuing, &chain, &leaf.cert, "new-responder.pem");
    let new = check_cert(&new, &issuing, &root);
    assert_ne!(
        new.serial, old.serial,
        "OCSP responses are still signed by the revoked responder"
    );
    server.stop();
}

// ---------------------------------------------------------------------------------------
// 4. Rollover
// ---------------------------------------------------------------------------------------

/// A CA after `paypki ca rollover`, serving again, with a leaf from each issuing CA.
struct RolledOver<'a> {
    server: TestServer<'a>,
    /// `paypki ca list --json` right after the rollover.
    ca_list: Vec<Value>,
    root: PathBuf,
    /// Issuing CA 1, as `init` wrote it.
    ca1: PathBuf,
    /// Issuing CA 2, from `GET /ca/issuing-2.crt`.
    ca2: PathBuf,
    /// CA 1 then root, CA 2 then root: `-CAfile` bundles for `openssl ocsp`.
    chain1: PathBuf,
    chain2: PathBuf,
    /// Enrolled before the rollover (CA 1), and after it (CA 2).
    old: Leaf,
    new: Leaf,
}

/// Serve, enroll `old`, stop, `paypki ca rollover` (asserting it prints `2`), `paypki ca
/// list --json`, serve again (with `policies`), enroll `new`.
fn roll_over<'a>(pca: &'a PortedCa, policies: &Path) -> RolledOver<'a> {
    let ca = &pca.ca;
    let root = keep_copy(ca, &ca.root_cert(), "root.pem");
    let ca1 = keep_copy(ca, &ca.issuing_cert(), "issuing-1.pem");
    let server = pca.serve_with_policies(policies);
    let old = enroll(&server, "merchant", "ca1-merchant");
    server.stop();

    rollover(ca, &[], 2);
    let ca_list = ca_list(ca);

    let server = pca.serve_with_policies(policies);
    let ca2 = served_certificate(&server, "/ca/issuing-2.crt", "issuing-2.pem");
    let new = enroll(&server, "bank", "ca2-bank");
    let chain1 = bundle(ca, &[&ca1, &root], "chain-1-bundle.pem");
    let chain2 = bundle(ca, &[&ca2, &root], "chain-2-bundle.pem");
    RolledOver {
        server,
        ca_list,
        root,
        ca1,
        ca2,
        chain1,
        chain2,
        old,
        new,
    }
}

#[test]
fn rollover_creates_issuing_ca_2_which_issues_from_then_on() {
    let pca = PortedCa::init(&[]);
    let fx = roll_over(&pca, pca.ca.policies());

    // CA 2 is signed by the root, named "<org> Issuing CA 2", and points at the root CRL.
    let ca1 = check_cert(&fx.ca1, &fx.root, &fx.root);
    let ca2 = check_cert(&fx.ca2, &fx.root, &fx.root);
    assert!(
        ca2.subject.starts_with(&format!("CN={ORG} Issuing CA 2,")),
        "CA 2 is named {}",
        ca2.subject
    );
    assert_ne!(ca2.serial, ca1.serial);
    assert_eq!(ca2.crl_urls, vec![pca.url("/crl/root.crl")]);

    // paypki ca list --json.
    assert_eq!(fx.ca_list.len(), 2, "{:#?}", fx.ca_list);
    assert_ca_entry(
        ca_entry(&fx.ca_list, 1),
        "retired",
        &ca1,
        &pca.url("/crl/issuing.crl"),
        "CA 1 after the rollover",
    );
    assert_ca_entry(
        ca_entry(&fx.ca_list, 2),
        "active",
        &ca2,
        &pca.url("/crl/issuing-2.crl"),
        "CA 2 after the rollover",
    );

    // New issuance comes from CA 2, with CA 2's URLs; CA 1's leaf keeps its own.
    let new = check_cert(&fx.new.cert, &fx.ca2, &fx.root);
    assert!(
        new.issuer.starts_with(&format!("CN={ORG} Issuing CA 2,")),
        "issued after the rollover by {}",
        new.issuer
    );
    assert_eq!(new.crl_urls, vec![pca.url("/crl/issuing-2.crl")]);
    assert_eq!(new.ca_issuers_urls, vec![pca.url("/ca/issuing-2.crt")]);
    assert_eq!(new.ocsp_urls, vec![pca.url("/ocsp")]);
    assert!(
        new.aki_matches_issuer_ski,
        "the AKI of CA 2's leaf names CA 2's key"
    );
    let old = check_cert(&fx.old.cert, &fx.ca1, &fx.root);
    assert!(
        old.issuer.starts_with(&format!("CN={ORG} Issuing CA,")),
        "issued before the rollover by {}",
        old.issuer
    );
    assert_eq!(old.crl_urls, vec![pca.url("/crl/issuing.crl")]);
    assert_eq!(old.ca_issuers_urls, vec![pca.url("/ca/issuing.crt")]);
    fx.server.stop();
}

#[test]
fn after_rollover_every_certificate_gets_its_own_chain() {
    let pca = PortedCa::init(&[]);
    let fx = roll_over(&pca, pca.ca.policies());
    let (server, ca) = (&fx.server, &pca.ca);
    let (old, new) = (&fx.old.serial, &fx.new.serial);

    // The CA certificates by URL: the URLs baked into CA 1's certificates keep meaning CA 1.
    for (path, expected) in [
        ("/ca/issuing-2.crt", &fx.ca2),
        ("/ca/issuing.crt", &fx.ca1),
        ("/ca/issuing-1.crt", &fx.ca1),
    ] {
        let served = served_certificate(server, path, "served-ca.pem");
        assert_chain_is(&[read_text(&served)], &[expected], &format!("GET {path}"));
    }
    // Chains: per CA, the active one, and per certificate.
    for (path, expected) in [
        ("/ca/chain-2.pem".to_string(), [&fx.ca2, &fx.root]),
        ("/ca/chain.pem".to_string(), [&fx.ca2, &fx.root]),
        (format!("/ca/chain.pem?serial={old}"), [&fx.ca1, &fx.root]),
        (format!("/ca/chain.pem?serial={new}"), [&fx.ca2, &fx.root]),
    ] {
        assert_chain_is(
            &served_chain(server, &path),
            &[expected[0].as_path(), expected[1].as_path()],
            &format!("GET {path}"),
        );
    }
    // The enrollment answers' chains (as `paypki enroll` saved them) and the JSON view.
    assert_chain_is(
        &split_pem_certificates(&read_text(&fx.old.chain)),
        &[&fx.ca1, &fx.root],
        "chain.pem of the enrollment before the rollover",
    );
    assert_chain_is(
        &split_pem_certificates(&read_text(&fx.new.chain)),
        &[&fx.ca2, &fx.root],
        "chain.pem of the enrollment after the rollover",
    );
    let case = enroll_case("buyer");
    let token = server.create_case_token(&case);
    let key = generate_key(KeyType::EcP256, &ca.path("raw.key.pem"));
    let csr = make_csr(
        &key,
        case.openssl_subject,
        case.openssl_addext,
        &ca.path("raw.csr"),
    );
    let response = server.post_json(
        "/v1/enroll",
        &json!({ "token": token, "csr": read_text(&csr) }),
    );
    response.assert_status(201, "POST /v1/enroll after the rollover");
    let body = response.json();
    assert_chain_is(
        &json_chain(&body["chain"], "POST /v1/enroll"),
        &[&fx.ca2, &fx.root],
        "the chain of POST /v1/enroll after the rollover",
    );
    for (serial, expected) in [(old, [&fx.ca1, &fx.root]), (new, [&fx.ca2, &fx.root])] {
        let path = format!("/v1/certificates/{serial}");
        let response = server.get(&path);
        response.assert_status(200, &format!("GET {path}"));
        assert_chain_is(
            &json_chain(&response.json()["chain"], &path),
            &[expected[0].as_path(), expected[1].as_path()],
            &format!("GET {path}: chain"),
        );
    }

    // CRLs: /crl/issuing.crl and its alias /crl/issuing-1.crl are CA 1's; CA 2 has its own.
    let (crl1, _) = fetch_crl(server, "/crl/issuing.crl", "issuing.crl");
    let (alias, _) = fetch_crl(server, "/crl/issuing-1.crl", "issuing-1.crl");
    let (crl2, _) = fetch_crl(server, "/crl/issuing-2.crl", "issuing-2.crl");
    for (file, issuing, what) in [
        (&crl1, &fx.ca1, "GET /crl/issuing.crl"),
        (&alias, &fx.ca1, "GET /crl/issuing-1.crl"),
        (&crl2, &fx.ca2, "GET /crl/issuing-2.crl"),
    ] {
        // check_crl.py fails unless the signature verifies with this CA's key.
        let crl = check_crl(file, issuing);
        assert_eq!(crl["issuer_matches"], true, "{what}: issuer\n{crl:#}");
    }
    fx.server.stop();
}

#[test]
fn leaves_of_both_issuing_cas_pass_openssl_verify_ocsp_and_validate() {
    let pca = PortedCa::init(&[]);
    let fx = roll_over(&pca, pca.ca.policies());
    let server = &fx.server;
    let ocsp_url = server.url_for("/ocsp");
    let chain_of = |serial: &str, name: &str| {
        let file = pca.ca.path(name);
        let blocks = served_chain(server, &format!("/ca/chain.pem?serial={serial}"));
        std::fs::write(&file, blocks.concat()).unwrap();
        file
    };
    for (leaf, issuing, bundle, what) in [
        (&fx.old, &fx.ca1, &fx.chain1, "CA 1's leaf"),
        (&fx.new, &fx.ca2, &fx.chain2, "CA 2's leaf"),
    ] {
        // Plain: against the chain of the enrollment answer and of /ca/chain.pem?serial=.
        assert_verifies_with_chain(&leaf.chain, &leaf.cert);
        assert_verifies_with_chain(
            &chain_of(&leaf.serial, &format!("served-{}.pem", leaf.serial)),
            &leaf.cert,
        );
        // Strict: every CRL downloaded from the certificates' own distribution points.
        assert_strict_accepts(&fx.root, issuing, &leaf.cert, what);
        // OCSP, with the leaf's own issuing CA as issuer.
        let label = leaf.cert.to_str().unwrap();
        let text = openssl_ocsp(&ocsp_url, issuing, bundle, &["-cert", label]);
        assert_eq!(
            ocsp_status_line(&text, label),
            format!("{label}: good"),
            "{what}\n{text}"
        );
        // The verification service.
        assert_validates(
            server,
            &leaf.cert,
            issuing,
            &format!("POST /v1/validate, {what}"),
        );
    }
    fx.server.stop();
}

#[test]
fn revoking_a_ca1_leaf_after_rollover_changes_only_ca1s_crl() {
    let pca = PortedCa::init(&[]);
    let fx = roll_over(&pca, pca.ca.policies());
    let (server, ca) = (&fx.server, &pca.ca);
    let output = ca.paypki(&["revoke", &fx.old.serial, "--reason", "keyCompromise"]);
    output.assert_success("paypki revoke of a CA 1 leaf while serving");

    let crl1 = wait_for("CA 1's CRL listing the revoked leaf", PICKUP_LIMIT, || {
        let (file, _) = fetch_crl(server, "/crl/issuing.crl", "issuing.crl");
        let crl = check_crl(&file, &fx.ca1);
        if crl_entry(&crl, &fx.old.serial).is_some() {
            Ok(crl)
        } else {
            Err(format!("{crl:#}"))
        }
    });
    assert_eq!(
        crl_entry(&crl1, &fx.old.serial).unwrap()["reason"],
        "keyCompromise"
    );
    let (file, _) = fetch_crl(server, "/crl/issuing-2.crl", "issuing-2.crl");
    let crl2 = check_crl(&file, &fx.ca2);
    assert!(
        crl2["entries"].as_array().is_some_and(Vec::is_empty),
        "CA 2's CRL lists certificates CA 2 never issued\n{crl2:#}"
    );

    // OCSP and the strict relying party agree.
    let (old_label, new_label) = (fx.old.cert.to_str().unwrap(), fx.new.cert.to_str().unwrap());
    let text = openssl_ocsp(
        &server.url_for("/ocsp"),
        &fx.ca1,
        &fx.chain1,
        &["-cert", old_label],
    );
    assert_contains_all(
        &ocsp_block(&text, old_label),
        &[&format!("{old_label}: revoked"), "Reason: keyCompromise"],
        "openssl ocsp for the revoked CA 1 leaf",
    );
    let text = openssl_ocsp(
        &server.url_for("/ocsp"),
        &fx.ca2,
        &fx.chain2,
        &["-cert", new_label],
    );
    assert_eq!(
        ocsp_status_line(&text, new_label),
        format!("{new_label}: good")
    );
    assert_strict_rejects_revoked(
        &fx.root,
        &fx.ca1,
        &fx.old.cert,
        &[0],
        "the revoked CA 1 leaf",
    );
    fx.server.stop();
}

#[test]
fn renewing_a_ca1_certificate_yields_a_ca2_certificate() {
    let pca = PortedCa::init(&[]);
    let policies = policies_with_open_renewal(&pca.ca);
    let fx = roll_over(&pca, &policies);
    let ca = &pca.ca;
    let out_dir = ca.path("renewed");
    let output = ca.paypki(&[
        "renew",
        "--url",
        fx.server.url(),
        "--cert",
        fx.old.cert.to_str().unwrap(),
        "--key",
        fx.old.key.to_str().unwrap(),
        "--out-dir",
        out_dir.to_str().unwrap(),
    ]);
    output.assert_success("paypki renew of a CA 1 certificate after the rollover");
    let renewed = out_dir.join("cert.pem");
    let summary = check_cert(&renewed, &fx.ca2, &fx.root);
    assert!(
        summary
            .issuer
            .starts_with(&format!("CN={ORG} Issuing CA 2,")),
        "renewed by {}",
        summary.issuer
    );
    let before = check_cert(&fx.old.cert, &fx.ca1, &fx.root);
    assert_eq!(
        summary.subject_attributes, before.subject_attributes,
        "renewal keeps the names"
    );
    assert_eq!(summary.sans, before.sans, "renewal keeps the SANs");
    assert_chain_is(
        &split_pem_certificates(&read_text(&out_dir.join("chain.pem"))),
        &[&fx.ca2, &fx.root],
        "chain.pem of the renewal",
    );
    assert_verifies_with_chain(&out_dir.join("chain.pem"), &renewed);
    fx.server.stop();
}

// ---------------------------------------------------------------------------------------
// 5. Python `cryptography` checks every CRL against its own CA
// ---------------------------------------------------------------------------------------

#[test]
fn python_checks_the_root_crl_and_each_issuing_crl_against_its_own_ca() {
    let pca = PortedCa::init(&[]);
    let fx = roll_over(&pca, pca.ca.policies());
    let (server, ca) = (&fx.server, &pca.ca);
    let check = |stem: &str| {
        let (root_crl, _) = fetch_crl(server, "/crl/root.crl", &format!("{stem}-root.crl"));
        let (crl1, _) = fetch_crl(server, "/crl/issuing.crl", &format!("{stem}-issuing-1.crl"));
        let (crl2, _) = fetch_crl(
            server,
            "/crl/issuing-2.crl",
            &format!("{stem}-issuing-2.crl"),
        );
        check_crl_chain(&fx.root, &root_crl, &[(&fx.ca1, &crl1), (&fx.ca2, &crl2)])
    };
    let before = check("before");
    let number = before["root"]["crl_number"]
        .as_u64()
        .expect("a root cRLNumber");
    assert!(number >= 1, "{before:#}");
    assert!(
        before["root"]["entries"]
            .as_array()
            .is_some_and(Vec::is_empty),
        "neither issuing CA is revoked\n{before:#}"
    );
    for (index, issuing) in before["issuing"].as_array().unwrap().iter().enumerate() {
        assert_eq!(
            issuing["on_root_crl"],
            false,
            "issuing CA #{}\n{before:#}",
            index + 1
        );
        assert_eq!(
            issuing["ca_crl_urls"],
            json!([pca.url("/crl/root.crl")]),
            "issuing CA #{}\n{before:#}",
            index + 1
        );
    }

    // A new root CRL: the served one carries the next number, and still checks out.
    crl_root(ca, &[], "next-root.crl");
    wait_for_root_crl_number(server, number + 1, "after paypki crl --root");
    let after = check("after");
    assert_eq!(
        after["root"]["crl_number"].as_u64(),
        Some(number + 1),
        "{after:#}"
    );
    fx.server.stop();
}

// ---------------------------------------------------------------------------------------
// 6. Data directories of the previous version
// ---------------------------------------------------------------------------------------

#[test]
fn serve_signs_the_missing_root_crl_of_a_previous_version_data_dir() {
    let pca = PortedCa::init(&[]);
    let ca = &pca.ca;
    make_previous_version_data_dir(ca);
    assert!(!root_crl_file(ca).exists());

    let server = pca.serve();
    let file = root_crl_file(ca);
    assert!(
        file.is_file(),
        "serve did not sign the missing root CRL at start\n--- server log ---\n{}",
        server.log()
    );
    let crl = check_crl(&file, &ca.root_cert());
    assert_eq!(crl["issuer_matches"], true, "{crl:#}");
    assert!(
        crl["entries"].as_array().is_some_and(Vec::is_empty),
        "{crl:#}"
    );
    assert!(
        (crl_validity(&crl) - 180 * DAY).abs() <= VALIDITY_SLACK,
        "a root CRL of the default 180 days\n{crl:#}"
    );
    let (_, response) = fetch_crl(&server, "/crl/root.crl", "served-root.crl");
    assert_eq!(response.body, read_bytes(&file));
    assert_healthy(&health(&server), "a migrated data directory");

    // The single issuing CA of the old layout is CA 1, and works as before.
    let leaf = enroll(&server, "merchant", "merchant");
    assert_eq!(
        ca.check_cert(&leaf.cert).crl_urls,
        vec![pca.url("/crl/issuing.crl")]
    );
    server.stop();
    let list = ca_list(ca);
    assert_eq!(list.len(), 1, "{list:#?}");
    assert_eq!(ca_entry(&list, 1)["state"], "active");
}

#[test]
fn without_root_crl_or_root_key_serve_starts_degraded_until_one_is_made() {
    let pca = PortedCa::init(&[]);
    let ca = &pca.ca;
    make_previous_version_data_dir(ca);
    let offline_key = ca.path("offline-root.key.pem");
    std::fs::rename(ca.key_file("root"), &offline_key).unwrap();

    let server = pca.serve();
    assert_problem_type(
        &server.get("/crl/root.crl"),
        404,
        PROBLEM_NOT_FOUND,
        "GET /crl/root.crl with no root CRL and no root key",
    );
    let reasons = degraded_reasons(&health(&server))
        .unwrap_or_else(|last| panic!("/healthz must be degraded without a root CRL: {last}"));
    assert!(
        reasons.iter().any(|r| r.contains("paypki crl --root")),
        "no reason says to run paypki crl --root: {reasons:?}"
    );
    // Enrollment is not affected.
    enroll(&server, "buyer", "buyer");

    // The operator signs one with the key file; the running server picks it up.
    crl_root(
        ca,
        &["--root-key", offline_key.to_str().unwrap()],
        "first-root.crl",
    );
    wait_for(
        "GET /crl/root.crl after paypki crl --root",
        PICKUP_LIMIT,
        || {
            let response = server.get("/crl/root.crl");
            if response.status == 200 {
                Ok(())
            } else {
                Err(response.describe())
            }
        },
    );
    served_root_crl(&server, "served-root.crl");
    wait_for("/healthz ok once the root CRL exists", PICKUP_LIMIT, || {
        let answer = health(&server);
        if answer["status"] == "ok" {
            Ok(())
        } else {
            Err(answer.to_string())
        }
    });
    server.stop();
}
