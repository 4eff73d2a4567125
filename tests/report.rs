//! `paypki report` against a store with known contents: issued (offline and enrolled),
//! a renewal, revocations with different reasons, a hold and an expired certificate;
//! every format, through the running server and from the database itself;
//! `paypki completions`; and `paypki token create --batch` (bulk onboarding).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::*;

fn report(ca: &TestCa, args: &[&str]) -> String {
    let mut all = vec!["report"];
    all.extend_from_slice(args);
    let out = ca.paypki(&all);
    out.assert_success(&format!("paypki {}", all.join(" ")));
    out.stdout_text()
}

/// The row of `role` in a JSON report of one day.
fn row<'a>(report: &'a serde_json::Value, role: &str) -> &'a serde_json::Value {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["role"] == role)
        .unwrap_or_else(|| panic!("no {role} row in {report}"))
}

#[test]
fn report_numbers_match_a_known_store_in_every_format() {
    require_tools();
    let ca = TestCa::new();
    let today = time::OffsetDateTime::now_utc()
        .date()
        .format(time::macros::format_description!("[year]-[month]-[day]"))
        .unwrap();

    // Offline: a merchant valid for one second (expired by the time of the report) and a
    // bank revoked for key compromise.
    let merchant = enroll_case("merchant");
    let key = generate_key(KeyType::EcP256, &ca.path("m.key"));
    let csr = make_csr(
        &key,
        merchant.openssl_subject,
        merchant.openssl_addext,
        &ca.path("m.csr"),
    );
    let out = ca.paypki(&[
        "issue",
        "--csr",
        csr.to_str().unwrap(),
        "--role",
        "merchant",
        "--validity",
        "1s",
        "--out",
        ca.path("m.pem").to_str().unwrap(),
    ]);
    out.assert_success("paypki issue --validity 1s");
    let bank = enroll_case("bank");
    let key = generate_key(KeyType::EcP256, &ca.path("b.key"));
    let csr = make_csr(
        &key,
        bank.openssl_subject,
        bank.openssl_addext,
        &ca.path("b.csr"),
    );
    let bank_cert = ca.issue(&csr, "bank", "b.pem");
    ca.paypki(&["revoke", &bank_cert.serial, "--reason", "keyCompromise"])
        .assert_success("revoke the bank");

    // Served: a gateway enrolled and renewed, a buyer superseded, a merchant on hold.
    let policies = policies_with_open_renewal(&ca);
    let server = TestServer::start_with_policies(&ca, &policies, &[]);
    let token = server.create_case_token(&enroll_case("gateway"));
    let (_, gateway_dir) = server.enroll_cli(&token, "ecdsa-p256", "gateway");
    let renew = ca.paypki(&[
        "renew",
        "--url",
        server.url(),
        "--cert",
        gateway_dir.join("cert.pem").to_str().unwrap(),
        "--key",
        gateway_dir.join("key.pem").to_str().unwrap(),
    ]);
    renew.assert_success("paypki renew");
    let token = server.create_case_token(&enroll_case("buyer"));
    let (buyer, _) = server.enroll_cli(&token, "ecdsa-p256", "buyer");
    ca.paypki(&["revoke", &buyer, "--reason", "superseded"])
        .assert_success("revoke the buyer");
    let token = server.create_case_token(&merchant);
    let (held, _) = server.enroll_cli(&token, "ecdsa-p256", "merchant");
    ca.paypki(&["revoke", &held, "--reason", "certificateHold"])
        .assert_success("hold the merchant");

    let day = ["--from", &today, "--to", &today, "--by", "day"];
    let json_args = [&day[..], &["--format", "json"]].concat();
    // Through the server's admin API (sled is the server's while it runs).
    let served: serde_json::Value = serde_json::from_str(&report(&ca, &json_args)).unwrap();
    server.stop();
    // From the database itself.
    let offline_text = report(&ca, &json_args);
    let offline: serde_json::Value = serde_json::from_str(&offline_text).unwrap();
    assert_eq!(
        served, offline,
        "the server's records and the database's give one report"
    );

    let expect =
        |role: &str, issued: u64, renewed: u64, reasons: serde_json::Value, expired: u64| {
            let r = row(&offline, role);
            let revoked: u64 = reasons
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_u64().unwrap())
                .sum();
            assert_eq!(r["period"], today.as_str(), "{r}");
            assert_eq!(
                (
                    &r["issued"],
                    &r["renewed"],
                    &r["revoked"],
                    &r["revoked_by_reason"],
                    &r["expired"]
                ),
                (
                    &issued.into(),
                    &renewed.into(),
                    &revoked.into(),
                    &reasons,
                    &expired.into()
                ),
                "{role}: {r}"
            );
        };
    expect(
        "merchant",
        2,
        0,
        serde_json::json!({"certificateHold": 1}),
        1,
    );
    expect("bank", 1, 0, serde_json::json!({"keyCompromise": 1}), 0);
    expect("buyer", 1, 0, serde_json::json!({"superseded": 1}), 0);
    expect("gateway", 1, 1, serde_json::json!({}), 0);
    assert_eq!(offline["rows"].as_array().unwrap().len(), 4);

    // CSV: the same numbers, one line per role, read by Python's csv module.
    let csv = report(&ca, &[&day[..], &["--format", "csv"]].concat());
    let csv_path = ca.path("report.csv");
    std::fs::write(&csv_path, &csv).unwrap();
    let parsed = std::process::Command::new("python3")
        .args([
            "-c",
            "import csv,json,sys; print(json.dumps(list(csv.DictReader(open(sys.argv[1], newline='')))))",
            csv_path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    parsed.assert_success("python3 csv");
    let lines: Vec<serde_json::Value> = serde_json::from_str(&parsed.stdout_text()).unwrap();
    assert_eq!(lines.len(), 4, "{csv}");
    for line in &lines {
        let r = row(&offline, line["role"].as_str().unwrap());
        for field in ["issued", "renewed", "revoked", "expired"] {
            assert_eq!(
                line[field].as_str().unwrap(),
                r[field].to_string(),
                "csv {field}: {csv}"
            );
        }
    }
    let merchant_line = lines.iter().find(|l| l["role"] == "merchant").unwrap();
    assert_eq!(
        merchant_line["revoked_by_reason"], "certificateHold=1",
        "{csv}"
    );

    // Table: aligned columns, a header and a line per role.
    let table = report(&ca, &[&day[..], &["--format", "table"]].concat());
    let table_lines: Vec<&str> = table.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(table_lines.len(), 5, "{table}");
    assert!(
        table_lines[0].contains("ISSUED") && table_lines[0].contains("EXPIRED"),
        "{table}"
    );
    let bank_line = table_lines.iter().find(|l| l.contains(" bank ")).unwrap();
    assert!(bank_line.contains("keyCompromise=1"), "{table}");
    let gateway_fields: Vec<&str> = table_lines
        .iter()
        .find(|l| l.contains(" gateway "))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        gateway_fields,
        [today.as_str(), "gateway", "1", "1", "0", "0"],
        "{table}"
    );

    // SVG: a well-formed document (Python's XML parser) naming every series.
    let svg_path = ca.path("report.svg");
    report(
        &ca,
        &[
            &day[..],
            &["--format", "svg", "--out", svg_path.to_str().unwrap()],
        ]
        .concat(),
    );
    let checked = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, xml.etree.ElementTree as ET; r = ET.parse(sys.argv[1]).getroot(); assert r.tag.endswith('svg'), r.tag; print(' '.join(t.text or '' for t in r.iter() if t.tag.endswith('text')))",
            svg_path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    checked.assert_success("python3 parses the SVG");
    assert_contains_all(
        &checked.stdout_text(),
        &["issued", "renewed", "revoked", "expired", &today],
        "SVG texts",
    );

    // Grouped by week and month, and for one role: the same sums.
    for by in ["week", "month"] {
        let grouped: serde_json::Value = serde_json::from_str(&report(
            &ca,
            &[
                "--from", &today, "--to", &today, "--by", by, "--format", "json", "--role",
                "merchant",
            ],
        ))
        .unwrap();
        let rows = grouped["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "{grouped}");
        assert_eq!(
            (&rows[0]["issued"], &rows[0]["expired"]),
            (&2.into(), &1.into()),
            "{grouped}"
        );
    }

    // Refusals: a reversed range, a bad date.
    let reversed = ca.paypki(&["report", "--from", "2026-02-01", "--to", "2026-01-01"]);
    assert_eq!(reversed.status.code(), Some(2), "{}", reversed.describe());
    let bad = ca.paypki(&["report", "--from", "yesterday"]);
    assert_eq!(bad.status.code(), Some(2), "{}", bad.describe());
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    let ca = TestCa::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = ca.paypki(&["completions", shell]);
        out.assert_success(&format!("paypki completions {shell}"));
        assert_contains_all(
            &out.stdout_text(),
            &["report", "completions", "expiring-within"],
            shell,
        );
    }
    // bash itself reads the script and completes a subcommand.
    let script = ca.path("paypki.bash");
    std::fs::write(&script, ca.paypki(&["completions", "bash"]).stdout_text()).unwrap();
    let completed = std::process::Command::new("bash")
        .args([
            "-c",
            "source \"$1\"; COMP_WORDS=(paypki rep); COMP_CWORD=1; COMP_LINE='paypki rep'; COMP_POINT=10; _paypki paypki rep paypki; echo \"${COMPREPLY[@]}\"",
            "bash",
            script.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    completed.assert_success("bash completion");
    assert!(
        completed
            .stdout_text()
            .split_whitespace()
            .any(|w| w == "report"),
        "{}",
        completed.describe()
    );
}

#[test]
fn tokens_in_bulk_from_a_file_offline_and_through_the_server() {
    let ca = TestCa::new();
    let lines = |n: usize| -> String {
        (0..n)
            .map(|i| {
                serde_json::json!({"role": "buyer", "subject": format!("CN=Buyer {i},C=DE,serialNumber=ACCT-{i:04}")})
                    .to_string()
                    + "\n"
            })
            .collect()
    };
    let file = ca.path("grants.jsonl");
    // A bad line: nothing is created, and the line is named.
    std::fs::write(&file, lines(2) + "{\"role\": \"buyer\"\n").unwrap();
    let refused = ca.paypki(&["token", "create", "--batch", file.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2), "{}", refused.describe());
    assert!(
        refused.stderr_text().contains("line 3"),
        "{}",
        refused.describe()
    );
    // Offline: 3 tokens, one JSON object per line, in order; no progress bar in a pipe.
    std::fs::write(&file, lines(3)).unwrap();
    let out = ca.paypki(&["token", "create", "--batch", file.to_str().unwrap()]);
    out.assert_success("token create --batch (offline)");
    let created: Vec<serde_json::Value> = out
        .stdout_text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(created.len(), 3, "{}", out.describe());
    assert_eq!(
        created[2]["subject"],
        "CN=Buyer 2,C=DE,serialNumber=ACCT-0002"
    );
    assert!(
        !out.stderr_text().contains('['),
        "a progress bar in a pipe: {}",
        out.describe()
    );
    // Through the server: 600 grants in two requests; the tokens work.
    let server = TestServer::start(&ca);
    std::fs::write(&file, lines(600)).unwrap();
    let out = ca.paypki(&["token", "create", "--batch", file.to_str().unwrap()]);
    out.assert_success("token create --batch (server)");
    let tokens: Vec<serde_json::Value> = out
        .stdout_text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(tokens.len(), 600, "{}", out.describe());
    let last = tokens[599]["token"].as_str().unwrap();
    let (serial, _) = server.enroll_cli(last, "ecdsa-p256", "last");
    let shown = ca.paypki(&["show", &serial]);
    assert_contains_all(
        &shown.stdout_text(),
        &["CN=Buyer 599"],
        "the last token's certificate",
    );
}
