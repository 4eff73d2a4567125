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
    #[arg(long, required_unless_present = "participant")]
    pub role: Option<String>,
    /// The subject the certificate will have, e.g. "CN=Shop,O=Shop Ltd,serialNumber=M1234567".
    #[arg(long, required_unless_present = "participant")]
    pub subject: Option<String>,
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
