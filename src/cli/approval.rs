//! `paypki approval list|show|approve|reject`: dual control from the command line, as
//! the officer whose credential the CLI has (offline, or through the running server).

use clap::{Args, Subcommand};
use serde::Deserialize;

use super::admin::{backend, Backend};
use super::officer::act_as;
use super::{CliError, Context};
use crate::model::OfficerRole;
use crate::ra::approvals::ApprovalView;

/// `paypki approval …`
#[derive(Debug, Subcommand)]
pub enum ApprovalCommand {
    /// List requests waiting for approval (or all with --all).
    List(ListArgs),
    /// Show one request: what it will do, who asked, who approved.
    Show(IdArgs),
    /// Approve a request (not your own); with enough approvals it is carried out.
    Approve(IdArgs),
    /// Reject a request: nothing is done.
    Reject(RejectArgs),
}

/// Options of `paypki approval list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Every request, not only pending ones.
    #[arg(long)]
    pub all: bool,
    /// JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// A request id.
#[derive(Debug, Args)]
pub struct IdArgs {
    /// The request, `apr_…`.
    pub id: String,
}

/// Options of `paypki approval reject`.
#[derive(Debug, Args)]
pub struct RejectArgs {
    /// The request, `apr_…`.
    pub id: String,
    /// Why, for the requester.
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, Deserialize)]
struct ApprovalList {
    approvals: Vec<ApprovalView>,
}

const DECIDERS: &[OfficerRole] = &[
    OfficerRole::RaOfficer,
    OfficerRole::RevocationOfficer,
    OfficerRole::Auditor,
];

pub(super) fn run(context: &Context, command: ApprovalCommand) -> Result<(), CliError> {
    let backend = backend(context)?;
    match command {
        ApprovalCommand::List(args) => {
            let views: Vec<ApprovalView> = match &backend {
                Backend::Local(store) => {
                    act_as(context, store, DECIDERS)?;
                    let ra = super::admin::revocation_ra(context, store.clone())?;
                    ra.approvals(usize::MAX)?
                        .iter()
                        .map(ApprovalView::from)
                        .collect()
                }
                Backend::Remote(client) => {
                    client
                        .get::<ApprovalList>("/v1/admin/approvals?limit=100000")?
                        .approvals
                }
            };
            let views: Vec<&ApprovalView> = views
                .iter()
                .filter(|v| args.all || v.status == crate::store::ApprovalStatus::Pending)
                .collect();
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&views)
                        .map_err(|e| CliError::Failed(e.to_string()))?
                );
            } else {
                println!(
                    "{:<37} {:<8} {:<8} {:<9} SUMMARY",
                    "ID", "ACT", "ROLE", "STATUS"
                );
                for v in views {
                    println!(
                        "{:<37} {:<8} {:<8} {:<9} {}",
                        v.id,
                        v.act.as_str(),
                        v.role,
                        format!("{:?}", v.status).to_ascii_lowercase(),
                        v.summary
                    );
                }
            }
            Ok(())
        }
        ApprovalCommand::Show(args) => {
            let view = match &backend {
                Backend::Local(store) => {
                    act_as(context, store, DECIDERS)?;
                    let ra = super::admin::revocation_ra(context, store.clone())?;
                    ApprovalView::from(&ra.approval(&args.id)?)
                }
                Backend::Remote(client) => {
                    client.get(&format!("/v1/admin/approvals/{}", args.id))?
                }
            };
            print_view(&view)
        }
        ApprovalCommand::Approve(args) => {
            let view = match &backend {
                Backend::Local(store) => {
                    // The act's role is checked by `approve`, which knows the act.
                    let me = act_as(context, store, &OfficerRole::ALL)?;
                    let ra = super::admin::local_ra(context, store.clone())?;
                    ApprovalView::from(&ra.approve(&args.id, &me)?)
                }
                Backend::Remote(client) => client.post(
                    &format!("/v1/admin/approvals/{}/approve", args.id),
                    &serde_json::json!({}),
                )?,
            };
            print_view(&view)
        }
        ApprovalCommand::Reject(args) => {
            let view = match &backend {
                Backend::Local(store) => {
                    let me = act_as(context, store, &OfficerRole::ALL)?;
                    let ra = super::admin::revocation_ra(context, store.clone())?;
                    ApprovalView::from(&ra.reject(&args.id, &me, &args.reason)?)
                }
                Backend::Remote(client) => client.post(
                    &format!("/v1/admin/approvals/{}/reject", args.id),
                    &serde_json::json!({ "reason": args.reason }),
                )?,
            };
            print_view(&view)
        }
    }
}

fn print_view(view: &ApprovalView) -> Result<(), CliError> {
    println!(
        "{}",
        serde_json::to_string_pretty(view).map_err(|e| CliError::Failed(e.to_string()))?
    );
    if let Some(failure) = &view.failure {
        return Err(CliError::Failed(format!(
            "request {} was approved but could not be carried out: {failure}",
            view.id
        )));
    }
    Ok(())
}
