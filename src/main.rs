//! The `paypki` binary: wiring only.
#![forbid(unsafe_code)]

use clap::Parser;

/// mimalloc instead of glibc's malloc: issuance allocates and frees from many threads
/// (the request's blocking thread, the batch that records it, the OCSP pre-signer), and
/// glibc's arenas spent about 15 % of the server's CPU under an enrollment wave
/// (docs/PERFORMANCE.md, issue 16). Built without transparent huge pages (`no_thp`):
/// with them the kernel spent 9 % of that CPU zeroing 2 MiB pages mimalloc had returned.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PAYPKI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // PAYPKI_LOG_FORMAT=json: one JSON object per line, for log shippers.
    if std::env::var("PAYPKI_LOG_FORMAT").is_ok_and(|f| f == "json") {
        logs.json().init();
    } else {
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    let cli = paypki::cli::Cli::parse();
    if matches!(cli.command, paypki::cli::Command::Crl(_)) {
        release_freed_memory_at_once();
    }
    match cli.run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(e.exit_code())
        }
    }
}

/// `paypki crl` is a process of its own whose peak memory is its cost (a million entries
/// pass through it), so mimalloc must hand freed pages back at once instead of keeping
/// them for later allocations: 158–180 MiB at 1,000,000 revocations by default, 125 MiB
/// so (docs/PERFORMANCE.md). mimalloc reads its options from the environment before
/// `main` runs, so the process runs itself again with the option set; should that fail,
/// it goes on as it is.
fn release_freed_memory_at_once() {
    const OPTION: &str = "MIMALLOC_PURGE_DELAY";
    if std::env::var_os(OPTION).is_some() {
        return;
    }
    let Ok(binary) = std::env::current_exe() else {
        return;
    };
    let error = std::os::unix::process::CommandExt::exec(
        std::process::Command::new(binary)
            .args(std::env::args_os().skip(1))
            .env(OPTION, "0"),
    );
    tracing::debug!(%error, "could not run again with mimalloc's pages released at once");
}
