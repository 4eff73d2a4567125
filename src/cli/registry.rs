//! `paypki participant add|list|show|update|suspend|resume|terminate`: the participant
//! registry, on the database itself or, while `paypki serve` holds it, through the admin
//! API (`/v1/admin/participants`). The participant's own commands (`enroll`, `renew`)
//! are in `participant.rs`.

use super::officer::act_as;
use crate::model::OfficerRole;
use clap::{Args, Subcommand};

use super::admin::{backend, local_ra, Backend};
use super::{CliError, Context};
use crate::model::Role;
use crate::store::{ParticipantFilter, ParticipantStatus};
use crate::wire::{ParticipantActResult, ParticipantBody, ParticipantView};

/// `paypki participant …`
#[derive(Debug, Subcommand)]
pub enum ParticipantCommand {
    /// Register a bank, merchant, gateway or buyer; prints its id alone on stdout.
    Add(AddArgs),
    /// List participants.
    List(ListArgs),
    /// Show one participant: its fields, the subject and SANs its certificates get, and
    /// its certificates.
    Show(ShowArgs),
    /// Change a participant's fields (not its role). Its certificates keep their names;
    /// new tokens and renewals get the new ones.
    Update(UpdateArgs),
    /// Suspend a participant: all its current certificates go on hold and it can neither
    /// enroll nor renew until resumed. Prints the serials put on hold.
    Suspend(ActArgs),
    /// Resume a suspended participant: lifts exactly the holds its suspension placed.
    /// Prints the serials taken off hold.
    Resume(ActArgs),
    /// Terminate a participant for good: all its current certificates are revoked
    /// (cessationOfOperation). Prints the serials revoked.
    Terminate(ActArgs),
}

/// The fields of a participant (each role uses some: see `paypki participant add --help`
/// and docs/operations.md).
#[derive(Debug, Args)]
pub struct FieldArgs {
    /// Display name: the certificate's CN.
    #[arg(long)]
    pub name: Option<String>,
    /// Bank, merchant: registered legal name (O).
    #[arg(long)]
    pub legal_name: Option<String>,
    /// Gateway: the operating company (O).
    #[arg(long)]
    pub operator: Option<String>,
    /// ISO 3166-1 alpha-2 country (C): bank and merchant need it.
    #[arg(long)]
    pub country: Option<String>,
    /// City (L): bank, merchant, gateway.
    #[arg(long)]
    pub locality: Option<String>,
    /// Bank: BIC (ISO 9362, 8 or 11 characters).
    #[arg(long)]
    pub bic: Option<String>,
    /// Merchant: merchant id assigned by the acquiring bank.
    #[arg(long)]
    pub merchant_id: Option<String>,
    /// Merchant: id of its acquiring bank (a bank participant).
    #[arg(long, value_name = "ID")]
    pub acquiring_bank: Option<String>,
    /// Buyer: customer or account reference at its bank.
    #[arg(long)]
    pub customer_reference: Option<String>,
    /// Buyer: id of its issuing bank (a bank participant).
    #[arg(long, value_name = "ID")]
    pub issuing_bank: Option<String>,
    /// Merchant, buyer: e-mail address for the certificate.
    #[arg(long)]
    pub email: Option<String>,
    /// A DNS name (repeatable): bank, merchant, gateway (which needs one). With
    /// `update`, the names given replace the list; `--dns ""` empties it.
    #[arg(long = "dns", value_name = "NAME")]
    pub dns_names: Vec<String>,
    /// A URI (repeatable): bank, merchant.
    #[arg(long = "uri", value_name = "URI")]
    pub uris: Vec<String>,
    /// An IP address (repeatable): gateway.
    #[arg(long = "ip", value_name = "ADDRESS")]
    pub ip_addresses: Vec<String>,
}

impl FieldArgs {
    fn body(self, role: Option<String>) -> ParticipantBody {
        // Not given: unchanged (None). `--dns ""` alone: the empty list.
        let list = |values: Vec<String>| -> Option<Vec<String>> {
            if values.is_empty() {
                None
            } else {
                Some(values.into_iter().filter(|v| !v.is_empty()).collect())
            }
        };
        ParticipantBody {
            role,
            name: self.name,
            legal_name: self.legal_name,
            operator: self.operator,
            country: self.country,
            locality: self.locality,
            bic: self.bic,
            merchant_id: self.merchant_id,
            acquiring_bank: self.acquiring_bank,
            customer_reference: self.customer_reference,
            issuing_bank: self.issuing_bank,
            email: self.email,
            dns_names: list(self.dns_names),
            uris: list(self.uris),
            ip_addresses: list(self.ip_addresses),
        }
    }
}

/// Options of `paypki participant add`.
#[derive(Debug, Args)]
#[command(after_help = "Fields by role (required; [optional]):
  bank:     --name --legal-name --country --bic [--locality --dns --uri]
  merchant: --name --legal-name --country --merchant-id --acquiring-bank [--locality --email --dns --uri]
  gateway:  --name --operator --dns [--country --locality --ip]
  buyer:    --name --customer-reference --issuing-bank [--country --email]")]
pub struct AddArgs {
    /// bank, merchant, gateway or buyer.
    #[arg(long)]
    pub role: Role,
    /// The fields.
    #[command(flatten)]
    pub fields: FieldArgs,
    /// Print the participant as JSON instead of its id alone.
    #[arg(long)]
    pub json: bool,
}

/// Options of `paypki participant list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this role.
    #[arg(long)]
    pub role: Option<Role>,
    /// Only this status: active, suspended or terminated.
    #[arg(long)]
    pub status: Option<ParticipantStatus>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Options of `paypki participant show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The participant's id (par_…).
    pub id: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Options of `paypki participant update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The participant's id (par_…).
    pub id: String,
    /// The fields to change; `--email ""` (and so on) clears an optional one.
    #[command(flatten)]
    pub fields: FieldArgs,
    /// Print the participant as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Options of `paypki participant suspend|resume|terminate`.
#[derive(Debug, Args)]
pub struct ActArgs {
    /// The participant's id (par_…).
    pub id: String,
    /// Print the outcome as JSON instead of the serials.
    #[arg(long)]
    pub json: bool,
}

impl clap::ValueEnum for ParticipantStatus {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            ParticipantStatus::Active,
            ParticipantStatus::Suspended,
            ParticipantStatus::Terminated,
        ]
    }
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

pub(super) fn run(context: &Context, command: ParticipantCommand) -> Result<(), CliError> {
    match command {
        ParticipantCommand::Add(args) => add(context, args),
        ParticipantCommand::List(args) => list(context, args),
        ParticipantCommand::Show(args) => show(context, args),
        ParticipantCommand::Update(args) => update(context, args),
        ParticipantCommand::Suspend(args) => act(context, args, Act::Suspend),
        ParticipantCommand::Resume(args) => act(context, args, Act::Resume),
        ParticipantCommand::Terminate(args) => act(context, args, Act::Terminate),
    }
}

fn print_json<T: serde::Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

fn add(context: &Context, args: AddArgs) -> Result<(), CliError> {
    let body = args.fields.body(Some(args.role.to_string()));
    let view: ParticipantView = match backend(context)? {
        Backend::Local(store) => {
            let officer = act_as(context, &store, &[OfficerRole::RaOfficer])?;
            let record = local_ra(context, store)?.add_participant(
                args.role,
                body.fields(),
                &officer.actor(),
            )?;
            ParticipantView::new(&record, Some(&[]))
        }
        Backend::Remote(client) => client.post("/v1/admin/participants", &body)?,
    };
    if args.json {
        print_json(&view);
    } else {
        println!("{}", view.id);
        eprintln!(
            "participant {} registered: {} \"{}\"",
            view.id, view.role, view.subject
        );
    }
    Ok(())
}

fn list(context: &Context, args: ListArgs) -> Result<(), CliError> {
    let views: Vec<ParticipantView> = match backend(context)? {
        Backend::Local(store) => {
            act_as(context, &store, super::admin::READERS)?;
            let ra = local_ra(context, store)?;
            let page = ra.participants(&ParticipantFilter {
                role: args.role,
                status: args.status,
                limit: None,
                after: None,
            })?;
            page.records
                .iter()
                .map(|r| ParticipantView::new(r, None))
                .collect()
        }
        Backend::Remote(client) => {
            let mut query = Vec::new();
            if let Some(role) = args.role {
                query.push(format!("role={role}"));
            }
            if let Some(status) = args.status {
                query.push(format!("status={status}"));
            }
            client.get_all::<ParticipantView>("/v1/admin/participants", "participants", query)?
        }
    };
    if args.json {
        print_json(&views);
    } else {
        println!("{:<28} {:<8} {:<10} SUBJECT", "ID", "ROLE", "STATUS");
        for view in &views {
            println!(
                "{:<28} {:<8} {:<10} {}",
                view.id, view.role, view.status, view.subject
            );
        }
    }
    Ok(())
}

fn show(context: &Context, args: ShowArgs) -> Result<(), CliError> {
    let view: ParticipantView = match backend(context)? {
        Backend::Local(store) => {
            act_as(context, &store, super::admin::READERS)?;
            let ra = local_ra(context, store)?;
            let record = ra.participant(&args.id)?;
            let certificates = ra.participant_certificates(&args.id)?;
            ParticipantView::new(&record, Some(&certificates))
        }
        Backend::Remote(client) => client.get(&format!(
            "/v1/admin/participants/{}",
            path_segment(&args.id)?
        ))?,
    };
    if args.json {
        print_json(&view);
        return Ok(());
    }
    let fields = serde_json::to_value(&view.fields).unwrap_or_default();
    println!("id:        {}", view.id);
    println!("role:      {}", view.role);
    println!("status:    {}", view.status);
    if let Some(object) = fields.as_object() {
        for (key, value) in object {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Array(items) => items
                    .iter()
                    .filter_map(|i| i.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            println!("{:<10} {text}", format!("{key}:"));
        }
    }
    println!("subject:   {}", view.subject);
    println!("SANs:      {}", view.subject_alt_names.join(", "));
    println!("created:   {}", view.created_at);
    println!("updated:   {}", view.updated_at);
    let certificates = view.certificates.unwrap_or_default();
    println!("certificates: {}", certificates.len());
    for c in &certificates {
        println!(
            "  {:<34} {:<8} {:<22} not after {}",
            c.serial,
            c.status,
            c.reason.as_deref().unwrap_or(""),
            c.not_after
        );
    }
    Ok(())
}

fn update(context: &Context, args: UpdateArgs) -> Result<(), CliError> {
    let body = args.fields.body(None);
    let view: ParticipantView = match backend(context)? {
        Backend::Local(store) => {
            let officer = act_as(context, &store, &[OfficerRole::RaOfficer])?;
            let record = local_ra(context, store)?.update_participant(
                &args.id,
                body.fields(),
                &officer.actor(),
            )?;
            ParticipantView::new(&record, None)
        }
        Backend::Remote(client) => client.patch(
            &format!("/v1/admin/participants/{}", path_segment(&args.id)?),
            &body,
        )?,
    };
    if args.json {
        print_json(&view);
    } else {
        println!("{}", view.id);
        eprintln!(
            "participant {} updated: certificates from now on get \"{}\"",
            view.id, view.subject
        );
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Act {
    Suspend,
    Resume,
    Terminate,
}

fn act(context: &Context, args: ActArgs, act: Act) -> Result<(), CliError> {
    let (path, done) = match act {
        Act::Suspend => ("suspend", "put on hold"),
        Act::Resume => ("resume", "taken off hold"),
        Act::Terminate => ("terminate", "revoked (cessationOfOperation)"),
    };
    let result: ParticipantActResult = match backend(context)? {
        Backend::Local(store) => {
            let officer = act_as(context, &store, &[OfficerRole::RaOfficer])?;
            let actor = officer.actor();
            let ra = local_ra(context, store)?;
            let outcome = match act {
                Act::Suspend => ra.suspend_participant(&args.id, &actor)?,
                Act::Resume => ra.resume_participant(&args.id, &actor)?,
                Act::Terminate => ra.terminate_participant(&args.id, &actor)?,
            };
            ParticipantActResult::from(&outcome)
        }
        Backend::Remote(client) => client.post(
            &format!("/v1/admin/participants/{}/{path}", path_segment(&args.id)?),
            &serde_json::json!({}),
        )?,
    };
    if args.json {
        print_json(&result);
    } else {
        for certificate in &result.certificates {
            println!("{}", certificate.serial);
        }
        eprintln!(
            "participant {} is {}: {} certificate(s) {done}",
            result.participant.id,
            result.participant.status,
            result.certificates.len()
        );
    }
    Ok(())
}

/// An id as one URL path segment: ids are `par_` and hex, so anything else is refused
/// here rather than sent as a different path.
fn path_segment(id: &str) -> Result<&str, CliError> {
    if !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        Ok(id)
    } else {
        Err(CliError::Usage(format!(
            "{id:?} is not a participant id (par_ followed by hex digits)"
        )))
    }
}
