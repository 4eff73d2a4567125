//! The API contract: `/openapi.json` is what the server does.
//!
//! One real `paypki serve` is walked operation by operation. [`operations`] is the table:
//! one entry per operation of the document (method and path template), whose cases are
//! real requests with the status each must get. Around them the walk adds probes that
//! follow from the document itself: another method on every path (405), every secured
//! operation without and with a wrong credential (401) and with officers of one role
//! each (403 where the role is missing), every JSON operation with broken JSON (400),
//! every operation that documents 415 with a wrong Content-Type, and every one that
//! documents 413 with a body over the limit.
//!
//! Every exchange is then judged against the document by an independent program,
//! `tests/py/check_contract.py` (Python `jsonschema` and `openapi-spec-validator`): the
//! status is documented for the operation, the Content-Type is the documented media type,
//! a JSON body validates against the documented schema, required headers are there, and
//! the request itself validates against the documented request schema when the server
//! accepted it (and does not when the test sent it as malformed).
//!
//! The walk fails when an operation of the document has no entry in the table, when an
//! entry names an operation the document lacks, when a route of the router
//! (`src/http/mod.rs`) is missing from the document, or when a documented status among
//! the main ones ([`MAIN_STATUSES`]) is never provoked and the entry does not say why.
//! A new endpoint therefore fails here until it is documented and has its entry.

// Test code may panic freely (a panic is a test failure).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::{json, Value};

use common::*;

/// Statuses every operation that documents them must be shown to answer (with a success).
const MAIN_STATUSES: [u16; 9] = [400, 401, 403, 404, 405, 409, 413, 415, 422];

/// A body over every request limit (8 MiB is the largest).
const OVER_ANY_LIMIT: usize = 8 * 1024 * 1024 + 1;

/// One HTTP request of the walk.
#[derive(Debug, Clone)]
struct Req {
    method: &'static str,
    /// Path and query, percent-encoded as sent.
    target: String,
    content_type: Option<String>,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
}

impl Req {
    fn new(method: &'static str, target: impl Into<String>) -> Self {
        Req {
            method,
            target: target.into(),
            content_type: None,
            body: Vec::new(),
            headers: Vec::new(),
        }
    }

    fn body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.content_type = Some(content_type.to_string());
        self.body = body.into();
        self
    }

    fn json(self, value: &Value) -> Self {
        self.body("application/json", serde_json::to_vec(value).unwrap())
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    fn auth(self, credential: &str) -> Self {
        self.without_auth().header("Authorization", credential)
    }

    fn without_auth(mut self) -> Self {
        self.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("authorization"));
        self
    }

    /// This request expects `status`.
    fn expect(self, name: &str, status: u16) -> Case {
        let schema_valid = match status {
            200..=299 | 304 | 401 | 403 | 404 | 409 | 422 => Some(true),
            400 | 413 | 415 => Some(false),
            _ => None,
        };
        Case {
            name: name.to_string(),
            req: self,
            status,
            schema_valid,
        }
    }
}

fn get(target: impl Into<String>) -> Req {
    Req::new("GET", target)
}

fn post(target: impl Into<String>) -> Req {
    Req::new("POST", target)
}

fn patch(target: impl Into<String>) -> Req {
    Req::new("PATCH", target)
}

/// A request and what it must get.
#[derive(Debug, Clone)]
struct Case {
    name: String,
    req: Req,
    status: u16,
    /// Whether the request must (true) or must not (false) validate against the
    /// documented request; `None`: not judged. By default a request the server answers
    /// 2xx, 304, 401, 403, 404, 409 or 422 must, one answered 400, 413 or 415 must not.
    schema_valid: Option<bool>,
}

impl Case {
    /// The request does not fit the document (a verdict endpoint's 200 `malformed`, or a
    /// 404 for a path outside the parameter's pattern).
    fn schema_invalid(mut self) -> Self {
        self.schema_valid = Some(false);
        self
    }

    /// The request fits the document, yet the server refuses it for what it means (a
    /// CSR that is no CSR, a role the policy refuses).
    fn schema_valid(mut self) -> Self {
        self.schema_valid = Some(true);
        self
    }

    fn unchecked(mut self) -> Self {
        self.schema_valid = None;
        self
    }
}

/// One operation of the document and the requests that exercise it.
struct Operation {
    method: &'static str,
    path: &'static str,
    /// Main statuses the document gives it that the walk does not provoke, and why.
    not_exercised: &'static [(u16, &'static str)],
    cases: fn(&mut Ctx<'_>) -> Vec<Case>,
    /// A `text/event-stream` that never ends: its success is checked by reading the
    /// response head and the first bytes, not the whole answer.
    stream: bool,
}

fn op(method: &'static str, path: &'static str, cases: fn(&mut Ctx<'_>) -> Vec<Case>) -> Operation {
    Operation {
        method,
        path,
        not_exercised: &[],
        cases,
        stream: false,
    }
}

impl Operation {
    fn streaming(mut self) -> Self {
        self.stream = true;
        self
    }

    fn excusing(mut self, not_exercised: &'static [(u16, &'static str)]) -> Self {
        self.not_exercised = not_exercised;
        self
    }
}

/// What the cases share: the server, credentials, certificates made at the start.
struct Ctx<'a> {
    server: &'a TestServer<'a>,
    ca: &'a TestCa,
    policies: PathBuf,
    /// `Bearer <admin officer>` (every role).
    admin: String,
    /// `Bearer <officer>` with one role each: auditor, ra-officer, security-officer.
    limited: Vec<String>,
    /// A merchant certificate enrolled at the start: serial, key, certificate (PEM).
    merchant: String,
    merchant_key: PathBuf,
    merchant_cert: PathBuf,
    /// A buyer certificate, for revocation and unhold.
    buyer: String,
    /// A registered bank ([`Ctx::bank`]): its enrollments wait for approval.
    bank: Option<String>,
    /// A registered merchant with a certificate ([`Ctx::shop`]).
    shop: Option<String>,
    /// A bank enrollment left pending ([`Ctx::waiting`]).
    waiting: Option<String>,
    /// The bank enrollment the approve entry approves, and the one the reject entry
    /// rejects (for the participant's poll).
    approved: Option<String>,
    rejected: Option<String>,
    files: usize,
}

impl Ctx<'_> {
    /// A fresh file name in the CA's temporary directory.
    fn file(&mut self, stem: &str) -> PathBuf {
        self.files += 1;
        self.ca.path(&format!("contract-{}-{stem}", self.files))
    }

    /// A token for `role`/`subject` made through the API; returns it.
    fn token(&mut self, role: &str, subject: &str, sans: &[&str]) -> String {
        let response = self.server.admin_post_json(
            "/v1/admin/tokens",
            &json!({"role": role, "subject": subject, "subject_alt_names": sans}),
        );
        response.assert_status(201, "POST /v1/admin/tokens (set-up)");
        response.json()["token"].as_str().unwrap().to_string()
    }

    /// A participant registered through the API (set-up); returns its id.
    fn register(&mut self, body: &Value) -> String {
        let response = self.server.admin_post_json("/v1/admin/participants", body);
        response.assert_status(201, "POST /v1/admin/participants (set-up)");
        response.json()["id"].as_str().unwrap().to_string()
    }

    /// A token for a registered participant, made by the admin officer; returns it.
    fn participant_token(&mut self, participant: &str) -> String {
        let response = self
            .server
            .admin_post_json("/v1/admin/tokens", &json!({"participant": participant}));
        response.assert_status(201, "POST /v1/admin/tokens for a participant (set-up)");
        response.json()["token"].as_str().unwrap().to_string()
    }

    /// A registered bank. The shipped bank policy puts its certificates under dual
    /// control (`[approval]`, scope `participants`): its enrollments answer 202.
    fn bank(&mut self) -> String {
        if let Some(bank) = &self.bank {
            return bank.clone();
        }
        let bank = self.register(&json!({
            "role": "bank", "name": "Contract Bank", "legal_name": "Contract Bank AG",
            "country": "DE", "bic": "CNTRDEFF", "locality": "Frankfurt",
        }));
        self.bank = Some(bank.clone());
        bank
    }

    /// A registered merchant with a certificate (no dual control for merchants).
    fn shop(&mut self) -> String {
        if let Some(shop) = &self.shop {
            return shop.clone();
        }
        let bank = self.bank();
        let shop = self.register(&json!({
            "role": "merchant", "name": "Contract Shop", "legal_name": "Contract Shop Ltd",
            "country": "GB", "merchant_id": "M7654321", "acquiring_bank": bank,
            "dns_names": ["shop.example"],
        }));
        let token = self.participant_token(&shop);
        let (_, csr) = self.key_and_csr(KeyType::EcP256, "/");
        self.server
            .post_json("/v1/enroll", &json!({"token": token, "csr": csr}))
            .assert_status(201, "the registered merchant enrolls (set-up)");
        self.shop = Some(shop.clone());
        shop
    }

    /// An enrollment body for the registered bank, with a token the admin officer made
    /// (who therefore may not approve it).
    fn bank_enrollment(&mut self) -> Value {
        let bank = self.bank();
        let token = self.participant_token(&bank);
        let (_, csr) = self.key_and_csr(KeyType::EcP256, "/");
        json!({"token": token, "csr": csr})
    }

    /// A new enrollment of the registered bank, waiting for approval; returns the
    /// request's id.
    fn pending_enrollment(&mut self) -> String {
        let body = self.bank_enrollment();
        let response = self.server.post_json("/v1/enroll", &body);
        response.assert_status(202, "a registered bank enrolls (set-up)");
        response.json()["approval"].as_str().unwrap().to_string()
    }

    /// A bank enrollment that stays pending throughout the walk.
    fn waiting(&mut self) -> String {
        if let Some(id) = &self.waiting {
            return id.clone();
        }
        let id = self.pending_enrollment();
        self.waiting = Some(id.clone());
        id
    }

    /// A new P-256 key and a CSR of it (`subject` in OpenSSL's form); returns both.
    fn key_and_csr(&mut self, kind: KeyType, subject: &str) -> (PathBuf, String) {
        let key = generate_key(kind, &self.file("key.pem"));
        let csr_path = self.file("csr.pem");
        let csr = make_csr(&key, subject, &[], &csr_path);
        (key, read_text(&csr))
    }

    /// A `POST /v1/renew` body for `serial`: a CSR of `csr_key`, the proof made with
    /// `signing_key` at `time` (now when `None`).
    fn renewal(
        &mut self,
        serial: &str,
        signing_key: &Path,
        csr_key: &Path,
        time: Option<u64>,
    ) -> Value {
        let csr = make_csr(csr_key, "/", &[], &self.file("renew.csr"));
        let der = self.file("renew.der");
        openssl(&[
            "req",
            "-in",
            csr.to_str().unwrap(),
            "-outform",
            "DER",
            "-out",
            der.to_str().unwrap(),
        ])
        .assert_success("openssl req -outform DER");
        let digest = openssl(&["dgst", "-sha256", "-r", der.to_str().unwrap()]).stdout_text();
        let csr_hash = digest.split_whitespace().next().unwrap().to_string();
        let time = time.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
        });
        let message = self.file("renewal.msg");
        std::fs::write(
            &message,
            format!("paypki-renewal-v1\n{serial}\n{time}\n{csr_hash}"),
        )
        .unwrap();
        let proof = self.file("renewal.sig");
        openssl(&[
            "dgst",
            "-sha256",
            "-sign",
            signing_key.to_str().unwrap(),
            "-out",
            proof.to_str().unwrap(),
            message.to_str().unwrap(),
        ])
        .assert_success("openssl dgst -sign (renewal proof)");
        json!({
            "serial": serial,
            "csr": read_text(&csr),
            "time": time,
            "proof": base64::engine::general_purpose::STANDARD.encode(read_bytes(&proof)),
        })
    }

    /// A `POST /v1/verify` body: `message` signed with the merchant's key.
    fn verify_body(&mut self, message: &str) -> Value {
        let path = self.file("message");
        std::fs::write(&path, message).unwrap();
        let signature = self.file("message.sig");
        openssl(&[
            "dgst",
            "-sha256",
            "-sign",
            self.merchant_key.to_str().unwrap(),
            "-out",
            signature.to_str().unwrap(),
            path.to_str().unwrap(),
        ])
        .assert_success("openssl dgst -sign");
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        json!({
            "certificate": read_text(&self.merchant_cert),
            "message": b64(message.as_bytes()),
            "signature": b64(&read_bytes(&signature)),
            "algorithm": "ecdsa-sha256",
            "require_role": "merchant",
        })
    }

    /// A DER OCSP request for the merchant's certificate (no nonce).
    fn ocsp_request(&mut self) -> Vec<u8> {
        let out = self.file("ocsp-request.der");
        openssl(&[
            "ocsp",
            "-issuer",
            self.ca.issuing_cert().to_str().unwrap(),
            "-cert",
            self.merchant_cert.to_str().unwrap(),
            "-no_nonce",
            "-reqout",
            out.to_str().unwrap(),
        ])
        .assert_success("openssl ocsp -reqout");
        read_bytes(&out)
    }

    /// A DER TimeStampReq (SHA-256, certReq, a nonce) made by OpenSSL.
    fn timestamp_query(&mut self) -> Vec<u8> {
        let data = self.file("to-timestamp.txt");
        std::fs::write(&data, b"an order to time-stamp").unwrap();
        let out = openssl_timestamp_query(&data, &["-sha256", "-cert"], &self.file("request.tsq"));
        read_bytes(&out)
    }

    /// A root CRL signed as on the offline root machine, numbered after the published one.
    fn offline_root_crl(&mut self) -> Vec<u8> {
        let offline = self.file("offline");
        std::fs::create_dir_all(&offline).unwrap();
        let data = self.ca.data_dir();
        run(std::process::Command::new("cp")
            .arg("-r")
            .arg(data.join("ca.toml"))
            .arg(data.join("certs"))
            .arg(data.join("crl"))
            .arg(&offline))
        .assert_success("cp the CA's public files");
        let out = self.file("root.crl");
        let mut command = std::process::Command::new(PAYPKI);
        command
            .arg("--data-dir")
            .arg(&offline)
            .arg("--policies")
            .arg(&self.policies)
            .args(["crl", "--root", "--root-key"])
            .arg(self.ca.key_file("root"))
            .arg("--out")
            .arg(&out);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("PAYPKI_") {
                command.env_remove(name);
            }
        }
        run(&mut command).assert_success("paypki crl --root (offline)");
        read_bytes(&out)
    }
}

const SERIAL_UNKNOWN: &str = "0badc0de";
const OFFICER_UNKNOWN: &str = "nobody";
const PARTICIPANT_UNKNOWN: &str = "par_000000000000000000000000";
const APPROVAL_UNKNOWN: &str = "apr_00000000000000000000000000000000";
/// A path segment that is not UTF-8 once percent-decoded.
const NOT_UTF8: &str = "%FF";

/// The table: every operation of the document, in the order walked (later ones may use
/// what earlier ones made). Adding an endpoint means adding its entry here.
fn operations() -> Vec<Operation> {
    vec![
        op("POST", "/v1/enroll", |cx| {
            let case = enroll_case("merchant");
            let token = cx.token(case.role, case.token_subject, case.token_sans);
            let (key, csr) = cx.key_and_csr(KeyType::EcP256, "/");
            let (_, csr_again) = {
                let path = cx.file("again.csr");
                (path.clone(), read_text(&make_csr(&key, "/", &[], &path)))
            };
            let (_, other_csr) = cx.key_and_csr(KeyType::EcP256, "/");
            let fresh = cx.token(case.role, case.token_subject, case.token_sans);
            let buyer = enroll_case("buyer");
            let mismatch_token = cx.token(buyer.role, buyer.token_subject, buyer.token_sans);
            let (_, mismatch_csr) = cx.key_and_csr(KeyType::EcP256, "/CN=Someone Else");
            let unknown = format!("ppt_{}_{}", "0".repeat(24), "0".repeat(64));
            let bank = cx.bank_enrollment();
            vec![
                post("/v1/enroll")
                    .json(&json!({"token": token, "csr": csr}))
                    .expect("a token and a CSR", 201),
                post("/v1/enroll")
                    .json(&json!({"token": token, "csr": csr_again}))
                    .expect("the same token and key again: redelivery", 200),
                post("/v1/enroll")
                    .json(&json!({"token": token, "csr": other_csr}))
                    .expect("the used token with another key", 409),
                post("/v1/enroll")
                    .json(&json!({"token": "ppt_x", "csr": csr}))
                    .expect("a malformed token", 400),
                post("/v1/enroll")
                    .json(&json!({"token": format!(" {fresh}"), "csr": csr}))
                    .expect("a token with a space", 400),
                post("/v1/enroll")
                    .json(&json!({"token": fresh, "csr": "not a CSR"}))
                    .expect("a CSR that is none", 400)
                    .schema_valid(),
                post("/v1/enroll")
                    .json(&json!({"token": unknown, "csr": csr}))
                    .expect("an unknown token", 403),
                post("/v1/enroll")
                    .json(&json!({"token": mismatch_token, "csr": mismatch_csr}))
                    .expect("a CSR naming another subject", 422),
                post("/v1/enroll")
                    .json(&bank)
                    .expect("a registered bank: waits for approval", 202),
                post("/v1/enroll")
                    .json(&bank)
                    .expect("the same again: still waiting", 202),
            ]
        }),
        op("POST", "/v1/renew", |cx| {
            let (serial, key) = (cx.merchant.clone(), cx.merchant_key.clone());
            let stale = cx.renewal(&serial, &key, &key, Some(1_000_000_000));
            let weak = generate_key(KeyType::Rsa(1024), &cx.file("weak.key.pem"));
            let refused = cx.renewal(&serial, &key, &weak, None);
            let mut unknown = cx.renewal(&serial, &key, &key, None);
            unknown["serial"] = json!(SERIAL_UNKNOWN);
            let mut not_base64 = unknown.clone();
            not_base64["serial"] = json!(serial);
            not_base64["proof"] = json!("not base64!");
            let good = cx.renewal(&serial, &key, &key, None);
            vec![
                post("/v1/renew")
                    .json(&unknown)
                    .expect("an unknown serial", 404),
                post("/v1/renew")
                    .json(&stale)
                    .expect("a proof made long ago", 403),
                post("/v1/renew")
                    .json(&refused)
                    .expect("a new key the policy refuses (RSA-1024)", 422),
                post("/v1/renew")
                    .json(&not_base64)
                    .expect("a proof that is not base64", 400),
                post("/v1/renew")
                    .json(&good)
                    .expect("a proof of the current key", 201),
            ]
        }),
        op("GET", "/v1/certificates/{serial}", |cx| {
            vec![
                get(format!("/v1/certificates/{}", cx.merchant)).expect("an issued serial", 200),
                get(format!("/v1/certificates/{}", cx.merchant.to_uppercase()))
                    .expect("the serial in uppercase", 200),
                get("/v1/certificates/xyz").expect("not hex", 400),
                get("/v1/certificates/%FF").expect("not UTF-8", 400),
                get(format!("/v1/certificates/{SERIAL_UNKNOWN}")).expect("never issued", 404),
            ]
        }),
        op("GET", "/ca/root.crt", |_| {
            vec![get("/ca/root.crt").expect("the root", 200)]
        }),
        op("GET", "/ca/issuing.crt", |_| {
            vec![get("/ca/issuing.crt").expect("issuing CA 1", 200)]
        })
        .excusing(&[(404, "issuing CA 1 exists in every CA `paypki init` made")]),
        op("GET", "/ca/chain.pem", |cx| {
            vec![
                get("/ca/chain.pem").expect("the active chain", 200),
                get(format!("/ca/chain.pem?serial={}", cx.merchant))
                    .expect("a certificate's chain", 200),
                get("/ca/chain.pem?serial=xyz").expect("not a serial", 400),
                get("/ca/chain.pem?serial=01&serial=02")
                    .expect("the parameter twice", 400)
                    .unchecked(),
                get("/ca/chain.pem?colour=blue").expect("an unknown parameter", 400),
                get(format!("/ca/chain.pem?serial={SERIAL_UNKNOWN}")).expect("never issued", 404),
            ]
        }),
        op("GET", "/ca/{file}", |_| {
            vec![
                get("/ca/issuing-1.crt").expect("issuing CA 1 by number", 200),
                get("/ca/chain-1.pem").expect("its chain", 200),
                get("/ca/issuing-9.crt").expect("no CA 9", 404),
                get("/ca/other.txt")
                    .expect("no such file", 404)
                    .schema_invalid(),
                get("/ca/%FF").expect("not UTF-8", 400),
            ]
        }),
        op("POST", "/v1/verify", |cx| {
            let good = cx.verify_body(r#"{"amount":"10.00"}"#);
            let mut bad_format = good.clone();
            bad_format["format"] = json!("xml");
            let mut unknown_field = good.clone();
            unknown_field["colour"] = json!("blue");
            let mut with_receipt = good.clone();
            with_receipt["receipt"] = json!(true);
            vec![
                post("/v1/verify")
                    .json(&good)
                    .expect("a good signature", 200),
                post("/v1/verify")
                    .json(&with_receipt)
                    .expect("a good signature with a signed receipt", 200),
                post("/v1/verify")
                    .json(&bad_format)
                    .expect("a format outside the enum: the verdict malformed", 200)
                    .schema_invalid(),
                post("/v1/verify")
                    .json(&unknown_field)
                    .expect("an unknown field", 400),
            ]
        }),
        op("POST", "/v1/verify/batch", |cx| {
            let good = cx.verify_body(r#"{"amount":"20.00"}"#);
            let too_many: Vec<Value> = (0..1001)
                .map(|_| json!({"message": "", "signature": ""}))
                .collect();
            vec![
                post("/v1/verify/batch")
                    .json(&json!({"items": [good, good]}))
                    .expect("two good items", 200),
                post("/v1/verify/batch")
                    .json(&json!({"items": [good, {"message": 5}]}))
                    .expect(
                        "an item of the wrong shape: that item's verdict malformed",
                        200,
                    )
                    .schema_invalid(),
                post("/v1/verify/batch")
                    .json(&json!({"items": too_many}))
                    .expect("1001 items", 400),
            ]
        }),
        op("POST", "/v1/validate", |cx| {
            let chain = vec![
                read_text(&cx.merchant_cert),
                read_text(&cx.ca.issuing_cert()),
            ];
            vec![
                post("/v1/validate")
                    .json(&json!({"chain": chain, "usage": "clientAuth"}))
                    .expect("the merchant's chain", 200),
                post("/v1/validate")
                    .json(&json!({"chain": chain, "usage": "codeSigning"}))
                    .expect("a usage outside the enum: the verdict malformed", 200)
                    .schema_invalid(),
                post("/v1/validate")
                    .json(&json!({"chain": "not an array"}))
                    .expect("chain of the wrong type", 400),
            ]
        }),
        op("POST", "/ocsp", |cx| {
            let request = cx.ocsp_request();
            vec![
                post("/ocsp")
                    .body("application/ocsp-request", request)
                    .expect("the merchant's status", 200),
                post("/ocsp")
                    .body("application/ocsp-request", b"not DER".to_vec())
                    .expect("not DER: malformedRequest", 200)
                    .unchecked(),
            ]
        }),
        op("POST", "/tsa", |cx| {
            let request = cx.timestamp_query();
            vec![
                post("/tsa")
                    .body("application/timestamp-query", request.clone())
                    .expect("a token", 200),
                post("/tsa")
                    .body("application/timestamp-query", b"not DER".to_vec())
                    .expect("not DER: a rejection with badDataFormat", 200)
                    .unchecked(),
                post("/tsa")
                    .body("application/octet-stream", request)
                    .expect("another Content-Type", 415),
            ]
        }),
        op("GET", "/ocsp/{request}", |cx| {
            let request = base64::engine::general_purpose::STANDARD.encode(cx.ocsp_request());
            let encoded = request
                .replace('+', "%2B")
                .replace('/', "%2F")
                .replace('=', "%3D");
            vec![
                get(format!("/ocsp/{encoded}")).expect("the merchant's status", 200),
                get("/ocsp/%FF%FE")
                    .expect("not UTF-8: malformedRequest", 200)
                    .unchecked(),
            ]
        }),
        op("GET", "/crl/issuing.crl", |cx| {
            let etag = cx
                .server
                .get("/crl/issuing.crl")
                .header("etag")
                .unwrap()
                .to_string();
            vec![
                get("/crl/issuing.crl").expect("issuing CA 1's CRL", 200),
                get("/crl/issuing.crl")
                    .header("If-None-Match", &etag)
                    .expect("not modified", 304),
            ]
        }),
        op("GET", "/crl/root.crl", |_| {
            vec![get("/crl/root.crl").expect("the root CRL", 200)]
        })
        .excusing(&[(404, "`paypki init` signs the first root CRL")]),
        op("GET", "/crl/{file}", |_| {
            vec![
                get("/crl/issuing-1.crl").expect("CA 1's CRL by number", 200),
                get("/crl/issuing-9.crl").expect("no CA 9", 404),
                get("/crl/other.crl")
                    .expect("no such file", 404)
                    .schema_invalid(),
                get("/crl/%FF").expect("not UTF-8", 400),
            ]
        }),
        op("POST", "/v1/admin/crls/root", |cx| {
            let crl = cx.offline_root_crl();
            let admin = cx.admin.clone();
            vec![
                post("/v1/admin/crls/root")
                    .body("application/pkix-crl", crl.clone())
                    .auth(&admin)
                    .expect("a root CRL signed offline", 200),
                post("/v1/admin/crls/root")
                    .body("application/pkix-crl", crl)
                    .auth(&admin)
                    .expect("the same again", 409),
                post("/v1/admin/crls/root")
                    .body("application/pkix-crl", b"not a CRL".to_vec())
                    .auth(&admin)
                    .expect("not a CRL", 422),
            ]
        }),
        op("POST", "/v1/admin/tokens", |cx| {
            let (admin, bank) = (cx.admin.clone(), cx.bank());
            vec![
                post("/v1/admin/tokens")
                    .json(&json!({"role": "buyer", "subject": "CN=Alice", "ttl": "24h"}))
                    .auth(&admin)
                    .expect("a grant", 201),
                post("/v1/admin/tokens")
                    .json(&json!({"participant": bank}))
                    .auth(&admin)
                    .expect("a registered participant's", 201),
                post("/v1/admin/tokens")
                    .json(&json!({"participant": PARTICIPANT_UNKNOWN}))
                    .auth(&admin)
                    .expect("an unknown participant", 404),
                post("/v1/admin/tokens")
                    .json(&json!({"role": "buyer", "subject": "CN=Dan,O=Dan Ltd"}))
                    .auth(&admin)
                    .expect("a subject the buyer policy refuses", 422),
                post("/v1/admin/tokens")
                    .json(&json!({"role": "Buyer", "subject": "CN=Alice"}))
                    .auth(&admin)
                    .expect("a role outside the enum", 422)
                    .schema_invalid(),
                post("/v1/admin/tokens")
                    .json(&json!({"role": "buyer", "subject": "CN=Alice", "ttl": "24 hours"}))
                    .auth(&admin)
                    .expect("a ttl outside the pattern", 422)
                    .schema_invalid(),
            ]
        }),
        op("POST", "/v1/admin/tokens/batch", |cx| {
            let admin = cx.admin.clone();
            let too_many: Vec<Value> = (0..10_001)
                .map(|_| json!({"role": "buyer", "subject": "CN=A"}))
                .collect();
            vec![
                post("/v1/admin/tokens/batch")
                    .json(&json!({"items": [{"role": "buyer", "subject": "CN=Alice"}, {"role": "buyer", "subject": "CN=Bob"}]}))
                    .auth(&admin)
                    .expect("two grants", 201),
                post("/v1/admin/tokens/batch")
                    .json(&json!({"items": [{"role": "buyer", "subject": "CN=Carol"}, {"role": "buyer", "subject": "CN=Dan,O=Dan Ltd"}]}))
                    .auth(&admin)
                    .expect("a grant the policy refuses", 422),
                post("/v1/admin/tokens/batch")
                    .json(&json!({"items": too_many}))
                    .auth(&admin)
                    .expect("10,001 grants", 400),
            ]
        }),
        op("POST", "/v1/admin/revocations", |cx| {
            let (admin, buyer) = (cx.admin.clone(), cx.buyer.clone());
            let tomorrow = "2099-01-01T00:00:00Z";
            vec![
                post("/v1/admin/revocations")
                    .json(&json!({"serial": buyer, "reason": "certificateHold"}))
                    .auth(&admin)
                    .expect("a hold", 201),
                post("/v1/admin/revocations")
                    .json(&json!({"serial": buyer, "reason": "certificateHold"}))
                    .auth(&admin)
                    .expect("held again", 409),
                post("/v1/admin/revocations")
                    .json(&json!({"serial": SERIAL_UNKNOWN, "reason": "keyCompromise"}))
                    .auth(&admin)
                    .expect("a serial without a record", 404),
                post("/v1/admin/revocations")
                    .json(&json!({"serial": buyer, "reason": "key-compromise"}))
                    .auth(&admin)
                    .expect("a reason not spelled as RFC 5280 does", 400),
                post("/v1/admin/revocations")
                    .json(&json!({"serial": "xyz", "reason": "keyCompromise"}))
                    .auth(&admin)
                    .expect("not a serial", 400),
                post("/v1/admin/revocations")
                    .json(&json!({"serial": cx.merchant, "reason": "keyCompromise", "invalidity_date": tomorrow}))
                    .auth(&admin)
                    .expect("an invalidity date in the future", 422),
            ]
        }),
        op("POST", "/v1/admin/revocations/{serial}/unhold", |cx| {
            let (admin, buyer) = (cx.admin.clone(), cx.buyer.clone());
            let path = format!("/v1/admin/revocations/{buyer}/unhold");
            vec![
                post(path.clone())
                    .auth(&admin)
                    .expect("a certificate on hold", 200),
                post(path).auth(&admin).expect("not on hold any more", 409),
                post(format!("/v1/admin/revocations/{SERIAL_UNKNOWN}/unhold"))
                    .auth(&admin)
                    .expect("never issued", 404),
                post("/v1/admin/revocations/xyz/unhold")
                    .auth(&admin)
                    .expect("not a serial", 400),
            ]
        }),
        op("GET", "/v1/admin/certificates", |cx| {
            let admin = cx.admin.clone();
            let list = |query: &str| get(format!("/v1/admin/certificates{query}")).auth(&admin);
            vec![
                list("").expect("every record", 200),
                list("?role=merchant&status=good&expiring_within=400d&limit=1")
                    .expect("filtered, one a page", 200),
                list("?limit=0").expect("limit 0", 400),
                list("?limit=100001").expect("limit over 100,000", 400),
                list("?role=Merchant").expect("a role outside the enum", 400),
                list("?status=held").expect("a status outside the enum", 400),
                list("?expiring_within=soon").expect("not a duration", 400),
                list("?after=xyz").expect("not hex", 400),
                list("?colour=blue").expect("an unknown parameter", 400),
            ]
        }),
        op("GET", "/v1/admin/certificates/{serial}", |cx| {
            let admin = cx.admin.clone();
            vec![
                get(format!("/v1/admin/certificates/{}", cx.merchant))
                    .auth(&admin)
                    .expect("a record", 200),
                get("/v1/admin/certificates/xyz")
                    .auth(&admin)
                    .expect("not a serial", 400),
                get(format!("/v1/admin/certificates/{SERIAL_UNKNOWN}"))
                    .auth(&admin)
                    .expect("never issued", 404),
            ]
        }),
        op("GET", "/v1/admin/audit/verify", |cx| {
            vec![get("/v1/admin/audit/verify")
                .auth(&cx.admin)
                .expect("the audit chain", 200)]
        }),
        op("POST", "/v1/admin/officers", |cx| {
            let admin = cx.admin.clone();
            let add = |body: Value| post("/v1/admin/officers").json(&body).auth(&admin);
            vec![
                add(json!({"name": "temp", "roles": ["auditor"]})).expect("a new officer", 201),
                add(json!({"name": "temp", "roles": ["auditor"]})).expect("the name again", 409),
                add(json!({"name": "Bad Name", "roles": ["auditor"]}))
                    .expect("a name outside the pattern", 400),
                add(json!({"name": "no-roles", "roles": []})).expect("no role", 400),
                add(json!({"name": "temp2", "roles": ["janitor"]}))
                    .expect("a role outside the enum", 400),
            ]
        }),
        op("GET", "/v1/admin/officers", |cx| {
            vec![get("/v1/admin/officers")
                .auth(&cx.admin)
                .expect("every officer", 200)]
        }),
        op("POST", "/v1/admin/officers/{name}/disable", |cx| {
            let admin = cx.admin.clone();
            let disable =
                |name: &str| post(format!("/v1/admin/officers/{name}/disable")).auth(&admin);
            vec![
                disable("temp").expect("an officer", 200),
                disable("sec-only").expect("one of two security officers", 200),
                disable("admin").expect("the last active security officer", 409),
                disable(OFFICER_UNKNOWN).expect("no such officer", 404),
                disable("Bad_Name").expect("a name outside the pattern", 400),
            ]
        }),
        op("POST", "/v1/admin/officers/{name}/enable", |cx| {
            let admin = cx.admin.clone();
            let enable =
                |name: &str| post(format!("/v1/admin/officers/{name}/enable")).auth(&admin);
            vec![
                enable("sec-only").expect("a disabled officer", 200),
                enable("temp").expect("another", 200),
                enable(OFFICER_UNKNOWN).expect("no such officer", 404),
                enable("Bad_Name").expect("a name outside the pattern", 400),
            ]
        }),
        op("POST", "/v1/admin/officers/{name}/rotate", |cx| {
            let admin = cx.admin.clone();
            let rotate =
                |name: &str| post(format!("/v1/admin/officers/{name}/rotate")).auth(&admin);
            vec![
                rotate("temp").expect("an officer's credential", 200),
                rotate(OFFICER_UNKNOWN).expect("no such officer", 404),
                rotate("Bad_Name").expect("a name outside the pattern", 400),
            ]
        }),
        op("POST", "/v1/admin/participants", |cx| {
            let admin = cx.admin.clone();
            let bank = cx.bank();
            let add = |body: Value| post("/v1/admin/participants").json(&body).auth(&admin);
            let a_bank = json!({"role": "bank", "name": "Example Bank", "legal_name": "Example Bank AG",
                                "country": "DE", "bic": "DEUTDEFF", "locality": "Frankfurt",
                                "dns_names": ["bank.example"], "uris": ["https://bank.example/"]});
            let with = |field: &str, value: Value| {
                let mut body = a_bank.clone();
                body[field] = value;
                body
            };
            vec![
                add(a_bank.clone()).expect("a bank", 201),
                add(json!({"role": "merchant", "name": "Corner Shop", "legal_name": "Corner Shop Ltd",
                           "country": "GB", "merchant_id": "M1234567", "acquiring_bank": bank,
                           "dns_names": ["shop.example"], "email": "pay@shop.example"}))
                .expect("a merchant", 201),
                add(json!({"role": "gateway", "name": "gw.pay.example", "operator": "Pay Gateway BV",
                           "dns_names": ["gw.pay.example"], "ip_addresses": ["192.0.2.10"]}))
                .expect("a gateway", 201),
                add(json!({"role": "buyer", "name": "Alice Buyer", "customer_reference": "CUST-0001",
                           "issuing_bank": bank, "email": "alice@example.com"}))
                .expect("a buyer", 201),
                add(json!({"name": "No Role"})).expect("no role", 400),
                add(with("role", json!("broker"))).expect("a role outside the enum", 400),
                add(with("role", json!("Bank"))).expect("a role in another case", 400),
                add(with("colour", json!("red"))).expect("an unknown field", 400),
                add(with("dns_names", json!("bank.example"))).expect("a list of the wrong type", 400),
                add(with("bic", json!("DEUT-EFF"))).expect("a BIC that is not ISO 9362", 422),
                add(with("merchant_id", json!("M1234567"))).expect("a merchant field on a bank", 422),
                add(json!({"role": "merchant", "name": "S", "legal_name": "S Ltd", "country": "GB",
                           "merchant_id": "1234", "acquiring_bank": bank}))
                .expect("a merchant id the policy refuses", 422),
            ]
        }),
        op("GET", "/v1/admin/participants", |cx| {
            let admin = cx.admin.clone();
            let list = |query: &str| get(format!("/v1/admin/participants{query}")).auth(&admin);
            vec![
                list("").expect("every participant", 200),
                list("?role=bank&status=active&limit=1").expect("filtered, one a page", 200),
                list(&format!("?limit=1&after={PARTICIPANT_UNKNOWN}")).expect("after an id", 200),
                list("?limit=0").expect("limit 0", 400),
                list("?limit=100001").expect("limit over 100,000", 400),
                list("?role=Bank").expect("a role outside the enum", 400),
                list("?status=sleeping").expect("a status outside the enum", 400),
                list("?status=ACTIVE").expect("a status in another case", 400),
                list("?colour=blue").expect("an unknown parameter", 400),
            ]
        }),
        op("GET", "/v1/admin/participants/{id}", |cx| {
            let (admin, shop) = (cx.admin.clone(), cx.shop());
            let show = |id: &str| get(format!("/v1/admin/participants/{id}")).auth(&admin);
            vec![
                show(&shop).expect("a merchant and its certificate", 200),
                show(PARTICIPANT_UNKNOWN).expect("no such participant", 404),
                show("par_nobody")
                    .expect("an id outside the pattern", 404)
                    .schema_invalid(),
                show(NOT_UTF8).expect("an id that is not UTF-8", 400),
            ]
        }),
        op("POST", "/v1/admin/participants/{id}/suspend", |cx| {
            let (admin, shop) = (cx.admin.clone(), cx.shop());
            let suspend =
                |id: &str| post(format!("/v1/admin/participants/{id}/suspend")).auth(&admin);
            vec![
                suspend(&shop).expect("an active participant: its certificate on hold", 200),
                suspend(&shop).expect("suspended already", 409),
                suspend(PARTICIPANT_UNKNOWN).expect("no such participant", 404),
                suspend(NOT_UTF8).expect("an id that is not UTF-8", 400),
            ]
        }),
        op("POST", "/v1/admin/participants/{id}/resume", |cx| {
            let (admin, shop) = (cx.admin.clone(), cx.shop());
            let resume =
                |id: &str| post(format!("/v1/admin/participants/{id}/resume")).auth(&admin);
            vec![
                resume(&shop).expect("a suspended participant: the hold lifted", 200),
                resume(&shop).expect("active: not suspended", 409),
                resume(PARTICIPANT_UNKNOWN).expect("no such participant", 404),
                resume(NOT_UTF8).expect("an id that is not UTF-8", 400),
            ]
        }),
        op("POST", "/v1/admin/participants/{id}/terminate", |cx| {
            let (admin, shop) = (cx.admin.clone(), cx.shop());
            let terminate =
                |id: &str| post(format!("/v1/admin/participants/{id}/terminate")).auth(&admin);
            vec![
                terminate(&shop).expect("a participant: its certificate revoked", 200),
                terminate(&shop).expect("terminated already", 409),
                terminate(PARTICIPANT_UNKNOWN).expect("no such participant", 404),
                terminate(NOT_UTF8).expect("an id that is not UTF-8", 400),
            ]
        }),
        op("PATCH", "/v1/admin/participants/{id}", |cx| {
            let admin = cx.admin.clone();
            let gateway = cx.register(&json!({
                "role": "gateway", "name": "gw2.pay.example", "operator": "Pay Gateway BV",
                "dns_names": ["gw2.pay.example"],
            }));
            let ended = cx.register(&json!({
                "role": "gateway", "name": "gw3.pay.example", "operator": "Pay Gateway BV",
                "dns_names": ["gw3.pay.example"],
            }));
            cx.server
                .admin_post_json(
                    &format!("/v1/admin/participants/{ended}/terminate"),
                    &json!({}),
                )
                .assert_status(200, "terminate a participant (set-up)");
            let change = |id: &str, body: Value| {
                patch(format!("/v1/admin/participants/{id}"))
                    .json(&body)
                    .auth(&admin)
            };
            vec![
                change(
                    &gateway,
                    json!({"locality": "Rotterdam", "ip_addresses": ["192.0.2.11"]}),
                )
                .expect("new fields", 200),
                change(&gateway, json!({"locality": ""})).expect("a field cleared", 200),
                change(&gateway, json!({"role": "bank"})).expect("a role", 400),
                change(&gateway, json!({"colour": "red"})).expect("an unknown field", 400),
                change(&gateway, json!({"dns_names": "gw2.pay.example"}))
                    .expect("a list of the wrong type", 400),
                change(&gateway, json!({"dns_names": ["*.pay.example"]}))
                    .expect("a wildcard DNS name", 422),
                change(PARTICIPANT_UNKNOWN, json!({"locality": "Delft"}))
                    .expect("no such participant", 404),
                change(&ended, json!({"locality": "Delft"}))
                    .expect("a terminated participant", 409),
            ]
        }),
        op("GET", "/v1/admin/approvals", |cx| {
            let admin = cx.admin.clone();
            cx.waiting();
            let list = |query: &str| get(format!("/v1/admin/approvals{query}")).auth(&admin);
            vec![
                list("").expect("every request", 200),
                list("?status=pending&limit=1").expect("pending ones, one", 200),
                list("?status=Pending").expect("a status outside the enum", 400),
                list("?limit=0").expect("limit 0", 400),
                list("?limit=100001").expect("limit over 100,000", 400),
                list("?colour=blue").expect("an unknown parameter", 400),
            ]
        }),
        op("GET", "/v1/admin/approvals/{id}", |cx| {
            let (admin, waiting) = (cx.admin.clone(), cx.waiting());
            let show = |id: &str| get(format!("/v1/admin/approvals/{id}")).auth(&admin);
            vec![
                show(&waiting).expect("a pending request", 200),
                show(APPROVAL_UNKNOWN).expect("no such request", 404),
                show("apr_nothing")
                    .expect("an id outside the pattern", 404)
                    .schema_invalid(),
                show(NOT_UTF8).expect("an id that is not UTF-8", 400),
            ]
        }),
        op("POST", "/v1/admin/approvals/{id}/approve", |cx| {
            let admin = cx.admin.clone();
            let auditor = cx.limited[0].clone();
            let ra_officer = cx.limited[1].clone();
            let waiting = cx.waiting();
            let id = cx.pending_enrollment();
            cx.approved = Some(id.clone());
            let approve =
                |id: &str, by: &str| post(format!("/v1/admin/approvals/{id}/approve")).auth(by);
            vec![
                approve(&id, &admin).expect("by the officer who made the token", 403),
                approve(&waiting, &auditor).expect("by an officer without ra-officer", 403),
                approve(&id, &ra_officer).expect("by another ra-officer: issued", 200),
                approve(&id, &ra_officer).expect("decided already", 409),
                approve(APPROVAL_UNKNOWN, &ra_officer).expect("no such request", 404),
                approve(NOT_UTF8, &ra_officer).expect("an id that is not UTF-8", 400),
            ]
        }),
        op("POST", "/v1/admin/approvals/{id}/reject", |cx| {
            let admin = cx.admin.clone();
            let security_officer = cx.limited[2].clone();
            let waiting = cx.waiting();
            let id = cx.pending_enrollment();
            cx.rejected = Some(id.clone());
            let reject = |id: &str, body: Value| {
                post(format!("/v1/admin/approvals/{id}/reject"))
                    .json(&body)
                    .auth(&admin)
            };
            vec![
                reject(&id, json!({"reason": "unknown bank"})).expect("a pending request", 200),
                reject(&id, json!({"reason": "again"})).expect("decided already", 409),
                reject(&waiting, json!({})).expect("no reason", 400),
                reject(&waiting, json!({"reason": ""})).expect("an empty reason", 400),
                reject(&waiting, json!({"reason": " \t "})).expect("only white space", 400),
                reject(&waiting, json!({"reason": "x".repeat(501)})).expect("501 characters", 400),
                reject(
                    &waiting,
                    json!({"reason": format!(" {} ", "x".repeat(499))}),
                )
                .expect("501 characters, two of them spaces", 400),
                reject(&waiting, json!({"reason": 5})).expect("a reason that is no string", 400),
                reject(&waiting, json!({"reason": "no", "colour": "red"}))
                    .expect("an unknown field", 400),
                reject(APPROVAL_UNKNOWN, json!({"reason": "no"})).expect("no such request", 404),
                reject(&waiting, json!({"reason": "no"}))
                    .auth(&security_officer)
                    .expect("by an officer without ra-officer", 403),
            ]
        }),
        op("GET", "/v1/enroll/approvals/{id}", |cx| {
            let waiting = cx.waiting();
            let approved = cx.approved.clone().expect("the approve entry runs before");
            let rejected = cx.rejected.clone().expect("the reject entry runs before");
            let poll = |id: &str| get(format!("/v1/enroll/approvals/{id}"));
            vec![
                poll(&waiting).expect("pending", 202),
                poll(&approved).expect("approved: the certificate", 200),
                poll(&rejected).expect("rejected: approval-refused", 403),
                poll(APPROVAL_UNKNOWN).expect("no such request", 404),
                poll("apr_nothing")
                    .expect("an id outside the pattern", 404)
                    .schema_invalid(),
                poll(NOT_UTF8).expect("an id that is not UTF-8", 400),
            ]
        }),
        op("GET", "/v1/events/revocations", |_| {
            let events = || get("/v1/events/revocations");
            vec![
                // The contract checker does not judge request headers.
                events()
                    .header("Last-Event-ID", "seven")
                    .expect("a Last-Event-ID that is no number", 400)
                    .unchecked(),
                get("/v1/events/revocations?after=-1")
                    .expect("an `after` that is no number", 400)
                    .schema_invalid(),
            ]
        })
        .streaming()
        .excusing(&[(
            503,
            "needs the database to be unreachable; tests/multinode.rs stops PostgreSQL",
        )]),
        op("GET", "/v1/transparency/sth", |_| {
            vec![get("/v1/transparency/sth").expect("the newest signed tree head", 200)]
        }),
        op("GET", "/v1/transparency/proof", |cx| {
            let serial = cx.merchant.clone();
            vec![
                get(format!("/v1/transparency/proof?serial={serial}"))
                    .expect("by serial, in the signed head's tree", 200),
                get(format!(
                    "/v1/transparency/proof?serial={serial}&tree_size=99999"
                ))
                .expect("a tree the log does not have", 400)
                .schema_valid(),
                get("/v1/transparency/proof")
                    .expect("neither serial nor leaf hash", 400)
                    .schema_valid(),
                get("/v1/transparency/proof?leaf_hash=AAAA")
                    .expect("a leaf hash of 3 bytes", 400)
                    .schema_valid(),
                get(format!("/v1/transparency/proof?serial={SERIAL_UNKNOWN}"))
                    .expect("a serial not in the log", 404),
            ]
        }),
        op("GET", "/v1/transparency/consistency", |_| {
            vec![
                get("/v1/transparency/consistency?first=1&second=2")
                    .expect("between two sizes", 200),
                get("/v1/transparency/consistency?first=0&second=2")
                    .expect("first = 0", 400)
                    .schema_valid(),
                get("/v1/transparency/consistency?first=1&second=99999")
                    .expect("beyond the log", 400)
                    .schema_valid(),
                get("/v1/transparency/consistency?first=x&second=2")
                    .expect("not a number", 400)
                    .schema_invalid(),
            ]
        }),
        op("GET", "/v1/transparency/entries", |_| {
            vec![
                get("/v1/transparency/entries?start=0&end=2").expect("two entries", 200),
                get("/v1/transparency/entries?start=2&end=2")
                    .expect("an empty range", 400)
                    .schema_valid(),
                get("/v1/transparency/entries?start=0&end=99999")
                    .expect("beyond the log", 400)
                    .schema_valid(),
                get("/v1/transparency/entries?start=0")
                    .expect("no end", 400)
                    .schema_invalid(),
            ]
        }),
        op("GET", "/healthz", |_| {
            vec![get("/healthz").expect("health", 200)]
        }),
        op("GET", "/metrics", |_| {
            vec![get("/metrics").expect("metrics", 200)]
        }),
        op("GET", "/openapi.json", |_| {
            vec![get("/openapi.json").expect("this document", 200)]
        }),
    ]
}

/// A case whose status is not asserted (only judged against the document).
const ANY_STATUS: u16 = 0;

/// What the walk saw.
#[derive(Default)]
struct Walk {
    exchanges: Vec<Value>,
    mismatches: Vec<String>,
    exercised: BTreeMap<(String, String), BTreeSet<u16>>,
}

impl Walk {
    /// Sends a case's request for the operation `key` (method, path template) and records
    /// the exchange.
    fn run(
        &mut self,
        server: &TestServer<'_>,
        key: &(String, String),
        case: &Case,
    ) -> HttpResponse {
        let response = send(server, &case.req);
        if case.status != ANY_STATUS && response.status != case.status {
            self.mismatches.push(format!(
                "{} {} ({}): expected {}, got\n{}",
                case.req.method,
                case.req.target,
                case.name,
                case.status,
                response.describe()
            ));
        }
        self.exercised
            .entry(key.clone())
            .or_default()
            .insert(response.status);
        self.exchanges.push(exchange(&key.1, case, &response));
        response
    }
}

/// One exchange, as `check_contract.py` reads it.
fn exchange(template: &str, case: &Case, response: &HttpResponse) -> Value {
    let (path, query) = match case.req.target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (case.req.target.as_str(), None),
    };
    let mut params = serde_json::Map::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        params.insert(name.to_string(), json!(value));
    }
    let request_json: Option<Value> = match case.req.content_type.as_deref() {
        Some("application/json") => serde_json::from_slice(&case.req.body).ok(),
        _ => None,
    };
    let media = response
        .content_type()
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    let textual =
        media.contains("json") || media.starts_with("text/") || media.contains("openmetrics");
    let headers: BTreeMap<String, String> = response
        .headers
        .iter()
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    json!({
        "case": case.name,
        "method": case.req.method,
        "template": template,
        "path": path,
        "query": params,
        "request_content_type": case.req.content_type,
        "request_json": request_json,
        "request_schema_valid": case.schema_valid,
        "status": response.status,
        "headers": headers,
        "body": if response.body.is_empty() { Value::Null } else if textual { json!(response.text()) } else { json!("<binary>") },
    })
}

/// Sends a request; a body over the limits goes the way a refusing server can answer.
fn send(server: &TestServer<'_>, req: &Req) -> HttpResponse {
    let headers: Vec<(&str, &str)> = req
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    if req.body.len() >= OVER_ANY_LIMIT {
        let content_type = req
            .content_type
            .as_deref()
            .unwrap_or("application/octet-stream");
        return server.send_oversized_with(
            req.method,
            &req.target,
            content_type,
            &req.body,
            &headers,
        );
    }
    let mut builder = ureq::http::Request::builder()
        .method(req.method)
        .uri(server.url_for(&req.target));
    for (name, value) in &headers {
        builder = builder.header(*name, *value);
    }
    if let Some(content_type) = &req.content_type {
        builder = builder.header("Content-Type", content_type.as_str());
    }
    let what = format!("{} {}", req.method, req.target);
    if req.body.is_empty() {
        read_http_response(server.agent().run(builder.body(()).unwrap()), &what)
    } else {
        read_http_response(
            server.agent().run(builder.body(req.body.clone()).unwrap()),
            &what,
        )
    }
}

/// The route patterns of the router (`.route("…"` in `src/http/mod.rs`), and the
/// `ROUTES` list of metrics labels there.
fn router_paths() -> (BTreeSet<String>, BTreeSet<String>) {
    let source: String = read_text(&repo_dir().join("src/http/mod.rs"))
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let routes = source
        .split(".route(\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_string())
        .collect();
    let list = source
        .split("pub(crate)constROUTES:&[&str]=&[")
        .nth(1)
        .expect("ROUTES in src/http/mod.rs")
        .split("];")
        .next()
        .unwrap();
    let labels = list
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    (routes, labels)
}

/// `/ocsp/{*request}` (axum's catch-all) is `/ocsp/{request}` in OpenAPI.
fn openapi_template(route: &str) -> String {
    route.replace("{*", "{")
}

#[test]
fn every_operation_answers_as_the_openapi_document_says() {
    require_tool("curl");
    let python = run(std::process::Command::new("python3")
        .args(["-c", "import jsonschema, openapi_spec_validator"]));
    assert!(
        python.status.success(),
        "the contract check needs Python's jsonschema and openapi-spec-validator (scripts/test installs them: pip install jsonschema openapi-spec-validator)\n{}",
        python.describe()
    );
    let ca = TestCa::new();
    let policies = policies_with_open_renewal(&ca);
    let server = TestServer::start_with_policies(&ca, &policies, &[]);
    let document_response = server.get("/openapi.json");
    document_response.assert_status(200, "GET /openapi.json");
    let document = document_response.json();

    // The document's operations, the table's, the router's paths.
    let mut documented: BTreeMap<(String, String), BTreeSet<u16>> = BTreeMap::new();
    let paths = document["paths"].as_object().expect("paths");
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            if ![
                "get", "put", "post", "delete", "patch", "head", "options", "trace",
            ]
            .contains(&method.as_str())
            {
                continue;
            }
            let statuses = operation["responses"]
                .as_object()
                .unwrap()
                .keys()
                .filter_map(|s| s.parse().ok())
                .collect();
            documented.insert((method.to_ascii_uppercase(), path.clone()), statuses);
        }
    }
    let table = operations();
    let in_table: BTreeSet<(String, String)> = table
        .iter()
        .map(|o| (o.method.to_string(), o.path.to_string()))
        .collect();
    let in_document: BTreeSet<(String, String)> = documented.keys().cloned().collect();
    let untested: Vec<_> = in_document.difference(&in_table).collect();
    assert!(
        untested.is_empty(),
        "operations in /openapi.json without an entry in tests/api_contract.rs's table (add one with the requests that exercise them): {untested:?}"
    );
    let undocumented: Vec<_> = in_table.difference(&in_document).collect();
    assert!(
        undocumented.is_empty(),
        "table entries for operations /openapi.json does not have: {undocumented:?}"
    );
    let (routes, labels) = router_paths();
    assert!(
        routes.len() > 25,
        "the router's routes were not found: {routes:?}"
    );
    let document_paths: BTreeSet<String> = paths.keys().cloned().collect();
    let route_templates: BTreeSet<String> = routes.iter().map(|r| openapi_template(r)).collect();
    let missing: Vec<_> = route_templates.difference(&document_paths).collect();
    assert!(
        missing.is_empty(),
        "routes of the router (src/http/mod.rs) that /openapi.json does not document: {missing:?}"
    );
    let extra: Vec<_> = document_paths.difference(&route_templates).collect();
    assert!(
        extra.is_empty(),
        "paths in /openapi.json the router does not serve: {extra:?}"
    );
    assert_eq!(
        routes, labels,
        "ROUTES (the metrics' route labels) in src/http/mod.rs must list every route of the router"
    );

    // Officers of one role each, for the 403s.
    let mut limited = Vec::new();
    for (name, role) in [
        ("auditor-only", "auditor"),
        ("ra-only", "ra-officer"),
        ("sec-only", "security-officer"),
    ] {
        let response = server.admin_post_json(
            "/v1/admin/officers",
            &json!({"name": name, "roles": [role]}),
        );
        response.assert_status(201, &format!("add officer {name}"));
        limited.push(format!(
            "Bearer {}",
            response.json()["credential"].as_str().unwrap()
        ));
    }
    let (merchant, merchant_dir) =
        server.enroll_case(&enroll_case("merchant"), "ecdsa-p256", "merchant");
    let (buyer, _) = server.enroll_case(&enroll_case("buyer"), "ecdsa-p256", "buyer");
    let mut cx = Ctx {
        server: &server,
        ca: &ca,
        policies: policies.clone(),
        admin: server.admin_authorization(),
        limited,
        merchant,
        merchant_key: merchant_dir.join("key.pem"),
        merchant_cert: merchant_dir.join("cert.pem"),
        buyer,
        bank: None,
        shop: None,
        waiting: None,
        approved: None,
        rejected: None,
        files: 0,
    };

    let mut walk = Walk::default();
    let mut first_target: BTreeMap<String, String> = BTreeMap::new();
    for operation in &table {
        let key = (operation.method.to_string(), operation.path.to_string());
        let statuses = documented[&key].clone();
        let spec = &document["paths"][operation.path][operation.method.to_ascii_lowercase()];
        let secured = spec.get("security").is_some();
        let json_body = spec
            .pointer("/requestBody/content/application~1json")
            .is_some();
        let cases = (operation.cases)(&mut cx);
        assert!(
            cases.iter().all(|c| c.req.method == operation.method),
            "{key:?}: a case of another method"
        );
        for case in &cases {
            walk.run(&server, &key, case);
        }
        if operation.stream {
            // The 200 of a stream: the head says text/event-stream, as documented.
            let stream = SseClient::connect(server.url(), operation.path, &[]);
            assert_eq!(stream.status(), 200, "{key:?}: {}", stream.head);
            assert!(
                stream
                    .head
                    .to_ascii_lowercase()
                    .contains("content-type: text/event-stream"),
                "{key:?}: {}",
                stream.head
            );
            assert!(
                spec.pointer("/responses/200/content/text~1event-stream")
                    .is_some(),
                "{key:?}: the document does not give its 200 as text/event-stream"
            );
            walk.exercised.entry(key.clone()).or_default().insert(200);
            first_target
                .entry(operation.path.to_string())
                .or_insert_with(|| operation.path.to_string());
            let seen = walk.exercised.get(&key).cloned().unwrap_or_default();
            for (status, _) in operation.not_exercised {
                assert!(
                    !seen.contains(status),
                    "{key:?}: excuses {status}, but it was seen"
                );
            }
            continue;
        }
        let Some(success) = cases
            .iter()
            .find(|c| (200..300).contains(&c.status))
            .cloned()
        else {
            panic!("{key:?}: the table has no request that succeeds");
        };
        first_target
            .entry(operation.path.to_string())
            .or_insert_with(|| success.req.target.clone());
        // Probes that follow from the document.
        let mut probes = Vec::new();
        if secured {
            probes.push(
                success
                    .req
                    .clone()
                    .without_auth()
                    .expect("no credential", 401),
            );
            probes.push(
                success
                    .req
                    .clone()
                    .auth("Bearer ppo_nobody_00")
                    .expect("a wrong credential", 401),
            );
            for (credential, role) in
                cx.limited
                    .iter()
                    .zip(["auditor", "ra-officer", "security-officer"])
            {
                // Allowed or not: whatever it answers must be documented.
                probes.push(
                    success
                        .req
                        .clone()
                        .auth(credential)
                        .expect(&format!("an officer with only {role}"), ANY_STATUS)
                        .unchecked(),
                );
            }
        }
        if json_body {
            let mut broken = success.req.clone();
            broken.body = b"{".to_vec();
            probes.push(broken.expect("a body that is not JSON", 400));
        }
        if statuses.contains(&415) {
            let mut wrong = success.req.clone();
            wrong.content_type = Some("text/plain".into());
            probes.push(wrong.expect("Content-Type text/plain", 415));
        }
        if statuses.contains(&413) {
            let mut big = success.req.clone();
            big.body = vec![b' '; OVER_ANY_LIMIT];
            let probe = big.expect("a body over the limit", 413);
            // A binary body has no schema to judge it by.
            probes.push(if json_body { probe } else { probe.unchecked() });
        }
        for probe in &probes {
            walk.run(&server, &key, probe);
        }
        // The main statuses the document gives this operation were seen, or excused.
        let seen = walk.exercised.get(&key).cloned().unwrap_or_default();
        for excused in operation.not_exercised {
            assert!(
                statuses.contains(&excused.0),
                "{key:?}: excuses {} it does not document",
                excused.0
            );
            assert!(
                !seen.contains(&excused.0),
                "{key:?}: excuses {} the walk provoked",
                excused.0
            );
        }
        let unseen: Vec<u16> = statuses
            .iter()
            .copied()
            .filter(|s| MAIN_STATUSES.contains(s) && *s != 405)
            .filter(|s| !seen.contains(s) && !operation.not_exercised.iter().any(|e| e.0 == *s))
            .collect();
        assert!(
            unseen.is_empty(),
            "{key:?}: documented statuses no request provoked: {unseen:?} (add a case, or excuse them with the reason)"
        );
    }
    // Another method on every path: 405, with Allow.
    for path in &document_paths {
        let key = documented.keys().find(|k| &k.1 == path).unwrap().clone();
        let target = first_target[path].split('?').next().unwrap().to_string();
        let probe = Req::new("DELETE", target).expect("another method", 405);
        let response = walk.run(&server, &key, &probe);
        if response.header("allow").is_none() {
            walk.mismatches
                .push(format!("DELETE {path}: 405 without Allow"));
        }
    }
    let Walk {
        exchanges,
        mismatches,
        ..
    } = walk;
    assert!(
        mismatches.is_empty(),
        "{} requests did not get the status their case expects:\n\n{}",
        mismatches.len(),
        mismatches.join("\n\n")
    );

    // The independent judge.
    let document_file = ca.path("openapi.json");
    std::fs::write(&document_file, &document_response.body).unwrap();
    let exchanges_file = ca.path("exchanges.json");
    std::fs::write(
        &exchanges_file,
        serde_json::to_vec_pretty(&exchanges).unwrap(),
    )
    .unwrap();
    let output = run_python("check_contract.py", &[&document_file, &exchanges_file]);
    assert!(
        output.status.success(),
        "the answers do not match /openapi.json ({} exchanges; {}):\n{}\n{}",
        exchanges.len(),
        exchanges_file.display(),
        output.stdout_text(),
        output.stderr_text()
    );
    eprintln!("{}", output.stderr_text().trim());
}
