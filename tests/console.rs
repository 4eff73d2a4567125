//! The operations console in a real browser: Debian's Chromium, driven by Playwright
//! (`tests/browser/console.mjs`), against the real server with a store filled through
//! the real CLI. The browser side checks what a person sees and what the browser sends;
//! this side checks the effects with independent tools (`openssl ocsp`) and the CLI.
//!
//! Needs `node`, `/usr/bin/chromium` and `tests/browser/node_modules` (`npm ci` there);
//! `scripts/test` installs them, and without them this test fails saying so.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn require_browser() -> PathBuf {
    let browser_dir = repo_dir().join("tests/browser");
    require_tool("node");
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "the console test needs Debian's Chromium at /usr/bin/chromium: `apt-get install chromium` (scripts/test installs it)"
    );
    assert!(
        browser_dir.join("node_modules/playwright-core").is_dir(),
        "the console test needs Playwright: run `npm ci` in {} (scripts/test does)",
        browser_dir.display()
    );
    browser_dir
}

/// Enrolls a certificate for `case` through a token and `paypki enroll`.
fn enroll(server: &TestServer<'_>, case: &EnrollCase, dir: &str) -> (String, PathBuf) {
    let token = server.create_case_token(case);
    server.enroll_cli(&token, "ecdsa-p256", dir)
}

fn officer(ca: &TestCa, name: &str, role: &str) -> String {
    let out = ca.paypki(&["officer", "add", name, "--role", role]);
    out.assert_success("paypki officer add");
    out.stdout_text().trim().to_string()
}

#[test]
fn an_officer_uses_the_console_in_a_browser() {
    require_tools();
    let browser_dir = require_browser();
    let ca = TestCa::new();
    // Bank acts under dual control, so that the console's approvals have work.
    let policies = policies_with_all_banks_under_dual_control(&ca);
    let server = TestServer::start_with_policies(&ca, &policies, &[]);

    // A known store: two merchants enrolled, a gateway revoked, a buyer on hold, and a
    // bank's enrollment waiting for a second officer's approval.
    let merchant = enroll_case("merchant");
    let (to_revoke, revoke_dir) = enroll(&server, &merchant, "merchant-1");
    let (untouched, _) = enroll(&server, &merchant, "merchant-2");
    let (gateway, _) = enroll(&server, &enroll_case("gateway"), "gateway");
    let (buyer, _) = enroll(&server, &enroll_case("buyer"), "buyer");
    ca.paypki(&["revoke", &gateway, "--reason", "superseded"])
        .assert_success("revoke the gateway");
    ca.paypki(&["revoke", &buyer, "--reason", "certificateHold"])
        .assert_success("hold the buyer");
    let bank = enroll_case("bank");
    let key = generate_key(KeyType::EcP256, &ca.path("bank.key"));
    let csr = make_csr(
        &key,
        bank.openssl_subject,
        bank.openssl_addext,
        &ca.path("bank.csr"),
    );
    let pending = server.post_json(
        "/v1/enroll",
        &serde_json::json!({"token": server.create_case_token(&bank), "csr": read_text(&csr)}),
    );
    pending.assert_status(202, "a bank enrollment under dual control");
    let approval = pending.json()["approval"].as_str().unwrap().to_string();
    let approver = officer(&ca, "rita", "ra-officer");
    let auditor = officer(&ca, "audrey", "auditor");

    // The chart's numbers come from `paypki report`, as an operator would get them.
    let today = time::OffsetDateTime::now_utc().date();
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let from = (today - time::Duration::days(89)).format(format).unwrap();
    let to = today.format(format).unwrap();
    let report = ca.paypki(&[
        "report", "--from", &from, "--to", &to, "--by", "day", "--format", "json",
    ]);
    report.assert_success("paypki report --format json");
    let report: serde_json::Value = serde_json::from_str(&report.stdout_text()).unwrap();
    // Before the browser revokes: the report shows today's enrollments.
    let issued_today: u64 = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["period"] == to.as_str())
        .map(|row| row["issued"].as_u64().unwrap())
        .sum();
    assert_eq!(issued_today, 4, "{report}");

    let out_dir = ca.path("screenshots");
    std::fs::create_dir_all(&out_dir).unwrap();
    let expected = serde_json::json!({
        "counts": {
            "merchant": {"valid": 2, "expired": 0, "on_hold": 0, "revoked": 0},
            "bank": {"valid": 0, "expired": 0, "on_hold": 0, "revoked": 0},
            "buyer": {"valid": 0, "expired": 0, "on_hold": 1, "revoked": 0},
            "gateway": {"valid": 0, "expired": 0, "on_hold": 0, "revoked": 1},
        },
        "report": report,
        "search_text": "example shop",
        "search_serial": to_revoke,
        "revoke_serial": to_revoke,
        "forged_serial": untouched,
        "held_serial": buyer,
        "approval": approval,
    });
    let expected_file = ca.path("expected.json");
    std::fs::write(&expected_file, expected.to_string()).unwrap();

    let started = std::time::Instant::now();
    let mut node = Command::new("node");
    node.arg(browser_dir.join("console.mjs"))
        .env("CONSOLE_URL", server.url())
        .env("ADMIN_CREDENTIAL", server.admin_token())
        .env("AUDITOR_CREDENTIAL", &auditor)
        .env("APPROVER_CREDENTIAL", &approver)
        .env("EXPECTED_FILE", &expected_file)
        .env("OUT_DIR", &out_dir);
    let output = run_with_deadline(without_proxy(&mut node), std::time::Duration::from_secs(90));
    output.assert_success("node tests/browser/console.mjs");
    eprintln!(
        "browser part: {:.1} s; screenshots in {}",
        started.elapsed().as_secs_f64(),
        out_dir.display()
    );
    for shot in [
        "overview",
        "search",
        "revoked",
        "forged-post",
        "logged-out",
        "auditor-detail",
        "audit",
    ] {
        assert!(
            out_dir.join(format!("{shot}.png")).is_file(),
            "no screenshot {shot}.png"
        );
    }
    if let Some(target) = std::env::var_os("PAYPKI_UPDATE_SCREENSHOT") {
        std::fs::copy(out_dir.join("overview.png"), target).unwrap();
    }

    // The revocation from the detail page is what OCSP answers, checked by OpenSSL.
    let chain = server.save_chain("chain.pem");
    let revoked_cert = revoke_dir.join("cert.pem");
    let label = revoked_cert.to_str().unwrap();
    let answer = openssl_ocsp(
        &server.url_for("/ocsp"),
        &ca.issuing_cert(),
        &chain,
        &["-cert", label],
    );
    let line = ocsp_status_line(&answer, label);
    assert_eq!(line, format!("{label}: revoked"), "{answer}");
    assert_contains_all(&answer, &["Reason: keyCompromise"], "openssl ocsp");
    // The approval in the console issued the bank's certificate.
    let delivered = server.get(&format!("/v1/enroll/approvals/{approval}"));
    delivered.assert_status(200, "the bank's enrollment after the console's approval");
    assert!(
        delivered.json()["serial"].is_string(),
        "{}",
        delivered.text()
    );
    // The hold lifted in the console: OCSP says good again.
    let buyer_cert = ca.path("buyer").join("cert.pem");
    let label = buyer_cert.to_str().unwrap();
    let answer = openssl_ocsp(
        &server.url_for("/ocsp"),
        &ca.issuing_cert(),
        &chain,
        &["-cert", label],
    );
    assert_eq!(
        ocsp_status_line(&answer, label),
        format!("{label}: good"),
        "{answer}"
    );
    // The forged and the auditor's posts changed nothing.
    let show = ca.paypki(&["show", &untouched, "--json"]);
    show.assert_success("paypki show");
    let shown: serde_json::Value = serde_json::from_str(&show.stdout_text()).unwrap();
    assert_eq!(shown["status"], "good", "{shown}");
    let log = server.stop();
    assert!(
        !log.contains(server_secret(&auditor)),
        "a credential reached the log"
    );
    // The audit trail names the officer and the console.
    let audit = ca.paypki(&["audit", "log"]);
    audit.assert_success("paypki audit log");
    assert_contains_all(&audit.stdout_text(), &["web console session"], "audit log");
}

/// The secret part of an officer credential (`ppo_<name>_<hex>`).
fn server_secret(credential: &str) -> &str {
    credential.rsplit('_').next().unwrap_or(credential)
}
