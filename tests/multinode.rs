//! Many nodes on one PostgreSQL database (issue 13): two `paypki serve` processes with
//! copies of one data directory share a database. One token enrolls once across both;
//! a revocation made through one node (or by the CLI, talking to PostgreSQL directly) is
//! `revoked` in `openssl ocsp`, `/v1/verify` and `/v1/validate` on the other within one
//! second; both serve the same CRL number; the other node's event stream delivers it.
//! And a node whose database goes away keeps serving what it can prove and recovers.
//!
//! These tests always run on PostgreSQL (`PAYPKI_TEST_DATABASE_URL`, or their own
//! cluster started with `scripts/pg`), whatever `PAYPKI_TEST_BACKEND` says.

// Test code may panic freely (helpers outside `#[test]` functions included).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use base64::Engine;
use common::*;
use serde_json::json;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Polls `check` every 50 ms until it returns true or `limit` passes; returns the time
/// it took, or `None`.
fn within(limit: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    loop {
        if check() {
            return Some(started.elapsed());
        }
        if started.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `openssl ocsp` against `server` for `leaf`: its status word (`good`, `revoked`).
fn ocsp_status(server: &TestServer<'_>, issuing: &Path, chain: &Path, leaf: &Path) -> String {
    let text = openssl_ocsp(
        &server.url_for("/ocsp"),
        issuing,
        chain,
        &[
            std::ffi::OsStr::new("-no_nonce"),
            std::ffi::OsStr::new("-cert"),
            leaf.as_os_str(),
        ],
    );
    let line = ocsp_status_line(&text, &leaf.display().to_string());
    line.rsplit(':')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The current CRL number a node serves.
fn crl_number(server: &TestServer<'_>, scratch: &Path) -> u64 {
    let response = server.get("/crl/issuing.crl");
    response.assert_status(200, "GET /crl/issuing.crl");
    std::fs::write(scratch, &response.body).unwrap();
    let output = run(Command::new("openssl")
        .args(["crl", "-inform", "DER", "-noout", "-crlnumber", "-in"])
        .arg(scratch));
    output.assert_success("openssl crl -crlnumber");
    let text = output.stdout_text();
    let hex = text.trim().rsplit('=').next().unwrap_or_default().trim();
    u64::from_str_radix(hex.trim_start_matches("0x"), 16).unwrap_or_else(|_| panic!("{text}"))
}

/// A participant enrolled through `server`: serial, certificate and key.
struct Participant {
    serial: String,
    cert: PathBuf,
    key: PathBuf,
}

fn enroll(server: &TestServer<'_>, role: &str, name: &str) -> Participant {
    let (serial, dir) = server.enroll_case(&enroll_case(role), "ecdsa-p256", name);
    Participant {
        serial,
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    }
}

/// `/v1/verify` of a fresh signature by `p` on `server`: the verdict JSON.
fn verify_on(server: &TestServer<'_>, ca: &TestCa, p: &Participant) -> serde_json::Value {
    let message = ca.path("order.json");
    std::fs::write(&message, br#"{"order":"4711","amount":"12.50 EUR"}"#).unwrap();
    let signature = ca.path("order.sig");
    let output = run(Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(&p.key)
        .arg("-out")
        .arg(&signature)
        .arg(&message));
    output.assert_success("openssl dgst -sign");
    server.post_json_ok(
        "/v1/verify",
        &json!({
            "certificate": read_text(&p.cert),
            "message": b64(&read_bytes(&message)),
            "signature": b64(&read_bytes(&signature)),
        }),
        "POST /v1/verify",
    )
}

fn validate_on(server: &TestServer<'_>, p: &Participant) -> serde_json::Value {
    server.post_json_ok(
        "/v1/validate",
        &json!({ "chain": [read_text(&p.cert)] }),
        "POST /v1/validate",
    )
}

#[test]
fn two_nodes_share_issuance_revocation_crls_and_events() {
    let node_a = TestCa::on_postgres();
    let node_b = node_a.another_node();
    let a = TestServer::start(&node_a);
    let b = TestServer::start(&node_b);
    let chain = a.save_chain("chain.pem");
    let issuing = node_a.issuing_cert();
    let mut cases = Cases::new();

    // 32 enrollments with one token, spread over both nodes: exactly one 201.
    const RACERS: usize = 32;
    let case = enroll_case("merchant");
    let token = a.create_case_token(&case);
    let csrs: Vec<String> = (0..RACERS)
        .map(|i| {
            let key = generate_key(KeyType::EcP256, &node_a.path(&format!("racer-{i}.key")));
            read_text(&make_csr(
                &key,
                "/",
                &[],
                &node_a.path(&format!("racer-{i}.csr")),
            ))
        })
        .collect();
    let barrier = Barrier::new(RACERS);
    let responses: Vec<HttpResponse> = std::thread::scope(|scope| {
        let handles: Vec<_> = csrs
            .iter()
            .enumerate()
            .map(|(i, csr)| {
                let server = if i % 2 == 0 { &a } else { &b };
                let (barrier, token) = (&barrier, &token);
                scope.spawn(move || {
                    let body = json!({ "token": token, "csr": csr });
                    barrier.wait();
                    server.post_json("/v1/enroll", &body)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    cases.case(
        "one token over two nodes: exactly one 201, the rest 409 token-used",
        || {
            let winners = responses.iter().filter(|r| r.status == 201).count();
            let described: Vec<String> = responses.iter().map(HttpResponse::describe).collect();
            assert_eq!(winners, 1, "{}", described.join("\n---\n"));
            for r in responses.iter().filter(|r| r.status != 201) {
                assert!(r.status == 409 || r.status == 429, "{}", r.describe());
            }
            assert_eq!(
                node_b.list_json(&[]).len(),
                1,
                "the certificate is seen through node B"
            );
        },
    );

    // A revocation through node A is revoked on node B within one second.
    let alice = enroll(&a, "buyer", "alice");
    let bob = enroll(&b, "bank", "bob");
    cases.case("before: good on both nodes", || {
        assert_eq!(ocsp_status(&b, &issuing, &chain, &alice.cert), "good");
        assert_eq!(ocsp_status(&a, &issuing, &chain, &bob.cert), "good");
        assert_eq!(verify_on(&b, &node_b, &alice)["valid"], true);
    });
    let mut stream_b = SseClient::connect(b.url(), "/v1/events/revocations", &[]);
    assert_eq!(stream_b.status(), 200, "{}", stream_b.head);
    let revoked = a.admin_post_json(
        "/v1/admin/revocations",
        &json!({ "serial": alice.serial, "reason": "keyCompromise" }),
    );
    revoked.assert_status(201, "revoke through node A");
    let revoked_at = Instant::now();
    cases.case(
        "revoked through A: openssl ocsp against B says revoked within 1 s",
        || {
            let took = within(Duration::from_secs(1), || {
                ocsp_status(&b, &issuing, &chain, &alice.cert) == "revoked"
            });
            assert!(took.is_some(), "still good on node B after 1 s");
            assert!(revoked_at.elapsed() < Duration::from_secs(3));
        },
    );
    cases.case(
        "…and /v1/verify and /v1/validate on B answer revoked",
        || {
            let verdict = verify_on(&b, &node_b, &alice);
            assert_eq!(verdict["valid"], false, "{verdict}");
            assert_eq!(verdict["reason"], "revoked", "{verdict}");
            let validated = validate_on(&b, &alice);
            assert_eq!(validated["status"], "revoked", "{validated}");
        },
    );
    let event = stream_b.next_event(Duration::from_secs(5));
    cases.case(
        "node B's event stream delivers the revocation made on A",
        || {
            let event = event.as_ref().expect("no event on node B within 5 s");
            let data = event.json();
            assert_eq!(data["serial"], alice.serial.as_str(), "{data}");
            assert_eq!(data["kind"], "revoked");
        },
    );
    cases.case(
        "the event's OCSP response verifies with openssl ocsp -respin",
        || {
            let event = event.as_ref().expect("an event");
            let der = base64::engine::general_purpose::STANDARD
                .decode(event.json()["ocsp_response"].as_str().unwrap())
                .unwrap();
            let file = node_a.path("event.ocsp.der");
            std::fs::write(&file, der).unwrap();
            let output = run(Command::new("openssl")
                .args(["ocsp", "-respin"])
                .arg(&file)
                .arg("-issuer")
                .arg(&issuing)
                .arg("-cert")
                .arg(&alice.cert)
                .arg("-CAfile")
                .arg(&chain));
            output.assert_success("openssl ocsp -respin");
            let text = format!("{}{}", output.stdout_text(), output.stderr_text());
            assert!(text.contains("Response verify OK"), "{text}");
            assert!(ocsp_status_line(&text, &alice.cert.display().to_string()).contains("revoked"));
        },
    );
    let last_id: u64 = event
        .as_ref()
        .and_then(|e| e.id.clone())
        .and_then(|id| id.parse().ok())
        .unwrap_or(0);
    drop(stream_b);

    // A revocation by the CLI, with no server in between: PostgreSQL directly.
    node_b
        .paypki(&["revoke", &bob.serial, "--reason", "affiliationChanged"])
        .assert_success("paypki revoke (CLI on PostgreSQL)");
    let cli_revoked_at = Instant::now();
    cases.case(
        "revoked by the CLI: revoked on both nodes within 1 s",
        || {
            let took = within(Duration::from_secs(1), || {
                ocsp_status(&a, &issuing, &chain, &bob.cert) == "revoked"
                    && ocsp_status(&b, &issuing, &chain, &bob.cert) == "revoked"
            });
            assert!(took.is_some(), "not revoked on both nodes within 1 s");
            assert!(cli_revoked_at.elapsed() < Duration::from_secs(3));
        },
    );
    cases.case(
        "Last-Event-ID on node B resumes with the CLI's revocation",
        || {
            let mut resumed = SseClient::connect(
                b.url(),
                "/v1/events/revocations",
                &[("Last-Event-ID", &last_id.to_string())],
            );
            let event = resumed
                .next_event(Duration::from_secs(5))
                .expect("the missed event");
            assert_eq!(event.json()["serial"], bob.serial.as_str());
            assert_eq!(event.json()["reason"], "affiliationChanged");
        },
    );
    cases.case(
        "both nodes serve the same CRL number, listing both revocations",
        || {
            let scratch_a = node_a.path("a.crl");
            let scratch_b = node_a.path("b.crl");
            let mut last = serde_json::Value::Null;
            let took = within(Duration::from_secs(10), || {
                let (na, nb) = (crl_number(&a, &scratch_a), crl_number(&b, &scratch_b));
                if na != nb || read_bytes(&scratch_a) != read_bytes(&scratch_b) {
                    return false;
                }
                last = check_crl(&scratch_a, &issuing);
                [&alice.serial, &bob.serial]
                    .iter()
                    .all(|serial| crl_entry(&last, serial).is_some())
            });
            assert!(
                took.is_some(),
                "the nodes do not serve one CRL listing both revocations within 10 s: {last}"
            );
        },
    );
    cases.case(
        "the audit chain verifies through either node's data directory",
        || {
            node_b
                .paypki(&["audit", "verify"])
                .assert_success("audit verify");
        },
    );
    cases.finish();
}

/// A PostgreSQL cluster of this test alone (it is stopped and started under the node).
struct OwnCluster {
    dir: PathBuf,
    url: String,
}

impl OwnCluster {
    fn start(dir: PathBuf) -> Self {
        let output = run(Command::new(repo_dir().join("scripts/pg"))
            .arg("start")
            .arg(&dir));
        output.assert_success("scripts/pg start");
        OwnCluster {
            dir,
            url: output.stdout_text().trim().to_string(),
        }
    }

    fn pg_ctl(&self, action: &str) {
        let output = run(Command::new(repo_dir().join("scripts/pg"))
            .arg(action)
            .arg(&self.dir));
        output.assert_success(&format!("scripts/pg {action}"));
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = Command::new(repo_dir().join("scripts/pg"))
            .arg("stop")
            .arg(&self.dir)
            .output();
    }
}

#[test]
fn a_node_without_its_database_serves_what_it_can_prove_and_recovers() {
    let scratch = tempfile::tempdir().unwrap();
    let cluster = OwnCluster::start(scratch.path().join("pg"));
    let ca = TestCa::on_postgres_at(&cluster.url);
    let server = TestServer::start(&ca);
    let chain = server.save_chain("chain.pem");
    let issuing = ca.issuing_cert();
    let carol = enroll(&server, "merchant", "carol");
    // Asked once: the answer is cached (pre-signed at issuance, in any case).
    assert_eq!(ocsp_status(&server, &issuing, &chain, &carol.cert), "good");
    let token = server.create_case_token(&enroll_case("gateway"));
    let key = generate_key(KeyType::EcP256, &ca.path("late.key"));
    let csr = read_text(&make_csr(&key, "/", &[], &ca.path("late.csr")));
    let mut cases = Cases::new();

    cluster.pg_ctl("pause");
    cases.case(
        "database down: the node says it no longer hears other nodes",
        || {
            let took = within(Duration::from_secs(10), || {
                server.metric("paypki_database_notifications_connected") == Some(0.0)
            });
            assert!(
                took.is_some(),
                "the notification connection still counts as up"
            );
        },
    );
    cases.case(
        "database down: a cached OCSP answer is still served (within its validity)",
        || {
            assert_eq!(ocsp_status(&server, &issuing, &chain, &carol.cert), "good");
        },
    );
    cases.case(
        "database down: an OCSP request that needs the database is tryLater",
        || {
            // A nonce makes the responder sign afresh, reading the status from the store.
            let text = {
                let mut command = Command::new("openssl");
                command
                    .args(["ocsp", "-issuer"])
                    .arg(&issuing)
                    .arg("-cert")
                    .arg(&carol.cert)
                    .arg("-url")
                    .arg(server.url_for("/ocsp"))
                    .arg("-CAfile")
                    .arg(&chain);
                let output =
                    run_with_deadline(without_proxy(&mut command), Duration::from_secs(60));
                format!("{}{}", output.stdout_text(), output.stderr_text())
            };
            assert!(
                text.to_ascii_lowercase().contains("trylater"),
                "expected tryLater, got: {text}"
            );
        },
    );
    cases.case("database down: enrollment is 503, never a 500", || {
        let response = server.post_json("/v1/enroll", &json!({ "token": token, "csr": csr }));
        response.assert_problem(503, "unavailable", "enroll without a database");
    });
    cases.case("database down: /healthz is 503", || {
        assert_eq!(server.get("/healthz").status, 503);
    });
    cluster.pg_ctl("resume");
    cases.case("the database back: the node recovers by itself", || {
        let took = within(Duration::from_secs(15), || {
            server.get("/healthz").status == 200
        });
        assert!(took.is_some(), "/healthz did not recover\n{}", server.log());
        let heard = within(Duration::from_secs(10), || {
            server.metric("paypki_database_notifications_connected") == Some(1.0)
        });
        assert!(
            heard.is_some(),
            "the notification connection did not come back"
        );
        let response = server.post_json("/v1/enroll", &json!({ "token": token, "csr": csr }));
        response.assert_status(201, "enroll after the database returned");
        assert_eq!(ocsp_status(&server, &issuing, &chain, &carol.cert), "good");
    });
    cases.finish();
    drop(server);
}

#[test]
fn a_server_refuses_a_database_without_the_schema_and_names_the_command() {
    let database = TestDatabase::create();
    let ca = TestCa::new();
    let output = ca.paypki_env(
        &["serve", "--listen", "127.0.0.1:0"],
        &[("PAYPKI_DATABASE_URL", &database.url)],
    );
    output.assert_failure("serve on a database without the schema");
    let text = output.stderr_text();
    assert!(text.contains("paypki db migrate"), "{text}");
    assert!(!text.contains("password"), "{text}");
    // `init` on a database that holds another CA's records is refused, naming why.
    let first = TestCa::on_postgres();
    let url = first.database.as_ref().unwrap().url.clone();
    let second = TestCa::uninitialized();
    let refused = second.paypki_env(&["init"], &[("PAYPKI_DATABASE_URL", &url)]);
    refused.assert_failure("init on a database that holds a CA");
    assert!(
        refused
            .stderr_text()
            .contains("already holds a CA's records"),
        "{}",
        refused.describe()
    );
    assert!(!second.root_cert().exists(), "init created a CA anyway");
    // Once migrated (empty), `db status` says so and a server would start.
    ca.paypki_env(
        &["db", "migrate"],
        &[("PAYPKI_DATABASE_URL", &database.url)],
    )
    .assert_success("db migrate");
    let again = ca.paypki_env(
        &["db", "migrate"],
        &[("PAYPKI_DATABASE_URL", &database.url)],
    );
    again.assert_success("db migrate again");
    assert!(
        again.stdout_text().contains("up to date"),
        "{}",
        again.describe()
    );
    let status = ca.paypki_env(&["db", "status"], &[("PAYPKI_DATABASE_URL", &database.url)]);
    status.assert_success("db status");
    assert!(
        status.stdout_text().contains("certificates: 0"),
        "{}",
        status.describe()
    );
}

/// Moving a CA from sled to PostgreSQL: `paypki db copy` of a store of 100,000
/// certificates (a tenth revoked) gives the same `list --json` and the same CRL entries,
/// its audit chain verifies, and a second copy into the same database is refused.
#[test]
fn db_copy_moves_100_000_certificates_with_the_same_listing_and_crl() {
    const COUNT: usize = 100_000;
    let ca = TestCa::on_sled();
    // Fill the sled store as a migration from another CA would (examples/load_store).
    {
        use paypki::model::{CertificateStatus, Role, Serial};
        use paypki::store::{CertificateRecord, IssuancePath, RevocationRecord, SledStore};
        let store = SledStore::open(&ca.data_dir().join("db")).unwrap();
        let der = pem::parse(read_text(&ca.issuing_cert()))
            .unwrap()
            .into_contents();
        let rng = ring::rand::SystemRandom::new();
        let now = time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap();
        let records = (0..COUNT).map(|i| {
            let revoked = i % 10 == 0;
            CertificateRecord {
                serial: Serial::random(&rng).unwrap(),
                role: Role::ALL[i % 4],
                subject: format!("CN=participant {i},O=Copy Test"),
                subject_alt_names: Vec::new(),
                key: "ecdsa-p256".into(),
                not_before: now - time::Duration::minutes(5),
                not_after: now + time::Duration::days(365),
                issued_at: now,
                requested_via: IssuancePath::Enroll,
                status: if revoked {
                    CertificateStatus::Revoked
                } else {
                    CertificateStatus::Good
                },
                revocation: revoked.then(|| RevocationRecord {
                    reason: "keyCompromise".into(),
                    revoked_at: now,
                    invalidity_date: None,
                }),
                fingerprint_sha256: String::new(),
                issuer: 1,
                parent: None,
                participant: None,
                der: der.clone(),
            }
        });
        assert_eq!(store.import_records(records, "test").unwrap(), COUNT);
    }
    let database = TestDatabase::create();
    let data_dir = ca.data_dir().to_str().unwrap().to_string();
    let copied = ca.paypki(&["db", "copy", "--from", &data_dir, "--to", &database.url]);
    copied.assert_success("paypki db copy sled → PostgreSQL");
    let mut cases = Cases::new();
    cases.case(
        "db copy reports what it copied, with the chain verified",
        || {
            let text = copied.stdout_text();
            assert!(text.contains(&format!("{COUNT} certificates")), "{text}");
            assert!(text.contains("chain verified"), "{text}");
        },
    );
    cases.case("a second copy into the same database is refused", || {
        let again = ca.paypki(&["db", "copy", "--from", &data_dir, "--to", &database.url]);
        again.assert_failure("paypki db copy into a non-empty database");
        assert!(
            again.stderr_text().contains("not empty"),
            "{}",
            again.describe()
        );
    });
    let on_pg = [("PAYPKI_DATABASE_URL", database.url.as_str())];
    cases.case("list --json is the same on both", || {
        let sled = ca.paypki(&["list", "--json"]);
        sled.assert_success("list --json (sled)");
        let pg = ca.paypki_env(&["list", "--json"], &on_pg);
        pg.assert_success("list --json (PostgreSQL)");
        let (sled, pg): (serde_json::Value, serde_json::Value) = (
            serde_json::from_slice(&sled.stdout).unwrap(),
            serde_json::from_slice(&pg.stdout).unwrap(),
        );
        assert_eq!(sled.as_array().map(Vec::len), Some(COUNT));
        assert!(sled == pg, "the listings differ");
    });
    cases.case("the CRL entries are the same on both", || {
        let sled_crl = ca.path("sled.crl");
        let pg_crl = ca.path("pg.crl");
        ca.paypki(&["crl", "--out", sled_crl.to_str().unwrap()])
            .assert_success("paypki crl (sled)");
        ca.paypki_env(&["crl", "--out", pg_crl.to_str().unwrap()], &on_pg)
            .assert_success("paypki crl (PostgreSQL)");
        let entries = |crl: &Path| {
            let output = run(Command::new("openssl")
                .args(["crl", "-inform", "DER", "-noout", "-text", "-in"])
                .arg(crl));
            output.assert_success("openssl crl -text");
            output
                .stdout_text()
                .lines()
                .filter(|l| {
                    let l = l.trim_start();
                    l.starts_with("Serial Number:") || l.starts_with("Revocation Date:")
                })
                .map(str::trim)
                .map(String::from)
                .collect::<Vec<_>>()
        };
        let (a, b) = (entries(&sled_crl), entries(&pg_crl));
        assert_eq!(a.len(), 2 * COUNT / 10, "entries on the sled CRL");
        assert!(a == b, "the CRL entries differ");
    });
    cases.case("the copy's audit chain verifies on PostgreSQL", || {
        ca.paypki_env(&["audit", "verify"], &on_pg)
            .assert_success("audit verify (PostgreSQL)");
    });
    cases.finish();
}
