//! Shared harness for paypki's integration tests.
//!
//! Every test drives the real `paypki` binary (built by Cargo for integration tests) in a
//! fresh temporary directory, and checks what it produced with tools that share no code
//! with paypki: the `openssl` command line and Python's `cryptography` package (through
//! the scripts in `tests/py/`). Those tools are *required*: a missing tool makes the test
//! fail with a clear message, never skip.
//!
//! Use it from a test file with `mod common;` and `use common::*;`.
//!
//! * [`TestCa`]: a temporary directory holding a CA created by `paypki init`, with paths to
//!   its files and methods that run `paypki` against it ([`TestCa::paypki`]).
//! * [`KeyType`], [`generate_key`], [`make_csr`]: keys and CSRs made with `openssl`.
//! * [`check_cert`] / [`TestCa::check_cert`]: the Python second opinion on a certificate,
//!   parsed into a [`CertSummary`].
//! * [`Policy`]: a role policy file (`policies/<role>.toml`) read with `toml`, to compare
//!   certificates against.
//! * [`RunOutput`]: convenience methods on [`std::process::Output`].
//! * [`TestServer`]: the real `paypki serve` on an ephemeral port for a [`TestCa`], with
//!   HTTP helpers returning [`HttpResponse`]; [`EnrollCase`] holds token subjects and SANs
//!   that satisfy each shipped policy.

// Not every test file uses every helper, and the helpers are `pub` so that any test file
// can use them; neither is worth a warning. Test code may panic freely (a panic is a test
// failure), including in helpers outside `#[test]` functions, which clippy.toml's
// `allow-*-in-tests` settings do not cover.
#![allow(dead_code, unreachable_pub)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde::Deserialize;

/// The `paypki` binary under test.
pub const PAYPKI: &str = env!("CARGO_BIN_EXE_paypki");

/// The repository root (where `Cargo.toml`, `policies/` and `tests/` live).
pub fn repo_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The policies shipped in the repository (`<repo>/policies`).
pub fn shipped_policies() -> PathBuf {
    repo_dir().join("policies")
}

/// The base URL `paypki init` writes into certificates when `--base-url` is not given.
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8080";

/// Every participant role, in the order paypki lists them.
pub const ROLES: [&str; 4] = ["buyer", "merchant", "bank", "gateway"];

// ---------------------------------------------------------------------------------------
// Required external tools
// ---------------------------------------------------------------------------------------

/// Panics with a clear message unless `name` is usable.
///
/// * `openssl`: `openssl version` must run.
/// * `python3`: `python3 -c "import cryptography"` must run (the scripts need it).
/// * anything else: `NAME --version` must run.
///
/// Tests call this (through [`require_tools`]) before relying on the tool, so that a
/// machine without it fails loudly instead of silently skipping the independent checks.
pub fn require_tool(name: &str) {
    let (args, hint): (&[&str], &str) = match name {
        "openssl" => (
            &["version"],
            "install the OpenSSL command-line tool (e.g. `apt-get install openssl`)",
        ),
        "python3" => (
            &["-c", "import cryptography, cryptography.x509"],
            "install Python 3 and the `cryptography` package (e.g. `pip install cryptography`)",
        ),
        _ => (&["--version"], "install it"),
    };
    let result = Command::new(name).args(args).output();
    match result {
        Ok(output) if output.status.success() => {}
        Ok(output) => panic!(
            "the integration tests require `{name}`, but `{name} {}` failed ({}): {}\nTo fix: {hint}.",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        Err(e) => panic!("the integration tests require `{name}`, which cannot be run: {e}\nTo fix: {hint}."),
    }
}

/// Checks once per test binary that `openssl` and `python3` with `cryptography` exist;
/// panics (in every caller) if not.
pub fn require_tools() {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        require_tool("openssl");
        require_tool("python3");
    });
}

// ---------------------------------------------------------------------------------------
// Process output
// ---------------------------------------------------------------------------------------

/// Convenience methods on a finished process's [`Output`].
pub trait RunOutput {
    /// Standard output as text (lossy UTF-8).
    fn stdout_text(&self) -> String;
    /// Standard error as text (lossy UTF-8).
    fn stderr_text(&self) -> String;
    /// Panics, showing both streams, unless the process exited 0. Returns `self`.
    fn assert_success(&self, what: &str) -> &Self;
    /// Panics, showing both streams, if the process exited 0. Returns `self`.
    fn assert_failure(&self, what: &str) -> &Self;
    /// Both streams, for assertion messages.
    fn describe(&self) -> String;
}

impl RunOutput for Output {
    fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    fn assert_success(&self, what: &str) -> &Self {
        assert!(
            self.status.success(),
            "{what}: expected success, got {}\n{}",
            self.status,
            self.describe()
        );
        self
    }

    fn assert_failure(&self, what: &str) -> &Self {
        assert!(
            !self.status.success(),
            "{what}: expected a failure, but it succeeded\n{}",
            self.describe()
        );
        assert!(
            self.status.code().is_some(),
            "{what}: expected a clean non-zero exit, but the process was killed by a signal\n{}",
            self.describe()
        );
        self
    }

    fn describe(&self) -> String {
        format!(
            "status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status,
            self.stdout_text(),
            self.stderr_text()
        )
    }
}

/// Runs a command to completion; panics if it cannot be started.
pub fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", command.get_program()))
}

// ---------------------------------------------------------------------------------------
// The CA under test
// ---------------------------------------------------------------------------------------

/// Whether this run of the suite uses PostgreSQL (`PAYPKI_TEST_BACKEND=postgresql`, as
/// `scripts/test` sets for its second pass over the status suites) instead of sled.
pub fn backend_is_postgres() -> bool {
    match std::env::var("PAYPKI_TEST_BACKEND").as_deref() {
        Ok("postgresql") => true,
        Ok("sled") | Err(_) => false,
        Ok(other) => panic!("PAYPKI_TEST_BACKEND={other}: expected sled or postgresql"),
    }
}

/// The PostgreSQL server the tests use (`PAYPKI_TEST_DATABASE_URL`, which `scripts/test`
/// sets after starting one with `scripts/pg start`). Panics when there is none: a test
/// that needs PostgreSQL never skips.
pub fn test_database_server() -> String {
    std::env::var("PAYPKI_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!("PAYPKI_TEST_DATABASE_URL is not set: run the suite with scripts/test, or start PostgreSQL with `export PAYPKI_TEST_DATABASE_URL=$(scripts/pg start /tmp/paypki-pg)`")
    })
}

/// A fresh, empty PostgreSQL database on the test server, dropped on drop.
#[derive(Debug)]
pub struct TestDatabase {
    /// `postgres://…/<name>`.
    pub url: String,
    name: String,
    server: String,
}

impl TestDatabase {
    /// Creates `paypki_t_<random>` on the test server.
    pub fn create() -> Self {
        require_tool("psql");
        let server = test_database_server();
        let name = format!("paypki_t_{}", hex::encode(rand_bytes::<6>()));
        let output = run(Command::new("psql")
            .arg(&server)
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-c"])
            .arg(format!("CREATE DATABASE {name}")));
        output.assert_success("psql CREATE DATABASE");
        let base = server
            .rsplit_once('/')
            .map(|(base, _)| base)
            .unwrap_or_else(|| panic!("PAYPKI_TEST_DATABASE_URL has no database path: {server}"));
        TestDatabase {
            url: format!("{base}/{name}"),
            name,
            server,
        }
    }

    /// Runs SQL on this database with psql; panics on failure.
    pub fn sql(&self, statement: &str) -> String {
        let output = run(Command::new("psql").arg(&self.url).args([
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-t",
            "-A",
            "-c",
            statement,
        ]));
        output.assert_success("psql");
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .arg(&self.server)
            .args(["-q", "-c"])
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .output();
    }
}

fn rand_bytes<const N: usize>() -> [u8; N] {
    use std::hash::{BuildHasher, Hasher};
    let mut out = [0u8; N];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_usize(i);
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        let bytes = hasher.finish().to_le_bytes();
        chunk.copy_from_slice(bytes.get(..chunk.len()).unwrap_or(&bytes));
    }
    out
}

/// Copies a directory tree, leaving out the top-level entries named in `except`.
pub fn copy_tree(from: &Path, to: &Path, except: &[&str]) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.expect("directory entry");
        let name = entry.file_name();
        if except.iter().any(|e| name == std::ffi::OsStr::new(e)) {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target, &[]);
        } else {
            std::fs::copy(entry.path(), &target).unwrap_or_else(|e| {
                panic!("{} → {}: {e}", entry.path().display(), target.display())
            });
            let mode = std::fs::metadata(entry.path())
                .expect("metadata")
                .permissions();
            std::fs::set_permissions(&target, mode).expect("permissions");
        }
    }
}

/// A CA created by `paypki init` in its own temporary directory (removed on drop).
///
/// Layout: `<tmp>/ca-data` is the data directory (`--data-dir`); everything else a test
/// writes (keys, CSRs, certificates) goes into `<tmp>` itself, see [`TestCa::path`].
pub struct TestCa {
    /// The PostgreSQL database of this CA when the suite runs on PostgreSQL (shared by
    /// the nodes made with [`TestCa::another_node`]; dropped with the last of them).
    pub database: Option<std::sync::Arc<TestDatabase>>,
    dir: tempfile::TempDir,
    data_dir: PathBuf,
    policies: PathBuf,
    /// What `paypki init` printed (empty for [`TestCa::uninitialized`]).
    pub init_output: Option<Output>,
    /// Environment given to every command of this CA, the server included (e.g. a
    /// token's `SOFTHSM2_CONF` and PIN); see [`TestCa::init_with_env`].
    pub env: Vec<(String, String)>,
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl TestCa {
    /// A CA created with `paypki init` and its defaults (ECDSA P-256, base URL
    /// [`DEFAULT_BASE_URL`], no passphrase), using the shipped policies.
    pub fn new() -> Self {
        Self::init(&[], &[])
    }

    /// A CA created with `paypki init EXTRA_ARGS…`, with `env` set for `init` only (e.g.
    /// `PAYPKI_PASSPHRASE`). Panics if `init` fails.
    pub fn init(extra_args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::init_with(Self::uninitialized(), extra_args, env)
    }

    /// A CA created with `paypki init EXTRA_ARGS…` whose every command (init, the CLI,
    /// the server) runs with `env` set. Panics if `init` fails.
    pub fn init_with_env(extra_args: &[&str], env: &[(String, String)]) -> Self {
        let mut ca = Self::uninitialized();
        ca.env.extend_from_slice(env);
        Self::init_with(ca, extra_args, &[])
    }

    fn init_with(mut ca: Self, extra_args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut args = vec!["init"];
        args.extend_from_slice(extra_args);
        let output = ca.paypki_env(&args, env);
        output.assert_success("paypki init");
        assert!(
            ca.root_cert().is_file(),
            "init wrote no root certificate\n{}",
            output.describe()
        );
        ca.init_output = Some(output);
        ca
    }

    /// A temporary directory whose data directory does not exist yet (for tests of `init`
    /// itself). Checks the required tools first.
    pub fn uninitialized() -> Self {
        require_tools();
        let dir = tempfile::Builder::new()
            .prefix("paypki-test-")
            .tempdir()
            .expect("cannot create a temporary directory");
        let data_dir = dir.path().join("ca-data");
        let database = backend_is_postgres().then(|| std::sync::Arc::new(TestDatabase::create()));
        let env = database
            .iter()
            .map(|db| ("PAYPKI_DATABASE_URL".to_string(), db.url.clone()))
            .collect();
        TestCa {
            database,
            dir,
            data_dir,
            policies: shipped_policies(),
            init_output: None,
            env,
        }
    }

    /// A CA created with `paypki init` on a fresh database of the PostgreSQL test server,
    /// whatever `PAYPKI_TEST_BACKEND` says.
    pub fn on_postgres() -> Self {
        let database = TestDatabase::create();
        let url = database.url.clone();
        let mut ca = Self::uninitialized();
        ca.database = Some(std::sync::Arc::new(database));
        ca.env.retain(|(k, _)| k != "PAYPKI_DATABASE_URL");
        ca.env.push(("PAYPKI_DATABASE_URL".into(), url));
        Self::init_with(ca, &[], &[])
    }

    /// A CA created with `paypki init` on sled, whatever `PAYPKI_TEST_BACKEND` says.
    pub fn on_sled() -> Self {
        let mut ca = Self::uninitialized();
        ca.database = None;
        ca.env.retain(|(k, _)| k != "PAYPKI_DATABASE_URL");
        Self::init_with(ca, &[], &[])
    }

    /// A CA created with `paypki init` on the (empty) PostgreSQL database at `url`.
    pub fn on_postgres_at(url: &str) -> Self {
        let mut ca = Self::uninitialized();
        ca.database = None;
        ca.env.retain(|(k, _)| k != "PAYPKI_DATABASE_URL");
        ca.env.push(("PAYPKI_DATABASE_URL".into(), url.to_string()));
        Self::init_with(ca, &[], &[])
    }

    /// A second node of this CA: a copy of its data directory (keys and certificates,
    /// not its sled database) in another temporary directory, with the same environment
    /// and so the same PostgreSQL database.
    pub fn another_node(&self) -> TestCa {
        let dir = tempfile::Builder::new()
            .prefix("paypki-node-")
            .tempdir()
            .expect("cannot create a temporary directory");
        let data_dir = dir.path().join("ca-data");
        copy_tree(
            &self.data_dir,
            &data_dir,
            &["db", "db-revoked", "server.json", "serve.lock"],
        );
        TestCa {
            database: self.database.clone(),
            dir,
            data_dir,
            policies: self.policies.clone(),
            init_output: None,
            env: self.env.clone(),
        }
    }

    /// The temporary directory (parent of the data directory).
    pub fn temp_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A path for a test's own file, inside the temporary directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The data directory given to every command (`--data-dir`).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The policies directory given to every command (`--policies`).
    pub fn policies(&self) -> &Path {
        &self.policies
    }

    /// The root certificate, PEM: `ca-data/certs/root.crt.pem`.
    pub fn root_cert(&self) -> PathBuf {
        self.data_dir.join("certs").join("root.crt.pem")
    }

    /// The issuing CA certificate, PEM: `ca-data/certs/issuing.crt.pem`.
    pub fn issuing_cert(&self) -> PathBuf {
        self.data_dir.join("certs").join("issuing.crt.pem")
    }

    /// The OCSP responder certificate, PEM: `ca-data/certs/ocsp.crt.pem`.
    pub fn ocsp_cert(&self) -> PathBuf {
        self.data_dir.join("certs").join("ocsp.crt.pem")
    }

    /// A CA key file: `ca-data/keys/<name>.key.pem` (`root`, `issuing`, `ocsp`).
    pub fn key_file(&self, name: &str) -> PathBuf {
        self.data_dir.join("keys").join(format!("{name}.key.pem"))
    }

    /// A `paypki ARGS… --data-dir D --policies P` command, not yet run. Every `PAYPKI_*`
    /// variable of the test's own environment is removed so that the developer's shell
    /// cannot change the result.
    pub fn command_with_policies(&self, policies: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(PAYPKI);
        command
            .args(args)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--policies")
            .arg(policies)
            .current_dir(self.dir.path());
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("PAYPKI_") {
                command.env_remove(name);
            }
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// `paypki ARGS…` against this CA and its policies, as a [`Command`] not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_with_policies(&self.policies, args)
    }

    /// Runs `paypki ARGS…` against this CA (`--data-dir`, `--policies` are added).
    pub fn paypki(&self, args: &[&str]) -> Output {
        run(&mut self.command(args))
    }

    /// Runs `paypki ARGS…` with extra environment variables.
    pub fn paypki_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = self.command(args);
        command.envs(env.iter().copied());
        run(&mut command)
    }

    /// Runs `paypki ARGS…` with another policies directory.
    pub fn paypki_with_policies(&self, policies: &Path, args: &[&str]) -> Output {
        run(&mut self.command_with_policies(policies, args))
    }

    /// `paypki issue --csr CSR --role ROLE --out <tmp>/<out_name>`; asserts success and that
    /// stdout is exactly one lowercase-hex serial line, and writes the leaf alone next to
    /// the bundle (`<out_name>.leaf.pem`).
    pub fn issue(&self, csr: &Path, role: &str, out_name: &str) -> Issued {
        self.issue_env(csr, role, out_name, &[])
    }

    /// [`TestCa::issue`] with extra environment variables (e.g. `PAYPKI_PASSPHRASE`).
    pub fn issue_env(
        &self,
        csr: &Path,
        role: &str,
        out_name: &str,
        env: &[(&str, &str)],
    ) -> Issued {
        self.issue_from(&self.policies, csr, role, out_name, env)
    }

    /// [`TestCa::issue`] with another policies directory.
    pub fn issue_with_policies(
        &self,
        policies: &Path,
        csr: &Path,
        role: &str,
        out_name: &str,
    ) -> Issued {
        self.issue_from(policies, csr, role, out_name, &[])
    }

    fn issue_from(
        &self,
        policies: &Path,
        csr: &Path,
        role: &str,
        out_name: &str,
        env: &[(&str, &str)],
    ) -> Issued {
        let bundle = self.path(out_name);
        let csr_arg = csr.to_str().expect("non-UTF-8 temporary path");
        let out_arg = bundle.to_str().expect("non-UTF-8 temporary path");
        let mut command = self.command_with_policies(
            policies,
            &["issue", "--csr", csr_arg, "--role", role, "--out", out_arg],
        );
        command.envs(env.iter().copied());
        let output = run(&mut command);
        output.assert_success(&format!("paypki issue --role {role} ({})", csr.display()));
        let stdout = output.stdout_text();
        let serial = stdout.strip_suffix('\n').unwrap_or_default().to_string();
        assert!(
            !serial.is_empty()
                && !serial.contains('\n')
                && serial
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
            "stdout of paypki issue --out must be exactly one lowercase-hex serial line\n{}",
            output.describe()
        );
        let leaf = self.path(&format!("{out_name}.leaf.pem"));
        let certificates = split_pem_certificates(&read_text(&bundle));
        assert!(
            !certificates.is_empty(),
            "{} holds no certificate",
            bundle.display()
        );
        std::fs::write(&leaf, &certificates[0]).expect("cannot write the leaf");
        Issued {
            serial,
            bundle,
            leaf,
            certificates,
            output,
        }
    }

    /// `paypki list --json ARGS…`, parsed; panics unless it succeeds with a JSON array.
    pub fn list_json(&self, args: &[&str]) -> Vec<serde_json::Value> {
        let mut all = vec!["list", "--json"];
        all.extend_from_slice(args);
        let output = self.paypki(&all);
        output.assert_success("paypki list --json");
        let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!("paypki list --json is not JSON: {e}\n{}", output.describe())
        });
        match value {
            serde_json::Value::Array(items) => items,
            other => panic!("paypki list --json printed {other}, not an array"),
        }
    }

    /// Serials printed by `paypki list --json ARGS…`.
    pub fn listed_serials(&self, args: &[&str]) -> Vec<String> {
        self.list_json(args)
            .iter()
            .map(|record| {
                record["serial"]
                    .as_str()
                    .expect("a record without a serial")
                    .to_string()
            })
            .collect()
    }

    /// How many certificates `paypki list --json` reports.
    pub fn certificate_count(&self) -> usize {
        self.list_json(&[]).len()
    }

    /// `openssl verify -x509_strict [-purpose P] -CAfile root -untrusted issuing LEAF`.
    pub fn openssl_verify(&self, leaf: &Path, purpose: Option<&str>) -> Output {
        let mut command = Command::new("openssl");
        command.arg("verify").arg("-x509_strict");
        if let Some(purpose) = purpose {
            command.args(["-purpose", purpose]);
        }
        command
            .arg("-CAfile")
            .arg(self.root_cert())
            .arg("-untrusted")
            .arg(self.issuing_cert())
            .arg(leaf);
        run(&mut command)
    }

    /// Asserts that `openssl verify` accepts the leaf (optionally for a purpose such as
    /// `sslclient` or `sslserver`) and prints `OK`.
    pub fn assert_openssl_verifies(&self, leaf: &Path, purpose: Option<&str>) {
        let output = self.openssl_verify(leaf, purpose);
        output.assert_success(&format!(
            "openssl verify {} (purpose {purpose:?})",
            leaf.display()
        ));
        assert!(
            output.stdout_text().trim_end().ends_with(": OK"),
            "openssl verify did not print OK\n{}",
            output.describe()
        );
    }

    /// The Python check of a certificate (or bundle) against this CA's issuing CA and root.
    pub fn check_cert(&self, certificate: &Path) -> CertSummary {
        check_cert(certificate, &self.issuing_cert(), &self.root_cert())
    }
}

/// A certificate issued with [`TestCa::issue`].
#[derive(Debug)]
pub struct Issued {
    /// The serial paypki printed (lowercase hex).
    pub serial: String,
    /// The file written by `--out`: certificate then chain, PEM.
    pub bundle: PathBuf,
    /// The leaf certificate alone, PEM.
    pub leaf: PathBuf,
    /// Every certificate of the bundle, PEM, in file order.
    pub certificates: Vec<String>,
    /// What `paypki issue` printed.
    pub output: Output,
}

// ---------------------------------------------------------------------------------------
// Keys, CSRs and PEM with openssl
// ---------------------------------------------------------------------------------------

/// A subject key type, as `openssl genpkey` makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// ECDSA on NIST P-256.
    EcP256,
    /// ECDSA on NIST P-384.
    EcP384,
    /// Ed25519.
    Ed25519,
    /// RSA with this many bits.
    Rsa(u32),
}

impl KeyType {
    /// The key type a policy's `keys.algorithms` entry names (`rsa` gets `rsa_bits`).
    pub fn from_policy_name(name: &str, rsa_bits: u32) -> Self {
        match name {
            "ecdsa-p256" => KeyType::EcP256,
            "ecdsa-p384" => KeyType::EcP384,
            "ed25519" => KeyType::Ed25519,
            "rsa" => KeyType::Rsa(rsa_bits),
            other => panic!("unknown key algorithm {other:?} in a policy"),
        }
    }

    /// The name policies and `paypki` use (`ecdsa-p256`, …, `rsa`).
    pub fn policy_name(self) -> &'static str {
        match self {
            KeyType::EcP256 => "ecdsa-p256",
            KeyType::EcP384 => "ecdsa-p384",
            KeyType::Ed25519 => "ed25519",
            KeyType::Rsa(_) => "rsa",
        }
    }

    /// How paypki describes a key in its records (`ecdsa-p256`, `rsa-3072`, …).
    pub fn record_name(self) -> String {
        match self {
            KeyType::Rsa(bits) => format!("rsa-{bits}"),
            other => other.policy_name().to_string(),
        }
    }

    /// How `tests/py/check_cert.py` describes the key (`ec:secp256r1`, `rsa:2048`, …).
    pub fn python_name(self) -> String {
        match self {
            KeyType::EcP256 => "ec:secp256r1".into(),
            KeyType::EcP384 => "ec:secp384r1".into(),
            KeyType::Ed25519 => "ed25519".into(),
            KeyType::Rsa(bits) => format!("rsa:{bits}"),
        }
    }

    /// A short name for file names (`p256`, `rsa3072`, …).
    pub fn file_stem(self) -> String {
        match self {
            KeyType::EcP256 => "p256".into(),
            KeyType::EcP384 => "p384".into(),
            KeyType::Ed25519 => "ed25519".into(),
            KeyType::Rsa(bits) => format!("rsa{bits}"),
        }
    }

    /// The `openssl genpkey` arguments for this key type.
    pub fn genpkey_args(self) -> Vec<String> {
        match self {
            KeyType::EcP256 => vec![
                "-algorithm".into(),
                "EC".into(),
                "-pkeyopt".into(),
                "ec_paramgen_curve:P-256".into(),
            ],
            KeyType::EcP384 => vec![
                "-algorithm".into(),
                "EC".into(),
                "-pkeyopt".into(),
                "ec_paramgen_curve:P-384".into(),
            ],
            KeyType::Ed25519 => vec!["-algorithm".into(), "ED25519".into()],
            KeyType::Rsa(bits) => {
                vec![
                    "-algorithm".into(),
                    "RSA".into(),
                    "-pkeyopt".into(),
                    format!("rsa_keygen_bits:{bits}"),
                ]
            }
        }
    }
}

/// Runs `openssl ARGS…`; panics (showing its output) unless it succeeds.
pub fn openssl<S: AsRef<OsStr>>(args: &[S]) -> Output {
    require_tools();
    let output = run(Command::new("openssl").args(args));
    let shown: Vec<String> = args
        .iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect();
    output.assert_success(&format!("openssl {}", shown.join(" ")));
    output
}

/// `openssl ts -query -data DATA FLAGS… -out OUT`: a DER TimeStampReq made by OpenSSL
/// (e.g. flags `-sha256 -cert`). Returns `out`.
pub fn openssl_timestamp_query(data: &Path, flags: &[&str], out: &Path) -> PathBuf {
    let mut args: Vec<&OsStr> = vec![
        OsStr::new("ts"),
        OsStr::new("-query"),
        OsStr::new("-data"),
        data.as_os_str(),
    ];
    args.extend(flags.iter().map(OsStr::new));
    args.extend([OsStr::new("-out"), out.as_os_str()]);
    openssl(&args);
    out.to_path_buf()
}

/// Writes a new unencrypted PKCS#8 PEM private key of type `kind` to `out`
/// (`openssl genpkey … -out OUT`). Returns `out`.
pub fn generate_key(kind: KeyType, out: &Path) -> PathBuf {
    let mut args: Vec<&OsStr> = vec![OsStr::new("genpkey")];
    let algorithm_args = kind.genpkey_args();
    args.extend(algorithm_args.iter().map(OsStr::new));
    args.extend([OsStr::new("-out"), out.as_os_str()]);
    openssl(&args);
    out.to_path_buf()
}

/// Output encoding of a CSR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsrFormat {
    /// `-----BEGIN CERTIFICATE REQUEST-----`.
    Pem,
    /// Raw DER.
    Der,
}

/// `openssl req -new -key KEY -subj SUBJECT [-addext EXT]… -out OUT` (PEM). `subject`
/// uses OpenSSL's form, e.g. `/CN=Shop/O=Shop Ltd/serialNumber=M12345678`; each `addext`
/// is one `-addext` value, e.g. `subjectAltName=DNS:shop.example`. Returns `out`.
pub fn make_csr(key: &Path, subject: &str, addext: &[&str], out: &Path) -> PathBuf {
    make_csr_as(key, subject, addext, CsrFormat::Pem, out)
}

/// [`make_csr`] with a choice of encoding.
pub fn make_csr_as(
    key: &Path,
    subject: &str,
    addext: &[&str],
    format: CsrFormat,
    out: &Path,
) -> PathBuf {
    let mut args: Vec<&OsStr> = vec![
        OsStr::new("req"),
        OsStr::new("-new"),
        OsStr::new("-key"),
        key.as_os_str(),
        OsStr::new("-subj"),
        OsStr::new(subject),
    ];
    for extension in addext {
        args.extend([OsStr::new("-addext"), OsStr::new(*extension)]);
    }
    if format == CsrFormat::Der {
        args.extend([OsStr::new("-outform"), OsStr::new("DER")]);
    }
    args.extend([OsStr::new("-out"), out.as_os_str()]);
    openssl(&args);
    out.to_path_buf()
}

/// The public key of a private key file, as SubjectPublicKeyInfo PEM
/// (`openssl pkey -in KEY -pubout`).
pub fn public_key_pem(key: &Path) -> String {
    openssl(&[
        OsStr::new("pkey"),
        OsStr::new("-in"),
        key.as_os_str(),
        OsStr::new("-pubout"),
    ])
    .stdout_text()
}

/// The public key a certificate certifies, as SubjectPublicKeyInfo PEM
/// (`openssl x509 -in CERT -pubkey -noout`).
pub fn certificate_public_key_pem(cert: &Path) -> String {
    openssl(&[
        OsStr::new("x509"),
        OsStr::new("-in"),
        cert.as_os_str(),
        OsStr::new("-pubkey"),
        OsStr::new("-noout"),
    ])
    .stdout_text()
}

/// Reads a text file; panics with the path on failure.
pub fn read_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Reads a file's bytes; panics with the path on failure.
pub fn read_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Splits PEM text into its `CERTIFICATE` blocks, each with its BEGIN/END lines and a
/// final newline.
pub fn split_pem_certificates(text: &str) -> Vec<String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start..];
        let end = after.find(END).expect("a BEGIN CERTIFICATE without END") + END.len();
        blocks.push(format!("{}\n", after[..end].trim_end()));
        rest = &after[end..];
    }
    blocks
}

/// Normalizes PEM for comparison: trims every line, drops empty ones.
pub fn normalize_pem(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------------------
// Python checks
// ---------------------------------------------------------------------------------------

/// The directory of the Python helper scripts (`<repo>/tests/py`).
pub fn python_dir() -> PathBuf {
    repo_dir().join("tests").join("py")
}

/// Runs `python3 tests/py/SCRIPT ARGS…` (it does not check the exit status).
pub fn run_python<S: AsRef<OsStr>>(script: &str, args: &[S]) -> Output {
    require_tools();
    let path = python_dir().join(script);
    assert!(path.is_file(), "missing Python helper {}", path.display());
    run(Command::new("python3").arg(path).args(args))
}

/// Runs `tests/py/check_cert.py CERT ISSUING ROOT` and parses its JSON. Panics if the
/// script fails, which includes any signature of the chain not verifying.
pub fn check_cert(certificate: &Path, issuing: &Path, root: &Path) -> CertSummary {
    let output = run_python("check_cert.py", &[certificate, issuing, root]);
    output.assert_success(&format!("check_cert.py {}", certificate.display()));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "check_cert.py printed something that is not its JSON: {e}\n{}",
            output.describe()
        )
    })
}

/// keyUsage bits as `cryptography` reports them.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct KeyUsageFlags {
    /// digitalSignature
    pub digital_signature: bool,
    /// nonRepudiation (contentCommitment)
    pub content_commitment: bool,
    /// keyEncipherment
    pub key_encipherment: bool,
    /// dataEncipherment
    pub data_encipherment: bool,
    /// keyAgreement
    pub key_agreement: bool,
    /// keyCertSign
    pub key_cert_sign: bool,
    /// cRLSign
    pub crl_sign: bool,
}

impl KeyUsageFlags {
    /// The bits that are set, by the names policies use (`digital_signature`,
    /// `non_repudiation`, …; CA bits as `key_cert_sign`, `crl_sign`).
    pub fn set_names(&self) -> Vec<&'static str> {
        let bits = [
            (self.digital_signature, "digital_signature"),
            (self.content_commitment, "non_repudiation"),
            (self.key_encipherment, "key_encipherment"),
            (self.data_encipherment, "data_encipherment"),
            (self.key_agreement, "key_agreement"),
            (self.key_cert_sign, "key_cert_sign"),
            (self.crl_sign, "crl_sign"),
        ];
        bits.into_iter()
            .filter(|(set, _)| *set)
            .map(|(_, name)| name)
            .collect()
    }
}

/// What `tests/py/check_cert.py` reports about a certificate (signatures already checked).
#[derive(Debug, Clone, Deserialize)]
pub struct CertSummary {
    /// Serial, lowercase hex of the magnitude octets (as paypki prints it).
    pub serial: String,
    /// X.509 version (`v3`).
    pub version: String,
    /// Subject, RFC 4514 (last RDN first).
    pub subject: String,
    /// Subject attributes in certificate order: `[short name, value]`.
    pub subject_attributes: Vec<(String, String)>,
    /// Issuer, RFC 4514.
    pub issuer: String,
    /// Whether the issuer name equals the issuing CA's subject.
    pub issuer_matches: bool,
    /// Signature algorithm OID.
    pub signature_algorithm: String,
    /// Signature algorithm name (`sha256WithRSAEncryption`, `ecdsa-with-SHA256`, …).
    pub signature_algorithm_name: String,
    /// The subject key (`ec:secp256r1`, `rsa:2048`, `ed25519`).
    pub public_key: String,
    /// The subject key, SubjectPublicKeyInfo PEM.
    pub public_key_pem: String,
    /// notBefore, ISO 8601.
    pub not_before: String,
    /// notAfter, ISO 8601.
    pub not_after: String,
    /// notBefore, seconds since the epoch.
    pub not_before_unix: i64,
    /// notAfter, seconds since the epoch.
    pub not_after_unix: i64,
    /// Extension OIDs in certificate order.
    pub extension_oids: Vec<String>,
    /// How many certificates the file held.
    pub certificates_in_file: usize,
    /// SANs as `dns:…`, `email:…`, `uri:…`, `ip:…`.
    pub sans: Vec<String>,
    /// keyUsage, if present.
    pub key_usage: Option<KeyUsageFlags>,
    /// Whether keyUsage is critical.
    pub key_usage_critical: bool,
    /// extendedKeyUsage OIDs.
    pub extended_key_usage: Vec<String>,
    /// Whether basicConstraints is present.
    pub basic_constraints_present: bool,
    /// basicConstraints cA.
    pub ca: bool,
    /// basicConstraints pathLenConstraint.
    pub path_length: Option<u32>,
    /// certificatePolicies OIDs.
    pub certificate_policies: Vec<String>,
    /// AIA OCSP URLs.
    pub ocsp_urls: Vec<String>,
    /// AIA caIssuers URLs.
    pub ca_issuers_urls: Vec<String>,
    /// CRL distribution point URLs.
    pub crl_urls: Vec<String>,
    /// Whether subjectKeyIdentifier is present.
    pub ski_present: bool,
    /// Whether authorityKeyIdentifier is present.
    pub aki_present: bool,
    /// Whether the AKI key identifier equals the issuing CA's SKI.
    pub aki_matches_issuer_ski: bool,
}

impl CertSummary {
    /// notAfter − notBefore, in seconds.
    pub fn validity_seconds(&self) -> i64 {
        self.not_after_unix - self.not_before_unix
    }
}

// ---------------------------------------------------------------------------------------
// Policies
// ---------------------------------------------------------------------------------------

/// OID of an extended key usage name used in policies (`server_auth`, `client_auth`,
/// `email_protection`); any other value is taken as a dotted OID already.
pub fn eku_oid(name: &str) -> String {
    match name {
        "server_auth" => "1.3.6.1.5.5.7.3.1".into(),
        "client_auth" => "1.3.6.1.5.5.7.3.2".into(),
        "code_signing" => "1.3.6.1.5.5.7.3.3".into(),
        "email_protection" => "1.3.6.1.5.5.7.3.4".into(),
        other => other.into(),
    }
}

/// A role policy file, as far as the tests need it (unknown keys are ignored here: paypki
/// itself is strict about them).
#[derive(Debug, Clone, Deserialize)]
pub struct Policy {
    /// The role.
    pub role: String,
    /// certificatePolicies OID of the role's certificates.
    pub certificate_policy_oid: String,
    /// `[keys]`.
    pub keys: PolicyKeys,
    /// `[validity]`.
    pub validity: PolicyValidity,
    /// `[usage]`.
    pub usage: PolicyUsage,
    /// `[subject]`.
    pub subject: PolicySubject,
    /// `[san]`.
    #[serde(default)]
    pub san: PolicySan,
}

/// `[keys]` of a policy.
#[derive(Debug, Clone, Deserialize)]
pub struct PolicyKeys {
    /// Allowed algorithms (`ecdsa-p256`, `ecdsa-p384`, `ed25519`, `rsa`).
    pub algorithms: Vec<String>,
    /// Smallest RSA modulus (paypki's default is 2048).
    #[serde(default = "default_rsa_min_bits")]
    pub rsa_min_bits: u32,
}

fn default_rsa_min_bits() -> u32 {
    2048
}

/// `[validity]` of a policy.
#[derive(Debug, Clone, Deserialize)]
pub struct PolicyValidity {
    /// Validity when none is asked for.
    pub default_days: i64,
    /// Longest validity.
    pub max_days: i64,
}

/// `[usage]` of a policy.
#[derive(Debug, Clone, Deserialize)]
pub struct PolicyUsage {
    /// keyUsage names.
    pub key_usage: Vec<String>,
    /// extendedKeyUsage names or OIDs.
    pub extended_key_usage: Vec<String>,
}

/// `[subject]` of a policy.
#[derive(Debug, Clone, Deserialize)]
pub struct PolicySubject {
    /// Required attributes.
    pub required: Vec<String>,
    /// Optional attributes.
    #[serde(default)]
    pub optional: Vec<String>,
    /// Patterns per attribute.
    #[serde(default)]
    pub patterns: BTreeMap<String, String>,
}

/// `[san]` of a policy.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PolicySan {
    /// Allowed SAN kinds.
    #[serde(default)]
    pub allowed: Vec<String>,
    /// Required SAN kinds.
    #[serde(default)]
    pub required: Vec<String>,
    /// Most SANs.
    pub max: Option<usize>,
}

impl Policy {
    /// Reads `<dir>/<role>.toml`.
    pub fn load(dir: &Path, role: &str) -> Self {
        let path = dir.join(format!("{role}.toml"));
        toml::from_str(&read_text(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Reads the shipped `policies/<role>.toml`.
    pub fn shipped(role: &str) -> Self {
        Self::load(&shipped_policies(), role)
    }

    /// The key types this policy allows, RSA at its minimum size.
    pub fn key_types(&self) -> Vec<KeyType> {
        self.keys
            .algorithms
            .iter()
            .map(|name| KeyType::from_policy_name(name, self.keys.rsa_min_bits))
            .collect()
    }

    /// The policy's extended key usages as dotted OIDs, in policy order.
    pub fn eku_oids(&self) -> Vec<String> {
        self.usage
            .extended_key_usage
            .iter()
            .map(|n| eku_oid(n))
            .collect()
    }

    /// The policy's keyUsage names, with `content_commitment` spelled `non_repudiation`.
    pub fn key_usage_names(&self) -> Vec<String> {
        self.usage
            .key_usage
            .iter()
            .map(|n| {
                if n == "content_commitment" {
                    "non_repudiation".to_string()
                } else {
                    n.clone()
                }
            })
            .collect()
    }
}

/// Copies a policies directory (the `*.toml` files) into `dest`, creating it; returns
/// `dest`. For tests that break a policy file without touching the shipped ones.
pub fn copy_policies(from: &Path, dest: &Path) -> PathBuf {
    std::fs::create_dir_all(dest).expect("cannot create the policies copy");
    for entry in std::fs::read_dir(from).expect("cannot read the policies directory") {
        let entry = entry.expect("cannot read the policies directory");
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "toml") {
            std::fs::copy(&path, dest.join(entry.file_name())).expect("cannot copy a policy file");
        }
    }
    dest.to_path_buf()
}

/// Asserts that `haystack` contains every needle, naming what is being checked.
pub fn assert_contains_all(haystack: &str, needles: &[&str], what: &str) {
    for needle in needles {
        assert!(
            haystack.contains(needle),
            "{what}: expected {needle:?} in:\n{haystack}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The server under test
// ---------------------------------------------------------------------------------------

/// How long [`TestServer::start`] waits for `server.json` and `/healthz`, and how long
/// [`TestServer::stop`] (and drop) wait for the process to exit after SIGTERM.
pub const SERVER_DEADLINE: std::time::Duration = std::time::Duration::from_secs(20);

/// An HTTP response read completely: status, headers (names lowercase) and body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Every header, name lowercased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `Content-Type` header, or an empty string.
    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or_default()
    }

    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics (showing the response) if it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("the response body is not JSON: {e}\n{}", self.describe()))
    }

    /// Status, headers and body (lossy), for assertion messages.
    pub fn describe(&self) -> String {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(n, v)| format!("{n}: {v}"))
            .collect();
        let mut body = self.text();
        if body.len() > 2000 {
            body.truncate(2000);
            body.push('…');
        }
        format!("HTTP {}\n{}\n\n{body}", self.status, headers.join("\n"))
    }

    /// Panics (showing the response) unless the status is `status`. Returns `self`.
    pub fn assert_status(&self, status: u16, what: &str) -> &Self {
        assert_eq!(
            self.status,
            status,
            "{what}: expected HTTP {status}\n{}",
            self.describe()
        );
        self
    }

    /// Asserts an RFC 9457 problem document with this status: the content type is
    /// `application/problem+json` and the body has `type`, `title`, a matching `status`
    /// and a non-empty `detail`. Returns the document.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, kind: &str, what: &str) -> serde_json::Value {
        self.assert_status(status, what);
        assert!(
            self.content_type().starts_with("application/problem+json"),
            "{what}: expected application/problem+json\n{}",
            self.describe()
        );
        let problem = self.json();
        assert_eq!(
            problem["status"].as_u64(),
            Some(u64::from(status)),
            "{what}: problem status\n{}",
            self.describe()
        );
        for field in ["type", "title", "detail"] {
            assert!(
                problem[field]
                    .as_str()
                    .is_some_and(|v| !v.trim().is_empty()),
                "{what}: problem without {field}\n{}",
                self.describe()
            );
        }
        // Clients branch on the type, not on the prose: it is the contract.
        assert_eq!(
            problem["type"].as_str(),
            Some(format!("urn:paypki:problem:{kind}").as_str()),
            "{what}: problem type\n{}",
            self.describe()
        );
        problem
    }
}

/// The real `paypki serve`, started for a [`TestCa`]'s data directory on `127.0.0.1:0`.
///
/// [`TestServer::start`] works on a CA made with `paypki init` ([`TestCa::new`]) as well as
/// on an empty data directory ([`TestCa::uninitialized`]), where the server creates a
/// development CA itself. It waits (at most [`SERVER_DEADLINE`]) until `server.json`
/// names this process and `/healthz` answers 200.
///
/// The server's stdout and stderr go to a log file in the CA's temporary directory
/// ([`TestServer::log`]); it is printed if the test panics while the server is alive.
/// Dropping the server sends SIGTERM (`kill -TERM PID`) and waits, bounded, for it to exit
/// (SIGKILL as a last resort); [`TestServer::stop`] does the same but asserts a graceful
/// exit: status 0 and `server.json` removed.
///
/// While the server runs, `ca.paypki(…)` commands that need the database (`token create`,
/// `list`, `revoke`, …) go through its admin API, as they would for an operator.
pub struct TestServer<'a> {
    ca: &'a TestCa,
    child: Option<std::process::Child>,
    url: String,
    admin_token: String,
    log_path: PathBuf,
    agent: ureq::Agent,
}

impl std::fmt::Debug for TestServer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("url", &self.url)
            .field("log", &self.log_path)
            .finish_non_exhaustive()
    }
}

/// An HTTP agent for tests: 4xx/5xx are responses (not errors), no proxy from the
/// environment, bounded time.
pub fn test_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(std::time::Duration::from_secs(60)))
        .build()
        .into()
}

/// Reads a whole `ureq` response into an [`HttpResponse`]; panics on transport errors.
pub fn read_http_response(
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    what: &str,
) -> HttpResponse {
    let mut response = result.unwrap_or_else(|e| panic!("{what}: HTTP request failed: {e}"));
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .unwrap_or_else(|e| panic!("{what}: cannot read the response body: {e}"));
    HttpResponse {
        status,
        headers,
        body,
    }
}

impl<'a> TestServer<'a> {
    /// Starts `paypki serve --listen 127.0.0.1:0` for `ca` and waits until it is ready.
    pub fn start(ca: &'a TestCa) -> Self {
        Self::start_with(ca, &[])
    }

    /// [`TestServer::start`] with extra `serve` arguments (e.g. `--ocsp-validity 2h`).
    pub fn start_with(ca: &'a TestCa, extra_args: &[&str]) -> Self {
        Self::start_with_policies(ca, ca.policies(), extra_args)
    }

    /// [`TestServer::start_with`] with another policies directory (`--policies`).
    pub fn start_with_policies(ca: &'a TestCa, policies: &Path, extra_args: &[&str]) -> Self {
        Self::start_listening(ca, policies, "127.0.0.1:0", extra_args)
    }

    /// [`TestServer::start_with_policies`] listening on `listen` (e.g. `127.0.0.1:23456`)
    /// instead of an ephemeral port: `serve` refuses `--listen` twice, so a fixed port
    /// cannot be passed in `extra_args`. See [`TestServer::start_on_port`].
    pub fn start_listening(
        ca: &'a TestCa,
        policies: &Path,
        listen: &str,
        extra_args: &[&str],
    ) -> Self {
        static STARTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log_path = ca.path(&format!("server-{n}.log"));
        let log = std::fs::File::create(&log_path).expect("cannot create the server log");
        let log_err = log.try_clone().expect("cannot clone the server log handle");
        let mut args = vec!["serve", "--listen", listen];
        args.extend_from_slice(extra_args);
        let mut command = ca.command_with_policies(policies, &args);
        command
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::from(log))
            .stderr(std::process::Stdio::from(log_err));
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {PAYPKI} serve: {e}"));
        let mut server = TestServer {
            ca,
            child: Some(child),
            url: String::new(),
            admin_token: String::new(),
            log_path,
            agent: test_agent(),
        };
        server.wait_ready();
        server
    }

    /// Waits for `server.json` naming our child, then for `/healthz`; panics with the log.
    fn wait_ready(&mut self) {
        let deadline = std::time::Instant::now() + SERVER_DEADLINE;
        let pid = self.pid();
        let info_path = self.server_json();
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                panic!(
                    "paypki serve exited ({status}) before it was ready\n--- server log ---\n{}",
                    self.log()
                );
            }
            let info: Option<serde_json::Value> = std::fs::read_to_string(&info_path)
                .ok()
                .and_then(|text| serde_json::from_str(&text).ok());
            if let Some(info) = info {
                if info["pid"].as_u64() == Some(u64::from(pid)) {
                    self.url = info["url"]
                        .as_str()
                        .unwrap_or_else(|| panic!("server.json without a url: {info}"))
                        .trim_end_matches('/')
                        .to_string();
                    break;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "paypki serve did not write {} within {SERVER_DEADLINE:?}\n--- server log ---\n{}",
                info_path.display(),
                self.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        self.admin_token = read_text(&self.ca.data_dir().join("admin.token"))
            .trim()
            .to_string();
        loop {
            let healthy = self
                .agent
                .get(&self.url_for("/healthz"))
                .call()
                .is_ok_and(|r| r.status().as_u16() == 200);
            if healthy {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{}/healthz did not answer 200 within {SERVER_DEADLINE:?}\n--- server log ---\n{}",
                self.url,
                self.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// The CA this server serves.
    pub fn ca(&self) -> &'a TestCa {
        self.ca
    }

    /// Base URL, e.g. `http://127.0.0.1:41234` (no trailing slash).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `<url><path>`.
    pub fn url_for(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// The admin credential (contents of `admin.token`, trimmed).
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .map(std::process::Child::id)
            .expect("the server is not running")
    }

    /// `<data dir>/server.json`.
    pub fn server_json(&self) -> PathBuf {
        self.ca.data_dir().join("server.json")
    }

    /// Everything the server wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The HTTP agent the helpers use (4xx/5xx are responses).
    pub fn agent(&self) -> &ureq::Agent {
        &self.agent
    }

    /// `GET path` with extra headers.
    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
        let mut request = self.agent.get(&self.url_for(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        read_http_response(request.call(), &format!("GET {path}"))
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> HttpResponse {
        self.get_with(path, &[])
    }

    /// `POST path` with a raw body, an optional `Content-Type` and extra headers.
    pub fn post_bytes_with(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> HttpResponse {
        let mut request = self.agent.post(&self.url_for(path));
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        read_http_response(request.send(body), &format!("POST {path}"))
    }

    /// `POST path` with a body the server may refuse before reading it all (a 413): like
    /// curl, it writes from one thread while reading the answer on another, so the
    /// answer is read even when the server closes before the body is sent.
    pub fn post_oversized(&self, path: &str, content_type: &str, body: &[u8]) -> HttpResponse {
        self.post_oversized_with(path, content_type, body, &[])
    }

    /// [`TestServer::post_oversized`] with extra headers (e.g. `Authorization`).
    pub fn post_oversized_with(
        &self,
        path: &str,
        content_type: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> HttpResponse {
        self.send_oversized_with("POST", path, content_type, body, headers)
    }

    /// [`TestServer::post_oversized_with`] with another method (e.g. `PATCH`).
    pub fn send_oversized_with(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> HttpResponse {
        use std::io::{Read, Write};
        let address = self.url.trim_start_matches("http://").to_string();
        let mut stream =
            std::net::TcpStream::connect(&address).expect("connect to the test server");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        let extra: String = headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}\r\n"))
            .collect();
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: {content_type}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        let mut writer = stream.try_clone().unwrap();
        let sender = std::thread::spawn(move || {
            // The server may close early: a failed write is expected here.
            let _ = writer.write_all(&request);
        });
        let mut raw = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            match stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => raw.extend_from_slice(&chunk[..n]),
                // A reset after the answer has arrived ends the exchange.
                Err(_) if !raw.is_empty() => break,
                Err(e) => panic!("{method} {path}: no answer: {e}"),
            }
            if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&raw[..end]).to_string();
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().to_string())
                    })
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                if raw.len() >= end + 4 + length {
                    break;
                }
            }
        }
        let _ = sender.join();
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| {
                panic!(
                    "{method} {path}: incomplete answer: {:?}",
                    String::from_utf8_lossy(&raw)
                )
            });
        let head = String::from_utf8_lossy(&raw[..end]).to_string();
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .expect("a status line");
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        HttpResponse {
            status,
            headers,
            body: raw[end + 4..].to_vec(),
        }
    }

    /// `POST path` with a raw body and an optional `Content-Type`.
    pub fn post_bytes(&self, path: &str, content_type: Option<&str>, body: &[u8]) -> HttpResponse {
        self.post_bytes_with(path, content_type, body, &[])
    }

    /// `POST path` with a JSON body (`Content-Type: application/json`).
    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> HttpResponse {
        self.post_bytes(
            path,
            Some("application/json"),
            &serde_json::to_vec(body).expect("cannot encode JSON"),
        )
    }

    /// `Authorization: Bearer <admin credential>`.
    pub fn admin_authorization(&self) -> String {
        format!("Bearer {}", self.admin_token)
    }

    /// `GET path` with the admin credential.
    pub fn admin_get(&self, path: &str) -> HttpResponse {
        let authorization = self.admin_authorization();
        self.get_with(path, &[("Authorization", &authorization)])
    }

    /// `POST path` with a JSON body and the admin credential.
    pub fn admin_post_json(&self, path: &str, body: &serde_json::Value) -> HttpResponse {
        let authorization = self.admin_authorization();
        self.post_bytes_with(
            path,
            Some("application/json"),
            &serde_json::to_vec(body).expect("cannot encode JSON"),
            &[("Authorization", &authorization)],
        )
    }

    /// `POST /ocsp` with a DER request (`Content-Type: application/ocsp-request`).
    pub fn ocsp_post(&self, der: &[u8]) -> HttpResponse {
        self.post_bytes("/ocsp", Some("application/ocsp-request"), der)
    }

    /// `paypki token create --role ROLE --subject SUBJECT [--san S]… [EXTRA…]` through the
    /// CLI (which reaches this server's admin API); returns the token.
    pub fn create_token(&self, role: &str, subject: &str, sans: &[&str], extra: &[&str]) -> String {
        let mut args = vec!["token", "create", "--role", role, "--subject", subject];
        for san in sans {
            args.extend(["--san", san]);
        }
        args.extend_from_slice(extra);
        let output = self.ca.paypki(&args);
        output.assert_success(&format!("paypki token create --role {role}"));
        let token = output.stdout_text().trim().to_string();
        assert!(
            token.starts_with("ppt_") && !token.contains(char::is_whitespace),
            "paypki token create must print the token alone\n{}",
            output.describe()
        );
        token
    }

    /// A token for `case` (its role, subject and SANs).
    pub fn create_case_token(&self, case: &EnrollCase) -> String {
        self.create_token(case.role, case.token_subject, case.token_sans, &[])
    }

    /// `paypki enroll --url URL --token TOKEN --key-alg ALG --out-dir <tmp>/<out_dir>`;
    /// asserts success and one serial line; returns the serial and the directory.
    pub fn enroll_cli(&self, token: &str, key_alg: &str, out_dir: &str) -> (String, PathBuf) {
        let dir = self.ca.path(out_dir);
        let output = self.ca.paypki(&[
            "enroll",
            "--url",
            &self.url,
            "--token",
            token,
            "--key-alg",
            key_alg,
            "--out-dir",
            dir.to_str().expect("non-UTF-8 temporary path"),
        ]);
        output.assert_success(&format!("paypki enroll --key-alg {key_alg}"));
        let serial = output.stdout_text().trim().to_string();
        assert!(
            !serial.is_empty() && serial.chars().all(|c| c.is_ascii_hexdigit()),
            "paypki enroll must print the serial\n{}",
            output.describe()
        );
        (serial, dir)
    }

    /// Token + `paypki enroll` for `case`: returns the serial and the output directory
    /// (`key.pem`, `cert.pem`, `chain.pem`).
    pub fn enroll_case(
        &self,
        case: &EnrollCase,
        key_alg: &str,
        out_dir: &str,
    ) -> (String, PathBuf) {
        let token = self.create_case_token(case);
        self.enroll_cli(&token, key_alg, out_dir)
    }

    /// Writes `/ca/chain.pem` (issuing CA then root, PEM) to `<tmp>/<name>`.
    pub fn save_chain(&self, name: &str) -> PathBuf {
        let response = self.get("/ca/chain.pem");
        response.assert_status(200, "GET /ca/chain.pem");
        let path = self.ca.path(name);
        std::fs::write(&path, &response.body).expect("cannot write the chain");
        path
    }

    /// Sends SIGTERM (`kill -TERM PID`); returns whether `kill` succeeded.
    fn signal_term(&self) -> bool {
        self.signal("TERM")
    }

    /// Sends a signal by name (`kill -NAME PID`); returns whether `kill` succeeded.
    fn signal(&self, name: &str) -> bool {
        let Some(child) = &self.child else {
            return false;
        };
        Command::new("kill")
            .args([format!("-{name}"), child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Sends SIGKILL: a crash, nothing finished or cleaned up (reaped on drop).
    pub fn kill(&self) {
        assert!(self.signal("KILL"), "kill -KILL {} failed", self.pid());
    }

    /// Waits up to `limit` for the child to exit.
    fn wait_exit(&mut self, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        let child = self.child.as_mut()?;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                _ => return None,
            }
        }
    }

    /// SIGTERM, then asserts a graceful shutdown within [`SERVER_DEADLINE`]: exit status 0
    /// and `server.json` removed. Returns the server's log.
    pub fn stop(self) -> String {
        self.stop_with_signal("TERM")
    }

    /// [`TestServer::stop`] with another signal (`INT` for Ctrl-C).
    pub fn stop_with_signal(mut self, signal: &str) -> String {
        assert!(self.signal(signal), "kill -{signal} {} failed", self.pid());
        let status = self.wait_exit(SERVER_DEADLINE);
        let log = self.log();
        let Some(status) = status else {
            panic!(
                "paypki serve did not exit within {SERVER_DEADLINE:?} of SIG{signal}\n--- server log ---\n{log}"
            );
        };
        self.child = None;
        assert!(
            status.success(),
            "paypki serve did not exit cleanly after SIG{signal}: {status}\n--- server log ---\n{log}"
        );
        assert!(
            !self.server_json().exists(),
            "server.json was not removed on shutdown\n--- server log ---\n{log}"
        );
        log
    }
}

impl Drop for TestServer<'_> {
    fn drop(&mut self) {
        if self.child.is_none() {
            return;
        }
        if std::thread::panicking() {
            eprintln!(
                "--- paypki serve log ({}) ---\n{}",
                self.log_path.display(),
                self.log()
            );
        }
        let exited = self.signal_term() && self.wait_exit(SERVER_DEADLINE).is_some();
        if !exited {
            if let Some(child) = self.child.as_mut() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        self.child = None;
    }
}

/// A token grant that satisfies a shipped role policy, and the matching CSR names.
#[derive(Debug, Clone, Copy)]
pub struct EnrollCase {
    /// The role.
    pub role: &'static str,
    /// `--subject` of `paypki token create` (RFC 4514-like, in certificate order).
    pub token_subject: &'static str,
    /// `--san` values of `paypki token create`.
    pub token_sans: &'static [&'static str],
    /// The same subject in OpenSSL's `-subj` form.
    pub openssl_subject: &'static str,
    /// `-addext` values that ask for exactly the token's SANs.
    pub openssl_addext: &'static [&'static str],
    /// The subject attributes as `check_cert.py` reports them.
    pub attributes: &'static [(&'static str, &'static str)],
    /// The SANs as `check_cert.py` reports them.
    pub sans: &'static [&'static str],
}

/// An [`EnrollCase`] for each role (the subjects of `tests/issue_cli.rs`).
pub fn enroll_case(role: &str) -> EnrollCase {
    match role {
        "buyer" => EnrollCase {
            role: "buyer",
            token_subject: "CN=Alice Buyer,C=DE,serialNumber=ACCT-0042",
            token_sans: &["email:alice@buyer.example"],
            openssl_subject: "/CN=Alice Buyer/C=DE/serialNumber=ACCT-0042",
            openssl_addext: &["subjectAltName=email:alice@buyer.example"],
            attributes: &[
                ("CN", "Alice Buyer"),
                ("C", "DE"),
                ("serialNumber", "ACCT-0042"),
            ],
            sans: &["email:alice@buyer.example"],
        },
        "merchant" => EnrollCase {
            role: "merchant",
            token_subject: "CN=Example Shop,O=Example Shop GmbH,serialNumber=M12345678,C=DE",
            token_sans: &["dns:shop.example", "uri:https://shop.example/pay"],
            openssl_subject: "/CN=Example Shop/O=Example Shop GmbH/serialNumber=M12345678/C=DE",
            openssl_addext: &["subjectAltName=DNS:shop.example,URI:https://shop.example/pay"],
            attributes: &[
                ("CN", "Example Shop"),
                ("O", "Example Shop GmbH"),
                ("serialNumber", "M12345678"),
                ("C", "DE"),
            ],
            sans: &["dns:shop.example", "uri:https://shop.example/pay"],
        },
        "bank" => EnrollCase {
            role: "bank",
            token_subject:
                "CN=Example Bank,O=Example Bank AG,C=DE,serialNumber=DEUTDEFF,L=Frankfurt",
            token_sans: &["dns:bank.example"],
            openssl_subject:
                "/CN=Example Bank/O=Example Bank AG/C=DE/serialNumber=DEUTDEFF/L=Frankfurt",
            openssl_addext: &["subjectAltName=DNS:bank.example"],
            attributes: &[
                ("CN", "Example Bank"),
                ("O", "Example Bank AG"),
                ("C", "DE"),
                ("serialNumber", "DEUTDEFF"),
                ("L", "Frankfurt"),
            ],
            sans: &["dns:bank.example"],
        },
        "gateway" => EnrollCase {
            role: "gateway",
            token_subject: "CN=gw.pay.example,O=Pay Gateway BV,C=NL",
            token_sans: &["dns:gw.pay.example", "ip:192.0.2.10"],
            openssl_subject: "/CN=gw.pay.example/O=Pay Gateway BV/C=NL",
            openssl_addext: &["subjectAltName=DNS:gw.pay.example,IP:192.0.2.10"],
            attributes: &[
                ("CN", "gw.pay.example"),
                ("O", "Pay Gateway BV"),
                ("C", "NL"),
            ],
            sans: &["dns:gw.pay.example", "ip:192.0.2.10"],
        },
        other => panic!("no enrollment case for role {other}"),
    }
}

/// `check_cert.py`'s subject attributes as owned pairs, for comparison.
pub fn owned_attributes(attributes: &[(&str, &str)]) -> Vec<(String, String)> {
    attributes
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// ---------------------------------------------------------------------------------------
// CAs whose base URL is the test server's own address (strict relying parties)
// ---------------------------------------------------------------------------------------

/// A free TCP port on 127.0.0.1, for a CA whose `--base-url` must be known before its
/// server starts (`paypki init --base-url http://127.0.0.1:PORT`, then
/// [`TestServer::start_on_port`]). Ports come from below the kernel's ephemeral range
/// (32768–60999 on Linux), so that connections made meanwhile by anyone cannot take them,
/// each at most once per test binary, and only if they can be bound right now.
pub fn pick_free_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    // Different test binaries (and concurrent runs) start at different places.
    let offset = std::process::id().wrapping_mul(7_919) % COUNT;
    for _ in 0..COUNT {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let port = u16::try_from(FIRST + (offset + n) % COUNT).expect("port in range");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!(
        "no free TCP port on 127.0.0.1 between {FIRST} and {}",
        FIRST + COUNT
    );
}

impl<'a> TestServer<'a> {
    /// `paypki serve --listen 127.0.0.1:PORT EXTRA_ARGS…` for `ca` (its own policies), e.g.
    /// on a port from [`pick_free_port`] that `init --base-url` already names.
    pub fn start_on_port(ca: &'a TestCa, port: u16, extra_args: &[&str]) -> Self {
        Self::start_listening(ca, ca.policies(), &format!("127.0.0.1:{port}"), extra_args)
    }

    /// `POST path` with a JSON body; asserts HTTP 200 with a JSON answer (never a 4xx or
    /// 5xx) and returns it.
    pub fn post_json_ok(
        &self,
        path: &str,
        body: &serde_json::Value,
        what: &str,
    ) -> serde_json::Value {
        let response = self.post_json(path, body);
        response.assert_status(200, &format!("{what}: POST {path}"));
        assert!(
            response.content_type().starts_with("application/json"),
            "{what}: POST {path}: content type\n{}",
            response.describe()
        );
        response.json()
    }

    /// `POST path` with a raw body of `content_type` and the admin credential.
    pub fn admin_post_bytes(&self, path: &str, content_type: &str, body: &[u8]) -> HttpResponse {
        let authorization = self.admin_authorization();
        self.post_bytes_with(
            path,
            Some(content_type),
            body,
            &[("Authorization", &authorization)],
        )
    }
}

/// Runs a command with stdin closed, killing it (and panicking, with what it printed so
/// far) if it has not finished within `limit`. For tools that may wait on the network
/// without a time-out of their own, such as `openssl verify -crl_download`.
pub fn run_with_deadline(command: &mut Command, limit: std::time::Duration) -> Output {
    use std::io::Read;
    let mut child = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", command.get_program()));
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let err = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stderr.read_to_end(&mut bytes);
        bytes
    });
    let deadline = std::time::Instant::now() + limit;
    let (status, timed_out) = loop {
        if let Some(status) = child.try_wait().expect("cannot wait for a child process") {
            break (status, false);
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            break (child.wait().expect("cannot reap a killed child"), true);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let output = Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    };
    let shown: Vec<String> = command
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    assert!(
        !timed_out,
        "{:?} {} did not finish within {limit:?} and was killed\n{}",
        command.get_program(),
        shown.join(" "),
        output.describe()
    );
    output
}

/// Removes the proxy variables from a command's environment, so that a tool fetching
/// URLs (`openssl … -crl_download`, `openssl ocsp -url`) talks to the test server directly.
pub fn without_proxy(command: &mut Command) -> &mut Command {
    for name in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ] {
        command.env_remove(name);
    }
    command.env("no_proxy", "127.0.0.1,localhost")
}

/// A CA key file as paypki writes one with a passphrase: encrypted PKCS#8 PEM, mode 0600.
pub fn assert_encrypted_key_file(key: &Path) {
    let text = read_text(key);
    assert!(
        text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{} is not encrypted PKCS#8:\n{text}",
        key.display()
    );
    let mode = file_mode(key);
    assert_eq!(mode, 0o600, "{} mode {mode:o}", key.display());
}

/// Mode bits of a file (without the file type).
pub fn file_mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// A DER certificate (as `/ca/*.crt` serves it) as PEM text, converted by `openssl x509`.
pub fn der_certificate_to_pem(der: &[u8], scratch: &Path) -> String {
    std::fs::write(scratch, der).unwrap_or_else(|e| panic!("{}: {e}", scratch.display()));
    openssl(&[
        "x509".as_ref(),
        "-inform".as_ref(),
        "DER".as_ref(),
        "-in".as_ref(),
        scratch.as_os_str(),
    ])
    .stdout_text()
}

/// `openssl verify -CAfile CHAIN CERT` (the chain as the server hands it out); asserts
/// that it prints `OK`.
pub fn assert_verifies_with_chain(chain: &Path, cert: &Path) {
    let output = run(Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(chain)
        .arg(cert));
    output.assert_success(&format!(
        "openssl verify -CAfile {} {}",
        chain.display(),
        cert.display()
    ));
    assert!(
        output.stdout_text().trim_end().ends_with(": OK"),
        "openssl verify did not print OK\n{}",
        output.describe()
    );
}

/// `tests/py/check_crl.py CRL ISSUER`, parsed (the script fails unless the CRL's
/// signature verifies with the issuer's key).
pub fn check_crl(crl: &Path, issuer: &Path) -> serde_json::Value {
    let output = run_python("check_crl.py", &[crl, issuer]);
    output.assert_success(&format!(
        "check_crl.py {} {}",
        crl.display(),
        issuer.display()
    ));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("check_crl.py printed no JSON: {e}\n{}", output.describe()))
}

/// The entry for `serial` in a CRL parsed by [`check_crl`] or `check_crl_chain.py`.
pub fn crl_entry<'v>(crl: &'v serde_json::Value, serial: &str) -> Option<&'v serde_json::Value> {
    crl["entries"]
        .as_array()
        .and_then(|entries| entries.iter().find(|e| e["serial"] == serial))
}

/// `tests/py/check_crl_chain.py ROOT ROOT_CRL [ISSUING ISSUING_CRL]…`, parsed: every CRL
/// names and is signed by its own CA (and by no other CA of the hierarchy).
pub fn check_crl_chain(
    root: &Path,
    root_crl: &Path,
    issuing: &[(&Path, &Path)],
) -> serde_json::Value {
    let mut args: Vec<&OsStr> = vec![root.as_os_str(), root_crl.as_os_str()];
    for (cert, crl) in issuing {
        args.extend([cert.as_os_str(), crl.as_os_str()]);
    }
    let output = run_python("check_crl_chain.py", &args);
    output.assert_success("check_crl_chain.py");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "check_crl_chain.py printed no JSON: {e}\n{}",
            output.describe()
        )
    })
}

/// `openssl ocsp -issuer ISSUER ARGS… -url URL -CAfile CA_FILE -timeout 30` (no proxy,
/// bounded); asserts that it succeeds and verifies the response, and returns stdout and
/// stderr together.
pub fn openssl_ocsp<S: AsRef<OsStr>>(
    url: &str,
    issuer: &Path,
    ca_file: &Path,
    args: &[S],
) -> String {
    let mut command = Command::new("openssl");
    command.arg("ocsp").arg("-issuer").arg(issuer);
    command.args(args);
    command
        .arg("-url")
        .arg(url)
        .arg("-CAfile")
        .arg(ca_file)
        .args(["-timeout", "30"]);
    let output = run_with_deadline(
        without_proxy(&mut command),
        std::time::Duration::from_secs(60),
    );
    output.assert_success("openssl ocsp");
    let text = format!("{}{}", output.stdout_text(), output.stderr_text());
    assert!(
        text.contains("Response verify OK"),
        "openssl ocsp did not verify the response\n{}",
        output.describe()
    );
    text
}

/// The status line `openssl ocsp` prints for a certificate (`<label>: good`).
pub fn ocsp_status_line(output: &str, label: &str) -> String {
    output
        .lines()
        .find(|l| l.starts_with(&format!("{label}: ")))
        .unwrap_or_else(|| panic!("openssl ocsp printed no status for {label}:\n{output}"))
        .to_string()
}

/// The lines `openssl ocsp` prints for one certificate: its status line and the indented
/// lines that follow it (`Reason:`, `Revocation Time:`, …).
pub fn ocsp_block(output: &str, label: &str) -> String {
    let mut lines = output
        .lines()
        .skip_while(|l| !l.starts_with(&format!("{label}: ")));
    let mut block = vec![lines
        .next()
        .unwrap_or_else(|| panic!("openssl ocsp printed no status for {label}:\n{output}"))];
    block.extend(lines.take_while(|l| l.starts_with('\t') || l.starts_with(' ')));
    block.join("\n")
}

/// The CA's policies with the bank's dual control applying to every bank certificate
/// (`scope = "all"`; the shipped scope is registered participants only), written to
/// `<tmp>/policies`.
pub fn policies_with_all_banks_under_dual_control(ca: &TestCa) -> PathBuf {
    let dir = copy_policies(ca.policies(), &ca.path("policies"));
    let bank = dir.join("bank.toml");
    let text = read_text(&bank).replace("scope = \"participants\"", "scope = \"all\"");
    std::fs::write(&bank, text).unwrap();
    dir
}

/// The shipped policies with every role's renewal window as wide as its longest validity,
/// so that a certificate may be renewed at once; written to `<tmp>/policies-open-renewal`.
pub fn policies_with_open_renewal(ca: &TestCa) -> PathBuf {
    let dir = copy_policies(&shipped_policies(), &ca.path("policies-open-renewal"));
    for role in ROLES {
        let path = dir.join(format!("{role}.toml"));
        let text = read_text(&path);
        let max_days = Policy::load(&dir, role).validity.max_days;
        let mut replaced = false;
        let text: String = text
            .lines()
            .map(|line| {
                if line.trim_start().starts_with("renewal_window_days") {
                    replaced = true;
                    format!("renewal_window_days = {max_days}\n")
                } else {
                    format!("{line}\n")
                }
            })
            .collect();
        assert!(replaced, "{}: no renewal_window_days", path.display());
        std::fs::write(&path, text).unwrap();
    }
    dir
}

// ---------------------------------------------------------------------------------------
// Resources and raw connections (tests/hardening_http.rs)
// ---------------------------------------------------------------------------------------

impl<'a> TestServer<'a> {
    /// [`TestServer::start_with`] through `sh -c '<shell_prefix>; exec paypki serve …'`,
    /// e.g. with `ulimit -Hn 400; ulimit -Sn 200` to start the server with other resource
    /// limits (the shell execs, so [`TestServer::pid`] is the server's).
    pub fn start_under_shell(ca: &'a TestCa, shell_prefix: &str, extra_args: &[&str]) -> Self {
        static STARTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log_path = ca.path(&format!("server-shell-{n}.log"));
        let log = std::fs::File::create(&log_path).expect("cannot create the server log");
        let log_err = log.try_clone().expect("cannot clone the server log handle");
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("{shell_prefix}; exec \"$0\" \"$@\""))
            .arg(PAYPKI)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra_args)
            .arg("--data-dir")
            .arg(ca.data_dir())
            .arg("--policies")
            .arg(ca.policies())
            .current_dir(ca.temp_dir())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::from(log))
            .stderr(std::process::Stdio::from(log_err));
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("PAYPKI_") {
                command.env_remove(name);
            }
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start sh -c … {PAYPKI} serve: {e}"));
        let mut server = TestServer {
            ca,
            child: Some(child),
            url: String::new(),
            admin_token: String::new(),
            log_path,
            agent: test_agent(),
        };
        server.wait_ready();
        server
    }

    /// The server's socket address (`127.0.0.1:PORT`).
    pub fn address(&self) -> std::net::SocketAddr {
        self.url
            .trim_start_matches("http://")
            .parse()
            .unwrap_or_else(|e| panic!("{}: not an address: {e}", self.url))
    }

    /// The value of one series of `GET /metrics`, e.g. `paypki_connections_open` or
    /// `paypki_errors_total{status="429"}`; `None` when the server does not export it.
    pub fn metric(&self, series: &str) -> Option<f64> {
        let text = self.get("/metrics").text();
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .find_map(|line| {
                let (name, value) = line.rsplit_once(' ')?;
                (name == series).then(|| value.parse().ok()).flatten()
            })
    }

    /// A field of `/proc/<server pid>/status` in KiB, e.g. `VmRSS`.
    pub fn proc_status_kib(&self, field: &str) -> u64 {
        proc_status_kib(self.pid(), field)
    }
}

/// A field of `/proc/<pid>/status` in KiB (`VmRSS`, `VmHWM`…); panics if absent.
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status:\n{status}"))
}

/// The soft and hard "Max open files" of a process (`/proc/<pid>/limits`), as written
/// there (a number or `unlimited`).
pub fn open_file_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/limits: {e}"));
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap_or_else(|| panic!("no Max open files in /proc/{pid}/limits:\n{limits}"));
    let mut fields = line["Max open files".len()..].split_whitespace();
    (
        fields.next().unwrap_or_default().to_string(),
        fields.next().unwrap_or_default().to_string(),
    )
}

/// A TCP connection to `server` whose source address is `local` (any address of
/// 127.0.0.0/8 is this machine's), so that a test can play a second client with its own
/// address. Blocking, with a 30 s read timeout.
pub fn connect_from(local: std::net::IpAddr, server: std::net::SocketAddr) -> std::net::TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("a tokio runtime");
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket
            .bind(std::net::SocketAddr::new(local, 0))
            .unwrap_or_else(|e| panic!("cannot bind {local}: {e}"));
        socket
            .connect(server)
            .await
            .unwrap_or_else(|e| panic!("cannot connect from {local} to {server}: {e}"))
    });
    let stream = stream.into_std().expect("a std stream");
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    stream
}

/// Reads one HTTP/1.1 response (with a `Content-Length`) from a raw connection; `None`
/// when the server closed the connection (or reset it, or timed out) before a whole
/// response arrived.
pub fn read_raw_response(stream: &mut std::net::TcpStream) -> Option<HttpResponse> {
    use std::io::Read;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_string();
            let mut lines = head.lines();
            let status = lines
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|c| c.parse().ok())?;
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
                .collect();
            let length = headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .and_then(|(_, v)| v.parse::<usize>().ok())
                .unwrap_or(0);
            if raw.len() >= end + 4 + length {
                return Some(HttpResponse {
                    status,
                    headers,
                    body: raw[end + 4..end + 4 + length].to_vec(),
                });
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Sends a raw HTTP/1.1 request (`Connection: close`) on `stream` and reads the answer.
pub fn raw_request(
    stream: &mut std::net::TcpStream,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Option<HttpResponse> {
    use std::io::Write;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: paypki.test\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(content_type) = content_type {
        request.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes).ok()?;
    read_raw_response(stream)
}

/// The named cases of one scenario. Each runs even when an earlier one failed, and
/// [`Cases::finish`] fails the test listing every failed case, so that the first failure
/// of a long scenario does not hide the rest.
#[derive(Debug, Default)]
pub struct Cases {
    ran: usize,
    failures: Vec<String>,
}

impl Cases {
    /// No cases yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs one named case; a panic inside it is recorded, not propagated.
    pub fn case(&mut self, name: &str, check: impl FnOnce()) {
        self.ran += 1;
        if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panicked".into());
            self.failures.push(format!("{name}: {message}"));
        }
    }

    /// Fails the test if any case failed, naming each.
    #[track_caller]
    pub fn finish(self) {
        assert!(
            self.failures.is_empty(),
            "{} of {} cases failed:\n\n{}",
            self.failures.len(),
            self.ran,
            self.failures.join("\n\n")
        );
    }
}

/// One Server-Sent Event as read off the wire.
#[derive(Debug, Clone, Default)]
pub struct SseEvent {
    /// `id:`.
    pub id: Option<String>,
    /// `event:`.
    pub event: Option<String>,
    /// `data:` (lines joined with `\n`).
    pub data: String,
}

impl SseEvent {
    /// The data as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("SSE data is not JSON ({e}): {}", self.data))
    }
}

/// A raw HTTP/1.1 client of a `text/event-stream` (`GET path` with extra headers).
pub struct SseClient {
    stream: std::net::TcpStream,
    buffer: Vec<u8>,
    /// The response head (status line and headers).
    pub head: String,
}

impl SseClient {
    /// Connects to `base` (`http://127.0.0.1:PORT`) and sends `GET path`.
    pub fn connect(base: &str, path: &str, headers: &[(&str, &str)]) -> Self {
        use std::io::Write;
        let address = base.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(address)
            .unwrap_or_else(|e| panic!("cannot connect to {address}: {e}"));
        let mut request =
            format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nAccept: text/event-stream\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream
            .write_all(request.as_bytes())
            .expect("send the request");
        let mut client = SseClient {
            stream,
            buffer: Vec::new(),
            head: String::new(),
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Some(end) = find(&client.buffer, b"\r\n\r\n") {
                client.head = String::from_utf8_lossy(&client.buffer[..end]).into_owned();
                client.buffer.drain(..end + 4);
                break;
            }
            assert!(client.fill(deadline), "no response head from {base}{path}");
        }
        client
    }

    /// The status code of the response.
    pub fn status(&self) -> u16 {
        self.head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    fn fill(&mut self, deadline: std::time::Instant) -> bool {
        use std::io::Read;
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        self.stream
            .set_read_timeout(Some(left.max(std::time::Duration::from_millis(10))))
            .expect("set a read timeout");
        let mut chunk = [0u8; 16384];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                false
            }
            Err(e) => panic!("reading the event stream: {e}"),
        }
    }

    /// The next event (comments and chunk framing skipped) within `within`, if any.
    pub fn next_event(&mut self, within: std::time::Duration) -> Option<SseEvent> {
        let deadline = std::time::Instant::now() + within;
        loop {
            // The body is chunked: strip the chunk-size lines by reading events as
            // blocks of `field: value` lines, ignoring lines that are hex sizes.
            let text = String::from_utf8_lossy(&self.buffer).into_owned();
            if let Some(end) = text.find("\n\n") {
                let block: String = text[..end].to_string();
                self.buffer.drain(..end + 2);
                let mut event = SseEvent::default();
                let mut any = false;
                for line in block.split('\n').map(|l| l.trim_end_matches('\r')) {
                    if let Some(value) = line.strip_prefix("id:") {
                        event.id = Some(value.trim().to_string());
                        any = true;
                    } else if let Some(value) = line.strip_prefix("event:") {
                        event.event = Some(value.trim().to_string());
                        any = true;
                    } else if let Some(value) = line.strip_prefix("data:") {
                        if !event.data.is_empty() {
                            event.data.push('\n');
                        }
                        event
                            .data
                            .push_str(value.strip_prefix(' ').unwrap_or(value));
                        any = true;
                    }
                }
                if any {
                    return Some(event);
                }
                continue;
            }
            if !self.fill(deadline) {
                return None;
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
