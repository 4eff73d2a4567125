//! Named officers and roles (issue 12): the authorization matrix of every admin endpoint
//! and every administrative CLI command against every role, no credential, a malformed
//! credential and a disabled officer's; officer management; the audit trail naming the
//! officer and how they authenticated.

// Test code may panic freely (helpers outside `#[test]` functions included).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::cell::Cell;

use common::*;
use serde_json::json;

const ROLES: [&str; 5] = [
    "ra-officer",
    "revocation-officer",
    "ca-operator",
    "auditor",
    "security-officer",
];
const READERS: &[&str] = &["auditor", "ra-officer", "revocation-officer", "ca-operator"];

/// Who presents what: a role's officer, or one of the credentials that must be refused.
#[derive(Debug, Clone)]
enum Caller {
    /// An officer holding exactly this role.
    Role(&'static str),
    /// No Authorization header / no credential.
    Nobody,
    /// A credential that is not one.
    Malformed,
    /// A disabled officer's (valid) credential.
    Disabled,
}

/// The officers of the matrix: one per role, plus a disabled one.
struct Officers {
    by_role: Vec<(&'static str, String)>,
    disabled: String,
}

impl Officers {
    fn credential(&self, caller: &Caller) -> Option<String> {
        match caller {
            Caller::Role(role) => self
                .by_role
                .iter()
                .find(|(r, _)| r == role)
                .map(|(_, c)| c.clone()),
            Caller::Nobody => None,
            Caller::Malformed => Some("ppo_not-a-credential".into()),
            Caller::Disabled => Some(self.disabled.clone()),
        }
    }
}

fn callers() -> Vec<Caller> {
    let mut all: Vec<Caller> = ROLES.iter().map(|r| Caller::Role(r)).collect();
    all.extend([Caller::Nobody, Caller::Malformed, Caller::Disabled]);
    all
}

/// Adds the matrix's officers through the API with the first officer (every role).
fn make_officers(server: &TestServer) -> Officers {
    let mut by_role = Vec::new();
    for role in ROLES {
        let name = format!("only-{role}");
        let made = server.admin_post_json(
            "/v1/admin/officers",
            &json!({ "name": name, "roles": [role] }),
        );
        made.assert_status(201, &format!("add officer {name}"));
        let credential = made.json()["credential"].as_str().unwrap().to_string();
        assert!(
            credential.starts_with(&format!("ppo_{name}_")),
            "{credential}"
        );
        by_role.push((role, credential));
    }
    let made = server.admin_post_json(
        "/v1/admin/officers",
        &json!({ "name": "gone", "roles": ROLES }),
    );
    made.assert_status(201, "add officer gone");
    let disabled = made.json()["credential"].as_str().unwrap().to_string();
    server
        .admin_post_json("/v1/admin/officers/gone/disable", &json!({}))
        .assert_status(200, "disable officer gone");
    Officers { by_role, disabled }
}

/// The last id of a list (without taking it).
fn pending_first(ids: &std::cell::RefCell<Vec<String>>) -> String {
    ids.borrow().first().cloned().unwrap()
}

/// Sends one request to an endpoint with a credential (or none).
type Call = Box<dyn Fn(&TestServer, Option<&str>) -> HttpResponse>;

/// One admin endpoint: how to call it (a fresh request per call) and who may.
struct Endpoint {
    name: &'static str,
    allowed: &'static [&'static str],
    call: Call,
}

fn send(
    server: &TestServer,
    method: &str,
    path: &str,
    body: Option<(&str, Vec<u8>)>,
    credential: Option<&str>,
) -> HttpResponse {
    let authorization = credential.map(|c| format!("Bearer {c}"));
    let headers: Vec<(&str, &str)> = authorization
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    match method {
        "GET" => server.get_with(path, &headers),
        "PATCH" => {
            let (_, bytes) = body.unwrap_or(("application/json", b"{}".to_vec()));
            let mut request = server
                .agent()
                .patch(&server.url_for(path))
                .header("Content-Type", "application/json");
            for (name, value) in &headers {
                request = request.header(*name, *value);
            }
            read_http_response(request.send(&bytes[..]), &format!("PATCH {path}"))
        }
        _ => {
            let (content_type, bytes) = body.unwrap_or(("application/json", b"{}".to_vec()));
            server.post_bytes_with(path, Some(content_type), &bytes, &headers)
        }
    }
}

fn json_body(value: serde_json::Value) -> Option<(&'static str, Vec<u8>)> {
    Some(("application/json", serde_json::to_vec(&value).unwrap()))
}

#[test]
fn every_admin_endpoint_allows_exactly_its_roles() {
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let officers = make_officers(&server);
    // Certificates to revoke and unhold, and the published root CRL to post again.
    let (serial, _) = server.enroll_case(&enroll_case("buyer"), "ecdsa-p256", "buyer");
    let mut spare = Vec::new();
    for i in 0..3 {
        let token = server.create_token(
            "merchant",
            &format!("CN=Shop {i},O=Shop {i} Ltd,serialNumber=M100000{i}"),
            &[],
            &[],
        );
        spare.push(
            server
                .enroll_cli(&token, "ecdsa-p256", &format!("shop-{i}"))
                .0,
        );
    }
    let root_crl = read_bytes(&ca.data_dir().join("crl/root.crl"));
    let next_name = Cell::new(0u32);
    // Participants, and requests under dual control (a registered bank's enrollments,
    // asked for by the first officer, `admin`): one fresh request for each caller of
    // approve and of reject, so every caller meets a pending request.
    let bank = json!({
        "role": "bank", "name": "Matrix Bank", "legal_name": "Matrix Bank AG",
        "country": "DE", "bic": "DEUTDEFF"
    });
    let add_bank = || {
        let made = server.admin_post_json("/v1/admin/participants", &bank);
        made.assert_status(201, "add a bank participant");
        made.json()["id"].as_str().unwrap().to_string()
    };
    let (shown, suspended, terminated, enrolling) =
        (add_bank(), add_bank(), add_bank(), add_bank());
    let mut pending = Vec::new();
    for i in 0..(2 * callers().len()) {
        let token =
            server.admin_post_json("/v1/admin/tokens", &json!({ "participant": enrolling }));
        token.assert_status(201, "a token for the bank");
        let key = generate_key(KeyType::EcP256, &ca.path(&format!("p{i}.key")));
        let csr = make_csr(&key, "/", &[], &ca.path(&format!("p{i}.csr")));
        let answer = server.post_json(
            "/v1/enroll",
            &json!({ "token": token.json()["token"], "csr": read_text(&csr) }),
        );
        answer.assert_status(202, "a registered bank's enrollment waits for approval");
        pending.push(answer.json()["approval"].as_str().unwrap().to_string());
    }
    let to_approve = std::cell::RefCell::new(pending.split_off(callers().len()));
    let to_reject = std::cell::RefCell::new(pending);
    let shown_id = pending_first(&to_approve);

    let endpoints: Vec<Endpoint> = vec![
        Endpoint {
            name: "POST /v1/admin/participants",
            allowed: &["ra-officer"],
            call: Box::new(move |s, c| {
                send(
                    s,
                    "POST",
                    "/v1/admin/participants",
                    json_body(bank.clone()),
                    c,
                )
            }),
        },
        Endpoint {
            name: "GET /v1/admin/participants",
            allowed: READERS,
            call: Box::new(|s, c| send(s, "GET", "/v1/admin/participants?limit=5", None, c)),
        },
        Endpoint {
            name: "GET /v1/admin/participants/{id}",
            allowed: READERS,
            call: Box::new({
                let id = shown.clone();
                move |s, c| send(s, "GET", &format!("/v1/admin/participants/{id}"), None, c)
            }),
        },
        Endpoint {
            name: "PATCH /v1/admin/participants/{id}",
            allowed: &["ra-officer"],
            call: Box::new({
                let id = shown.clone();
                move |s, c| {
                    send(
                        s,
                        "PATCH",
                        &format!("/v1/admin/participants/{id}"),
                        json_body(json!({ "locality": "Berlin" })),
                        c,
                    )
                }
            }),
        },
        Endpoint {
            name: "POST /v1/admin/participants/{id}/suspend",
            allowed: &["ra-officer"],
            // Suspending again is a 409 (allowed, not refused).
            call: Box::new({
                let id = suspended.clone();
                move |s, c| {
                    send(
                        s,
                        "POST",
                        &format!("/v1/admin/participants/{id}/suspend"),
                        None,
                        c,
                    )
                }
            }),
        },
        Endpoint {
            name: "POST /v1/admin/participants/{id}/resume",
            allowed: &["ra-officer"],
            call: Box::new({
                let id = suspended.clone();
                move |s, c| {
                    send(
                        s,
                        "POST",
                        &format!("/v1/admin/participants/{id}/resume"),
                        None,
                        c,
                    )
                }
            }),
        },
        Endpoint {
            name: "POST /v1/admin/participants/{id}/terminate",
            allowed: &["ra-officer"],
            call: Box::new({
                let id = terminated.clone();
                move |s, c| {
                    send(
                        s,
                        "POST",
                        &format!("/v1/admin/participants/{id}/terminate"),
                        None,
                        c,
                    )
                }
            }),
        },
        Endpoint {
            name: "GET /v1/admin/approvals",
            allowed: &["ra-officer", "revocation-officer", "auditor"],
            call: Box::new(|s, c| send(s, "GET", "/v1/admin/approvals", None, c)),
        },
        Endpoint {
            name: "GET /v1/admin/approvals/{id}",
            allowed: &["ra-officer", "revocation-officer", "auditor"],
            call: Box::new(move |s, c| {
                send(
                    s,
                    "GET",
                    &format!("/v1/admin/approvals/{shown_id}"),
                    None,
                    c,
                )
            }),
        },
        Endpoint {
            name: "POST /v1/admin/approvals/{id}/approve (an issuance)",
            allowed: &["ra-officer"],
            call: Box::new(move |s, c| {
                let id = to_approve.borrow_mut().pop().unwrap();
                send(
                    s,
                    "POST",
                    &format!("/v1/admin/approvals/{id}/approve"),
                    None,
                    c,
                )
            }),
        },
        Endpoint {
            name: "POST /v1/admin/approvals/{id}/reject (an issuance)",
            allowed: &["ra-officer"],
            call: Box::new(move |s, c| {
                let id = to_reject.borrow_mut().pop().unwrap();
                send(
                    s,
                    "POST",
                    &format!("/v1/admin/approvals/{id}/reject"),
                    json_body(json!({ "reason": "matrix" })),
                    c,
                )
            }),
        },
        Endpoint {
            name: "POST /v1/admin/tokens",
            allowed: &["ra-officer"],
            call: Box::new(|s, c| {
                send(
                    s,
                    "POST",
                    "/v1/admin/tokens",
                    json_body(json!({
                        "role": "buyer", "subject": "CN=Matrix Buyer,C=DE,serialNumber=ACCT-1",
                        "subject_alt_names": ["email:m@buyer.example"]
                    })),
                    c,
                )
            }),
        },
        Endpoint {
            name: "POST /v1/admin/tokens/batch",
            allowed: &["ra-officer"],
            call: Box::new(|s, c| {
                send(
                    s,
                    "POST",
                    "/v1/admin/tokens/batch",
                    json_body(json!({ "items": [{
                        "role": "buyer", "subject": "CN=Batch Buyer,C=DE,serialNumber=ACCT-2",
                        "subject_alt_names": ["email:b@buyer.example"]
                    }]})),
                    c,
                )
            }),
        },
        Endpoint {
            name: "POST /v1/admin/revocations",
            allowed: &["revocation-officer"],
            // certificateHold: the allowed call holds it, the unhold below lifts it, and
            // a repeated hold answers 409 (allowed, not refused).
            call: Box::new(move |s, c| {
                send(
                    s,
                    "POST",
                    "/v1/admin/revocations",
                    json_body(json!({ "serial": serial, "reason": "certificateHold" })),
                    c,
                )
            }),
        },
        Endpoint {
            name: "POST /v1/admin/revocations/{serial}/unhold",
            allowed: &["revocation-officer"],
            call: Box::new({
                let serial = spare[0].clone();
                move |s, c| {
                    send(
                        s,
                        "POST",
                        &format!("/v1/admin/revocations/{serial}/unhold"),
                        None,
                        c,
                    )
                }
            }),
        },
        Endpoint {
            name: "GET /v1/admin/certificates",
            allowed: READERS,
            call: Box::new(|s, c| send(s, "GET", "/v1/admin/certificates?limit=5", None, c)),
        },
        Endpoint {
            name: "GET /v1/admin/certificates/{serial}",
            allowed: READERS,
            call: Box::new({
                let serial = spare[1].clone();
                move |s, c| {
                    send(
                        s,
                        "GET",
                        &format!("/v1/admin/certificates/{serial}"),
                        None,
                        c,
                    )
                }
            }),
        },
        Endpoint {
            name: "GET /v1/admin/audit/verify",
            allowed: &["auditor"],
            call: Box::new(|s, c| send(s, "GET", "/v1/admin/audit/verify", None, c)),
        },
        Endpoint {
            name: "POST /v1/admin/crls/root",
            allowed: &["ca-operator"],
            // The published CRL again: 409 crl-not-newer for those allowed.
            call: Box::new(move |s, c| {
                send(
                    s,
                    "POST",
                    "/v1/admin/crls/root",
                    Some(("application/pkix-crl", root_crl.clone())),
                    c,
                )
            }),
        },
        Endpoint {
            name: "GET /v1/admin/officers",
            allowed: &["security-officer", "auditor"],
            call: Box::new(|s, c| send(s, "GET", "/v1/admin/officers", None, c)),
        },
        Endpoint {
            name: "POST /v1/admin/officers",
            allowed: &["security-officer"],
            call: Box::new(move |s, c| {
                let n = next_name.get();
                next_name.set(n + 1);
                send(
                    s,
                    "POST",
                    "/v1/admin/officers",
                    json_body(json!({ "name": format!("new-{n}"), "roles": ["auditor"] })),
                    c,
                )
            }),
        },
        Endpoint {
            name: "POST /v1/admin/officers/{name}/disable",
            allowed: &["security-officer"],
            call: Box::new(|s, c| send(s, "POST", "/v1/admin/officers/gone/disable", None, c)),
        },
        Endpoint {
            name: "POST /v1/admin/officers/{name}/enable",
            allowed: &["security-officer"],
            // Enabling an officer that is not disabled changes nothing.
            call: Box::new(|s, c| send(s, "POST", "/v1/admin/officers/admin/enable", None, c)),
        },
        Endpoint {
            name: "POST /v1/admin/officers/{name}/rotate",
            allowed: &["security-officer"],
            // Another officer's credential (own rotation is allowed to everyone).
            call: Box::new(|s, c| send(s, "POST", "/v1/admin/officers/gone/rotate", None, c)),
        },
    ];

    let mut cases = Cases::new();
    for endpoint in &endpoints {
        for caller in callers() {
            let credential = officers.credential(&caller);
            let label = format!("{} as {caller:?}", endpoint.name);
            cases.case(&label, || {
                let response = (endpoint.call)(&server, credential.as_deref());
                match caller {
                    Caller::Nobody | Caller::Malformed | Caller::Disabled => {
                        response.assert_problem(401, "unauthorized", &label);
                        assert!(
                            response.header("www-authenticate").is_some(),
                            "{label}: no WWW-Authenticate"
                        );
                    }
                    Caller::Role(role) if endpoint.allowed.contains(&role) => {
                        let status = response.status;
                        assert!(
                            (200..300).contains(&status) || status == 409,
                            "{label}: allowed, but got {}",
                            response.describe()
                        );
                    }
                    Caller::Role(_) => {
                        let problem = response.assert_problem(403, "forbidden", &label);
                        let detail = problem["detail"].as_str().unwrap_or_default();
                        for needed in endpoint.allowed {
                            assert!(
                                detail.contains(needed),
                                "{label}: the 403 does not name {needed}: {detail}"
                            );
                        }
                    }
                }
            });
        }
    }
    cases.finish();
    server.stop();
}

/// An administrative CLI command run offline (the server stopped) as `caller`.
struct CliCase {
    name: &'static str,
    allowed: &'static [&'static str],
    args: Vec<String>,
}

#[test]
fn every_administrative_command_allows_exactly_its_roles() {
    let ca = TestCa::new();
    let (officers, serial) = {
        let server = TestServer::start(&ca);
        let officers = make_officers(&server);
        let (serial, _) = server.enroll_case(&enroll_case("bank"), "ecdsa-p256", "bank");
        server.stop();
        (officers, serial)
    };
    let csr_key = generate_key(KeyType::EcP256, &ca.path("gw.key"));
    let case = enroll_case("gateway");
    let csr = make_csr(
        &csr_key,
        case.openssl_subject,
        case.openssl_addext,
        &ca.path("gw.csr"),
    );
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let commands = vec![
        CliCase {
            name: "token create",
            allowed: &["ra-officer"],
            args: s(&[
                "token",
                "create",
                "--role",
                "buyer",
                "--subject",
                "CN=Cli Buyer,C=DE,serialNumber=ACCT-9",
                "--san",
                "email:c@buyer.example",
            ]),
        },
        CliCase {
            name: "issue",
            allowed: &["ra-officer"],
            args: s(&["issue", "--csr", csr.to_str().unwrap(), "--role", "gateway"]),
        },
        CliCase {
            name: "revoke (hold)",
            allowed: &["revocation-officer"],
            args: s(&["revoke", &serial, "--reason", "certificateHold"]),
        },
        CliCase {
            name: "unhold",
            allowed: &["revocation-officer"],
            args: s(&["unhold", &serial]),
        },
        CliCase {
            name: "list",
            allowed: READERS,
            args: s(&["list"]),
        },
        CliCase {
            name: "show",
            allowed: READERS,
            args: s(&["show", &serial]),
        },
        CliCase {
            name: "audit verify",
            allowed: &["auditor"],
            args: s(&["audit", "verify"]),
        },
        CliCase {
            name: "audit log",
            allowed: &["auditor"],
            args: s(&["audit", "log", "--limit", "3"]),
        },
        CliCase {
            name: "responder renew",
            allowed: &["ca-operator"],
            args: s(&["responder", "renew"]),
        },
        CliCase {
            name: "officer list",
            allowed: &["security-officer", "auditor"],
            args: s(&["officer", "list"]),
        },
        CliCase {
            name: "officer add",
            allowed: &["security-officer"],
            args: s(&["officer", "add", "cli-made", "--role", "auditor"]),
        },
        CliCase {
            name: "participant add",
            allowed: &["ra-officer"],
            args: s(&[
                "participant",
                "add",
                "--role",
                "bank",
                "--name",
                "Cli Bank",
                "--legal-name",
                "Cli Bank AG",
                "--country",
                "DE",
                "--bic",
                "DEUTDEFF",
            ]),
        },
        CliCase {
            name: "participant list",
            allowed: READERS,
            args: s(&["participant", "list"]),
        },
        CliCase {
            name: "approval list",
            allowed: &["ra-officer", "revocation-officer", "auditor"],
            args: s(&["approval", "list"]),
        },
        CliCase {
            name: "officer enable",
            allowed: &["security-officer"],
            args: s(&["officer", "enable", "admin"]),
        },
    ];
    let mut cases = Cases::new();
    for command in &commands {
        for caller in callers() {
            let label = format!("paypki {} as {caller:?}", command.name);
            let credential = officers.credential(&caller);
            cases.case(&label, || {
                let args: Vec<&str> = command.args.iter().map(String::as_str).collect();
                // The credential from the environment; no file fallback for "nobody".
                let missing = ca.path("no-such-credential");
                let env: Vec<(&str, &str)> = match &credential {
                    Some(c) => vec![("PAYPKI_OFFICER_CREDENTIAL", c.as_str())],
                    None => vec![("PAYPKI_OFFICER_CREDENTIAL_FILE", missing.to_str().unwrap())],
                };
                let output = ca.paypki_env(&args, &env);
                let stderr = output.stderr_text();
                match caller {
                    Caller::Role(role) if command.allowed.contains(&role) => {
                        // Allowed: success, or a refusal that is not about authority
                        // (a repeated hold, an officer name already taken).
                        assert!(
                            output.status.success()
                                || stderr.contains("already")
                                || stderr.contains("not on hold"),
                            "{label}\n{}",
                            output.describe()
                        );
                        assert!(!stderr.contains("may not do this"), "{label}\n{stderr}");
                    }
                    Caller::Role(_) => {
                        assert!(!output.status.success(), "{label}\n{}", output.describe());
                        assert!(
                            stderr.contains("may not do this")
                                && command.allowed.iter().all(|r| stderr.contains(r)),
                            "{label}: the refusal must name the role\n{stderr}"
                        );
                    }
                    Caller::Nobody | Caller::Malformed | Caller::Disabled => {
                        assert!(!output.status.success(), "{label}\n{}", output.describe());
                        assert!(
                            stderr.contains("officer credential"),
                            "{label}: the refusal must say a credential is needed\n{stderr}"
                        );
                    }
                }
            });
        }
    }
    cases.finish();

    // The audit trail names each officer and how they authenticated.
    let audit = ca.paypki(&["audit", "log", "--limit", "100000"]);
    audit.assert_success("paypki audit log");
    assert_contains_all(
        &audit.stdout_text(),
        &[
            "officer only-ra-officer (CLI, credential from PAYPKI_OFFICER_CREDENTIAL)",
            "officer only-revocation-officer (CLI, credential from PAYPKI_OFFICER_CREDENTIAL)",
            "officer only-ca-operator (CLI, credential from PAYPKI_OFFICER_CREDENTIAL)",
            "officer only-security-officer (CLI, credential from PAYPKI_OFFICER_CREDENTIAL)",
            "officer admin (admin API credential)",
            "\"action\":\"officer-add\"",
            "\"action\":\"officer-disable\"",
        ],
        "the audit trail",
    );
}

#[test]
fn officers_are_managed_without_locking_the_ca_out() {
    let ca = TestCa::init(&["--first-officer-role", "security-officer"], &[]);
    // The first officer of a production CA manages officers and does nothing else.
    let refused = ca.paypki(&[
        "token",
        "create",
        "--role",
        "buyer",
        "--subject",
        "CN=X,C=DE,serialNumber=A-1",
    ]);
    assert!(!refused.status.success());
    assert_contains_all(
        &refused.stderr_text(),
        &["may not do this", "ra-officer"],
        "token create",
    );

    let out = ca.path("alice.credential");
    ca.paypki(&[
        "officer",
        "add",
        "alice",
        "--role",
        "ra-officer",
        "--role",
        "auditor",
        "--out",
        out.to_str().unwrap(),
    ])
    .assert_success("paypki officer add alice");
    assert_eq!(file_mode(&out), 0o600);
    let alice = read_text(&out).trim().to_string();
    let as_alice = |args: &[&str]| ca.paypki_env(args, &[("PAYPKI_OFFICER_CREDENTIAL", &alice)]);
    as_alice(&[
        "token",
        "create",
        "--role",
        "buyer",
        "--subject",
        "CN=Alice Buyer,C=DE,serialNumber=ACCT-7",
        "--san",
        "email:a@buyer.example",
    ])
    .assert_success("alice creates a token");

    // A taken name, a bad name, no role.
    let taken = ca.paypki(&["officer", "add", "alice", "--role", "auditor"]);
    assert!(!taken.status.success() && taken.stderr_text().contains("already an officer"));
    let bad = ca.paypki(&["officer", "add", "Alice_1", "--role", "auditor"]);
    assert!(!bad.status.success() && bad.stderr_text().contains("officer names"));

    // The last security officer can be neither disabled nor lose the role.
    let last = ca.paypki(&["officer", "disable", "admin"]);
    assert!(!last.status.success(), "{}", last.describe());
    assert_contains_all(
        &last.stderr_text(),
        &["last active security officer"],
        "disable admin",
    );

    // Disabled: refused at once; enabled again: accepted.
    ca.paypki(&["officer", "disable", "alice"])
        .assert_success("disable alice");
    let refused = as_alice(&["list"]);
    assert!(!refused.status.success() && refused.stderr_text().contains("officer credential"));
    ca.paypki(&["officer", "enable", "alice"])
        .assert_success("enable alice");
    as_alice(&["list"]).assert_success("alice lists again");

    // Alice rotates her own credential (printed once, since it came from the environment);
    // the old one stops working.
    let rotated = as_alice(&["credential", "rotate"]);
    rotated.assert_success("alice rotates her own credential");
    let new = rotated.stdout_text().trim().to_string();
    assert!(new.starts_with("ppo_alice_") && new != alice, "{new}");
    assert!(!as_alice(&["list"]).status.success());
    ca.paypki_env(&["list"], &[("PAYPKI_OFFICER_CREDENTIAL", &new)])
        .assert_success("the new credential works");
    // But not someone else's.
    let other = ca.paypki_env(
        &["officer", "rotate", "admin"],
        &[("PAYPKI_OFFICER_CREDENTIAL", &new)],
    );
    assert!(!other.status.success());
    assert_contains_all(
        &other.stderr_text(),
        &["security-officer"],
        "rotate admin as alice",
    );

    // A credential file readable by others is refused.
    let loose = ca.path("loose.credential");
    std::fs::write(&loose, format!("{new}\n")).unwrap();
    std::fs::set_permissions(&loose, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let refused = ca.paypki_env(
        &["list"],
        &[("PAYPKI_OFFICER_CREDENTIAL_FILE", loose.to_str().unwrap())],
    );
    assert!(!refused.status.success());
    assert_contains_all(
        &refused.stderr_text(),
        &["readable by its owner only"],
        "0644 credential file",
    );

    let listed = ca.paypki(&["officer", "list", "--json"]);
    listed.assert_success("officer list");
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let text = listed.to_string();
    assert!(
        !text.contains("ppo_") && !text.contains("sha256"),
        "credentials leak: {text}"
    );
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed:#}");
}
