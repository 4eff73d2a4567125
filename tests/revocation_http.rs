//! Revocation against the real `paypki serve` (issue 4): `paypki revoke` / `unhold` while the
//! server runs, the OCSP responder (POST and GET, SHA-1 and SHA-256 CertIDs, nonces,
//! several certificates per request, never-issued serials, other issuers, bad input) and
//! the CRLs. Every answer is checked with tools that share no code with paypki: the
//! `openssl ocsp` / `openssl verify -crl_check` / `openssl crl` commands, and Python's
//! `cryptography` (`tests/py/check_ocsp.py`, `tests/py/check_crl.py`).

// Test code may panic freely (helpers outside `#[test]` functions included).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine;
use common::*;

/// The body of every malformedRequest answer (RFC 6960 §4.2.1): `30 03 0a 01 01`.
const MALFORMED_REQUEST: [u8; 5] = [0x30, 0x03, 0x0a, 0x01, 0x01];

// ---------------------------------------------------------------------------------------
// Fixture
// ---------------------------------------------------------------------------------------

/// A running server, the issuing CA certificate and the served chain, as a relying party
/// holds them.
struct Fixture<'a> {
    server: TestServer<'a>,
    /// The issuing CA certificate, PEM.
    issuing: PathBuf,
    /// `/ca/chain.pem`: issuing CA then root.
    chain: PathBuf,
}

impl<'a> Fixture<'a> {
    fn start(ca: &'a TestCa) -> Self {
        let server = TestServer::start(ca);
        let chain = server.save_chain("chain.pem");
        let issuing = ca.path("issuing.pem");
        std::fs::copy(ca.issuing_cert(), &issuing).unwrap();
        Fixture {
            server,
            issuing,
            chain,
        }
    }

    fn ca(&self) -> &'a TestCa {
        self.server.ca()
    }

    /// Enrolls a participant of `role` with `paypki enroll`; returns its serial and the
    /// path of its certificate, copied to `<tmp>/<name>.pem`.
    fn enroll(&self, role: &str, name: &str) -> (String, PathBuf) {
        let (serial, dir) =
            self.server
                .enroll_case(&enroll_case(role), "ecdsa-p256", &format!("{name}-dir"));
        let leaf = self.ca().path(&format!("{name}.pem"));
        std::fs::copy(dir.join("cert.pem"), &leaf).unwrap();
        (serial, leaf)
    }

    /// `openssl ocsp -issuer ISSUING ARGS… -url URL/ocsp -CAfile CHAIN`; asserts that the
    /// response verifies and returns stdout and stderr together.
    fn openssl_ocsp<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        common::openssl_ocsp(
            &self.server.url_for("/ocsp"),
            &self.issuing,
            &self.chain,
            args,
        )
    }

    /// `paypki revoke SERIAL --reason REASON [EXTRA…]` while the server runs; asserts success.
    fn revoke(&self, serial: &str, reason: &str, extra: &[&str]) {
        let mut args = vec!["revoke", serial, "--reason", reason];
        args.extend_from_slice(extra);
        let output = self.ca().paypki(&args);
        output.assert_success(&format!("paypki revoke {serial} --reason {reason}"));
        assert_eq!(output.stdout_text().trim(), serial, "{}", output.describe());
    }

    /// `openssl ocsp … -no_nonce -reqout` for one certificate: the DER request.
    fn request_der(&self, leaf: &Path, extra: &[&str], name: &str) -> Vec<u8> {
        let out = self.ca().path(name);
        let mut command = std::process::Command::new("openssl");
        command
            .arg("ocsp")
            .arg("-issuer")
            .arg(&self.issuing)
            .args(extra)
            .arg("-cert")
            .arg(leaf)
            .arg("-reqout")
            .arg(&out);
        run(&mut command).assert_success("openssl ocsp -reqout");
        read_bytes(&out)
    }

    /// POSTs a DER request; asserts HTTP 200 and the OCSP content type; writes the
    /// response to `<tmp>/<name>` and returns its path and the response.
    fn post_ocsp(&self, der: &[u8], name: &str) -> (PathBuf, HttpResponse) {
        let response = self.server.ocsp_post(der);
        assert_ocsp_http(&response, "POST /ocsp");
        let path = self.ca().path(name);
        std::fs::write(&path, &response.body).unwrap();
        (path, response)
    }

    /// `check_ocsp.py RESPONSE ISSUING [REQUEST]`, parsed.
    fn check_ocsp(&self, response: &Path, request: Option<&Path>) -> serde_json::Value {
        let mut args: Vec<&OsStr> = vec![response.as_os_str(), self.issuing.as_os_str()];
        if let Some(request) = request {
            args.push(request.as_os_str());
        }
        let output = run_python("check_ocsp.py", &args);
        output.assert_success(&format!("check_ocsp.py {}", response.display()));
        serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("check_ocsp.py printed no JSON: {e}\n{}", output.describe()))
    }

    /// `GET /crl/issuing.crl`, checked with `check_crl.py` against the issuing CA.
    fn fetch_crl(&self, name: &str) -> (serde_json::Value, PathBuf, HttpResponse) {
        let response = self.server.get("/crl/issuing.crl");
        response.assert_status(200, "GET /crl/issuing.crl");
        let path = self.ca().path(name);
        std::fs::write(&path, &response.body).unwrap();
        (check_crl(&path, &self.issuing), path, response)
    }

    /// Polls `/crl/issuing.crl` (bounded) until it lists `serial`.
    fn wait_for_crl_entry(&self, serial: &str, name: &str) -> (serde_json::Value, PathBuf) {
        self.wait_for_crl(name, &format!("a CRL listing {serial}"), |crl| {
            crl_entry(crl, serial).is_some()
        })
    }

    /// Polls `/crl/issuing.crl` (at most 15 s) until `done` accepts the parsed CRL.
    fn wait_for_crl(
        &self,
        name: &str,
        what: &str,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> (serde_json::Value, PathBuf) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (crl, path, _) = self.fetch_crl(name);
            if done(&crl) {
                return (crl, path);
            }
            assert!(
                Instant::now() < deadline,
                "no {what} was published within 15 s; the last one:\n{crl:#}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Asserts HTTP 200 with `Content-Type: application/ocsp-response`.
fn assert_ocsp_http(response: &HttpResponse, what: &str) {
    response.assert_status(200, what);
    assert_eq!(
        response.content_type(),
        "application/ocsp-response",
        "{what}\n{}",
        response.describe()
    );
}

/// Asserts that an HTTP answer is exactly the malformedRequest OCSP response.
fn assert_malformed_request(response: &HttpResponse, what: &str) {
    assert_ocsp_http(response, what);
    assert_eq!(
        response.body,
        MALFORMED_REQUEST,
        "{what}: expected malformedRequest (30 03 0a 01 01)\n{}",
        response.describe()
    );
}

/// Base64 of a DER request, percent-encoded for a URL path (RFC 6960 Appendix A.1).
fn url_encoded_base64(der: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(der)
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

/// `now + offset` as RFC 3339 (`…Z`) and as Python's `isoformat()` (`…+00:00`).
fn rfc3339_from_now(offset: time::Duration) -> (String, String) {
    let when = (time::OffsetDateTime::now_utc() + offset)
        .replace_nanosecond(0)
        .unwrap();
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let text = when.format(&format).unwrap();
    (format!("{text}Z"), format!("{text}+00:00"))
}

// ---------------------------------------------------------------------------------------
// Minimal DER, to craft OCSP requests openssl will not make
// ---------------------------------------------------------------------------------------

/// A DER TLV with a definite length.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// Splits the first DER element off `input`: (tag, whole element, content, rest).
fn der_split(input: &[u8]) -> (u8, &[u8], &[u8], &[u8]) {
    let tag = input[0];
    let first = input[1] as usize;
    let (len, header) = if first < 0x80 {
        (first, 2)
    } else {
        let count = first & 0x7f;
        let len = input[2..2 + count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, 2 + count)
    };
    (
        tag,
        &input[..header + len],
        &input[header..header + len],
        &input[header + len..],
    )
}

/// The first `Request` element (SEQUENCE { CertID }) of a DER OCSPRequest.
fn first_single_request(request: &[u8]) -> Vec<u8> {
    let (_, _, ocsp_request, _) = der_split(request);
    let (_, _, tbs_request, _) = der_split(ocsp_request);
    let (tag, _, request_list, _) = der_split(tbs_request);
    assert_eq!(
        tag, 0x30,
        "expected requestList first (no version, no requestorName)"
    );
    let (_, single, _, _) = der_split(request_list);
    single.to_vec()
}

/// An OCSPRequest of these `Request`s, with a nonce extension of these octets if given.
fn craft_request(singles: &[Vec<u8>], nonce: Option<&[u8]>) -> Vec<u8> {
    // id-pkix-ocsp-nonce, 1.3.6.1.5.5.7.48.1.2
    const NONCE_OID: [u8; 9] = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02];
    let mut tbs = der(0x30, &singles.concat());
    if let Some(nonce) = nonce {
        let extension = der(
            0x30,
            &[der(0x06, &NONCE_OID), der(0x04, &der(0x04, nonce))].concat(),
        );
        tbs.extend(der(0xa2, &der(0x30, &extension)));
    }
    der(0x30, &der(0x30, &tbs))
}

// ---------------------------------------------------------------------------------------
// OCSP with openssl
// ---------------------------------------------------------------------------------------

#[test]
fn ocsp_reports_good_then_revoked_immediately() {
    let ca = TestCa::new();
    let fixture = Fixture::start(&ca);
    let (serial_a, a) = fixture.enroll("merchant", "a");
    let (_, b) = fixture.enroll("buyer", "b");
    let (a_label, b_label) = (a.to_str().unwrap(), b.to_str().unwrap());

    // Good, with and without a nonce, with SHA-1 and SHA-256 CertIDs.
    for variant in [
        vec!["-nonce", "-cert", a_label],
        vec!["-no_nonce", "-cert", a_label],
        vec!["-sha256", "-cert", a_label],
        vec!["-sha256", "-no_nonce", "-cert", a_label],
    ] {
        let output = fixture.openssl_ocsp(&variant);
        assert_eq!(
            ocsp_status_line(&output, a_label),
            format!("{a_label}: good"),
            "{variant:?}\n{output}"
        );
        assert_contains_all(&output, &["This Update:", "Next Update:"], "good response");
    }
    // Two certificates in one request: both answered.
    let both = fixture.openssl_ocsp(&["-cert", a_label, "-cert", b_label]);
    assert_eq!(ocsp_status_line(&both, a_label), format!("{a_label}: good"));
    assert_eq!(ocsp_status_line(&both, b_label), format!("{b_label}: good"));

    // Revoked while the server runs: the very next answer says so (no waiting).
    fixture.revoke(&serial_a, "keyCompromise", &[]);
    for variant in [
        vec!["-nonce", "-cert", a_label],
        vec!["-no_nonce", "-cert", a_label],
        vec!["-sha256", "-cert", a_label],
        vec!["-sha256", "-no_nonce", "-cert", a_label],
    ] {
        let output = fixture.openssl_ocsp(&variant);
        let block = ocsp_block(&output, a_label);
        assert_contains_all(
            &block,
            &[
                &format!("{a_label}: revoked"),
                "Reason: keyCompromise",
                "Revocation Time:",
            ],
            &format!("revoked, {variant:?}"),
        );
    }
    let both = fixture.openssl_ocsp(&["-no_nonce", "-cert", a_label, "-cert", b_label]);
    assert_eq!(
        ocsp_status_line(&both, a_label),
        format!("{a_label}: revoked")
    );
    assert_eq!(ocsp_status_line(&both, b_label), format!("{b_label}: good"));

    // The JSON view agrees.
    let view = fixture.server.get(&format!("/v1/certificates/{serial_a}"));
    view.assert_status(200, "GET /v1/certificates/{serial}");
    let view = view.json();
    assert_eq!(view["status"], "revoked");
    assert_eq!(view["revocation"]["reason"], "keyCompromise");
    fixture.server.stop();
}

#[test]
fn certificate_hold_can_be_lifted_and_final_revocations_cannot_change() {
    let ca = TestCa::new();
    let fixture = Fixture::start(&ca);
    let (serial, leaf) = fixture.enroll("bank", "held");
    let label = leaf.to_str().unwrap();

    // On hold: revoked with reason certificateHold, in OCSP and on the CRL.
    fixture.revoke(&serial, "certificateHold", &[]);
    let output = fixture.openssl_ocsp(&["-no_nonce", "-cert", label]);
    assert_contains_all(
        &ocsp_block(&output, label),
        &[&format!("{label}: revoked"), "Reason: certificateHold"],
        "on hold",
    );
    let records = ca.list_json(&["--status", "revoked"]);
    assert_eq!(records.len(), 1, "{records:?}");
    let (held_crl, _) = fixture.wait_for_crl_entry(&serial, "held.crl");
    assert_eq!(
        crl_entry(&held_crl, &serial).unwrap()["reason"],
        "certificateHold"
    );
    let held_number = held_crl["crl_number"].as_u64().unwrap();

    // Lifted: good again, for cached and nonce requests alike.
    let unhold = ca.paypki(&["unhold", &serial]);
    unhold.assert_success("paypki unhold");
    assert_eq!(unhold.stdout_text().trim(), serial);
    for variant in [["-no_nonce", "-cert", label], ["-nonce", "-cert", label]] {
        let output = fixture.openssl_ocsp(&variant);
        assert_eq!(
            ocsp_status_line(&output, label),
            format!("{label}: good"),
            "{output}"
        );
    }
    assert!(ca.list_json(&["--status", "revoked"]).is_empty());
    ca.paypki(&["unhold", &serial])
        .assert_failure("paypki unhold of a certificate that is not on hold");
    // The next CRL no longer lists it.
    fixture.wait_for_crl("unheld.crl", "CRL after the unhold", |crl| {
        crl["crl_number"].as_u64().unwrap() > held_number && crl_entry(crl, &serial).is_none()
    });

    // A hold may become a final revocation (RFC 5280 §5.3.1).
    let (other_serial, other) = fixture.enroll("buyer", "held-then-compromised");
    let other_label = other.to_str().unwrap();
    fixture.revoke(&other_serial, "certificateHold", &[]);
    fixture.revoke(&other_serial, "keyCompromise", &[]);
    let output = fixture.openssl_ocsp(&["-no_nonce", "-cert", other_label]);
    assert_contains_all(
        &ocsp_block(&output, other_label),
        &[&format!("{other_label}: revoked"), "Reason: keyCompromise"],
        "hold, then keyCompromise",
    );
    ca.paypki(&["unhold", &other_serial])
        .assert_failure("paypki unhold after the hold became keyCompromise");

    // Final revocation: a second revocation is refused and changes nothing.
    fixture.revoke(&serial, "keyCompromise", &[]);
    let again = ca.paypki(&["revoke", &serial, "--reason", "superseded"]);
    again.assert_failure("a second revocation");
    assert!(
        again.stderr_text().contains("409") || again.stderr_text().contains("already"),
        "{}",
        again.describe()
    );
    ca.paypki(&["revoke", &serial, "--reason", "certificateHold"])
        .assert_failure("putting a revoked certificate on hold");
    ca.paypki(&["unhold", &serial])
        .assert_failure("paypki unhold of a keyCompromise revocation");
    let output = fixture.openssl_ocsp(&["-no_nonce", "-cert", label]);
    assert_contains_all(
        &ocsp_block(&output, label),
        &[&format!("{label}: revoked"), "Reason: keyCompromise"],
        "after the refused second revocation",
    );
    let records = ca.list_json(&[]);
    assert_eq!(records[0]["status"], "revoked");
    assert_eq!(
        records[0]["revocation"]["reason"], "keyCompromise",
        "{records:?}"
    );

    // Unknown serials, unknown reasons and invalidity dates in the future are refused.
    let (future, _) = rfc3339_from_now(time::Duration::days(30));
    let (fresh_serial, _) = fixture.enroll("buyer", "fresh");
    ca.paypki(&[
        "revoke",
        &fresh_serial,
        "--reason",
        "keyCompromise",
        "--invalidity-date",
        &future,
    ])
    .assert_failure("an invalidity date in the future");
    ca.paypki(&[
        "revoke",
        &fresh_serial,
        "--reason",
        "keyCompromise",
        "--invalidity-date",
        "yesterday",
    ])
    .assert_failure("an invalidity date that is not RFC 3339");
    assert!(ca
        .list_json(&["--status", "revoked"])
        .iter()
        .all(|r| r["serial"] != fresh_serial.as_str()));
    let unknown = ca.paypki(&["revoke", "0123456789abcdef01", "--reason", "keyCompromise"]);
    unknown.assert_failure("revoking an unknown serial");
    assert!(!unknown.stderr_text().trim().is_empty());
    ca.paypki(&["revoke", &serial, "--reason", "bogus"])
        .assert_failure("an unknown reason");
    ca.paypki(&["revoke", "not-hex", "--reason", "keyCompromise"])
        .assert_failure("a malformed serial");
    assert_eq!(ca.certificate_count(), 3);
    ca.paypki(&["audit", "verify"])
        .assert_success("paypki audit verify");
    fixture.server.stop();
}

#[test]
fn never_issued_serials_are_revoked_and_other_issuers_unknown() {
    let ca = TestCa::new();
    let fixture = Fixture::start(&ca);

    // A serial of our issuer that was never issued: revoked, certificateHold, 1970.
    let output = fixture.openssl_ocsp(&["-no_nonce", "-serial", "0x1234"]);
    assert_contains_all(
        &ocsp_block(&output, "0x1234"),
        &[
            "0x1234: revoked",
            "Reason: certificateHold",
            "Revocation Time: Jan  1 00:00:00 1970 GMT",
        ],
        "never-issued serial",
    );

    // A certificate of another CA, asked at this server: unknown. (openssl rightly refuses
    // to take our delegated responder as authoritative for another issuer, so it only
    // reads the status here, with -noverify; Python checks the signature below.)
    let other = TestCa::new();
    let key = generate_key(KeyType::EcP256, &other.path("other.key.pem"));
    let case = enroll_case("buyer");
    let csr = make_csr(
        &key,
        case.openssl_subject,
        case.openssl_addext,
        &other.path("other.csr"),
    );
    let foreign = other.issue(&csr, "buyer", "other.pem");
    let mut command = std::process::Command::new("openssl");
    command
        .arg("ocsp")
        .arg("-issuer")
        .arg(other.issuing_cert())
        .arg("-cert")
        .arg(&foreign.leaf)
        .arg("-url")
        .arg(fixture.server.url_for("/ocsp"))
        .arg("-CAfile")
        .arg(&fixture.chain)
        .args(["-noverify", "-timeout", "30"]);
    let output = run(&mut command);
    output.assert_success("openssl ocsp for another CA's certificate");
    let text = format!("{}{}", output.stdout_text(), output.stderr_text());
    let label = foreign.leaf.to_str().unwrap();
    assert_eq!(
        ocsp_status_line(&text, label),
        format!("{label}: unknown"),
        "{text}"
    );

    // Python agrees on both.
    let request = {
        let out = ca.path("foreign.req");
        let mut command = std::process::Command::new("openssl");
        command
            .arg("ocsp")
            .arg("-issuer")
            .arg(other.issuing_cert())
            .arg("-cert")
            .arg(&foreign.leaf)
            .arg("-no_nonce")
            .arg("-reqout")
            .arg(&out);
        run(&mut command).assert_success("openssl ocsp -reqout (foreign)");
        read_bytes(&out)
    };
    let (response, _) = fixture.post_ocsp(&request, "foreign.resp");
    let summary = fixture.check_ocsp(&response, None);
    assert_eq!(summary["cert_status"], "unknown", "{summary:#}");
    assert_eq!(summary["issuer_matches"], false);
    assert_eq!(summary["serial"], foreign.serial.as_str());
    fixture.server.stop();
}

#[test]
fn ocsp_get_answers_with_cache_headers_and_verifies() {
    let ca = TestCa::new();
    let fixture = Fixture::start(&ca);
    let (serial, leaf) = fixture.enroll("gateway", "gw");

    let request = fixture.request_der(&leaf, &["-no_nonce"], "get.req");
    let path = format!("/ocsp/{}", url_encoded_base64(&request));
    let response = fixture.server.get(&path);
    assert_ocsp_http(&response, "GET /ocsp/{base64}");
    let cache_control = response.header("cache-control").unwrap_or_default();
    assert!(
        cache_control.contains("max-age="),
        "Cache-Control without max-age\n{}",
        response.describe()
    );
    let max_age: u64 = cache_control
        .split(',')
        .find_map(|d| d.trim().strip_prefix("max-age="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(max_age > 0, "{}", response.describe());
    for header in ["etag", "last-modified", "expires"] {
        assert!(
            response.header(header).is_some_and(|v| !v.is_empty()),
            "GET /ocsp without {header}\n{}",
            response.describe()
        );
    }
    let resp = ca.path("get.resp");
    std::fs::write(&resp, &response.body).unwrap();
    let output = run(std::process::Command::new("openssl")
        .arg("ocsp")
        .arg("-respin")
        .arg(&resp)
        .arg("-issuer")
        .arg(&fixture.issuing)
        .arg("-CAfile")
        .arg(&fixture.chain)
        .arg("-cert")
        .arg(&leaf));
    output.assert_success("openssl ocsp -respin");
    let text = format!("{}{}", output.stdout_text(), output.stderr_text());
    assert!(text.contains("Response verify OK"), "{text}");
    let label = leaf.to_str().unwrap();
    assert_eq!(ocsp_status_line(&text, label), format!("{label}: good"));
    let summary = fixture.check_ocsp(&resp, None);
    assert_eq!(summary["cert_status"], "good");
    assert_eq!(summary["serial"], serial.as_str());

    // The same request again: the same cached bytes and validator, and the same dates
    // (the second answer's headers come rendered from the cache entry, the first's were
    // rendered for it).
    let again = fixture.server.get(&path);
    assert_ocsp_http(&again, "GET /ocsp again");
    for header in ["etag", "last-modified", "expires"] {
        assert_eq!(again.header(header), response.header(header), "{header}");
    }
    assert!(
        again
            .header("last-modified")
            .is_some_and(|v| v.len() == 29 && v.ends_with(" GMT")),
        "Last-Modified is not an IMF-fixdate\n{}",
        again.describe()
    );
    assert_eq!(again.body, response.body);

    // Unencoded base64 (as some clients send it) and SHA-256 CertIDs work too.
    let raw = base64::engine::general_purpose::STANDARD.encode(&request);
    let unencoded = fixture.server.get(&format!("/ocsp/{raw}"));
    assert_ocsp_http(&unencoded, "GET /ocsp with unencoded base64");
    assert_eq!(unencoded.body, response.body);
    let sha256 = fixture.request_der(&leaf, &["-no_nonce", "-sha256"], "get256.req");
    let response = fixture
        .server
        .get(&format!("/ocsp/{}", url_encoded_base64(&sha256)));
    assert_ocsp_http(&response, "GET /ocsp with a SHA-256 CertID");
    let resp = ca.path("get256.resp");
    std::fs::write(&resp, &response.body).unwrap();
    let summary = fixture.check_ocsp(&resp, None);
    assert_eq!(summary["cert_status"], "good");
    assert_eq!(summary["hash_algorithm"], "sha256");

    // After a revocation, GET says revoked at once (the cached answer is replaced).
    fixture.revoke(&serial, "cessationOfOperation", &[]);
    let revoked = fixture.server.get(&path);
    assert_ocsp_http(&revoked, "GET /ocsp after revocation");
    assert_ne!(revoked.header("etag"), again.header("etag"));
    let resp = ca.path("get-revoked.resp");
    std::fs::write(&resp, &revoked.body).unwrap();
    let summary = fixture.check_ocsp(&resp, None);
    assert_eq!(summary["cert_status"], "revoked");
    assert_eq!(summary["revocation_reason"], "cessationOfOperation");
    fixture.server.stop();
}

// ---------------------------------------------------------------------------------------
// OCSP with Python
// ---------------------------------------------------------------------------------------

#[test]
fn python_verifies_good_revoked_and_never_issued_responses() {
    let ca = TestCa::new();
    let fixture = Fixture::start(&ca);
    let (serial, leaf) = fixture.enroll("merchant", "m");

    // Good, no nonce.
    let request = fixture.request_der(&leaf, &["-no_nonce"], "good.req");
    let (response, _) = fixture.post_ocsp(&request, "good.resp");
    let good = fixture.check_ocsp(&response, None);
    assert_eq!(good["status"], "successful", "{good:#}");
    assert_eq!(good["cert_status"], "good");
    assert_eq!(good["serial"], serial.as_str());
    assert_eq!(good["issuer_matches"], true);
    assert_eq!(good["responder_id"], "by_key");
    assert!(good["nonce"].is_null());
    assert!(good["revocation_reason"].is_null());
    assert!(
        good["this_update"].as_str().unwrap() < good["next_update"].as_str().unwrap(),
        "{good:#}"
    );

    // Revoked with an invalidity date, asked with a nonce: the nonce comes back.
    let (invalidity, invalidity_iso) = rfc3339_from_now(-time::Duration::days(3));
    fixture.revoke(
        &serial,
        "keyCompromise",
        &["--invalidity-date", &invalidity],
    );
    let nonce_request = fixture.request_der(&leaf, &["-nonce"], "revoked.req");
    let (response, _) = fixture.post_ocsp(&nonce_request, "revoked.resp");
    let revoked = fixture.check_ocsp(&response, Some(&ca.path("revoked.req")));
    assert_eq!(revoked["cert_status"], "revoked", "{revoked:#}");
    assert_eq!(revoked["revocation_reason"], "keyCompromise");
    assert_eq!(revoked["invalidity_date"], invalidity_iso.as_str());
    assert!(revoked["revocation_time"].is_string());
    assert!(
        revoked["request_nonce"].is_string(),
        "openssl -nonce sent no nonce? {revoked:#}"
    );
    assert_eq!(
        revoked["nonce"], revoked["request_nonce"],
        "nonce not echoed"
    );
    assert_eq!(revoked["extended_revoke"], false);

    // Never issued: revoked, certificateHold, 1970-01-01, with the extended revoke extension.
    let mut command = std::process::Command::new("openssl");
    command
        .arg("ocsp")
        .arg("-issuer")
        .arg(&fixture.issuing)
        .args(["-serial", "0x1234", "-no_nonce", "-reqout"])
        .arg(ca.path("never.req"));
    run(&mut command).assert_success("openssl ocsp -serial 0x1234 -reqout");
    let (response, _) = fixture.post_ocsp(&read_bytes(&ca.path("never.req")), "never.resp");
    let never = fixture.check_ocsp(&response, None);
    assert_eq!(never["cert_status"], "revoked", "{never:#}");
    assert_eq!(never["serial"], "1234");
    assert_eq!(never["revocation_reason"], "certificateHold");
    assert_eq!(never["revocation_time"], "1970-01-01T00:00:00+00:00");
    assert_eq!(never["extended_revoke"], true);
    assert_eq!(never["issuer_matches"], true);
    fixture.server.stop();
}

#[test]
fn crafted_requests_nonce_bounds_and_many_cert_ids() {
    let ca = TestCa::new();
    let fixture = Fixture::start(&ca);
    let (serial, leaf) = fixture.enroll("buyer", "b");
    let single = first_single_request(&fixture.request_der(&leaf, &["-no_nonce"], "b.req"));

    // The crafted request without a nonce is what openssl sent: good.
    let (response, _) = fixture.post_ocsp(
        &craft_request(std::slice::from_ref(&single), None),
        "plain.resp",
    );
    assert_eq!(fixture.check_ocsp(&response, None)["cert_status"], "good");

    // Nonces of 1 and 32 octets are echoed.
    for len in [1usize, 32] {
        let nonce: Vec<u8> = (0..len).map(|i| (i * 7 + 1) as u8).collect();
        let der = craft_request(std::slice::from_ref(&single), Some(&nonce));
        let request = ca.path(&format!("nonce{len}.req"));
        std::fs::write(&request, &der).unwrap();
        let (response, _) = fixture.post_ocsp(&der, &format!("nonce{len}.resp"));
        let summary = fixture.check_ocsp(&response, Some(&request));
        assert_eq!(summary["cert_status"], "good", "{summary:#}");
        assert_eq!(summary["request_nonce"], hex::encode(&nonce));
        assert_eq!(
            summary["nonce"],
            hex::encode(&nonce),
            "nonce of {len} octets"
        );
    }
    // RFC 8954: a nonce over 32 octets (or empty) is malformedRequest.
    for len in [0usize, 33, 40] {
        let nonce = vec![0x5a; len];
        let response = fixture
            .server
            .ocsp_post(&craft_request(std::slice::from_ref(&single), Some(&nonce)));
        assert_malformed_request(&response, &format!("a nonce of {len} octets"));
    }

    // 64 CertIDs are answered one by one; 65 are too many.
    let many: Vec<Vec<u8>> = std::iter::repeat_n(single.clone(), 64).collect();
    let (response, _) = fixture.post_ocsp(&craft_request(&many, None), "many.resp");
    let summary = fixture.check_ocsp(&response, None);
    let responses = summary["responses"].as_array().unwrap();
    assert_eq!(responses.len(), 64);
    assert!(responses
        .iter()
        .all(|r| r["cert_status"] == "good" && r["serial"] == serial.as_str()));
    let too_many: Vec<Vec<u8>> = std::iter::repeat_n(single, 65).collect();
    assert_malformed_request(
        &fixture.server.ocsp_post(&craft_request(&too_many, None)),
        "65 CertIDs",
    );
    fixture.server.stop();
}

#[test]
fn malformed_ocsp_requests_get_malformed_request() {
    let ca = TestCa::new();
    let fixture = Fixture::start(&ca);
    let (_, leaf) = fixture.enroll("buyer", "b");
    let request = fixture.request_der(&leaf, &["-no_nonce"], "b.req");

    let garbage = b"\x00\x01\x02 this is not an OCSP request \xff\xfe".to_vec();
    let truncated = request[..request.len() - 3].to_vec();
    let oversized = {
        let mut body = request.clone();
        body.resize(20_000, 0);
        body
    };
    for (what, body) in [
        ("garbage", garbage),
        ("empty body", Vec::new()),
        ("truncated DER", truncated),
        ("20000 bytes", oversized),
        ("a certificate instead of a request", {
            let pem = read_text(&leaf);
            let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap()
        }),
    ] {
        assert_malformed_request(&fixture.server.ocsp_post(&body), &format!("POST {what}"));
    }
    for (what, path) in [
        ("bad base64", "/ocsp/not*base64!!".to_string()),
        (
            "base64 of garbage",
            format!("/ocsp/{}", url_encoded_base64(b"garbage bytes")),
        ),
        (
            "truncated base64 request",
            format!(
                "/ocsp/{}",
                url_encoded_base64(&request[..request.len() / 2])
            ),
        ),
    ] {
        let response = fixture.server.get(&path);
        assert_malformed_request(&response, &format!("GET {what}"));
    }

    ocsp_edge_cases_answer_as_the_router_did(&fixture.server, &request);

    // The responder still answers good requests.
    let (response, _) = fixture.post_ocsp(&request, "after.resp");
    assert_eq!(fixture.check_ocsp(&response, None)["cert_status"], "good");
    let output = fixture.openssl_ocsp(&["-nonce", "-cert", leaf.to_str().unwrap()]);
    assert!(output.contains(": good"), "{output}");
    fixture.server.stop();
}

/// `POST /ocsp` and `GET /ocsp/{…}` are answered before axum's router (src/http/fast.rs);
/// everything else on those paths is still the router's. These are the answers the
/// router gave before the fast path existed (recorded against main at 090d394): the same
/// bytes and caching headers for the same question however its path is written, the
/// same problem documents for what is not OCSP, and the same metrics series.
fn ocsp_edge_cases_answer_as_the_router_did(server: &TestServer<'_>, request: &[u8]) {
    let post_ok = r#"paypki_http_requests_total{method="POST",route="/ocsp",status="200"}"#;
    let get_ok =
        r#"paypki_http_requests_total{method="GET",route="/ocsp/{*request}",status="200"}"#;
    let (posts_before, gets_before) = (
        server.metric(post_ok).unwrap_or(0.0),
        server.metric(get_ok).unwrap_or(0.0),
    );
    let encoded = url_encoded_base64(request);
    let standard = base64::engine::general_purpose::STANDARD.encode(request);
    let get = server.get(&format!("/ocsp/{encoded}"));
    assert_ocsp_http(&get, "GET /ocsp/{request}");
    assert_ne!(get.body, MALFORMED_REQUEST, "{}", get.describe());
    let caching = |r: &HttpResponse| {
        ["etag", "last-modified", "expires"].map(|name| r.header(name).map(str::to_string))
    };
    assert!(
        caching(&get).iter().all(Option::is_some),
        "{}",
        get.describe()
    );
    for (what, path) in [
        ("a query string", format!("/ocsp/{encoded}?nonce=ignored")),
        ("unencoded base64", format!("/ocsp/{standard}")),
        ("a leading slash", format!("/ocsp//{encoded}")),
        ("an encoded leading slash", format!("/ocsp/%2F{encoded}")),
        (
            "URL-safe base64 without padding",
            format!(
                "/ocsp/{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(request)
            ),
        ),
    ] {
        let answer = server.get(&path);
        assert_ocsp_http(&answer, &format!("GET with {what}"));
        assert_eq!(answer.body, get.body, "GET with {what}");
        assert_eq!(caching(&answer), caching(&get), "GET with {what}");
        assert!(
            answer
                .header("cache-control")
                .is_some_and(|v| v.starts_with("max-age=")
                    && v.ends_with(", public, no-transform, must-revalidate")),
            "GET with {what}: {}",
            answer.describe()
        );
    }
    let post = server.ocsp_post(request);
    assert_ocsp_http(&post, "POST /ocsp");
    assert_eq!(post.header("cache-control"), Some("no-cache, no-store"));
    let with_query = server.post_bytes("/ocsp?x=1", Some("application/ocsp-request"), request);
    assert_ocsp_http(&with_query, "POST /ocsp?x=1");
    assert_eq!(with_query.body, post.body, "POST /ocsp?x=1");
    let exactly_at_the_limit = {
        let mut body = request.to_vec();
        body.resize(10_000, 0);
        body
    };
    assert_malformed_request(
        &server.ocsp_post(&exactly_at_the_limit),
        "POST of 10,000 bytes with trailing zeros",
    );
    for (what, path) in [
        (
            "percent-escapes that are not UTF-8",
            "/ocsp/%FF%FE".to_string(),
        ),
        ("a broken percent-escape", "/ocsp/%zz".to_string()),
        (
            "12,000 characters",
            format!("/ocsp/{}", "QUFB".repeat(3000)),
        ),
    ] {
        assert_malformed_request(&server.get(&path), &format!("GET with {what}"));
    }
    // HEAD is the router's: the GET's headers without the body.
    let head = read_http_response(
        server
            .agent()
            .head(&server.url_for(&format!("/ocsp/{encoded}")))
            .call(),
        "HEAD /ocsp/{request}",
    );
    head.assert_status(200, "HEAD /ocsp/{request}");
    assert_eq!(head.content_type(), "application/ocsp-response");
    assert_eq!(caching(&head), caching(&get), "HEAD /ocsp/{{request}}");
    assert_eq!(
        head.header("content-length"),
        Some(get.body.len().to_string().as_str())
    );
    assert!(head.body.is_empty(), "{}", head.describe());
    // Not OCSP: the router's problem documents.
    for (method, path, status, allow) in [
        ("GET", "/ocsp".to_string(), 405, Some("POST")),
        ("PUT", "/ocsp".to_string(), 405, Some("POST")),
        ("POST", format!("/ocsp/{encoded}"), 405, Some("GET,HEAD")),
        ("GET", "/ocsp/".to_string(), 404, None),
        ("POST", "/ocsp/".to_string(), 404, None),
        ("GET", format!("/OCSP/{encoded}"), 404, None),
    ] {
        let what = format!("{method} {path}");
        let answer =
            server.send_oversized_with(method, &path, "application/ocsp-request", request, &[]);
        let kind = if status == 405 {
            "method-not-allowed"
        } else {
            "not-found"
        };
        let problem = answer.assert_problem(status, kind, &what);
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains(&path)),
            "{what}: {problem}"
        );
        assert_eq!(answer.header("allow"), allow, "{what}");
    }
    // Counted under the routes' series, as before: 9 GETs (3 of them malformed) and 3
    // POSTs answered 200 here.
    assert_eq!(
        server.metric(get_ok),
        Some(gets_before + 9.0),
        "GET /ocsp/{{request}} 200s"
    );
    assert_eq!(
        server.metric(post_ok),
        Some(posts_before + 3.0),
        "POST /ocsp 200s"
    );
}

// ---------------------------------------------------------------------------------------
// CRLs
// ---------------------------------------------------------------------------------------

/// `openssl verify -crl_check -CRLfile CRL_PEM -CAfile CHAIN LEAF`.
fn verify_with_crl(crl_pem: &Path, chain: &Path, leaf: &Path) -> std::process::Output {
    run(std::process::Command::new("openssl")
        .arg("verify")
        .arg("-crl_check")
        .arg("-CRLfile")
        .arg(crl_pem)
        .arg("-CAfile")
        .arg(chain)
        .arg(leaf))
}

/// DER CRL → PEM with `openssl crl`.
fn crl_to_pem(der: &Path, pem: &Path) {
    openssl(&[
        "crl".as_ref(),
        "-inform".as_ref(),
        "DER".as_ref(),
        "-in".as_ref(),
        der.as_os_str(),
        "-out".as_ref(),
        pem.as_os_str(),
    ]);
}

#[test]
fn the_crl_lists_revocations_and_verifies() {
    let ca = TestCa::new();
    let fixture = Fixture::start(&ca);
    let (serial_a, a) = fixture.enroll("merchant", "a");
    let (serial_b, b) = fixture.enroll("bank", "b");
    let (_, c) = fixture.enroll("buyer", "c");

    // Before any revocation: an empty, signed CRL with caching headers.
    let (first, _, response) = fixture.fetch_crl("crl0.der");
    assert_eq!(response.content_type(), "application/pkix-crl");
    for header in ["etag", "last-modified", "cache-control", "expires"] {
        assert!(
            response.header(header).is_some_and(|v| !v.is_empty()),
            "GET /crl/issuing.crl without {header}\n{}",
            response.describe()
        );
    }
    assert!(response
        .header("cache-control")
        .unwrap()
        .contains("max-age="));
    let etag0 = response.header("etag").unwrap().to_string();
    let not_modified = fixture
        .server
        .get_with("/crl/issuing.crl", &[("If-None-Match", &etag0)]);
    not_modified.assert_status(304, "If-None-Match with the current ETag");
    assert!(first["entries"].as_array().unwrap().is_empty(), "{first:#}");
    assert_eq!(first["issuer_matches"], true);
    let number0 = first["crl_number"].as_u64().unwrap();

    // Revoke a (keyCompromise, with an invalidity date): it appears on the next CRL.
    let (invalidity, invalidity_iso) = rfc3339_from_now(-time::Duration::days(2));
    fixture.revoke(
        &serial_a,
        "keyCompromise",
        &["--invalidity-date", &invalidity],
    );
    let (crl1, der1) = fixture.wait_for_crl_entry(&serial_a, "crl1.der");
    let number1 = crl1["crl_number"].as_u64().unwrap();
    assert!(number1 > number0, "cRLNumber {number1} after {number0}");
    let entry = crl_entry(&crl1, &serial_a).unwrap();
    assert_eq!(entry["reason"], "keyCompromise", "{entry}");
    assert_eq!(entry["invalidity_date"], invalidity_iso.as_str(), "{entry}");
    assert!(entry["revocation_date"].is_string());
    assert_eq!(crl1["entries"].as_array().unwrap().len(), 1);

    // openssl: the CRL verifies, and path validation with it rejects a but not b or c.
    let verify = run(std::process::Command::new("openssl")
        .args(["crl", "-inform", "DER", "-noout", "-in"])
        .arg(&der1)
        .arg("-CAfile")
        .arg(&fixture.chain));
    verify.assert_success("openssl crl -CAfile chain");
    assert!(
        verify.describe().contains("verify OK"),
        "{}",
        verify.describe()
    );
    let pem1 = ca.path("crl1.pem");
    crl_to_pem(&der1, &pem1);
    let rejected = verify_with_crl(&pem1, &fixture.chain, &a);
    rejected.assert_failure("openssl verify -crl_check of the revoked certificate");
    assert!(
        rejected.describe().contains("certificate revoked"),
        "{}",
        rejected.describe()
    );
    for good in [&b, &c] {
        let accepted = verify_with_crl(&pem1, &fixture.chain, good);
        accepted.assert_success("openssl verify -crl_check of a good certificate");
        assert!(accepted.stdout_text().trim_end().ends_with(": OK"));
    }

    // A second revocation: a new CRL with a higher number listing both.
    fixture.revoke(&serial_b, "superseded", &[]);
    let (crl2, der2) = fixture.wait_for_crl_entry(&serial_b, "crl2.der");
    let number2 = crl2["crl_number"].as_u64().unwrap();
    assert!(number2 > number1, "cRLNumber {number2} after {number1}");
    assert!(crl_entry(&crl2, &serial_a).is_some(), "{crl2:#}");
    assert_eq!(crl_entry(&crl2, &serial_b).unwrap()["reason"], "superseded");
    assert!(crl_entry(&crl2, &serial_b).unwrap()["invalidity_date"].is_null());
    let pem2 = ca.path("crl2.pem");
    crl_to_pem(&der2, &pem2);
    verify_with_crl(&pem2, &fixture.chain, &b)
        .assert_failure("openssl verify -crl_check of the second revoked certificate");
    verify_with_crl(&pem2, &fixture.chain, &c)
        .assert_success("openssl verify -crl_check of the remaining good certificate");
    let (_, _, response) = fixture.fetch_crl("crl2-again.der");
    assert_ne!(response.header("etag").unwrap(), etag0);

    // `paypki crl` while serving fetches the published CRL.
    let out = ca.path("cli.crl");
    ca.paypki(&["crl", "--out", out.to_str().unwrap()])
        .assert_success("paypki crl --out while serving");
    let cli = check_crl(&out, &fixture.issuing);
    assert!(crl_entry(&cli, &serial_a).is_some() && crl_entry(&cli, &serial_b).is_some());
    assert!(cli["crl_number"].as_u64().unwrap() >= number2);
    let pem_out = ca.path("cli.crl.pem");
    ca.paypki(&["crl", "--pem", "--out", pem_out.to_str().unwrap()])
        .assert_success("paypki crl --pem while serving");
    assert!(read_text(&pem_out).starts_with("-----BEGIN X509 CRL-----"));
    fixture.server.stop();
}

#[test]
fn the_root_crl_exists_from_init_and_is_re_signed_while_serving() {
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    // init signed the first root CRL: it is served at once.
    let first = server.get("/crl/root.crl");
    first.assert_status(200, "GET /crl/root.crl after init");
    assert_eq!(first.content_type(), "application/pkix-crl");
    assert!(first.header("etag").is_some(), "{}", first.describe());
    let first_crl = ca.path("root-1.crl");
    std::fs::write(&first_crl, &first.body).unwrap();
    assert_eq!(
        check_crl(&first_crl, &ca.root_cert())["issuer_matches"],
        true
    );

    // Re-signed with the root key while the server runs; the server picks it up.
    let out = ca.path("root.crl");
    ca.paypki(&["crl", "--root", "--out", out.to_str().unwrap()])
        .assert_success("paypki crl --root while the server runs");
    let verify = run(std::process::Command::new("openssl")
        .args(["crl", "-inform", "DER", "-noout", "-in"])
        .arg(&out)
        .arg("-CAfile")
        .arg(ca.root_cert()));
    verify.assert_success("openssl crl -CAfile root.pem");
    assert!(
        verify.describe().contains("verify OK"),
        "{}",
        verify.describe()
    );
    let root_crl = check_crl(&out, &ca.root_cert());
    assert_eq!(root_crl["issuer_matches"], true);
    assert!(root_crl["entries"].as_array().unwrap().is_empty());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let served = server.get("/crl/root.crl");
        served.assert_status(200, "GET /crl/root.crl");
        if served.body == read_bytes(&out) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not pick up the new root CRL within 10 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    server.stop();
}

#[test]
fn offline_issuance_and_revocation_are_served_after_a_restart() {
    let ca = TestCa::new();
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
    // Revoked with the server stopped: the CLI works on the database itself.
    let output = ca.paypki(&["revoke", &dropped.serial, "--reason", "affiliationChanged"]);
    output.assert_success("paypki revoke with no server");

    let fixture = Fixture::start(&ca);
    let (kept_label, dropped_label) = (kept.leaf.to_str().unwrap(), dropped.leaf.to_str().unwrap());
    let output = fixture.openssl_ocsp(&["-cert", kept_label, "-cert", dropped_label]);
    assert_eq!(
        ocsp_status_line(&output, kept_label),
        format!("{kept_label}: good")
    );
    assert_contains_all(
        &ocsp_block(&output, dropped_label),
        &[
            &format!("{dropped_label}: revoked"),
            "Reason: affiliationChanged",
        ],
        "revoked offline",
    );
    // The first CRL the server publishes already lists it.
    let (crl, _, _) = fixture.fetch_crl("first.crl");
    assert_eq!(
        crl_entry(&crl, &dropped.serial).map(|e| e["reason"].clone()),
        Some(serde_json::json!("affiliationChanged")),
        "{crl:#}"
    );
    assert!(crl_entry(&crl, &kept.serial).is_none());
    fixture.server.stop();
}

// ---------------------------------------------------------------------------------------
// Revocation push: GET /v1/events/revocations
// ---------------------------------------------------------------------------------------

/// The OCSP response of a revocation event, checked by `openssl ocsp -respin` against
/// the responder certificate chain: returns the status line for `leaf`.
pub(crate) fn event_ocsp_status(
    ca: &TestCa,
    fixture_issuing: &Path,
    chain: &Path,
    event: &SseEvent,
    leaf: &Path,
) -> String {
    let data = event.json();
    let der = base64::engine::general_purpose::STANDARD
        .decode(data["ocsp_response"].as_str().expect("ocsp_response"))
        .expect("base64 OCSP response");
    let id = data["id"].as_u64().expect("id");
    let file = ca.path(&format!("event-{id}.ocsp.der"));
    std::fs::write(&file, der).unwrap();
    let output = run(Command::new("openssl")
        .args(["ocsp", "-respin"])
        .arg(&file)
        .arg("-issuer")
        .arg(fixture_issuing)
        .arg("-cert")
        .arg(leaf)
        .arg("-CAfile")
        .arg(chain));
    output.assert_success("openssl ocsp -respin");
    let text = format!("{}{}", output.stdout_text(), output.stderr_text());
    assert!(
        text.contains("Response verify OK"),
        "the event's OCSP response does not verify\n{}",
        output.describe()
    );
    ocsp_status_line(&text, &leaf.display().to_string())
}

use std::process::Command;

#[test]
fn revocations_are_pushed_as_events_that_resume_after_a_disconnect() {
    let ca = TestCa::new();
    let fixture = Fixture::start(&ca);
    let (first, first_leaf) = fixture.enroll("merchant", "pushed-1");
    let (second, second_leaf) = fixture.enroll("bank", "pushed-2");
    let (third, _) = fixture.enroll("gateway", "pushed-3");
    let base = fixture.server.url().to_string();
    let mut cases = Cases::new();

    // A stream opened now starts with the next event.
    let mut stream = SseClient::connect(&base, "/v1/events/revocations", &[]);
    cases.case("the stream is text/event-stream", || {
        assert_eq!(stream.status(), 200, "{}", stream.head);
        assert!(
            stream
                .head
                .to_ascii_lowercase()
                .contains("content-type: text/event-stream"),
            "{}",
            stream.head
        );
    });
    let started = Instant::now();
    fixture.revoke(&first, "keyCompromise", &[]);
    let event = stream
        .next_event(Duration::from_secs(5))
        .expect("no event within 5 s of the revocation");
    let latency = started.elapsed();
    cases.case("the revocation arrives as an event with its data", || {
        assert_eq!(event.event.as_deref(), Some("revocation"));
        let data = event.json();
        assert_eq!(data["serial"], first.as_str(), "{data}");
        assert_eq!(data["kind"], "revoked");
        assert_eq!(data["reason"], "keyCompromise");
        assert_eq!(event.id.as_deref(), Some(data["id"].to_string().as_str()));
        assert!(data["revoked_at"].is_string() && data["recorded_at"].is_string());
        assert!(latency < Duration::from_secs(3), "{latency:?}");
    });
    cases.case(
        "its OCSP response verifies with openssl and says revoked",
        || {
            let status =
                event_ocsp_status(&ca, &fixture.issuing, &fixture.chain, &event, &first_leaf);
            assert!(status.contains("revoked"), "{status}");
        },
    );
    let first_id: u64 = event.id.clone().unwrap().parse().unwrap();
    drop(stream);

    // While nobody listens: a hold, its lifting and another revocation.
    fixture.revoke(&second, "certificateHold", &[]);
    ca.paypki(&["unhold", &second])
        .assert_success("paypki unhold");
    fixture.revoke(&third, "cessationOfOperation", &[]);

    let mut resumed = SseClient::connect(
        &base,
        "/v1/events/revocations",
        &[("Last-Event-ID", &first_id.to_string())],
    );
    let mut seen = Vec::new();
    for _ in 0..3 {
        let event = resumed
            .next_event(Duration::from_secs(5))
            .expect("an event missed after the reconnect");
        seen.push(event);
    }
    cases.case(
        "Last-Event-ID resumes with every event missed, in order",
        || {
            let summary: Vec<(u64, String, String)> = seen
                .iter()
                .map(|e| {
                    let d = e.json();
                    (
                        d["id"].as_u64().unwrap(),
                        d["serial"].as_str().unwrap().to_string(),
                        d["kind"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            assert_eq!(
                summary,
                vec![
                    (first_id + 1, second.clone(), "revoked".into()),
                    (first_id + 2, second.clone(), "unheld".into()),
                    (first_id + 3, third.clone(), "revoked".into()),
                ]
            );
            assert_eq!(seen[0].json()["reason"], "certificateHold");
        },
    );
    cases.case(
        "a replayed event's OCSP response gives the status now (good after the unhold)",
        || {
            let status = event_ocsp_status(
                &ca,
                &fixture.issuing,
                &fixture.chain,
                &seen[0],
                &second_leaf,
            );
            assert!(status.contains(": good"), "{status}");
        },
    );
    cases.case("after=0 replays from the first event", || {
        let mut all = SseClient::connect(&base, "/v1/events/revocations?after=0", &[]);
        let event = all.next_event(Duration::from_secs(5)).expect("an event");
        assert_eq!(event.id.as_deref(), Some("1"));
    });
    cases.case("a Last-Event-ID that is no number is a 400 problem", || {
        let response = fixture
            .server
            .get_with("/v1/events/revocations", &[("Last-Event-ID", "seven")]);
        response.assert_problem(400, "malformed-request", "Last-Event-ID: seven");
    });
    cases.case("/metrics has the revocation-to-event latency", || {
        let count = fixture
            .server
            .metric("paypki_revocation_event_latency_seconds_count")
            .expect("the latency histogram");
        assert!(count >= 1.0, "{count}");
    });
    drop(resumed);
    cases.case("the server stops promptly with a stream open", || {
        let _open = SseClient::connect(&base, "/v1/events/revocations", &[]);
        let started = Instant::now();
        let _ = fixture.server.stop();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    });
    cases.finish();
}
