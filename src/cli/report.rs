//! `paypki report` and `paypki completions`.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, CommandFactory, ValueEnum};

use super::admin::{backend, remote_records, Backend, READERS};
use super::officer::act_as;
use super::{CliError, Context};
use crate::model::Role;
use crate::report::{self, Period, ReportError, ReportRequest};

/// Options of `paypki report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// First day, YYYY-MM-DD (UTC; default: 29 days before --to).
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,
    /// Last day, YYYY-MM-DD (UTC; default: today).
    #[arg(long, value_name = "DATE")]
    pub to: Option<String>,
    /// One row per day, ISO week (named by its Monday) or month.
    #[arg(long, value_enum, default_value_t = Period::Day)]
    pub by: Period,
    /// Only this role.
    #[arg(long)]
    pub role: Option<Role>,
    /// table (aligned, for people), csv, json, or svg (a chart of the totals per period).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write here instead of to stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// The output formats of `paypki report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns that fit the terminal.
    Table,
    /// RFC 4180 CSV with a header line.
    Csv,
    /// One JSON document: the range and every row.
    Json,
    /// An SVG chart: issued, renewed, revoked and expired per period.
    Svg,
}

/// Options of `paypki completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: CompletionShell,
}

/// The shells `paypki completions` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    /// bash (source it, or put it in /etc/bash_completion.d/paypki)
    Bash,
    /// zsh (put it as _paypki in a directory of $fpath)
    Zsh,
    /// fish (put it in ~/.config/fish/completions/paypki.fish)
    Fish,
}

fn report_error(error: ReportError) -> CliError {
    match error {
        ReportError::Store(e) => CliError::Store(e),
        other => CliError::Usage(other.to_string()),
    }
}

pub(super) fn run(context: &Context, args: ReportArgs) -> Result<(), CliError> {
    let to = match &args.to {
        Some(text) => report::parse_date(text).map_err(report_error)?,
        None => time::OffsetDateTime::now_utc().date(),
    };
    let from = match &args.from {
        Some(text) => report::parse_date(text).map_err(report_error)?,
        None => to - time::Duration::days(29),
    };
    let request = ReportRequest {
        from,
        to,
        by: args.by,
        role: args.role,
    };
    let report = match backend(context)? {
        Backend::Local(store) => {
            act_as(context, &store, READERS)?;
            report::from_store(&*store, &request).map_err(report_error)?
        }
        Backend::Remote(client) => {
            let query = args.role.map(|r| format!("role={r}")).into_iter().collect();
            let records = remote_records(&client, query)?;
            report::compute(records.iter(), &request).map_err(report_error)?
        }
    };
    let text = match args.format {
        Format::Json => format!("{}\n", report::json(&report)),
        Format::Csv => report::csv(&report),
        Format::Svg => {
            let title = format!(
                "Certificates per {} {} to {}{}",
                match report.by {
                    Period::Day => "day",
                    Period::Week => "week",
                    Period::Month => "month",
                },
                report.from,
                report.to,
                report.role.map(|r| format!(" ({r})")).unwrap_or_default()
            );
            report::chart::report_svg(&report, &title)
                .map_err(|e| CliError::Failed(e.to_string()))?
        }
        Format::Table => {
            let rows = report
                .rows
                .iter()
                .map(|row| {
                    vec![
                        row.period.clone(),
                        row.role.to_string(),
                        row.issued.to_string(),
                        row.renewed.to_string(),
                        row.revoked.to_string(),
                        report::reasons_text(&row.revoked_by_reason),
                        row.expired.to_string(),
                    ]
                })
                .collect();
            super::table::render(
                &[
                    "PERIOD", "ROLE", "ISSUED", "RENEWED", "REVOKED", "REASONS", "EXPIRED",
                ],
                rows,
                &[2, 3, 4, 6],
            )
        }
    };
    write_out(args.out.as_ref(), text.as_bytes())
}

fn write_out(path: Option<&PathBuf>, bytes: &[u8]) -> Result<(), CliError> {
    match path {
        Some(path) => std::fs::write(path, bytes)
            .map_err(|e| CliError::Usage(format!("{}: {e}", path.display()))),
        None => std::io::stdout()
            .lock()
            .write_all(bytes)
            .map_err(|e| CliError::Failed(format!("cannot write output: {e}"))),
    }
}

pub(super) fn completions(args: CompletionsArgs) -> Result<(), CliError> {
    let shell = match args.shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
    };
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut super::Cli::command(), "paypki", &mut out);
    write_out(None, &out)
}
