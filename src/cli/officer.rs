//! Who the CLI acts as, and `paypki officer add|list|disable|enable|rotate`.
//!
//! Every administrative command acts as the officer whose credential it is given:
//! `PAYPKI_OFFICER_CREDENTIAL` (the credential itself), else the file named by
//! `PAYPKI_OFFICER_CREDENTIAL_FILE`, else `admin.token` in the data directory (where
//! `init` writes the first officer's). A credential file must not be readable by others.
//! Offline the command checks the credential and the role against the database itself;
//! while `paypki serve` holds the database it sends the credential to the admin API.

use clap::{Args, Subcommand};
use serde::Deserialize;

use super::admin::{backend, Backend};
use super::{CliError, Context};
use crate::model::OfficerRole;
use crate::ra::officers::{self, AuthMethod, Officer, OfficerCredential, OfficerView};

/// The environment variable holding an officer credential.
pub(crate) const CREDENTIAL_ENV: &str = "PAYPKI_OFFICER_CREDENTIAL";
/// The environment variable naming a file that holds an officer credential.
pub(crate) const CREDENTIAL_FILE_ENV: &str = "PAYPKI_OFFICER_CREDENTIAL_FILE";

/// The credential this CLI process acts with, and where it came from.
pub(crate) fn credential(dir: &crate::config::DataDir) -> Result<(String, AuthMethod), CliError> {
    if let Some(secret) = std::env::var(CREDENTIAL_ENV)
        .ok()
        .filter(|s| !s.trim().is_empty())
    {
        return Ok((secret.trim().to_string(), AuthMethod::CliEnvironment));
    }
    let path = std::env::var_os(CREDENTIAL_FILE_ENV)
        .filter(|p| !p.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.admin_credential());
    let metadata = std::fs::metadata(&path).map_err(|e| {
        CliError::Failed(format!(
            "{}: {e} (an officer credential is needed: set {CREDENTIAL_ENV}, or {CREDENTIAL_FILE_ENV} to a 0600 file holding it)",
            path.display()
        ))
    })?;
    {
        use std::os::unix::fs::PermissionsExt;
        if metadata.permissions().mode() & 0o077 != 0 {
            return Err(CliError::Failed(format!(
                "{}: an officer credential file must be readable by its owner only (chmod 600)",
                path.display()
            )));
        }
    }
    let secret = std::fs::read_to_string(&path)
        .map_err(|e| CliError::Failed(format!("{}: {e}", path.display())))?;
    Ok((
        secret.trim().to_string(),
        AuthMethod::CliFile(path.display().to_string()),
    ))
}

/// Authenticates the CLI's officer against the database (migrating a pre-officer admin
/// credential first) and checks that they hold one of `roles`.
pub(crate) fn act_as(
    context: &Context,
    store: &crate::store::SharedStore,
    roles: &[OfficerRole],
) -> Result<Officer, CliError> {
    store.migrate_admin_credential(time::OffsetDateTime::now_utc())?;
    let (secret, via) = credential(&context.data_dir)?;
    let officer =
        officers::authenticate(&**store, Some(&secret), via).map_err(crate::ra::RaError::from)?;
    officer
        .require_any(roles)
        .map_err(crate::ra::RaError::from)?;
    Ok(officer)
}

/// `paypki officer …`
#[derive(Debug, Subcommand)]
pub enum OfficerCommand {
    /// Add an officer with roles; prints the new officer's credential once (give it to
    /// them; it is not stored). Security officers only.
    Add(AddArgs),
    /// List the officers and their roles. Security officers and auditors.
    List(ListArgs),
    /// Disable an officer: their credential is refused from now on. Security officers.
    Disable(NameArgs),
    /// Enable a disabled officer again. Security officers.
    Enable(NameArgs),
    /// Replace an officer's credential (security officers: anyone's; anyone: their own);
    /// prints the new credential once. The old one stops working at once.
    Rotate(NameArgs),
}

/// Options of `paypki officer add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The officer's name: 1-64 of a-z, 0-9 and -.
    pub name: String,
    /// A role (repeat for several): ra-officer, revocation-officer, ca-operator,
    /// auditor, security-officer.
    #[arg(long = "role", required = true, value_enum)]
    pub roles: Vec<OfficerRole>,
    /// Write the credential to this new file (0600) instead of printing it.
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
}

/// Options of `paypki officer list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// An officer's name (and where a new credential goes).
#[derive(Debug, Args)]
pub struct NameArgs {
    /// The officer's name.
    pub name: String,
    /// For `rotate`: write the credential to this new file (0600) instead of printing it.
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
}

#[derive(Debug, Deserialize)]
struct OfficerList {
    officers: Vec<OfficerView>,
}

#[derive(Debug, Deserialize)]
struct CreatedCredential {
    #[serde(flatten)]
    officer: OfficerView,
    credential: String,
}

pub(super) fn run(context: &Context, command: OfficerCommand) -> Result<(), CliError> {
    let now = time::OffsetDateTime::now_utc();
    match command {
        OfficerCommand::Add(args) => {
            let created = match backend(context)? {
                Backend::Local(store) => {
                    let by = act_as(context, &store, &[OfficerRole::SecurityOfficer])?;
                    let made = officers::add(&*store, &by, &args.name, args.roles, now)
                        .map_err(crate::ra::RaError::from)?;
                    into_created(made)
                }
                Backend::Remote(client) => client.post(
                    "/v1/admin/officers",
                    &serde_json::json!({ "name": args.name, "roles": args.roles }),
                )?,
            };
            deliver(&created, args.out.as_deref())
        }
        OfficerCommand::List(args) => {
            let list = match backend(context)? {
                Backend::Local(store) => {
                    let by = act_as(
                        context,
                        &store,
                        &[OfficerRole::SecurityOfficer, OfficerRole::Auditor],
                    )?;
                    officers::list(&*store, &by).map_err(crate::ra::RaError::from)?
                }
                Backend::Remote(client) => {
                    client.get::<OfficerList>("/v1/admin/officers")?.officers
                }
            };
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list)
                        .map_err(|e| CliError::Failed(e.to_string()))?
                );
            } else {
                println!("{:<24} {:<9} ROLES", "NAME", "STATE");
                for officer in &list {
                    let roles: Vec<&str> = officer.roles.iter().map(|r| r.as_str()).collect();
                    println!(
                        "{:<24} {:<9} {}",
                        officer.name,
                        if officer.disabled {
                            "disabled"
                        } else {
                            "active"
                        },
                        roles.join(", ")
                    );
                }
            }
            Ok(())
        }
        OfficerCommand::Disable(args) | OfficerCommand::Enable(args) if args.out.is_some() => {
            Err(CliError::Usage("--out is for `officer rotate`".into()))
        }
        OfficerCommand::Disable(args) => set_disabled(context, &args.name, true),
        OfficerCommand::Enable(args) => set_disabled(context, &args.name, false),
        OfficerCommand::Rotate(args) => {
            let rotated = match backend(context)? {
                Backend::Local(store) => {
                    // Anyone may rotate their own credential; `rotate` checks the rest.
                    let by = act_as(context, &store, &OfficerRole::ALL)?;
                    into_created(
                        officers::rotate(&*store, &by, &args.name, now)
                            .map_err(crate::ra::RaError::from)?,
                    )
                }
                Backend::Remote(client) => client.post(
                    &format!("/v1/admin/officers/{}/rotate", args.name),
                    &serde_json::json!({}),
                )?,
            };
            deliver(&rotated, args.out.as_deref())
        }
    }
}

fn into_created(made: OfficerCredential) -> CreatedCredential {
    CreatedCredential {
        officer: made.officer,
        credential: made.credential,
    }
}

fn set_disabled(context: &Context, name: &str, disabled: bool) -> Result<(), CliError> {
    let view = match backend(context)? {
        Backend::Local(store) => {
            let by = act_as(context, &store, &[OfficerRole::SecurityOfficer])?;
            officers::set_disabled(&*store, &by, name, disabled)
                .map_err(crate::ra::RaError::from)?
        }
        Backend::Remote(client) => client.post(
            &format!(
                "/v1/admin/officers/{name}/{}",
                if disabled { "disable" } else { "enable" }
            ),
            &serde_json::json!({}),
        )?,
    };
    eprintln!(
        "officer {} is {}",
        view.name,
        if view.disabled { "disabled" } else { "enabled" }
    );
    Ok(())
}

/// Prints the credential alone on stdout, or writes it to a new 0600 file.
fn deliver(created: &CreatedCredential, out: Option<&std::path::Path>) -> Result<(), CliError> {
    let roles: Vec<&str> = created.officer.roles.iter().map(|r| r.as_str()).collect();
    match out {
        Some(path) => {
            crate::ca::keys::write_private_file(
                path,
                format!("{}\n", created.credential).as_bytes(),
            )?;
            eprintln!(
                "officer {} ({}): credential written to {} (0600)",
                created.officer.name,
                roles.join(", "),
                path.display()
            );
        }
        None => {
            println!("{}", created.credential);
            eprintln!(
                "officer {} ({}): the credential above is shown once; give it to the officer",
                created.officer.name,
                roles.join(", ")
            );
        }
    }
    Ok(())
}
