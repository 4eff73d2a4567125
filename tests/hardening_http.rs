//! Denial-of-service hardening of the real `paypki serve`: connection limits and
//! time-outs, the OCSP cache's memory bound, the CPU cost of verification, and rate
//! limits that an outsider cannot turn against a participant.
//!
//! Every load here goes to the test's own server on loopback, is bounded in count and
//! time, and judges memory by the server's own `/metrics` or `/proc/<pid>/status`, never
//! by how long something took.

// Test code may panic freely (helpers outside `#[test]` functions included).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::time::Duration;

use serde_json::json;

use common::*;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A second client on this machine, with its own source address.
const OTHER_CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// `POST path` with a JSON body from [`OTHER_CLIENT`]; the answer's status (0: none).
fn post_json_from_other_client(
    server: &TestServer<'_>,
    path: &str,
    body: &serde_json::Value,
) -> u16 {
    let mut stream = connect_from(OTHER_CLIENT, server.address());
    raw_request(
        &mut stream,
        "POST",
        path,
        Some("application/json"),
        &serde_json::to_vec(body).unwrap(),
    )
    .map_or(0, |answer| answer.status)
}

/// Whether the server has closed `stream` (EOF, reset, or an answer followed by EOF),
/// waiting at most `wait` for it.
fn closed_by_server(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            // An answer (e.g. 408) may come first; what matters is the close after it.
            Ok(_) => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// `GET /healthz` on a fresh connection from 127.0.0.1, with a bounded wait: the answer,
/// or `None` if none came.
fn healthz_raw(server: &TestServer<'_>) -> Option<HttpResponse> {
    let mut stream = TcpStream::connect(server.address()).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    raw_request(&mut stream, "GET", "/healthz", None, b"")
}

/// Asks `/healthz` until it answers 200 (at most `limit`); panics with the last answer.
fn wait_healthy(server: &TestServer<'_>, limit: Duration) {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let answer = healthz_raw(server);
        if answer.as_ref().is_some_and(|a| a.status == 200) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "/healthz did not answer 200 within {limit:?}; last answer: {:?}",
            answer.map(|a| a.describe())
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Opens `count` connections that send nothing, and keeps them.
fn idle_connections(server: &TestServer<'_>, count: usize) -> Vec<TcpStream> {
    (0..count)
        .map(|i| {
            TcpStream::connect(server.address())
                .unwrap_or_else(|e| panic!("idle connection {i}: cannot connect: {e}"))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// 1. Connections: time-outs, a cap, the fd limit, enrollment kept apart from status
// ---------------------------------------------------------------------------------------

#[test]
fn idle_and_trickling_connections_are_closed_by_the_header_read_timeout() {
    let ca = TestCa::new();
    let server = TestServer::start_with(
        &ca,
        &["--header-read-timeout", "1", "--request-timeout", "1s"],
    );

    // A request whose body stops coming is answered 503 at the request timeout: the same
    // answer on the OCSP fast path (src/http/fast.rs, which arms its timer only for a
    // body not yet complete) as on the router's routes.
    let stalled = |path: &str| {
        let mut stream = TcpStream::connect(server.address()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
            .write_all(
                format!(
                    "POST {path} HTTP/1.1\r\nHost: paypki.test\r\nContent-Type: application/ocsp-request\r\nContent-Length: 100\r\n\r\n0123456789"
                )
                .as_bytes(),
            )
            .unwrap();
        read_raw_response(&mut stream)
            .unwrap_or_else(|| panic!("no answer to POST {path} whose body stopped"))
    };
    let ocsp = stalled("/ocsp");
    ocsp.assert_problem(503, "timeout", "POST /ocsp whose body stopped");
    let verify = stalled("/v1/verify");
    verify.assert_problem(503, "timeout", "POST /v1/verify whose body stopped");
    assert_eq!(ocsp.body, verify.body);

    // A socket that sends nothing at all.
    let mut idle = TcpStream::connect(server.address()).unwrap();
    assert!(
        closed_by_server(&mut idle, Duration::from_secs(15)),
        "a connection that sent nothing was still open 15 s later (header-read timeout 1 s)"
    );

    // A socket that trickles one header line every 250 ms: each line is progress, but
    // the head is never complete. It must be closed long before 40 lines (10 s).
    let mut trickle = TcpStream::connect(server.address()).unwrap();
    trickle
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: paypki.test\r\n")
        .unwrap();
    let mut closed = false;
    for line in 0..40 {
        std::thread::sleep(Duration::from_millis(250));
        if trickle
            .write_all(format!("X-Trickle-{line}: a\r\n").as_bytes())
            .is_err()
            || closed_by_server(&mut trickle, Duration::from_millis(10))
        {
            closed = true;
            break;
        }
    }
    assert!(
        closed,
        "a connection trickling a header line every 250 ms was still open after 10 s (header-read timeout 1 s)"
    );

    // A keep-alive connection left idle after a request is closed too.
    let mut kept = TcpStream::connect(server.address()).unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: paypki.test\r\n\r\n")
        .unwrap();
    let answer = read_raw_response(&mut kept).expect("an answer to GET /healthz");
    answer.assert_status(200, "GET /healthz on a keep-alive connection");
    assert!(
        closed_by_server(&mut kept, Duration::from_secs(15)),
        "an idle keep-alive connection was still open 15 s after its last answer"
    );
    wait_healthy(&server, Duration::from_secs(5));
}

#[test]
fn the_connection_cap_refuses_the_excess_quickly_and_frees_up() {
    let ca = TestCa::new();
    let server = TestServer::start_with(
        &ca,
        &["--max-connections", "16", "--header-read-timeout", "30"],
    );
    let held = idle_connections(&server, 16);
    // The 17th connection is accepted after the 16 above (the backlog is FIFO) and must
    // be answered at once, not left waiting for a slot.
    let answer = healthz_raw(&server).expect("the connection over the cap got no answer");
    let problem = answer.assert_problem(503, "overloaded", "a connection over --max-connections");
    assert_eq!(
        problem["type"], "urn:paypki:problem:overloaded",
        "{problem}"
    );
    assert!(
        answer.header("retry-after").is_some(),
        "{}",
        answer.describe()
    );
    drop(held);
    wait_healthy(&server, Duration::from_secs(10));
    let refused = server
        .metric("paypki_connections_refused_total")
        .expect("paypki_connections_refused_total in /metrics");
    assert!(refused >= 1.0, "refused connections counted: {refused}");
}

#[test]
fn the_open_file_limit_is_raised_and_idle_sockets_cannot_exhaust_it() {
    let ca = TestCa::new();
    // Soft limit 200, hard 400: the server must raise the soft limit to the hard one,
    // and keep its connection cap below it.
    let server = TestServer::start_under_shell(
        &ca,
        "ulimit -S -n 200 && ulimit -H -n 400",
        &["--header-read-timeout", "2"],
    );
    let (soft, hard) = open_file_limits(server.pid());
    assert_eq!(hard, "400", "the hard limit the test set");
    assert_eq!(
        soft, "400",
        "the server did not raise its soft open-file limit"
    );

    // More idle sockets than the server has file descriptors.
    let held = idle_connections(&server, 450);
    // The server still answers: with 503 while the sockets hold every slot (a refusal
    // may also just close, while 16 others are being written), then 200 once the
    // header-read timeout has closed them (the test keeps its ends open).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let answer = loop {
        if let Some(answer) = healthz_raw(&server) {
            break answer;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "with 450 idle sockets open, new connections got no answer for 5 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        answer.status == 503 || answer.status == 200,
        "{}",
        answer.describe()
    );
    wait_healthy(&server, Duration::from_secs(20));
    drop(held);
    let log = server.log();
    assert!(
        !log.contains("Too many open files"),
        "the server ran out of file descriptors:\n{log}"
    );
}

#[test]
fn status_keeps_answering_while_enrollment_is_overloaded() {
    let ca = TestCa::new();
    let server = TestServer::start_with(&ca, &["--enroll-concurrency", "1"]);
    let case = enroll_case("buyer");
    let key = generate_key(KeyType::EcP256, &ca.path("buyer.key.pem"));
    let csr = read_text(&make_csr(
        &key,
        case.openssl_subject,
        case.openssl_addext,
        &ca.path("buyer.csr"),
    ));
    // One certificate to ask OCSP about.
    let first = server.post_json(
        "/v1/enroll",
        &json!({ "token": server.create_case_token(&case), "csr": csr }),
    );
    first.assert_status(201, "the first enrollment");
    let cert = ca.path("buyer.cert.pem");
    std::fs::write(&cert, first.json()["certificate"].as_str().unwrap()).unwrap();
    let request = ca.path("buyer.ocsp.der");
    openssl(&[
        "ocsp",
        "-issuer",
        ca.issuing_cert().to_str().unwrap(),
        "-cert",
        cert.to_str().unwrap(),
        "-no_nonce",
        "-reqout",
        request.to_str().unwrap(),
    ]);
    let ocsp_request = read_bytes(&request);

    // 48 tokens, spent by 24 clients at once against one enrollment slot.
    let grants: Vec<serde_json::Value> = (0..48)
        .map(|_| {
            json!({
                "role": case.role,
                "subject": case.token_subject,
                "subject_alt_names": case.token_sans.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let created = server.admin_post_json("/v1/admin/tokens/batch", &json!({ "items": grants }));
    created.assert_status(201, "POST /v1/admin/tokens/batch");
    let tokens: Vec<String> = created.json()["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .map(|t| t["token"].as_str().expect("token").to_string())
        .collect();
    assert_eq!(tokens.len(), 48);

    let statuses = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for pair in tokens.chunks(2) {
            let (server, csr, statuses) = (&server, &csr, &statuses);
            scope.spawn(move || {
                for token in pair {
                    let answer =
                        server.post_json("/v1/enroll", &json!({ "token": token, "csr": csr }));
                    if answer.status == 503 {
                        let problem = answer.assert_problem(
                            503,
                            "overloaded",
                            "an enrollment over the limit",
                        );
                        assert_eq!(problem["type"], "urn:paypki:problem:overloaded");
                        assert!(answer.header("retry-after").is_some());
                    }
                    statuses.lock().unwrap().push(answer.status);
                }
            });
        }
        // Meanwhile status answers, every time.
        for round in 0..20 {
            server
                .get("/healthz")
                .assert_status(200, &format!("/healthz, round {round}"));
            let answer = server.ocsp_post(&ocsp_request);
            answer.assert_status(200, &format!("POST /ocsp, round {round}"));
            assert_eq!(answer.content_type(), "application/ocsp-response");
            server
                .get("/crl/issuing.crl")
                .assert_status(200, &format!("GET /crl/issuing.crl, round {round}"));
        }
    });
    let statuses = statuses.into_inner().unwrap();
    assert_eq!(statuses.len(), 48);
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 503),
        "enrollment answers: {statuses:?}"
    );
    assert!(
        statuses.contains(&503),
        "24 clients at once against --enroll-concurrency 1: none was refused ({statuses:?})"
    );
}

// ---------------------------------------------------------------------------------------
// 3. The OCSP cache is keyed by CertID and bounded in bytes
// ---------------------------------------------------------------------------------------

/// Enrolls a buyer through `POST /v1/enroll`; returns the certificate's path.
fn enroll_buyer(server: &TestServer<'_>, stem: &str) -> std::path::PathBuf {
    enroll_with(server, "buyer", KeyType::EcP256, stem)
}

/// Enrolls `role` with a new key of `kind` through `POST /v1/enroll`; returns the
/// certificate's path.
fn enroll_with(
    server: &TestServer<'_>,
    role: &str,
    kind: KeyType,
    stem: &str,
) -> std::path::PathBuf {
    let ca = server.ca();
    let case = enroll_case(role);
    let key = generate_key(kind, &ca.path(&format!("{stem}.key.pem")));
    let csr = make_csr(
        &key,
        case.openssl_subject,
        case.openssl_addext,
        &ca.path(&format!("{stem}.csr")),
    );
    let answer = server.post_json(
        "/v1/enroll",
        &json!({ "token": server.create_case_token(&case), "csr": read_text(&csr) }),
    );
    answer.assert_status(201, &format!("enrollment of {stem}"));
    let cert = ca.path(&format!("{stem}.cert.pem"));
    std::fs::write(&cert, answer.json()["certificate"].as_str().unwrap()).unwrap();
    cert
}

/// The nonce-less request `openssl ocsp` makes for `cert` (SHA-1 CertID).
fn openssl_ocsp_request(ca: &TestCa, cert: &std::path::Path) -> Vec<u8> {
    let out = ca.path("request.der");
    openssl(&[
        "ocsp",
        "-issuer",
        ca.issuing_cert().to_str().unwrap(),
        "-cert",
        cert.to_str().unwrap(),
        "-no_nonce",
        "-reqout",
        out.to_str().unwrap(),
    ]);
    read_bytes(&out)
}

/// `request` with a non-critical request extension of an unknown (private) OID carrying
/// `size` bytes that embed `n`: a responder must ignore it, and each copy differs.
fn padded_ocsp_request(request: &[u8], n: u32, size: usize) -> Vec<u8> {
    use der::{Decode, Encode};
    let mut parsed = x509_ocsp::OcspRequest::from_der(request).unwrap();
    let mut padding = vec![0x5au8; size];
    padding[..4].copy_from_slice(&n.to_be_bytes());
    parsed.tbs_request.request_extensions = Some(vec![x509_cert::ext::Extension {
        extn_id: der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.55555.1"),
        critical: false,
        extn_value: der::asn1::OctetString::new(padding).unwrap(),
    }]);
    parsed.to_der().unwrap()
}

#[test]
fn padded_ocsp_requests_cannot_grow_the_cache() {
    let help = TestCa::uninitialized().paypki(&["serve", "--help"]);
    help.assert_success("paypki serve --help");
    assert_contains_all(
        &help.stdout_text(),
        &["--ocsp-cache-bytes", "bytes"],
        "paypki serve --help",
    );

    let ca = TestCa::new();
    let server = TestServer::start_with(&ca, &["--ocsp-cache-bytes", "1048576"]);
    let cert = enroll_buyer(&server, "buyer");
    let request = openssl_ocsp_request(&ca, &cert);
    let reference = server.ocsp_post(&request);
    reference.assert_status(200, "POST /ocsp");

    let before = server.proc_status_kib("VmRSS");
    // 4,000 distinct requests of about 9 KB for the same certificate: 36 MB of keys if
    // the cache remembered request bytes.
    for n in 0..4000 {
        let answer = server.ocsp_post(&padded_ocsp_request(&request, n, 9000));
        answer.assert_status(200, "POST /ocsp with an ignored extension");
        // The same question gets the same pre-signed answer.
        assert_eq!(answer.body, reference.body, "answer to padded request {n}");
    }
    let after = server.proc_status_kib("VmRSS");
    let grown_mib = after.saturating_sub(before) as f64 / 1024.0;
    eprintln!(
        "VmRSS {before} KiB → {after} KiB (+{grown_mib:.1} MiB) after 4,000 padded OCSP requests"
    );
    assert!(
        grown_mib < 12.0,
        "4,000 padded OCSP requests for one certificate grew the server by {grown_mib:.1} MiB ({before} → {after} KiB)"
    );
    let cached = server
        .metric("paypki_ocsp_cache_bytes")
        .expect("paypki_ocsp_cache_bytes in /metrics");
    eprintln!(
        "OCSP response {} bytes; cache {cached} bytes in {:?} entries",
        reference.body.len(),
        server.metric("paypki_ocsp_cache_entries")
    );
    assert!(
        cached <= 1_048_576.0,
        "the OCSP cache holds {cached} bytes, over --ocsp-cache-bytes 1048576"
    );
}

// ---------------------------------------------------------------------------------------
// 5. Rate limits count against a token or certificate only after authentication
// ---------------------------------------------------------------------------------------

#[test]
fn an_outsider_cannot_keep_a_participant_at_429() {
    let ca = TestCa::new();
    let policies = policies_with_open_renewal(&ca);
    let server = TestServer::start_with_policies(&ca, &policies, &[]);
    // The victim: a gateway that will renew, and a buyer token not used yet. Serials are
    // in every certificate and token ids (the 24 hex digits after `ppt_`) in the audit
    // trail and logs: both are public.
    let (serial, dir) = server.enroll_case(&enroll_case("gateway"), "ecdsa-p256", "victim");
    let buyer = enroll_case("buyer");
    let token = server.create_case_token(&buyer);
    let wrong_secret = format!("{}_{}", &token[..28], "0".repeat(64));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();

    // From another address, 40 renewals of the victim's certificate with a bad proof and
    // 40 enrollments with the victim's token id and a wrong secret.
    let mut outsider = Vec::new();
    for _ in 0..40 {
        outsider.push(post_json_from_other_client(
            &server,
            "/v1/renew",
            &json!({ "serial": serial, "csr": "not a CSR", "time": now, "proof": "AAAA" }),
        ));
        outsider.push(post_json_from_other_client(
            &server,
            "/v1/enroll",
            &json!({ "token": wrong_secret, "csr": "not a CSR" }),
        ));
    }
    assert!(
        outsider.iter().all(|s| [400, 403, 404, 429].contains(s)),
        "the outsider's answers: {outsider:?}"
    );
    // Its failures count against it, the client that failed.
    assert!(
        outsider.contains(&429),
        "80 failed attempts from one address were never rate-limited: {outsider:?}"
    );

    // The participant, from its own address, is not affected.
    let out_dir = ca.path("renewed");
    std::fs::create_dir_all(&out_dir).unwrap();
    let renewed = ca.paypki(&[
        "renew",
        "--url",
        server.url(),
        "--cert",
        dir.join("cert.pem").to_str().unwrap(),
        "--key",
        dir.join("key.pem").to_str().unwrap(),
        "--out-dir",
        out_dir.to_str().unwrap(),
    ]);
    renewed.assert_success("the participant's renewal after an outsider's 40 bad proofs");
    let key = generate_key(KeyType::EcP256, &ca.path("buyer.key.pem"));
    let csr = make_csr(
        &key,
        buyer.openssl_subject,
        buyer.openssl_addext,
        &ca.path("buyer.csr"),
    );
    server
        .post_json(
            "/v1/enroll",
            &json!({ "token": token, "csr": read_text(&csr) }),
        )
        .assert_status(
            201,
            "the participant's enrollment after an outsider's 40 wrong secrets",
        );
}

// ---------------------------------------------------------------------------------------
// 4. The CPU one verification request may cost
// ---------------------------------------------------------------------------------------

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `count` verify items with a certificate and a signature that is not one (`size`
/// bytes), optionally naming the algorithm.
fn bad_signature_items(
    cert_pem: &str,
    count: usize,
    size: usize,
    algorithm: Option<&str>,
) -> Vec<serde_json::Value> {
    (0..count)
        .map(|i| {
            let mut item = json!({
                "certificate": cert_pem,
                "message": b64(format!("order {i}").as_bytes()),
                "signature": b64(&vec![u8::try_from(i % 251).unwrap() | 1; size]),
            });
            if let Some(algorithm) = algorithm {
                item["algorithm"] = json!(algorithm);
            }
            item
        })
        .collect()
}

fn reasons(results: &serde_json::Value) -> Vec<String> {
    results["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["reason"].as_str().unwrap_or("valid").to_string())
        .collect()
}

fn signature_checks(server: &TestServer<'_>) -> f64 {
    server
        .metric("paypki_verify_signature_checks_total")
        .expect("paypki_verify_signature_checks_total in /metrics")
}

#[test]
fn a_batch_of_bad_rsa_signatures_stays_within_its_cpu_budget() {
    let ca = TestCa::new();
    // 20 ms of estimated CPU per request; an RSA-4096 check is estimated at 128 µs.
    let server =
        TestServer::start_with(&ca, &["--verify-budget-ms", "20", "--verify-rate-ms", "0"]);
    let cert = read_text(&enroll_with(&server, "merchant", KeyType::Rsa(4096), "rsa"));

    // 300 bad signatures, no algorithm named: each would be tried under all six RSA
    // schemes (1,800 RSA-4096 checks).
    let body = json!({ "items": bad_signature_items(&cert, 300, 512, None) });
    let results = server.post_json_ok("/v1/verify/batch", &body, "a batch of bad RSA signatures");
    let answers = reasons(&results);
    assert_eq!(answers.len(), 300);
    assert!(
        answers
            .iter()
            .all(|r| r == "bad_signature" || r == "budget_exceeded"),
        "{answers:?}"
    );
    let checked = answers.iter().filter(|r| *r == "bad_signature").count();
    assert!(
        answers.iter().any(|r| r == "budget_exceeded"),
        "300 items × 6 RSA-4096 schemes were all checked within a 20 ms budget"
    );
    // 20,000 µs / (6 × 128 µs) = 26 whole items.
    assert!(checked <= 27, "{checked} items checked within the budget");
    let first = results["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["reason"] == "budget_exceeded")
        .unwrap();
    assert!(
        first["message"].as_str().unwrap().contains("budget"),
        "{first}"
    );

    // Naming the scheme: one check per item, and all 100 fit.
    let before = signature_checks(&server);
    let body = json!({ "items": bad_signature_items(&cert, 100, 512, Some("rsa-pss-sha256")) });
    let results = server.post_json_ok("/v1/verify/batch", &body, "named scheme");
    assert!(
        reasons(&results).iter().all(|r| r == "bad_signature"),
        "{results}"
    );
    let checks = signature_checks(&server) - before;
    assert_eq!(
        checks, 100.0,
        "signature checks for 100 items naming their scheme"
    );
}

#[test]
fn verification_is_rate_limited_per_client_and_ocsp_keeps_answering() {
    let ca = TestCa::new();
    // 10 ms of estimated CPU per second per client, and a burst of one 50 ms request.
    let server =
        TestServer::start_with(&ca, &["--verify-budget-ms", "50", "--verify-rate-ms", "10"]);
    let cert_path = enroll_buyer(&server, "buyer");
    let cert = read_text(&cert_path);
    let ocsp_request = openssl_ocsp_request(&ca, &cert_path);
    // 200 bad P-256 signatures, three schemes each: about 24 ms estimated per batch.
    let body = json!({ "items": bad_signature_items(&cert, 200, 72, None) });

    let mut limited = None;
    for round in 0..10 {
        let answer = server.post_json("/v1/verify/batch", &body);
        if answer.status == 429 {
            limited = Some((round, answer));
            break;
        }
        answer.assert_status(200, &format!("batch {round}"));
    }
    let (round, answer) =
        limited.expect("10 batches of 200 bad signatures from one client were never rate-limited");
    assert!(round >= 1, "the first batch must be admitted");
    let problem = answer.assert_problem(
        429,
        "rate-limited",
        "verification over the client's CPU rate",
    );
    assert_eq!(problem["type"], "urn:paypki:problem:rate-limited");
    assert!(
        answer.header("retry-after").is_some(),
        "{}",
        answer.describe()
    );
    // Single verifications from that client are limited too.
    let single = server.post_json("/v1/verify", &body["items"][0]);
    single.assert_problem(
        429,
        "rate-limited",
        "a single verification from the limited client",
    );

    // Status is not: the same client still gets OCSP and health.
    for round in 0..10 {
        let ocsp = server.ocsp_post(&ocsp_request);
        ocsp.assert_status(200, &format!("POST /ocsp after the verify limit, {round}"));
        assert_eq!(ocsp.content_type(), "application/ocsp-response");
    }
    server.get("/healthz").assert_status(200, "/healthz");
    // Another client is not limited by this one.
    assert_eq!(
        post_json_from_other_client(&server, "/v1/verify/batch", &body),
        200,
        "a batch from another address"
    );
}
