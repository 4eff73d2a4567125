//! The console's HTML, written with `maud`: every value is escaped when it is
//! interpolated; the only markup inserted as is are the SVG charts that
//! [`crate::report::chart`] drew from numbers.

use maud::{html, Markup, PreEscaped, DOCTYPE};
use time::OffsetDateTime;

use super::{status_name, AuditQuery, Search, AUDIT_PAGE};
use crate::model::{OfficerRole, Role};
use crate::report::{Overview, Report};
use crate::store::{ApprovalRecord, AuditEntry, AuditReport, CertificateRecord, ParticipantRecord};

/// What the header of every signed-in page shows.
pub(crate) struct Nav<'a> {
    pub(crate) officer: &'a str,
    pub(crate) roles: &'a [OfficerRole],
    pub(crate) csrf: &'a str,
}

/// One CRL on the overview.
pub(crate) struct CrlRow {
    pub(crate) name: String,
    pub(crate) this_update: Option<OffsetDateTime>,
    pub(crate) next_update: Option<OffsetDateTime>,
    pub(crate) number: Option<u64>,
    pub(crate) entries: Option<usize>,
}

/// Everything the overview shows.
pub(crate) struct OverviewData<'a> {
    pub(crate) now: OffsetDateTime,
    pub(crate) counts: &'a Overview,
    pub(crate) report: &'a Report,
    pub(crate) activity_svg: &'a str,
    pub(crate) expiring_svg: &'a str,
    pub(crate) services: &'a [(&'static str, super::stats::RouteStats)],
    pub(crate) uptime_seconds: f64,
    pub(crate) crls: &'a [CrlRow],
    pub(crate) health: Result<&'a super::super::ops::Health, String>,
}

fn time_text(at: OffsetDateTime) -> String {
    crate::clock::format_time(at)
}

/// A duration for people: `3 d 4 h`, `12 min`, `40 s`.
fn span(seconds: i64) -> String {
    let (sign, s) = if seconds < 0 {
        ("-", -seconds)
    } else {
        ("", seconds)
    };
    if s >= 86_400 {
        format!("{sign}{} d {} h", s / 86_400, (s % 86_400) / 3600)
    } else if s >= 3600 {
        format!("{sign}{} h {} min", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{sign}{} min", s / 60)
    } else {
        format!("{sign}{s} s")
    }
}

fn layout(title: &str, nav: Option<Nav<'_>>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · paypki console" }
                link rel="stylesheet" href="/console/style.css";
            }
            body {
                header {
                    a.brand href="/console" { "paypki" }
                    @if let Some(nav) = &nav {
                        nav {
                            a href="/console" { "Overview" }
                            a href="/console/certificates" { "Certificates" }
                            a href="/console/participants" { "Participants" }
                            a href="/console/approvals" { "Approvals" }
                            a href="/console/audit" { "Audit trail" }
                        }
                        div.who {
                            span #officer {
                                (nav.officer) " ("
                                (nav.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", "))
                                ")"
                            }
                            form method="post" action="/console/logout" {
                                input type="hidden" name="csrf" value=(nav.csrf);
                                button #logout type="submit" { "Log out" }
                            }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

/// The login form, with an error line after a failed attempt.
pub(crate) fn login(error: Option<&str>) -> Markup {
    layout(
        "Log in",
        None,
        html! {
            @if let Some(error) = error { p.error role="alert" { (error) } }
            form.card method="post" action="/console/login" {
                label for="credential" { "Officer credential" }
                input #credential type="password" name="credential" autocomplete="current-password" required;
                button type="submit" { "Log in" }
            }
            p.hint { "Your credential is the " code { "ppo_…" } " string your security officer gave you (or " code { "ca-data/admin.token" } " before officers exist)." }
        },
    )
}

/// A page with one message (results, refusals).
pub(crate) fn message(nav: Option<Nav<'_>>, title: &str, detail: &str) -> Markup {
    layout(
        title,
        nav,
        html! { p.message #message { (detail) } p { a href="/console" { "Back to the overview" } } },
    )
}

pub(crate) fn overview(nav: Nav<'_>, data: &OverviewData<'_>) -> Markup {
    let report_json = crate::report::json(data.report);
    let counts_json = serde_json::to_string(data.counts).unwrap_or_default();
    html_overview(nav, data, &report_json, &counts_json)
}

fn html_overview(
    nav: Nav<'_>,
    data: &OverviewData<'_>,
    report_json: &str,
    counts_json: &str,
) -> Markup {
    layout(
        "Overview",
        Some(nav),
        html! {
            section #health {
                h2 { "Health" }
                @match &data.health {
                    Ok(health) => {
                        p.status.(health.status) { "Status: " strong { (health.status) } }
                        @if !health.reasons.is_empty() {
                            ul { @for reason in &health.reasons { li { (reason) } } }
                        }
                    }
                    Err(detail) => { p.status.degraded { "The database does not answer: " (detail) } }
                }
            }
            section #counts {
                h2 { "Certificates by role and status" }
                div.scroll { table {
                    thead { tr { th { "Role" } th.num { "Valid" } th.num { "Expired" } th.num { "On hold" } th.num { "Revoked" } th.num { "Total" } } }
                    tbody {
                        @for (role, c) in &data.counts.by_role {
                            tr data-role=(role.as_str()) {
                                td { a href={ "/console/certificates?role=" (role.as_str()) } { (role.as_str()) } }
                                td.num data-status="valid" { (c.valid) }
                                td.num data-status="expired" { (c.expired) }
                                td.num data-status="on-hold" { (c.on_hold) }
                                td.num data-status="revoked" { (c.revoked) }
                                td.num { (c.valid + c.expired + c.on_hold + c.revoked) }
                            }
                        }
                    }
                } }
            }
            section #activity {
                h2 { "Issuance and revocation, last 90 days" }
                figure.chart { (PreEscaped(data.activity_svg)) }
                p.hint { "The same numbers as " code { "paypki report --from " (data.report.from) " --to " (data.report.to) " --by day --format json" } "." }
                script #activity-data type="application/json" { (PreEscaped(json_in_script(report_json))) }
            }
            section #expiring {
                h2 { "Expiring soon" }
                figure.chart { (PreEscaped(data.expiring_svg)) }
                div.scroll { table {
                    thead { tr { th { "Role" } th.num { "≤ 30 days" } th.num { "≤ 60 days" } th.num { "≤ 90 days" } } }
                    tbody {
                        @for (role, e) in &data.counts.expiring {
                            tr { td { (role.as_str()) } td.num { (e.within_30_days) } td.num { (e.within_60_days) } td.num { (e.within_90_days) } }
                        }
                    }
                } }
                script #overview-data type="application/json" { (PreEscaped(json_in_script(counts_json))) }
            }
            section #services {
                h2 { "Status services" }
                p.hint { "From this server's own metrics (" a href="/metrics" { "/metrics" } "), since it started " (span(data.uptime_seconds as i64)) " ago." }
                div.scroll { table {
                    thead { tr { th { "Service" } th.num { "Requests" } th.num { "Per second" } th.num { "Mean latency" } th.num { "95th percentile ≤" } } }
                    tbody {
                        @for (name, s) in data.services {
                            tr {
                                td { (name) }
                                td.num { (s.requests) }
                                td.num { (format!("{:.2}", s.requests as f64 / data.uptime_seconds)) }
                                td.num { (format!("{:.2} ms", s.mean_seconds * 1000.0)) }
                                td.num { (s.p95_seconds.map(|p| format!("{:.2} ms", p * 1000.0)).unwrap_or_else(|| "–".into())) }
                            }
                        }
                    }
                } }
            }
            section #crls {
                h2 { "CRLs" }
                div.scroll { table {
                    thead { tr { th { "CRL" } th.num { "Number" } th.num { "Entries" } th { "Age" } th { "Next update" } } }
                    tbody {
                        @for crl in data.crls {
                            tr {
                                td { (crl.name) }
                                td.num { (crl.number.map(|n| n.to_string()).unwrap_or_else(|| "–".into())) }
                                td.num { (crl.entries.map(|n| n.to_string()).unwrap_or_else(|| "–".into())) }
                                td { (crl.this_update.map(|t| span((data.now - t).whole_seconds())).unwrap_or_else(|| "not published".into())) }
                                td {
                                    @if let Some(next) = crl.next_update {
                                        (time_text(next)) " (in " (span((next - data.now).whole_seconds())) ")"
                                    } @else { "–" }
                                }
                            }
                        }
                    }
                } }
            }
        },
    )
}

/// JSON inside `<script type="application/json">`: `<` escaped so that no `</script>`
/// can end the element early (JSON reads `\u003c` as `<`).
fn json_in_script(json: &str) -> String {
    json.replace('<', "\\u003c")
}

fn select(name: &str, options: &[&str], chosen: &str) -> Markup {
    html! {
        select name=(name) id=(name) {
            option value="" selected[chosen.is_empty()] { "any" }
            @for option in options { option value=(option) selected[*option == chosen] { (option) } }
        }
    }
}

pub(crate) fn certificates(
    nav: Nav<'_>,
    search: &Search,
    now: OffsetDateTime,
    total: usize,
    shown: &[CertificateRecord],
) -> Markup {
    let roles: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
    layout(
        "Certificates",
        Some(nav),
        html! {
            form.search method="get" action="/console/certificates" {
                label for="q" { "Serial or subject" }
                input #q type="search" name="q" value=(search.q);
                label for="role" { "Role" }
                (select("role", &roles, &search.role))
                label for="status" { "Status" }
                (select("status", &["valid", "expired", "on-hold", "revoked"], &search.status))
                label for="participant" { "Participant" }
                input #participant type="text" name="participant" value=(search.participant);
                button type="submit" { "Search" }
            }
            p #result-count { (total) " found" @if total > shown.len() { ", the first " (shown.len()) " shown" } }
            div.scroll { table #results {
                thead { tr { th { "Serial" } th { "Role" } th { "Status" } th { "Subject" } th { "Not after" } th { "Participant" } } }
                tbody {
                    @for r in shown {
                        tr {
                            td.serial { a href={ "/console/certificates/" (r.serial) } { (r.serial) } }
                            td { (r.role.as_str()) }
                            td { span.badge.(status_name(r, now)) { (status_name(r, now)) } }
                            td { (r.subject) }
                            td { (time_text(r.not_after)) }
                            td { (r.participant.as_deref().unwrap_or("")) }
                        }
                    }
                }
            } }
        },
    )
}

/// The revocation reasons an officer may choose (RFC 5280 §5.3.1; removeFromCRL is not
/// a reason to revoke, and the CA's own compromise is `paypki ca revoke`).
const REASONS: [&str; 7] = [
    "unspecified",
    "keyCompromise",
    "affiliationChanged",
    "superseded",
    "cessationOfOperation",
    "certificateHold",
    "privilegeWithdrawn",
];

pub(crate) fn certificate(
    nav: Nav<'_>,
    record: &CertificateRecord,
    now: OffsetDateTime,
    may_revoke: bool,
) -> Markup {
    let csrf = nav.csrf.to_string();
    let status = status_name(record, now);
    layout(
        &format!("Certificate {}", record.serial),
        Some(nav),
        html! {
            p { "Status: " span.badge.(status) #status { (status) } }
            pre #details { (crate::inspect::describe_record(record)) }
            p { a.button #download href={ "/console/certificates/" (record.serial) "/pem" } download { "Download PEM" } }
            @if may_revoke {
                @if status == "on-hold" {
                    form.act method="post" action={ "/console/certificates/" (record.serial) "/unhold" } {
                        input type="hidden" name="csrf" value=(csrf);
                        button #unhold type="submit" { "Lift the hold" }
                    }
                }
                @if status == "valid" || status == "expired" {
                    form.act method="post" action={ "/console/certificates/" (record.serial) "/revoke" } {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="reason" value="certificateHold";
                        button #hold type="submit" { "Put on hold" }
                    }
                }
                @if status != "revoked" {
                    form.act #revoke-form method="post" action={ "/console/certificates/" (record.serial) "/revoke" } {
                        input type="hidden" name="csrf" value=(csrf);
                        label for="reason" { "Reason" }
                        select #reason name="reason" {
                            @for reason in REASONS.iter().filter(|r| **r != "certificateHold") {
                                option value=(reason) { (reason) }
                            }
                        }
                        button.danger #revoke type="submit" { "Revoke" }
                    }
                    p.hint { "Revocation goes through dual control where the role's policy asks for it." }
                }
            }
        },
    )
}

pub(crate) fn participants(nav: Nav<'_>, records: &[ParticipantRecord], more: bool) -> Markup {
    layout(
        "Participants",
        Some(nav),
        html! {
            p { (records.len()) " participants" @if more { " (the first 1000)" } }
            div.scroll { table #participants {
                thead { tr { th { "Id" } th { "Role" } th { "Status" } th { "Name" } th { "Country" } th { "Certificates" } } }
                tbody {
                    @for p in records {
                        tr {
                            td { (p.id) }
                            td { (p.role.as_str()) }
                            td { (p.status.to_string()) }
                            td { (p.name) }
                            td { (p.country.as_deref().unwrap_or("")) }
                            td { a href={ "/console/certificates?participant=" (p.id) } { "list" } }
                        }
                    }
                }
            } }
        },
    )
}

fn slug<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

pub(crate) fn approvals(nav: Nav<'_>, records: &[ApprovalRecord]) -> Markup {
    let csrf = nav.csrf.to_string();
    let me = nav.officer.to_string();
    layout(
        "Approvals",
        Some(nav),
        html! {
            @if records.is_empty() { p { "No requests." } }
            div.scroll { table #approvals {
                thead { tr { th { "Request" } th { "What" } th { "By" } th { "Status" } th { "Approvals" } th { "Decide" } } }
                tbody {
                    @for a in records {
                        @let status = slug(&a.status);
                        tr {
                            td { (a.id) }
                            td { (a.summary) }
                            td { (a.requested_by) }
                            td { (status) }
                            td { (a.approvals.len()) " of " (a.required) }
                            td {
                                @if status == "pending" && a.requester_officer.as_deref() != Some(me.as_str()) {
                                    form.inline method="post" action={ "/console/approvals/" (a.id) "/approve" } {
                                        input type="hidden" name="csrf" value=(csrf);
                                        button type="submit" { "Approve" }
                                    }
                                    form.inline method="post" action={ "/console/approvals/" (a.id) "/reject" } {
                                        input type="hidden" name="csrf" value=(csrf);
                                        input type="text" name="reason" placeholder="reason" required maxlength="500";
                                        button.danger type="submit" { "Reject" }
                                    }
                                } @else if status == "pending" {
                                    "your own request"
                                }
                            }
                        }
                    }
                }
            } }
        },
    )
}

pub(crate) fn audit(
    nav: Nav<'_>,
    query: &AuditQuery,
    page: usize,
    total: usize,
    entries: &[AuditEntry],
    check: &AuditReport,
) -> Markup {
    let pages = total.div_ceil(AUDIT_PAGE).max(1);
    let link = |page: usize| format!("/console/audit?q={}&page={page}", form_encode(&query.q));
    layout(
        "Audit trail",
        Some(nav),
        html! {
            @if check.problems.is_empty() {
                p.status.ok #chain { "Hash chain intact: " (check.entries) " entries, head " code { (check.head_hash) } }
            } @else {
                div.status.degraded #chain {
                    p { "Hash chain BROKEN: " (check.problems.len()) " problem(s) in " (check.entries) " entries" }
                    ul { @for p in &check.problems { li { (p) } } }
                }
            }
            form.search method="get" action="/console/audit" {
                label for="q" { "Filter" }
                input #q type="search" name="q" value=(query.q);
                button type="submit" { "Filter" }
            }
            p { (total) " entries, page " (page) " of " (pages) " (newest first)" }
            div.scroll { table #audit {
                thead { tr { th.num { "#" } th { "When" } th { "Action" } th { "Actor" } th { "Serial" } th { "Detail" } } }
                tbody {
                    @for e in entries {
                        @let b = e.body();
                        tr {
                            td.num { (b.seq) }
                            td { (time_text(b.at)) }
                            td { (b.action) }
                            td { (b.actor) }
                            td.serial { @if let Some(s) = &b.serial { a href={ "/console/certificates/" (s) } { (s) } } }
                            td { (b.detail) }
                        }
                    }
                }
            } }
            nav.pages {
                @if page > 1 { a href=(link(page - 1)) { "← newer" } }
                @if page < pages { a href=(link(page + 1)) { "older →" } }
            }
        },
    )
}

/// `application/x-www-form-urlencoded` for a query value.
fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_script_json_cannot_close_its_element() {
        let page = message(None, "<b>x</b>", "\"><script>alert(1)</script>");
        let text = page.into_string();
        assert!(!text.contains("<script>alert"), "{text}");
        assert!(text.contains("&lt;b&gt;x&lt;/b&gt;"));
        assert_eq!(
            json_in_script("{\"a\":\"</script>\"}"),
            "{\"a\":\"\\u003c/script>\"}"
        );
        assert_eq!(form_encode("a b&c"), "a+b%26c");
        assert_eq!(span(90_061), "1 d 1 h");
    }
}
