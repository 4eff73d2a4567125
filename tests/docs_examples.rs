//! Documentation that runs: every shell example in README.md and docs/*.md, in order, as
//! a reader pastes them, against a real `paypki serve` on a free port.
//!
//! How a page is run (docs/testing.md says the same for authors):
//!
//! * Every fenced block whose info string is `sh` runs. All of a page's blocks run in one
//!   `bash` session (`set -Eeuo pipefail`), in the page's order, in a fresh directory
//!   laid out like the repository root: `policies/` (the shipped ones),
//!   `target/release/paypki` (the binary under test, for the README's alias) and
//!   `ca-data/` with the repository's README.md (its development mark). `paypki` is on
//!   `PATH`.
//! * A page whose examples need the quick start's server says so with
//!   `<!-- doc-examples: server -->`: the runner starts `paypki serve` in that directory
//!   (a development CA in `ca-data/`, as the README's quick start) on a free port.
//!   Other pages start what they need themselves.
//! * `PAYPKI_URL` (`http://127.0.0.1:<port>`) and `PAYPKI_LISTEN` (`127.0.0.1:<port>`)
//!   are exported; examples read the address from them (`${PAYPKI_URL:-http://127.0.0.1:8080}`
//!   for the reader, whose quick-start server is on 8080) and never hard-code a port.
//! * A block that is not meant to run is not `sh` (`text`, `json`, `toml`, `nginx`, …),
//!   or is preceded by `<!-- not run: <why> -->`. Every fence names its language; a bare
//!   fence, or `bash`/`shell`/`console` with shell commands, fails the test, so no
//!   example escapes the runner by accident.
//! * An example may not use `jq` (not on a fresh machine; python3 is).
//!
//! A failing command fails the page's test, naming the page, the block and its line.

// Test code may panic freely (a panic is a test failure).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// Every page the runner knows, with its test below; `every_page_has_a_test` keeps this
/// list equal to README.md plus docs/*.md.
const PAGES: &[&str] = &[
    "README.md",
    "docs/PERFORMANCE.md",
    "docs/api.md",
    "docs/architecture.md",
    "docs/fuzzing.md",
    "docs/operations.md",
    "docs/policies.md",
    "docs/security.md",
    "docs/testing.md",
    "docs/verification.md",
];

/// How long one page may take.
const PAGE_LIMIT: Duration = Duration::from_secs(600);

/// What [`check_not_run`] accepts and refuses: a page cannot name a script, option,
/// fuzz target, test file or subcommand the repository does not have.
#[test]
fn blocks_that_are_not_run_are_still_checked() {
    let block = |text: &str| Block {
        line: 1,
        language: "sh".into(),
        text: text.into(),
        not_run: Some("run elsewhere, for this test".into()),
    };
    check_not_run(
        "self-test",
        &block(
            "scripts/bench --skip-1m   # a comment\nscripts/fuzz 600 csr_policy\n\
             cargo test --test docs_examples docs_api\ncargo run --release -- serve\n\
             cargo +nightly fuzz run -a <target>",
        ),
    );
    for wrong in [
        "scripts/no-such-script",
        "scripts/bench --no-such-option",
        "scripts/fuzz 60 no_such_target",
        "cargo test --test no_such_test",
        "cargo run --release -- no-such-subcommand",
        "rm -rf /tmp/anything",
    ] {
        let refused = std::panic::catch_unwind(|| check_not_run("self-test", &block(wrong)));
        assert!(refused.is_err(), "accepted: {wrong}");
    }
}

#[test]
fn readme() {
    run_page("README.md");
}

#[test]
fn docs_performance() {
    run_page("docs/PERFORMANCE.md");
}

#[test]
fn docs_api() {
    run_page("docs/api.md");
}

#[test]
fn docs_architecture() {
    run_page("docs/architecture.md");
}

#[test]
fn docs_fuzzing() {
    run_page("docs/fuzzing.md");
}

#[test]
fn docs_operations() {
    run_page("docs/operations.md");
}

#[test]
fn docs_policies() {
    run_page("docs/policies.md");
}

#[test]
fn docs_security() {
    run_page("docs/security.md");
}

#[test]
fn docs_testing() {
    run_page("docs/testing.md");
}

#[test]
fn docs_verification() {
    run_page("docs/verification.md");
}

#[test]
fn every_page_has_a_test() {
    let mut found = vec!["README.md".to_string()];
    for entry in std::fs::read_dir(repo_dir().join("docs")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".md") {
            found.push(format!("docs/{name}"));
        }
    }
    found.sort();
    let mut known: Vec<String> = PAGES.iter().map(|p| p.to_string()).collect();
    known.sort();
    assert_eq!(
        found, known,
        "every page must be run: add a test for it in tests/docs_examples.rs (and to PAGES)"
    );
}

/// One fenced code block of a page.
#[derive(Debug)]
struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    /// The info string's first word (`sh`, `json`, …).
    language: String,
    /// The content, with the fence's indentation removed.
    text: String,
    /// `Some(reason)` when a `<!-- not run: reason -->` comment precedes the fence.
    not_run: Option<String>,
}

/// The fenced blocks of a Markdown page, in order; panics on an unterminated fence or
/// one without a language.
fn blocks(page: &str, markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let lines: Vec<&str> = markdown.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let trimmed = lines[i].trim_start();
        let Some(info) = trimmed.strip_prefix("```") else {
            i += 1;
            continue;
        };
        let indent = lines[i].len() - trimmed.len();
        let language = info.split_whitespace().next().unwrap_or("").to_string();
        assert!(
            !language.is_empty(),
            "{page}:{}: a fence without a language: write ```sh for an example that runs, ```text (or json, toml, …) for one that does not",
            i + 1
        );
        let not_run = lines[..i]
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .and_then(|l| l.trim().strip_prefix("<!-- not run:"))
            .map(|rest| rest.trim_end_matches("-->").trim().to_string());
        let start = i;
        let mut text = String::new();
        i += 1;
        loop {
            assert!(i < lines.len(), "{page}:{}: unterminated fence", start + 1);
            if lines[i].trim() == "```" {
                break;
            }
            let line = lines[i];
            let cut = line.len() - line.trim_start().len();
            text.push_str(line.get(cut.min(indent)..).unwrap_or(""));
            text.push('\n');
            i += 1;
        }
        out.push(Block {
            line: start + 1,
            language,
            text,
            not_run,
        });
        i += 1;
    }
    out
}

/// Checks a block the runner runs: the address from `PAYPKI_URL`/`PAYPKI_LISTEN` only,
/// and nothing a fresh machine lacks.
fn check_runnable(page: &str, block: &Block) {
    let without_defaults = block
        .text
        .replace(":-http://127.0.0.1:8080}", "}")
        .replace(":-127.0.0.1:8080}", "}");
    assert!(
        !without_defaults.contains("8080"),
        "{page}:{}: an example hard-codes port 8080; use \"$PAYPKI_URL\" (exported at the top of the page as ${{PAYPKI_URL:-http://127.0.0.1:8080}})\n{}",
        block.line,
        block.text
    );
    let uses_jq = block
        .text
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .any(|w| w == "jq");
    assert!(
        !uses_jq,
        "{page}:{}: jq is not on a fresh machine; use python3\n{}",
        block.line, block.text
    );
}

/// A block the page says is run elsewhere is still checked, without running it: every
/// command in it must be one the repository has, so the page cannot drift from it. A
/// repository script must exist, be executable and know every `--option` the block
/// gives it (its text, or its Python half's, names the option); `scripts/fuzz` may only
/// name fuzz targets that exist; `cargo test --test NAME` needs `tests/NAME.rs`; `cargo
/// run … -- SUBCOMMAND` needs paypki to have that subcommand; `cargo +nightly fuzz` needs
/// fuzz/. Anything else in such a block fails the runner.
fn check_not_run(page: &str, block: &Block) {
    let repo = repo_dir();
    for line in block.text.lines() {
        let command = line.split(" #").next().unwrap_or_default().trim();
        if command.is_empty() || command.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = command.split_whitespace().collect();
        let at = format!("{page}:{}: `{command}`", block.line);
        match words.as_slice() {
            [script, args @ ..] if script.starts_with("scripts/") => {
                let path = repo.join(script);
                let mode = std::fs::metadata(&path)
                    .unwrap_or_else(|e| panic!("{at}: {script} is not in the repository: {e}"))
                    .permissions()
                    .mode();
                assert!(mode & 0o111 != 0, "{at}: {script} is not executable");
                let mut text = read_text(&path);
                let python_half = path.with_extension("py");
                if python_half.exists() {
                    text.push_str(&read_text(&python_half));
                }
                for arg in args {
                    if arg.starts_with("--") {
                        assert!(text.contains(arg), "{at}: {script} knows no {arg}");
                    } else if *script == "scripts/fuzz" && arg.parse::<u64>().is_err() {
                        let target = repo.join("fuzz/fuzz_targets").join(format!("{arg}.rs"));
                        assert!(target.exists(), "{at}: there is no fuzz target {arg}");
                    }
                }
            }
            ["cargo", "test", .., "--test", name] | ["cargo", "test", .., "--test", name, _] => {
                assert!(
                    repo.join("tests").join(format!("{name}.rs")).exists(),
                    "{at}: there is no tests/{name}.rs"
                );
            }
            ["cargo", "run", rest @ ..] if rest.contains(&"--") => {
                let subcommand = rest
                    .iter()
                    .skip_while(|w| **w != "--")
                    .nth(1)
                    .unwrap_or_else(|| panic!("{at}: no subcommand after --"));
                let help = run(Command::new(PAYPKI).args([*subcommand, "--help"]));
                help.assert_success(&format!("{at}: paypki {subcommand} --help"));
            }
            ["cargo", "+nightly", "fuzz", ..] => {
                assert!(repo.join("fuzz/Cargo.toml").exists(), "{at}: no fuzz/");
            }
            _ => panic!(
                "{at}: a block that is not run may only name repository scripts and cargo \
                 commands the runner can check"
            ),
        }
    }
}

/// Runs every `sh` block of `page` in one bash session; panics with the output of the
/// failing block.
fn run_page(page: &str) {
    require_tools();
    require_tool("curl");
    require_tool("javac");
    let python = run(Command::new("python3").args(["-c", "import requests, cryptography"]));
    assert!(
        python.status.success(),
        "the examples need Python's requests and cryptography (scripts/test installs them)\n{}",
        python.describe()
    );
    let markdown = read_text(&repo_dir().join(page));
    let blocks = blocks(page, &markdown);
    let mut script = String::from(
        "set -Eeuo pipefail\nshopt -s expand_aliases\n\
         trap 'status=$?; echo \"doc-examples: ${DOC_WHERE:-?} failed (exit status $status) at: $BASH_COMMAND\" >&2' ERR\n\
         trap 'jobs -p | xargs -r kill 2>/dev/null || true' EXIT\n",
    );
    let mut runnable = 0;
    let mut skipped = Vec::new();
    for block in &blocks {
        match block.language.as_str() {
            "sh" => {}
            "bash" | "shell" | "zsh" | "console" => panic!(
                "{page}:{}: ```{} is neither run nor clearly not shell: write ```sh (it runs) or ```text (output)",
                block.line, block.language
            ),
            _ => continue,
        }
        if let Some(reason) = &block.not_run {
            assert!(
                reason.len() >= 10,
                "{page}:{}: <!-- not run: … --> must say why the block cannot run",
                block.line
            );
            check_not_run(page, block);
            skipped.push(format!("{page}:{}: {reason}", block.line));
            continue;
        }
        check_runnable(page, block);
        runnable += 1;
        script.push_str(&format!(
            "\n# --- {page}, block at line {line}\nDOC_WHERE='{page}, the block at line {line}'\n",
            line = block.line
        ));
        script.push_str(&block.text);
    }
    script.push_str("\necho \"doc-examples: every block ran\"\n");
    for skip in &skipped {
        eprintln!("checked without running (as the page says): {skip}");
    }
    if runnable == 0 {
        eprintln!("{page}: no shell examples");
        return;
    }

    let needs_server = markdown.contains("<!-- doc-examples: server -->");
    let work = TestCa::uninitialized();
    lay_out_like_the_repository(work.temp_dir());
    let server;
    let (url, listen) = if needs_server {
        server = Some(TestServer::start_listening(
            &work,
            &work.temp_dir().join("policies"),
            "127.0.0.1:0",
            &[],
        ));
        let url = server.as_ref().unwrap().url().to_string();
        let listen = url.trim_start_matches("http://").to_string();
        (url, listen)
    } else {
        server = None;
        let port = pick_free_port();
        (
            format!("http://127.0.0.1:{port}"),
            format!("127.0.0.1:{port}"),
        )
    };
    let script_path = work.path("doc-examples.sh");
    std::fs::write(&script_path, &script).unwrap();
    let log_path = work.path("doc-examples.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let bin = work.temp_dir().join("bin");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new("bash");
    command
        .arg("--noprofile")
        .arg("--norc")
        .arg(&script_path)
        .current_dir(work.temp_dir())
        .env("PATH", path)
        .env("PAYPKI_URL", &url)
        .env("PAYPKI_LISTEN", &listen)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    for (name, _) in std::env::vars_os() {
        let name_text = name.to_string_lossy();
        if name_text.starts_with("PAYPKI_") && name_text != "PAYPKI_URL" {
            command.env_remove(&name);
        }
    }
    without_proxy(&mut command);
    {
        use std::os::unix::process::CommandExt;
        // Its own process group: whatever the page starts in the background is stopped
        // with it.
        command.process_group(0);
    }
    let started = Instant::now();
    let mut child = command.spawn().expect("cannot run bash");
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > PAGE_LIMIT {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // Anything the page left running (its own `paypki serve &`): end it, by group id.
    let _ = Command::new("kill")
        .args(["-TERM", "--", &format!("-{}", child.id())])
        .stderr(std::process::Stdio::null())
        .status();
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let output = read_text(&log_path);
    let server_log = server.as_ref().map(|s| s.log()).unwrap_or_default();
    match status {
        Some(status) if status.success() => {
            eprintln!(
                "{page}: {runnable} blocks ran in {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
        Some(status) => panic!(
            "{page}: an example failed ({status})\n--- output (the last lines name the block) ---\n{}\n--- server log ---\n{}",
            tail(&output, 80),
            tail(&server_log, 30)
        ),
        None => panic!(
            "{page}: the examples did not finish within {PAGE_LIMIT:?}\n--- output ---\n{}",
            tail(&output, 80)
        ),
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The page's directory, as a reader's checkout: the shipped policies, the Java and
/// Python examples, `scripts/pg`, the repository's `ca-data/` marker, the binary under test as
/// `target/release/paypki` (the README's alias) and on `PATH` as `bin/paypki`.
fn lay_out_like_the_repository(dir: &Path) {
    copy_policies(&shipped_policies(), &dir.join("policies"));
    std::fs::create_dir_all(dir.join("examples")).unwrap();
    run(Command::new("cp")
        .arg("-r")
        .arg(repo_dir().join("examples/java"))
        .arg(repo_dir().join("examples/python"))
        .arg(dir.join("examples")))
    .assert_success("cp -r examples/java examples/python");
    // scripts/pg: the throw-away PostgreSQL server of docs/operations.md.
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    std::fs::copy(repo_dir().join("scripts/pg"), dir.join("scripts/pg")).unwrap();
    let data = dir.join("ca-data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(repo_dir().join("ca-data/README.md"), data.join("README.md")).unwrap();
    for link in [dir.join("target/release/paypki"), dir.join("bin/paypki")] {
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(PAYPKI, &link).unwrap();
    }
}

/// `(type suffix, title)` pairs of the error table in docs/api.md.
fn api_problem_table() -> Vec<(String, String)> {
    let api = read_text(&repo_dir().join("docs/api.md"));
    api.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let slug = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            let title = cells.get(3)?;
            (cells.get(2)?.parse::<u16>().is_ok()).then(|| (slug.to_string(), title.to_string()))
        })
        .collect()
}

/// `(slug, title)` pairs of every problem the server's code constructs: two adjacent
/// string literals `"slug", "Title"` (as in `Problem::new(status, "slug", "Title", …)`
/// and the JSON rejection table), compared without spaces.
fn problems_in_the_code() -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let dir: PathBuf = repo_dir().join("src/http");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        // Metric names and their help texts look the same and are not problems.
        .filter(|p| !p.ends_with("metrics.rs"))
        .collect();
    files.sort();
    for file in files {
        let text: String = read_text(&file)
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let pieces: Vec<&str> = text.split('"').collect();
        // pieces[i] is inside a literal when i is odd (escaped quotes do not occur here).
        for i in (1..pieces.len().saturating_sub(2)).step_by(2) {
            let (before, slug, between, title) =
                (pieces[i - 1], pieces[i], pieces[i + 1], pieces[i + 2]);
            let is_slug = !slug.is_empty()
                && slug.chars().all(|c| c.is_ascii_lowercase() || c == '-')
                && !slug.starts_with('-');
            if is_slug
                && (before.ends_with('(') || before.ends_with(','))
                && between == ","
                && title.starts_with(|c: char| c.is_ascii_uppercase())
            {
                pairs.push((slug.to_string(), title.to_string()));
            }
        }
    }
    pairs
}

#[test]
fn the_problem_table_in_api_md_matches_the_server() {
    let table = api_problem_table();
    assert!(table.len() > 20, "the error table was not found: {table:?}");
    let code = problems_in_the_code();
    assert!(code.len() > 20, "no problems found in src/http: {code:?}");
    // Titles in the code lose their spaces above; compare the same way.
    let squeeze = |s: &str| s.split_whitespace().collect::<String>();
    for (slug, title) in &code {
        let documented: Vec<&String> = table
            .iter()
            .filter(|(s, _)| s == slug)
            .map(|(_, t)| t)
            .collect();
        assert!(
            !documented.is_empty(),
            "docs/api.md's error table lacks urn:paypki:problem:{slug}"
        );
        assert!(
            documented.iter().any(|t| squeeze(t) == *title),
            "docs/api.md gives {slug} the title {documented:?}; the server says {title:?}"
        );
    }
}

#[test]
fn the_runner_reads_fences_and_markers() {
    let page = "intro\n\n<!-- not run: a reason that is long enough -->\n```sh\nexit 1\n```\n\n1. step\n\n   ```sh\n   echo indented\n   ```\n```text\nout\n```\n";
    let found = blocks("t.md", page);
    assert_eq!(found.len(), 3);
    assert_eq!(
        found[0].not_run.as_deref(),
        Some("a reason that is long enough")
    );
    assert_eq!(found[1].text, "echo indented\n");
    assert!(found[1].not_run.is_none());
    assert_eq!(found[2].language, "text");
    let bare = std::panic::catch_unwind(|| blocks("t.md", "```\nx\n```\n"));
    assert!(bare.is_err(), "a fence without a language must fail");
}
