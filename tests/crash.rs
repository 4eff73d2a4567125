//! Crash safety (issue 13), on whichever backend the suite runs (`PAYPKI_TEST_BACKEND`):
//! the server is killed with SIGKILL at random moments of a mixed load of enrollments
//! and revocations, 20 times, and restarted. Every certificate and revocation it
//! acknowledged must be there afterwards, no serial may appear twice, and the audit
//! chain must verify.

// Test code may panic freely (helpers outside `#[test]` functions included).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use common::*;
use serde_json::json;

const ROUNDS: usize = 20;
const WORKERS: usize = 3;

/// A small xorshift generator: random kill moments without a dependency.
struct Random(u64);

impl Random {
    fn seeded() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        Random(nanos | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// What the server acknowledged: issued serials, and revocations (serial → reason).
#[derive(Default)]
struct Acknowledged {
    issued: BTreeSet<String>,
    revoked: BTreeMap<String, String>,
}

/// One worker: token, enrollment, and every third time a revocation of an acknowledged
/// certificate, until the server stops answering.
fn work(
    url: &str,
    admin: &str,
    csrs: &Mutex<Vec<String>>,
    acknowledged: &Mutex<Acknowledged>,
    stop: &AtomicBool,
    seed: u64,
) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent();
    let mut random = Random(seed | 1);
    let case = enroll_case("buyer");
    while !stop.load(Ordering::Relaxed) {
        if random.below(3) == 0 {
            let target = {
                let ack = acknowledged.lock().unwrap();
                let candidates: Vec<&String> = ack
                    .issued
                    .iter()
                    .filter(|s| !ack.revoked.contains_key(*s))
                    .collect();
                if candidates.is_empty() {
                    None
                } else {
                    let pick = random.below(candidates.len() as u64) as usize;
                    Some(candidates[pick].clone())
                }
            };
            if let Some(serial) = target {
                let response = agent
                    .post(format!("{url}/v1/admin/revocations"))
                    .header("Authorization", &format!("Bearer {admin}"))
                    .send_json(json!({ "serial": serial, "reason": "keyCompromise" }));
                match response {
                    Ok(r) if r.status().as_u16() == 201 => {
                        acknowledged
                            .lock()
                            .unwrap()
                            .revoked
                            .insert(serial, "keyCompromise".into());
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
                continue;
            }
        }
        // Keys are reused round-robin: this tests the store, not key hygiene.
        let csr = {
            let mut pool = csrs.lock().unwrap();
            let csr = pool.remove(0);
            pool.push(csr.clone());
            csr
        };
        let token = agent
            .post(format!("{url}/v1/admin/tokens"))
            .header("Authorization", &format!("Bearer {admin}"))
            .send_json(json!({
                "role": case.role,
                "subject": case.token_subject,
                "subject_alt_names": case.token_sans,
            }));
        let token = match token {
            Ok(mut r) if r.status().as_u16() == 201 => {
                let body: serde_json::Value = r.body_mut().read_json().unwrap();
                body["token"].as_str().unwrap().to_string()
            }
            Ok(_) => continue,
            Err(_) => return,
        };
        let enrolled = agent
            .post(format!("{url}/v1/enroll"))
            .send_json(json!({ "token": token, "csr": csr }));
        match enrolled {
            Ok(mut r) if r.status().as_u16() == 201 => {
                // Acknowledged only once the whole answer arrived.
                if let Ok(body) = r.body_mut().read_json::<serde_json::Value>() {
                    if let Some(serial) = body["serial"].as_str() {
                        acknowledged
                            .lock()
                            .unwrap()
                            .issued
                            .insert(serial.to_string());
                    }
                }
            }
            Ok(_) => {}
            Err(_) => return,
        }
        // Paced, so that a round is a mix of work in flight rather than a flood.
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn killed_at_random_moments_the_server_loses_nothing_it_acknowledged() {
    let ca = TestCa::new();
    let mut random = Random::seeded();
    let csrs: Vec<String> = (0..24)
        .map(|i| {
            let key = generate_key(KeyType::EcP256, &ca.path(&format!("k{i}.pem")));
            read_text(&make_csr(&key, "/", &[], &ca.path(&format!("c{i}.csr"))))
        })
        .collect();
    let csrs = Mutex::new(csrs);
    let acknowledged = Mutex::new(Acknowledged::default());

    for round in 0..ROUNDS {
        let server = TestServer::start(&ca);
        let url = server.url().to_string();
        let admin = server.admin_token().to_string();
        let stop = AtomicBool::new(false);
        let kill_after = Duration::from_millis(150 + random.below(600));
        let seeds: Vec<u64> = (0..WORKERS).map(|_| random.next()).collect();
        std::thread::scope(|scope| {
            for seed in &seeds {
                let (url, admin, csrs, acknowledged, stop) =
                    (&url, &admin, &csrs, &acknowledged, &stop);
                scope.spawn(move || work(url, admin, csrs, acknowledged, stop, *seed));
            }
            std::thread::sleep(kill_after);
            server.kill();
            stop.store(true, Ordering::Relaxed);
        });
        let (issued, revoked) = {
            let ack = acknowledged.lock().unwrap();
            (ack.issued.len(), ack.revoked.len())
        };
        eprintln!("round {round}: killed after {kill_after:?}; {issued} issued, {revoked} revoked acknowledged so far");
    }

    // Restarted once more: everything acknowledged is there.
    let server = TestServer::start(&ca);
    let listed = ca.list_json(&[]);
    let serials: Vec<String> = listed
        .iter()
        .map(|r| r["serial"].as_str().unwrap().to_string())
        .collect();
    let unique: BTreeSet<&String> = serials.iter().collect();
    let ack = acknowledged.lock().unwrap();
    let mut cases = Cases::new();
    cases.case("the load did issue and revoke across the rounds", || {
        assert!(
            ack.issued.len() >= ROUNDS,
            "only {} issued",
            ack.issued.len()
        );
        assert!(!ack.revoked.is_empty(), "nothing revoked");
    });
    cases.case("no serial appears twice", || {
        assert_eq!(unique.len(), serials.len(), "{serials:?}");
    });
    cases.case("every acknowledged certificate is there", || {
        let missing: Vec<&String> = ack.issued.iter().filter(|s| !unique.contains(s)).collect();
        assert!(missing.is_empty(), "lost after SIGKILL: {missing:?}");
    });
    cases.case("every acknowledged revocation is there", || {
        let by_serial: BTreeMap<&str, &serde_json::Value> = listed
            .iter()
            .map(|r| (r["serial"].as_str().unwrap(), r))
            .collect();
        for (serial, reason) in &ack.revoked {
            let record = by_serial
                .get(serial.as_str())
                .unwrap_or_else(|| panic!("revoked {serial} is missing"));
            assert_eq!(record["status"], "revoked", "{record}");
            assert_eq!(record["revocation"]["reason"], reason.as_str(), "{record}");
        }
    });
    cases.case(
        "the transparency log holds every certificate and revocation once, and its proofs verify (Python)",
        || {
            let head = server.get("/v1/transparency/sth");
            head.assert_status(200, "GET /v1/transparency/sth");
            let head = head.json();
            let size = head["tree_size"].as_u64().unwrap();
            let revoked = listed.iter().filter(|r| r["status"] == "revoked").count();
            assert_eq!(
                size as usize,
                serials.len() + revoked,
                "log size vs {} certificates and {revoked} revocations",
                serials.len()
            );
            let mut entries = Vec::new();
            let mut start = 0;
            while start < size {
                let end = (start + 256).min(size);
                let page = server.get(&format!("/v1/transparency/entries?start={start}&end={end}"));
                page.assert_status(200, "GET /v1/transparency/entries");
                entries.extend(page.json()["entries"].as_array().unwrap().iter().cloned());
                start = end;
            }
            let logged: BTreeSet<&str> = entries
                .iter()
                .filter(|e| e["type"] == "certificate")
                .map(|e| e["serial"].as_str().unwrap())
                .collect();
            assert_eq!(logged.len(), serials.len(), "each certificate once");
            assert!(serials.iter().all(|s| logged.contains(s.as_str())));
            let proofs: Vec<serde_json::Value> = serials
                .iter()
                .map(|serial| {
                    let proof = server.get(&format!("/v1/transparency/proof?serial={serial}"));
                    proof.assert_status(200, "GET /v1/transparency/proof");
                    let p = proof.json();
                    json!({
                        "leaf_hash": p["leaf_hash"], "leaf_index": p["leaf_index"],
                        "tree_size": p["tree_size"], "root_hash": p["root_hash"],
                        "proof": p["inclusion_proof"],
                    })
                })
                .collect();
            let request = json!({
                "entries": entries.iter().map(|e| e["entry"].clone()).collect::<Vec<_>>(),
                "inclusions": proofs,
            });
            let path = ca.path("merkle.json");
            std::fs::write(&path, request.to_string()).unwrap();
            let output = run_python("check_merkle.py", &[&path]);
            output.assert_success("check_merkle.py");
            let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
            assert_eq!(answer["root"], head["root_hash"], "entries vs the signed root");
            let valid = answer["inclusions_valid"].as_array().unwrap();
            assert!(valid.iter().all(|v| v == true), "{answer}");
        },
    );
    cases.case("the audit chain verifies", || {
        ca.paypki(&["audit", "verify"])
            .assert_success("paypki audit verify");
    });
    cases.case("the server serves after the last crash", || {
        assert_eq!(server.get("/healthz").status, 200);
    });
    cases.finish();
}
