//! `paypki token create`.

use clap::{Args, Subcommand};

use super::admin::{backend, local_ra, Backend};
use super::{CliError, Context};
use crate::wire::{token_grant, TokenCreateRequest, TokenCreated};

/// `paypki token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a one-time enrollment token; prints the token alone on stdout.
    Create(TokenCreateArgs),
}

/// Options of `paypki token create`: `--participant ID`, or `--role` and `--subject`.
#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// A registered participant (`paypki participant add`): the certificate gets the
    /// role, subject and SANs of its registry record.
    #[arg(long, value_name = "ID", conflicts_with_all = ["role", "subject", "sans"])]
    pub participant: Option<String>,
    /// The role the certificate will have: buyer, merchant, bank or gateway.
    #[arg(long, required_unless_present_any = ["participant", "batch"])]
    pub role: Option<String>,
    /// The subject the certificate will have, e.g. "CN=Shop,O=Shop Ltd,serialNumber=M1234567".
    #[arg(long, required_unless_present_any = ["participant", "batch"])]
    pub subject: Option<String>,
    /// Bulk onboarding: one token per line of FILE (`-` for stdin), each line a JSON object
    /// as `POST /v1/admin/tokens` takes (`{"participant": "…"}` or `{"role": …, "subject":
    /// …, "subject_alt_names": […], "ttl": …}`). Prints one JSON object per token, in the
    /// order of the lines; a progress bar on stderr when it is a terminal.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["participant", "role", "subject", "sans", "ttl"])]
    pub batch: Option<std::path::PathBuf>,
    /// A SAN the certificate will have (repeatable): dns:NAME, email:ADDRESS, uri:URI, ip:ADDRESS.
    #[arg(long = "san")]
    pub sans: Vec<String>,
    /// Lifetime, e.g. 24h (default: the role policy's token_ttl_hours).
    #[arg(long)]
    pub ttl: Option<String>,
    /// Print JSON (token, id, role, subject, expiry) instead of the token alone.
    #[arg(long)]
    pub json: bool,
}

pub(super) fn run(context: &Context, command: TokenCommand) -> Result<(), CliError> {
    let TokenCommand::Create(args) = command;
    if let Some(path) = &args.batch {
        return batch(context, path);
    }
    // The API takes the role in lowercase; the command line in any case.
    let role = args.role.map(|role| {
        role.parse::<crate::model::Role>()
            .map(|role| role.to_string())
            .unwrap_or(role)
    });
    let request = TokenCreateRequest {
        role,
        subject: args.subject,
        subject_alt_names: args.sans,
        ttl: args.ttl,
        participant: args.participant,
    };
    let created: TokenCreated = match backend(context)? {
        Backend::Local(store) => {
            let mut grant = token_grant(&request).map_err(|e| CliError::Usage(e.to_string()))?;
            let officer =
                super::officer::act_as(context, &store, &[crate::model::OfficerRole::RaOfficer])?;
            grant.created_by = Some(officer.name().to_string());
            let ra = local_ra(context, store)?;
            TokenCreated::from(ra.create_token(grant, &officer.actor())?)
        }
        Backend::Remote(client) => client.post("/v1/admin/tokens", &request)?,
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&created).unwrap_or_default()
        );
    } else {
        println!("{}", created.token);
        eprintln!(
            "token for {} \"{}\"{}, expires {}; it works once",
            created.role,
            created.subject,
            created
                .participant
                .as_ref()
                .map(|p| format!(" (participant {p})"))
                .unwrap_or_default(),
            created.expires_at
        );
    }
    Ok(())
}

/// Tokens made per request (or store transaction) of a batch: each chunk is created all
/// or none, and the progress bar moves once per chunk.
const CHUNK: usize = 500;

/// `paypki token create --batch FILE`.
fn batch(context: &Context, path: &std::path::Path) -> Result<(), CliError> {
    use std::io::{BufRead, Write};
    let text = if path == std::path::Path::new("-") {
        let mut text = String::new();
        for line in std::io::stdin().lock().lines() {
            let line = line.map_err(|e| CliError::Usage(format!("stdin: {e}")))?;
            text.push_str(&line);
            text.push('\n');
        }
        text
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?
    };
    // Every line is read before anything is created: a bad line 900 creates nothing.
    let requests = text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str::<TokenCreateRequest>(line)
                .map_err(|e| CliError::Usage(format!("{} line {}: {e}", path.display(), i + 1)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let progress = super::progress(requests.len() as u64, "tokens");
    let mut out = std::io::stdout().lock();
    let mut print = |created: &[TokenCreated]| -> Result<(), CliError> {
        for token in created {
            writeln!(out, "{}", serde_json::to_string(token).unwrap_or_default())
                .map_err(|e| CliError::Failed(format!("cannot write output: {e}")))?;
        }
        progress.inc(created.len() as u64);
        Ok(())
    };
    let mut done = 0usize;
    let result = match backend(context)? {
        Backend::Local(store) => {
            let officer =
                super::officer::act_as(context, &store, &[crate::model::OfficerRole::RaOfficer])?;
            let ra = local_ra(context, store)?;
            requests.chunks(CHUNK).try_for_each(|chunk| {
                let grants = chunk
                    .iter()
                    .map(|request| {
                        token_grant(request)
                            .map(|mut grant| {
                                grant.created_by = Some(officer.name().to_string());
                                grant
                            })
                            .map_err(|e| CliError::Usage(e.to_string()))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let created: Vec<TokenCreated> = ra
                    .create_tokens(grants, &officer.actor())?
                    .into_iter()
                    .map(TokenCreated::from)
                    .collect();
                done += created.len();
                print(&created)
            })
        }
        Backend::Remote(client) => requests.chunks(CHUNK).try_for_each(|chunk| {
            let created: BatchCreated = client.post(
                "/v1/admin/tokens/batch",
                &serde_json::json!({ "items": chunk }),
            )?;
            done += created.tokens.len();
            print(&created.tokens)
        }),
    };
    progress.finish_and_clear();
    match result {
        Ok(()) => {
            eprintln!("{done} tokens created; each works once");
            Ok(())
        }
        Err(e) if done > 0 => Err(CliError::Failed(format!(
            "{e}; the first {done} tokens were created and printed, the rest not"
        ))),
        Err(e) => Err(e),
    }
}

#[derive(serde::Deserialize)]
struct BatchCreated {
    tokens: Vec<TokenCreated>,
}
