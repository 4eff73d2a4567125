//! `paypki policy check`: loads and checks the four role policy files, as `serve` does
//! before it starts, without touching a data directory.

use clap::Subcommand;

use super::{CliError, Context};
use crate::model::Role;
use crate::ra::Policies;

/// `paypki policy …`
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Check buyer.toml, merchant.toml, bank.toml and gateway.toml in --policies; print
    /// one line per role, or the first error (exit status 1). `serve` runs the same
    /// checks before it starts, so check edited files here before restarting a server.
    Check,
}

pub(super) fn run(context: &Context, command: PolicyCommand) -> Result<(), CliError> {
    let PolicyCommand::Check = command;
    let policies = Policies::load(&context.policies)?;
    for role in Role::ALL {
        let Some(profile) = policies.profile(role) else {
            return Err(CliError::Failed(format!("no {role} policy was loaded")));
        };
        let oid: Vec<String> = profile.policy_oid.iter().map(u64::to_string).collect();
        println!(
            "{role}: OK (OID {}, {} days, renewal {})",
            oid.join("."),
            profile.default_validity.whole_days(),
            if profile.enrollment.renewal {
                "allowed"
            } else {
                "off"
            }
        );
    }
    eprintln!(
        "the policies in {} are valid; a running server reads them only when it starts",
        context.policies.display()
    );
    Ok(())
}
