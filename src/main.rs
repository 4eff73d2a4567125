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
    match cli.run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(e.exit_code())
        }
    }
}
