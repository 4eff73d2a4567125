//! What an operator's mistakes and an attacker's guesses must not cost: `serve` never
//! creates a CA in an empty (perhaps unmounted) directory on its own, the data directory
//! is private whatever permissions it had, and failed authentication is logged with the
//! peer but never with what was sent.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn serve_refuses_an_empty_data_directory_without_dev() {
    let ca = TestCa::uninitialized();
    std::fs::create_dir_all(ca.data_dir()).unwrap();
    let output = ca.paypki(&["serve", "--listen", "127.0.0.1:0"]);
    output.assert_failure("paypki serve on an empty data directory");
    assert_contains_all(
        &output.stderr_text(),
        &["paypki init", "--dev", "not mounted"],
        "the refusal says what to do",
    );
    assert!(
        !ca.data_dir().join("ca.toml").exists(),
        "nothing may be created"
    );
    assert!(!ca.root_cert().exists());

    // The marker the repository's ca-data/ ships allows it (the README's quick start).
    std::fs::copy(
        repo_dir().join("ca-data/README.md"),
        ca.data_dir().join("README.md"),
    )
    .unwrap();
    let server = TestServer::start(&ca);
    assert!(server.log().contains("DEVELOPMENT CA"), "{}", server.log());
    server.stop();
}

#[test]
fn serve_makes_a_loose_data_directory_private() {
    let ca = TestCa::new();
    // As an older paypki or a careless copy might leave it.
    let loosen = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    loosen(ca.data_dir(), 0o755);
    let database = ca.data_dir().join("db");
    loosen(&database, 0o755);
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&database).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            loosen(&path, 0o644);
            files.push(path);
        }
    }
    assert!(!files.is_empty(), "the database has files");
    let server = TestServer::start(&ca);
    assert_eq!(mode(ca.data_dir()), 0o700, "the data directory");
    assert_eq!(mode(&database), 0o700, "the database directory");
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    assert_eq!(mode(&ca.key_file("issuing")), 0o600);
    server.stop();
}

#[test]
fn failed_authentication_is_logged_with_the_peer_and_without_the_secret() {
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let wrong_credential = format!("ppa_{}", "5ec7e7".repeat(10));
    let response = server.get_with(
        "/v1/admin/certificates",
        &[("Authorization", &format!("Bearer {wrong_credential}"))],
    );
    let problem = response.assert_problem(401, "unauthorized", "a wrong admin credential");
    assert_eq!(problem["type"], "urn:paypki:problem:unauthorized");
    // A well-formed token whose secret is wrong.
    let token = server.create_case_token(&enroll_case("buyer"));
    let (id, _) = token.rsplit_once('_').unwrap();
    let wrong_token = format!("{id}_{}", "0".repeat(64));
    let response = server.post_json(
        "/v1/enroll",
        &serde_json::json!({ "token": wrong_token, "csr": "-----BEGIN CERTIFICATE REQUEST-----" }),
    );
    assert!(response.status >= 400, "{}", response.describe());
    let key = generate_key(KeyType::EcP256, &ca.path("k.pem"));
    let csr = make_csr(&key, "/CN=Buyer", &[], &ca.path("k.csr"));
    let response = server.post_json(
        "/v1/enroll",
        &serde_json::json!({ "token": wrong_token, "csr": read_text(&csr) }),
    );
    let problem = response.assert_problem(403, "token-rejected", "a token with a wrong secret");
    assert_eq!(problem["type"], "urn:paypki:problem:token-rejected");
    let log = server.stop();
    let failures: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("authentication failed"))
        .collect();
    assert!(
        failures.len() >= 2,
        "both failures are logged at WARN:\n{log}"
    );
    for line in &failures {
        assert!(line.contains("WARN"), "{line}");
        assert!(line.contains("127.0.0.1"), "the peer is named: {line}");
    }
    assert!(
        !log.contains(&wrong_credential) && !log.contains(&"0".repeat(64)),
        "a secret reached the log:\n{log}"
    );
}

/// Reads one HTTP/1.1 response (headers and a Content-Length body) from `stream`.
fn read_response(stream: &mut std::net::TcpStream) -> Option<(u16, String)> {
    use std::io::Read;
    let mut buffer = Vec::new();
    let mut byte = [0u8; 1];
    while !buffer.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => buffer.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&buffer).to_string();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_string())
        })?
        .parse()
        .ok()?;
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).ok()?;
    Some((status, head))
}

/// A request refused before its handler read the body (no admin credential) leaves the
/// connection usable: the client's next request on it gets an answer, not a reset.
#[test]
fn a_request_refused_before_its_body_is_read_keeps_the_connection_usable() {
    use std::io::Write;
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let address = server.url().trim_start_matches("http://").to_string();
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let body = br#"{"serial": "01", "reason": "keyCompromise"}"#;
    for round in 0..3 {
        let request = format!(
            "POST /v1/admin/revocations HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(request.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        let (status, head) = read_response(&mut stream).unwrap_or_else(|| {
            panic!("round {round}: the connection was closed instead of answered")
        });
        assert_eq!(status, 401, "round {round}: {head}");
    }
    server.stop();
}
