//! CA keys on a PKCS#11 token: SoftHSM2, a real PKCS#11 module, with a token made for
//! each test in its own `SOFTHSM2_CONF` directory. The independent `pkcs11-tool`
//! (OpenSC) checks what is on the token; `openssl` and Python `cryptography` check what
//! the CA signed with it.

// Test code may panic freely (helpers outside `#[test]` functions included).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;

/// Debian's SoftHSM2 module.
const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const USER_PIN: &str = "58249173";
const SO_PIN: &str = "11223344";
const ROOT_PIN: &str = "77553311";

/// A SoftHSM2 configuration with its own token directory (removed on drop).
struct SoftHsm {
    dir: tempfile::TempDir,
}

impl SoftHsm {
    /// A fresh configuration holding one initialized token per label (user PIN
    /// [`USER_PIN`]). Fails loudly when SoftHSM2 or OpenSC is missing.
    fn with_tokens(labels: &[&str]) -> Self {
        require_tool("softhsm2-util");
        assert!(
            Path::new(MODULE).exists(),
            "the PKCS#11 tests need SoftHSM2's module at {MODULE}: apt-get install softhsm2"
        );
        let probe = Command::new("pkcs11-tool").arg("--help").output();
        assert!(
            probe.is_ok(),
            "the PKCS#11 tests need `pkcs11-tool`: apt-get install opensc"
        );
        let dir = tempfile::Builder::new()
            .prefix("paypki-softhsm-")
            .tempdir()
            .unwrap();
        std::fs::create_dir(dir.path().join("tokens")).unwrap();
        std::fs::write(
            dir.path().join("softhsm2.conf"),
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                dir.path().join("tokens").display()
            ),
        )
        .unwrap();
        let hsm = SoftHsm { dir };
        for label in labels {
            hsm.init_token(label, USER_PIN);
        }
        hsm
    }

    fn init_token(&self, label: &str, pin: &str) {
        let output = run(Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", self.conf())
            .args(["--init-token", "--free", "--label", label])
            .args(["--so-pin", SO_PIN, "--pin", pin]));
        output.assert_success(&format!("softhsm2-util --init-token --label {label}"));
    }

    /// An EC P-256 key pair whose private key has CKA_SIGN false (pkcs11-tool cannot make
    /// one: SoftHSM2 defaults to true), made through the PKCS#11 API directly.
    fn key_pair_without_sign(&self, label: &str) {
        use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
        use cryptoki::mechanism::Mechanism;
        use cryptoki::object::Attribute;
        use cryptoki::session::UserType;
        // SoftHSM2 reads SOFTHSM2_CONF when it initializes; this test binary's other
        // tests never load the module in-process, so setting it here affects only this.
        std::env::set_var("SOFTHSM2_CONF", self.conf());
        let pkcs11 = Pkcs11::new(MODULE).unwrap();
        pkcs11
            .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .unwrap();
        let slot = pkcs11
            .get_slots_with_token()
            .unwrap()
            .into_iter()
            .find(|s| pkcs11.get_token_info(*s).unwrap().label().trim_end() == "paypki")
            .unwrap();
        let session = pkcs11.open_rw_session(slot).unwrap();
        session
            .login(UserType::User, Some(&USER_PIN.to_string().into()))
            .unwrap();
        let p256 = vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
        session
            .generate_key_pair(
                &Mechanism::EccKeyPairGen,
                &[
                    Attribute::Token(true),
                    Attribute::Label(label.as_bytes().to_vec()),
                    Attribute::EcParams(p256),
                ],
                &[
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Label(label.as_bytes().to_vec()),
                    Attribute::Sign(false),
                    Attribute::Derive(true),
                ],
            )
            .unwrap();
        drop(session);
        pkcs11.finalize().unwrap();
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("softhsm2.conf")
    }

    fn tokens_dir(&self) -> PathBuf {
        self.dir.path().join("tokens")
    }

    /// `SOFTHSM2_CONF` and the PIN, for every paypki command of a CA on this token.
    fn env(&self) -> Vec<(String, String)> {
        vec![
            ("SOFTHSM2_CONF".into(), self.conf().display().to_string()),
            ("PAYPKI_PKCS11_PIN".into(), USER_PIN.into()),
        ]
    }

    /// `pkcs11-tool --module MODULE --token-label TOKEN --login --pin PIN ARGS…`.
    fn pkcs11_tool(&self, token: &str, args: &[&str]) -> Output {
        self.pkcs11_tool_with_pin(token, USER_PIN, args)
    }

    fn pkcs11_tool_with_pin(&self, token: &str, pin: &str, args: &[&str]) -> Output {
        run(Command::new("pkcs11-tool")
            .env("SOFTHSM2_CONF", self.conf())
            .args(["--module", MODULE, "--token-label", token, "--login"])
            .args(["--pin", pin])
            .args(args))
    }

    /// The private keys on `token` as `pkcs11-tool --list-objects` shows them: label →
    /// the words of its `Access:` line.
    fn private_keys(&self, token: &str) -> Vec<(String, Vec<String>)> {
        self.private_keys_with_pin(token, USER_PIN)
    }

    fn private_keys_with_pin(&self, token: &str, pin: &str) -> Vec<(String, Vec<String>)> {
        let output =
            self.pkcs11_tool_with_pin(token, pin, &["--list-objects", "--type", "privkey"]);
        output.assert_success("pkcs11-tool --list-objects");
        let text = output.stdout_text();
        let mut keys = Vec::new();
        let mut label = None;
        for line in text.lines() {
            let line = line.trim();
            if let Some(value) = line.strip_prefix("label:") {
                label = Some(value.trim().to_string());
            } else if let Some(access) = line.strip_prefix("Access:") {
                let words = access.split(',').map(|w| w.trim().to_string()).collect();
                keys.push((label.take().unwrap_or_default(), words));
            }
        }
        keys
    }
}

/// `paypki init --key-store pkcs11 …` on `hsm`'s token `paypki` with `--key-alg ALG`
/// (an RSA root goes on the token too: RSA key files cannot be generated).
fn token_ca(hsm: &SoftHsm, alg: &str, extra: &[&str]) -> TestCa {
    let mut args = vec![
        "--key-store",
        "pkcs11",
        "--pkcs11-module",
        MODULE,
        "--pkcs11-token",
        "paypki",
        "--key-alg",
        alg,
    ];
    if alg == "rsa" {
        args.extend(["--root-pkcs11-token", "paypki"]);
    }
    args.extend_from_slice(extra);
    TestCa::init_with_env(&args, &hsm.env())
}

fn key_labels(ca: &TestCa) -> Vec<String> {
    let mut labels = Vec::new();
    for name in ["issuing", "ocsp"] {
        let reference = ca.data_dir().join(format!("keys/{name}.key.toml"));
        let text = read_text(&reference);
        let label = text
            .lines()
            .find_map(|l| l.strip_prefix("label = "))
            .unwrap_or_else(|| panic!("{} names no label:\n{text}", reference.display()));
        labels.push(label.trim_matches('"').to_string());
    }
    labels
}

/// The openssl/Python view of everything the CA signs with its token keys: certificates
/// for every role, a revocation, the CRL, and OCSP with and without a nonce.
fn serve_and_check_everything(ca: &TestCa, expected_key: &str) {
    let server = TestServer::start(ca);
    let chain = server.save_chain("chain.pem");
    let issuing = ca.issuing_cert();
    let root = ca.root_cert();
    let issuing_text = run(Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&issuing));
    assert!(
        issuing_text.stdout_text().contains(expected_key),
        "the issuing CA's key is not {expected_key}\n{}",
        issuing_text.describe()
    );

    let mut leaves = Vec::new();
    for role in ["buyer", "merchant", "bank", "gateway"] {
        let (serial, dir) = server.enroll_case(&enroll_case(role), "ecdsa-p256", role);
        let leaf = dir.join("cert.pem");
        assert_verifies_with_chain(&chain, &leaf);
        let summary = check_cert(&leaf, &issuing, &root);
        assert_eq!(summary.serial, serial, "{role}");
        leaves.push((role, serial, leaf));
    }

    let (_, revoked_serial, revoked_leaf) = &leaves[1];
    let output = ca.paypki(&["revoke", revoked_serial, "--reason", "keyCompromise"]);
    output.assert_success("paypki revoke");

    // The CRL, signed on the token: Python verifies it; openssl checks the chain with it.
    let deadline = Instant::now() + Duration::from_secs(15);
    let crl_path = ca.path("issuing.crl");
    loop {
        let response = server.get("/crl/issuing.crl");
        response.assert_status(200, "GET /crl/issuing.crl");
        std::fs::write(&crl_path, &response.body).unwrap();
        let crl = check_crl(&crl_path, &issuing);
        if crl_entry(&crl, revoked_serial).is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no CRL listed {revoked_serial} within 15 s:\n{crl:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let crl_text = run(Command::new("openssl")
        .args(["crl", "-inform", "DER", "-noout", "-CAfile"])
        .arg(&chain)
        .arg("-in")
        .arg(&crl_path));
    crl_text.assert_success("openssl crl -CAfile");
    assert!(
        crl_text.stderr_text().contains("verify OK"),
        "openssl did not verify the CRL\n{}",
        crl_text.describe()
    );

    // OCSP: without a nonce (pre-signed) and with one (signed on the token per request).
    let url = server.url_for("/ocsp");
    for (role, _, leaf) in &leaves {
        let label = leaf.to_str().unwrap();
        for nonce in ["-nonce", "-no_nonce"] {
            let output = openssl_ocsp(&url, &issuing, &chain, &[nonce, "-cert", label]);
            let expected = if *role == "merchant" {
                "revoked"
            } else {
                "good"
            };
            assert_eq!(
                ocsp_status_line(&output, label),
                format!("{label}: {expected}"),
                "{role} {nonce}\n{output}"
            );
        }
    }
    // Python checks a nonce response's signature and the responder certificate.
    let request = ca.path("nonce.req");
    run(Command::new("openssl")
        .args(["ocsp", "-nonce", "-issuer"])
        .arg(&issuing)
        .arg("-cert")
        .arg(revoked_leaf)
        .arg("-reqout")
        .arg(&request))
    .assert_success("openssl ocsp -reqout");
    let response = server.ocsp_post(&read_bytes(&request));
    response.assert_status(200, "POST /ocsp with a nonce");
    let response_path = ca.path("nonce.resp");
    std::fs::write(&response_path, &response.body).unwrap();
    let checked = run_python(
        "check_ocsp.py",
        &[
            response_path.as_os_str(),
            issuing.as_os_str(),
            request.as_os_str(),
        ],
    );
    checked.assert_success("check_ocsp.py");
    let checked: serde_json::Value = serde_json::from_slice(&checked.stdout).unwrap();
    assert_eq!(checked["cert_status"], "revoked", "{checked:#}");
    assert_eq!(checked["nonce"], checked["request_nonce"], "{checked:#}");
    assert!(checked["nonce"].is_string(), "{checked:#}");
    server.stop();
}

fn assert_keys_stay_on_the_token(hsm: &SoftHsm, ca: &TestCa, labels: &[String]) {
    let on_token = hsm.private_keys("paypki");
    for label in labels {
        let (_, access) = on_token
            .iter()
            .find(|(l, _)| l == label)
            .unwrap_or_else(|| panic!("pkcs11-tool finds no private key {label}: {on_token:?}"));
        assert!(
            access.iter().any(|w| w == "sensitive"),
            "{label}: CKA_SENSITIVE is not true: {access:?}"
        );
        assert!(
            !access.iter().any(|w| w == "extractable"),
            "{label}: CKA_EXTRACTABLE is true: {access:?}"
        );
    }
    for name in ["issuing", "ocsp"] {
        let file = ca.key_file(name);
        assert!(!file.exists(), "a key file was written: {}", file.display());
    }
    let pem_keys: Vec<_> = std::fs::read_dir(ca.data_dir().join("keys"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|name| name.ends_with(".pem") && name != "root.key.pem")
        .collect();
    assert!(
        pem_keys.is_empty(),
        "key files beside the token: {pem_keys:?}"
    );
}

#[test]
fn token_keys_sign_certificates_crls_and_ocsp_for_p256_p384_rsa3072_and_rsa_pss() {
    let mut cases = Cases::new();
    for (alg, key_text) in [
        ("ecdsa-p256", "NIST CURVE: P-256"),
        ("ecdsa-p384", "NIST CURVE: P-384"),
        ("rsa", "Public-Key: (3072 bit)"),
        ("rsa-pss", "Signature Algorithm: rsassaPss"),
    ] {
        cases.case(alg, || {
            let hsm = SoftHsm::with_tokens(&["paypki"]);
            let ca = if alg == "rsa-pss" {
                token_ca(&hsm, "rsa", &["--rsa-pss"])
            } else {
                token_ca(&hsm, alg, &[])
            };
            let labels = key_labels(&ca);
            assert_keys_stay_on_the_token(&hsm, &ca, &labels);
            let keys = ca.paypki(&["keys", "list", "--json"]);
            keys.assert_success("paypki keys list");
            let keys: serde_json::Value = serde_json::from_slice(&keys.stdout).unwrap();
            for key in keys.as_array().unwrap() {
                if key["name"] == "root" && !alg.starts_with("rsa") {
                    assert_eq!(key["store"], "file", "{key:#}");
                } else {
                    assert_eq!(key["store"], "pkcs11", "{key:#}");
                }
                assert_eq!(key["status"], "matches", "{key:#}");
            }
            serve_and_check_everything(&ca, key_text);
        });
    }
    cases.finish();
}

/// Starts `paypki serve` for `ca` expecting it to refuse; returns what it printed.
fn serve_refuses(ca: &TestCa, env: &[(&str, &str)], what: &str) -> String {
    let mut command = ca.command(&["serve", "--listen", "127.0.0.1:0"]);
    command.envs(env.iter().copied());
    let output = run_with_deadline(&mut command, Duration::from_secs(60));
    assert!(
        !output.status.success(),
        "{what}: serve started\n{}",
        output.describe()
    );
    let text = format!("{}{}", output.stdout_text(), output.stderr_text());
    assert!(
        !text.contains(USER_PIN),
        "{what}: the PIN was printed\n{text}"
    );
    text
}

#[test]
fn start_up_failures_say_what_is_wrong() {
    let hsm = SoftHsm::with_tokens(&["paypki"]);
    let ca = token_ca(&hsm, "ecdsa-p256", &[]);
    let reference = ca.data_dir().join("keys/issuing.key.toml");
    let original = read_text(&reference);
    let mut cases = Cases::new();

    cases.case("wrong PIN", || {
        let text = serve_refuses(&ca, &[("PAYPKI_PKCS11_PIN", "00000000")], "wrong PIN");
        assert_contains_all(
            &text,
            &["CKR_PIN_INCORRECT", "PAYPKI_PKCS11_PIN"],
            "wrong PIN",
        );
    });
    cases.case("no PIN", || {
        let mut command = ca.command(&["serve", "--listen", "127.0.0.1:0"]);
        command.env_remove("PAYPKI_PKCS11_PIN");
        let output = run_with_deadline(&mut command, Duration::from_secs(60));
        assert!(!output.status.success(), "{}", output.describe());
        assert_contains_all(&output.stderr_text(), &["set PAYPKI_PKCS11_PIN"], "no PIN");
    });
    cases.case("missing module", || {
        std::fs::remove_file(&reference).unwrap();
        std::fs::write(
            &reference,
            original.replace(MODULE, "/nonexistent/libpkcs11.so"),
        )
        .unwrap();
        let text = serve_refuses(&ca, &[], "missing module");
        std::fs::remove_file(&reference).unwrap();
        std::fs::write(&reference, &original).unwrap();
        assert_contains_all(
            &text,
            &["/nonexistent/libpkcs11.so", "does not exist"],
            "module",
        );
    });
    cases.case("missing token", || {
        let away = hsm.dir.path().join("tokens.away");
        std::fs::rename(hsm.tokens_dir(), &away).unwrap();
        std::fs::create_dir(hsm.tokens_dir()).unwrap();
        let text = serve_refuses(&ca, &[], "missing token");
        std::fs::remove_dir(hsm.tokens_dir()).unwrap();
        std::fs::rename(&away, hsm.tokens_dir()).unwrap();
        assert_contains_all(&text, &["CKR_TOKEN_NOT_PRESENT", "\"paypki\""], "token");
    });
    cases.case("a key of another CA key's", || {
        // The reference names the responder's key: it is on the token and signs, but it
        // is not the issuing CA certificate's key.
        let labels = key_labels(&ca);
        std::fs::remove_file(&reference).unwrap();
        std::fs::write(&reference, original.replace(&labels[0], &labels[1])).unwrap();
        let text = serve_refuses(&ca, &[], "wrong key");
        std::fs::remove_file(&reference).unwrap();
        std::fs::write(&reference, &original).unwrap();
        assert_contains_all(
            &text,
            &["does not match the issuing certificate"],
            "wrong key",
        );
    });
    cases.case("a key of the wrong type", || {
        for (key_type, label, expected) in [
            (
                "EC:secp256k1",
                "k1",
                "elliptic curve paypki does not sign with",
            ),
            ("AES:32", "aes", "there is no private key"),
        ] {
            let flag = if key_type.starts_with("AES") {
                "--keygen"
            } else {
                "--keypairgen"
            };
            hsm.pkcs11_tool("paypki", &[flag, "--key-type", key_type, "--label", label])
                .assert_success("pkcs11-tool key generation");
            std::fs::remove_file(&reference).unwrap();
            let labels = key_labels_from(&original);
            std::fs::write(&reference, original.replace(&labels, label)).unwrap();
            let text = serve_refuses(&ca, &[], key_type);
            std::fs::remove_file(&reference).unwrap();
            std::fs::write(&reference, &original).unwrap();
            assert_contains_all(&text, &[expected], key_type);
        }
    });
    cases.case("a key that may not sign", || {
        hsm.key_pair_without_sign("nosign");
        std::fs::remove_file(&reference).unwrap();
        let label = key_labels_from(&original);
        std::fs::write(&reference, original.replace(&label, "nosign")).unwrap();
        let text = serve_refuses(&ca, &[], "CKA_SIGN false");
        std::fs::remove_file(&reference).unwrap();
        std::fs::write(&reference, &original).unwrap();
        assert_contains_all(&text, &["may not sign (CKA_SIGN is false)"], "usage");
    });
    cases.case("a PIN file instead of the environment", || {
        use std::os::unix::fs::PermissionsExt;
        let pin_file = hsm.dir.path().join("user.pin");
        std::fs::write(&pin_file, format!("{USER_PIN}\n")).unwrap();
        std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o644)).unwrap();
        for name in ["issuing", "ocsp"] {
            let path = ca.data_dir().join(format!("keys/{name}.key.toml"));
            let text = read_text(&path);
            std::fs::remove_file(&path).unwrap();
            std::fs::write(&path, format!("{text}pin_file = {:?}\n", pin_file)).unwrap();
        }
        let mut command = ca.command(&["serve", "--listen", "127.0.0.1:0"]);
        command.env_remove("PAYPKI_PKCS11_PIN");
        let output = run_with_deadline(&mut command, Duration::from_secs(60));
        assert!(!output.status.success(), "{}", output.describe());
        assert_contains_all(
            &output.stderr_text(),
            &["readable by its owner only"],
            "0644",
        );
        std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let listed = ca.paypki_env(&["keys", "list"], &[("PAYPKI_PKCS11_PIN", "")]);
        listed.assert_success("keys list with a 0600 PIN file and no PIN in the environment");
        for name in ["issuing", "ocsp"] {
            let path = ca.data_dir().join(format!("keys/{name}.key.toml"));
            let text = read_text(&path);
            std::fs::remove_file(&path).unwrap();
            let kept: String = text
                .lines()
                .filter(|l| !l.starts_with("pin_file"))
                .map(|l| format!("{l}\n"))
                .collect();
            std::fs::write(&path, kept).unwrap();
        }
    });
    cases.case("recovered configuration serves", || {
        let server = TestServer::start(&ca);
        server.stop();
    });
    cases.finish();
}

fn key_labels_from(reference_text: &str) -> String {
    reference_text
        .lines()
        .find_map(|l| l.strip_prefix("label = "))
        .unwrap()
        .trim_matches('"')
        .to_string()
}

/// `openssl ocsp -nonce` for `leaf` (so the responder must sign on the token); returns
/// the whole output without asserting success.
fn ocsp_with_nonce(server: &TestServer, chain: &Path, leaf: &Path) -> String {
    let output = run_with_deadline(
        without_proxy(
            Command::new("openssl")
                .args(["ocsp", "-nonce", "-issuer"])
                .arg(server.ca().issuing_cert())
                .arg("-cert")
                .arg(leaf)
                .arg("-url")
                .arg(server.url_for("/ocsp"))
                .arg("-CAfile")
                .arg(chain)
                .args(["-timeout", "30"]),
        ),
        Duration::from_secs(60),
    );
    format!("{}{}", output.stdout_text(), output.stderr_text())
}

#[test]
fn a_token_removed_while_serving_gives_503_and_try_later_until_it_is_back() {
    let hsm = SoftHsm::with_tokens(&["paypki"]);
    let ca = token_ca(&hsm, "ecdsa-p256", &[]);
    let server = TestServer::start(&ca);
    let chain = server.save_chain("chain.pem");
    let (_, dir) = server.enroll_case(&enroll_case("buyer"), "ecdsa-p256", "before");
    let leaf = dir.join("cert.pem");
    let good = ocsp_with_nonce(&server, &chain, &leaf);
    assert!(good.contains(": good"), "{good}");

    // The token goes away (as if pulled from its slot).
    let away = hsm.dir.path().join("tokens.away");
    std::fs::rename(hsm.tokens_dir(), &away).unwrap();

    let answer = ocsp_with_nonce(&server, &chain, &leaf);
    assert!(
        answer.contains("Responder Error: trylater"),
        "OCSP with a nonce while the token is away must answer tryLater:\n{answer}"
    );
    let case = enroll_case("merchant");
    let token = server.create_case_token(&case);
    let csr_key = generate_key(KeyType::EcP256, &ca.path("merchant.key"));
    let csr = make_csr(
        &csr_key,
        case.openssl_subject,
        case.openssl_addext,
        &ca.path("merchant.csr"),
    );
    let body = serde_json::json!({ "token": token, "csr": read_text(&csr) });
    let refused = server.post_json("/v1/enroll", &body);
    let problem = refused.assert_problem(503, "unavailable", "enrollment while the token is away");
    assert!(
        !problem.to_string().contains(USER_PIN),
        "the problem names the PIN: {problem}"
    );
    // The server keeps running, answers what needs no key, and says it is degraded.
    let health = server.get("/healthz");
    health.assert_status(200, "/healthz while the token is away");
    assert_eq!(health.json()["status"], "degraded", "{}", health.describe());
    assert!(
        health.json()["reasons"]
            .to_string()
            .contains("CA key is unavailable"),
        "{}",
        health.describe()
    );
    server
        .get("/ca/chain.pem")
        .assert_status(200, "chain while the token is away");
    // The pre-signed answer (no nonce) is still served.
    let presigned = openssl_ocsp(
        &server.url_for("/ocsp"),
        &ca.issuing_cert(),
        &chain,
        &["-no_nonce", "-cert", leaf.to_str().unwrap()],
    );
    assert!(presigned.contains(": good"), "{presigned}");

    // The token is back: the CA recovers by itself (no restart), and the same enrollment
    // token still works (a 503 consumed nothing).
    std::fs::rename(&away, hsm.tokens_dir()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = ocsp_with_nonce(&server, &chain, &leaf);
        if answer.contains(": good") && answer.contains("Response verify OK") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the CA did not recover within 20 s of the token's return:\n{answer}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let issued = server.post_json("/v1/enroll", &body);
    issued.assert_status(201, "enrollment after the token returned");
    assert_eq!(server.get("/healthz").json()["status"], "ok");
    let log = server.stop();
    assert!(!log.contains(USER_PIN), "the server log names the PIN");
}

#[test]
fn existing_token_keys_a_root_on_its_own_token_rollover_and_responder_renewal() {
    let hsm = SoftHsm::with_tokens(&["paypki"]);
    hsm.init_token("offline-root", ROOT_PIN);
    // Key pairs made by the HSM's own tool, adopted by label.
    for label in ["hsm-issuing", "hsm-ocsp"] {
        hsm.pkcs11_tool(
            "paypki",
            &[
                "--keypairgen",
                "--key-type",
                "EC:secp384r1",
                "--label",
                label,
                "--usage-sign",
            ],
        )
        .assert_success("pkcs11-tool --keypairgen");
    }
    let mut env = hsm.env();
    env.push(("PAYPKI_ROOT_PKCS11_PIN".into(), ROOT_PIN.into()));
    let offline = tempfile::tempdir().unwrap();
    let offline_dir = offline.path().join("root");
    let ca = TestCa::init_with_env(
        &[
            "--key-store",
            "pkcs11",
            "--pkcs11-module",
            MODULE,
            "--pkcs11-token",
            "paypki",
            "--issuing-key-label",
            "hsm-issuing",
            "--responder-key-label",
            "hsm-ocsp",
            "--root-pkcs11-token",
            "offline-root",
            "--key-alg",
            "ecdsa-p384",
            "--root-key-out",
            offline_dir.to_str().unwrap(),
        ],
        &env,
    );
    let root_reference = offline_dir.join("root.key.toml");
    let root_text = read_text(&root_reference);
    assert_contains_all(
        &root_text,
        &[
            "token = \"offline-root\"",
            "pin_env = \"PAYPKI_ROOT_PKCS11_PIN\"",
        ],
        "root reference",
    );
    assert!(!ca.key_file("root").exists());
    assert_eq!(key_labels(&ca), ["hsm-issuing", "hsm-ocsp"]);
    let root_keys = hsm.private_keys_with_pin("offline-root", ROOT_PIN);
    assert_eq!(root_keys.len(), 1, "{root_keys:?}");

    // Root operations with the root's token reference.
    let crl = ca.paypki(&[
        "crl",
        "--root",
        "--root-key",
        root_reference.to_str().unwrap(),
    ]);
    crl.assert_success("paypki crl --root with a token root key");
    let without_pin = ca.paypki_env(
        &[
            "crl",
            "--root",
            "--root-key",
            root_reference.to_str().unwrap(),
        ],
        &[("PAYPKI_ROOT_PKCS11_PIN", "")],
    );
    assert!(!without_pin.status.success(), "{}", without_pin.describe());
    assert_contains_all(
        &without_pin.stderr_text(),
        &["PAYPKI_ROOT_PKCS11_PIN"],
        "root PIN",
    );

    ca.paypki(&["responder", "renew"])
        .assert_success("paypki responder renew with a token key");
    ca.paypki(&[
        "ca",
        "rollover",
        "--root-key",
        root_reference.to_str().unwrap(),
    ])
    .assert_success("paypki ca rollover with token keys");
    let listed = ca.paypki(&["keys", "list", "--json"]);
    listed.assert_success("paypki keys list");
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let names: Vec<_> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["name"].as_str().unwrap().to_string(),
                k["store"].as_str().unwrap().to_string(),
                k["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            (
                "root".to_string(),
                "offline".to_string(),
                "not checked".to_string()
            ),
            ("issuing".into(), "pkcs11".into(), "matches".into()),
            ("ocsp".into(), "pkcs11".into(), "matches".into()),
            ("tsa".into(), "pkcs11".into(), "matches".into()),
            ("issuing-2".into(), "pkcs11".into(), "matches".into()),
            ("ocsp-2".into(), "pkcs11".into(), "matches".into()),
            ("tsa-2".into(), "pkcs11".into(), "matches".into()),
        ],
        "{listed:#}"
    );
    // The renewed responder and the new CA's keys (and both TSAs') were made on the
    // token.
    let on_token: Vec<String> = hsm
        .private_keys("paypki")
        .into_iter()
        .map(|(l, _)| l)
        .collect();
    assert_eq!(on_token.len(), 7, "{on_token:?}");
    assert_eq!(
        on_token
            .iter()
            .filter(|l| l.starts_with("paypki-tsa"))
            .count(),
        2,
        "{on_token:?}"
    );
    assert!(
        on_token
            .iter()
            .filter(|l| l.starts_with("paypki-ocsp"))
            .count()
            == 2
            && on_token.iter().any(|l| l.starts_with("paypki-issuing-2")),
        "{on_token:?}"
    );

    // The new CA issues through the token, and openssl checks the new chain.
    let server = TestServer::start(&ca);
    let (serial, dir) = server.enroll_case(&enroll_case("gateway"), "ecdsa-p256", "gw");
    let chain_for_leaf = server.get(&format!("/ca/chain.pem?serial={serial}"));
    chain_for_leaf.assert_status(200, "chain of the new certificate");
    std::fs::write(ca.path("leaf-chain.pem"), &chain_for_leaf.body).unwrap();
    assert_verifies_with_chain(&ca.path("leaf-chain.pem"), &dir.join("cert.pem"));
    server.stop();
}
