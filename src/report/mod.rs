//! Reports over the certificate records: issued, renewed, revoked (by reason) and
//! expired per period and role. One code path for `paypki report` (every format) and the
//! console's charts, so the two can never disagree.
//!
//! The computation takes records, not a store: the CLI reads them from the database (or,
//! while `paypki serve` holds sled, from the admin API) and the console from the RA's
//! read-only store view; both walk the same [`crate::store::StoreReader`] listing.

pub mod chart;

use std::collections::BTreeMap;

use serde::Serialize;
use time::{Date, Duration, Month, OffsetDateTime};

use crate::model::{CertificateStatus, Role};
use crate::store::{CertificateRecord, IssuancePath, ListFilter, StoreError, StoreReader};

/// The longest report: about 27 years of days. Bounds the rows a request can make.
pub const MAX_PERIODS: usize = 10_000;

/// How a report groups time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// One row per UTC day.
    Day,
    /// One row per ISO 8601 week (Monday to Sunday, UTC), named by its Monday.
    Week,
    /// One row per calendar month (UTC), named by its first day.
    Month,
}

impl Period {
    /// The first day of the period holding `day`.
    pub fn start_of(self, day: Date) -> Date {
        match self {
            Period::Day => day,
            Period::Week => {
                day - Duration::days(i64::from(day.weekday().number_days_from_monday()))
            }
            Period::Month => day.replace_day(1).unwrap_or(day),
        }
    }

    /// The first day of the period after the one starting at `start`.
    fn next(self, start: Date) -> Option<Date> {
        match self {
            Period::Day => start.next_day(),
            Period::Week => start.checked_add(Duration::days(7)),
            Period::Month => {
                let (year, month) = match start.month() {
                    Month::December => (start.year().checked_add(1)?, Month::January),
                    month => (start.year(), month.next()),
                };
                Date::from_calendar_date(year, month, 1).ok()
            }
        }
    }
}

/// What a report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportRequest {
    /// First day (UTC), included.
    pub from: Date,
    /// Last day (UTC), included.
    pub to: Date,
    /// How rows group time.
    pub by: Period,
    /// Only this role; all four otherwise.
    pub role: Option<Role>,
}

/// Why a report cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// `to` before `from`, or too many periods.
    #[error("{0}")]
    Range(String),
    /// A date that is not `YYYY-MM-DD`.
    #[error("dates are YYYY-MM-DD (UTC): {0:?}")]
    Date(String),
    /// Reading the records failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads a `YYYY-MM-DD` date.
pub fn parse_date(text: &str) -> Result<Date, ReportError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text.trim(), format).map_err(|_| ReportError::Date(text.chars().take(40).collect()))
}

/// A date as `YYYY-MM-DD`.
pub fn format_date(date: Date) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    date.format(format).unwrap_or_else(|_| date.to_string())
}

/// One period of one role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportRow {
    /// First day of the period (`YYYY-MM-DD`).
    pub period: String,
    /// The role.
    pub role: Role,
    /// Certificates issued in the period other than renewals (enrollments, `paypki issue`).
    pub issued: u64,
    /// Certificates issued in the period by renewal (`POST /v1/renew`).
    pub renewed: u64,
    /// Revocations in the period (by the time the CA recorded them), holds included.
    pub revoked: u64,
    /// [`ReportRow::revoked`] by RFC 5280 reason name; only reasons that occur.
    pub revoked_by_reason: BTreeMap<String, u64>,
    /// Certificates whose notAfter falls in the period, whatever their status (a period
    /// still to come counts what will expire then).
    pub expired: u64,
}

/// A whole report: every period from `from` to `to` × every role asked for, zeros
/// included, oldest period first and roles in their fixed order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// First day, `YYYY-MM-DD`.
    pub from: String,
    /// Last day, `YYYY-MM-DD`.
    pub to: String,
    /// How rows group time.
    pub by: Period,
    /// The role asked for, if one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// The rows.
    pub rows: Vec<ReportRow>,
}

/// The sums over roles of one period (what the charts draw).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeriodTotals {
    /// First day of the period.
    pub period: String,
    /// Issued (not renewals).
    pub issued: u64,
    /// Renewed.
    pub renewed: u64,
    /// Revoked.
    pub revoked: u64,
    /// Expired.
    pub expired: u64,
}

impl Report {
    /// Every period's sums over the report's roles, oldest first.
    pub fn totals(&self) -> Vec<PeriodTotals> {
        let mut out: Vec<PeriodTotals> = Vec::new();
        for row in &self.rows {
            if out.last().map(|t| t.period.as_str()) != Some(row.period.as_str()) {
                out.push(PeriodTotals {
                    period: row.period.clone(),
                    ..PeriodTotals::default()
                });
            }
            if let Some(total) = out.last_mut() {
                total.issued += row.issued;
                total.renewed += row.renewed;
                total.revoked += row.revoked;
                total.expired += row.expired;
            }
        }
        out
    }
}

/// The periods of a request: each one's first day, oldest first.
fn periods(request: &ReportRequest) -> Result<Vec<Date>, ReportError> {
    if request.to < request.from {
        return Err(ReportError::Range(format!(
            "--to {} is before --from {}",
            format_date(request.to),
            format_date(request.from)
        )));
    }
    let mut out = Vec::new();
    let mut start = request.by.start_of(request.from);
    while start <= request.to {
        if out.len() >= MAX_PERIODS {
            return Err(ReportError::Range(format!(
                "a report has at most {MAX_PERIODS} periods: shorten the range or group by week or month"
            )));
        }
        out.push(start);
        match request.by.next(start) {
            Some(next) => start = next,
            None => break,
        }
    }
    Ok(out)
}

/// Computes a report from records (any order).
pub fn compute<'a>(
    records: impl IntoIterator<Item = &'a CertificateRecord>,
    request: &ReportRequest,
) -> Result<Report, ReportError> {
    let starts = periods(request)?;
    let roles: Vec<Role> = match request.role {
        Some(role) => vec![role],
        None => Role::ALL.to_vec(),
    };
    let mut rows: Vec<ReportRow> = starts
        .iter()
        .flat_map(|start| {
            roles.iter().map(|role| ReportRow {
                period: format_date(*start),
                role: *role,
                issued: 0,
                renewed: 0,
                revoked: 0,
                revoked_by_reason: BTreeMap::new(),
                expired: 0,
            })
        })
        .collect();
    // The row of an instant, if it falls in the range: periods are in order, so the
    // index is found by binary search over their first days.
    let row_of = |at: OffsetDateTime, role: Role| -> Option<usize> {
        let day = at.to_offset(time::UtcOffset::UTC).date();
        if day < request.from || day > request.to {
            return None;
        }
        let period = starts
            .partition_point(|start| *start <= day)
            .checked_sub(1)?;
        let role_index = roles.iter().position(|r| *r == role)?;
        Some(period * roles.len() + role_index)
    };
    for record in records {
        if let Some(row) = row_of(record.issued_at, record.role).and_then(|i| rows.get_mut(i)) {
            if record.requested_via == IssuancePath::Renew {
                row.renewed += 1;
            } else {
                row.issued += 1;
            }
        }
        if let Some(revocation) = record
            .revocation
            .as_ref()
            .filter(|_| record.status == CertificateStatus::Revoked)
        {
            if let Some(row) =
                row_of(revocation.revoked_at, record.role).and_then(|i| rows.get_mut(i))
            {
                row.revoked += 1;
                *row.revoked_by_reason
                    .entry(revocation.reason.clone())
                    .or_insert(0) += 1;
            }
        }
        if let Some(row) = row_of(record.not_after, record.role).and_then(|i| rows.get_mut(i)) {
            row.expired += 1;
        }
    }
    Ok(Report {
        from: format_date(request.from),
        to: format_date(request.to),
        by: request.by,
        role: request.role,
        rows,
    })
}

/// Reads every record (a page at a time, so memory holds one page of DER at once beyond
/// what the caller keeps) and hands each to `each`.
pub fn each_record(
    store: &dyn StoreReader,
    role: Option<Role>,
    mut each: impl FnMut(&CertificateRecord),
) -> Result<(), StoreError> {
    let mut after = None;
    loop {
        let page = store.list_page(&ListFilter {
            role,
            limit: Some(1000),
            after,
            ..ListFilter::default()
        })?;
        page.records.iter().for_each(&mut each);
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(()),
        }
    }
}

/// Every record (of `role`, if given) without its DER: the fields reports and the
/// console's pages read, at a fraction of the memory.
pub fn records_without_der(
    store: &dyn StoreReader,
    role: Option<Role>,
) -> Result<Vec<CertificateRecord>, StoreError> {
    let mut records = Vec::new();
    each_record(store, role, |record| {
        let mut slim = record.clone();
        slim.der = Vec::new();
        records.push(slim);
    })?;
    Ok(records)
}

/// Computes a report straight from a store.
pub fn from_store(store: &dyn StoreReader, request: &ReportRequest) -> Result<Report, ReportError> {
    compute(records_without_der(store, request.role)?.iter(), request)
}

/// The report as CSV (RFC 4180): one line per row, the reasons in one column as
/// `reason=count` pairs separated by `;`.
pub fn csv(report: &Report) -> String {
    let mut out = String::from("period,role,issued,renewed,revoked,revoked_by_reason,expired\r\n");
    for row in &report.rows {
        out.push_str(&format!(
            "{},{},{},{},{},{},{}\r\n",
            row.period,
            row.role,
            row.issued,
            row.renewed,
            row.revoked,
            reasons_text(&row.revoked_by_reason),
            row.expired
        ));
    }
    out
}

/// `reason=count;reason=count`, in name order.
pub fn reasons_text(reasons: &BTreeMap<String, u64>) -> String {
    reasons
        .iter()
        .map(|(reason, count)| format!("{reason}={count}"))
        .collect::<Vec<_>>()
        .join(";")
}

/// The report as JSON (the same document the console embeds beside its chart).
pub fn json(report: &Report) -> String {
    serde_json::to_string_pretty(report).unwrap_or_default()
}

/// Certificates by role and status, as the console's overview counts them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    /// Not revoked and within validity.
    pub valid: u64,
    /// Not revoked, past notAfter.
    pub expired: u64,
    /// Revoked with certificateHold (may be lifted).
    pub on_hold: u64,
    /// Revoked for good.
    pub revoked: u64,
}

/// Counts of certificates expiring within 30, 60 and 90 days, per role.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Expiring {
    /// Not revoked, notAfter within 30 days from now.
    pub within_30_days: u64,
    /// … within 60 days (the 30 included).
    pub within_60_days: u64,
    /// … within 90 days (the 60 included).
    pub within_90_days: u64,
}

/// What the overview shows about the certificates: status and expiry counts by role.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Overview {
    /// By role.
    pub by_role: BTreeMap<Role, StatusCounts>,
    /// Expiring soon, by role.
    pub expiring: BTreeMap<Role, Expiring>,
}

/// Counts the records for the overview, as of `now`.
pub fn overview<'a>(
    records: impl IntoIterator<Item = &'a CertificateRecord>,
    now: OffsetDateTime,
) -> Overview {
    let mut out = Overview::default();
    for role in Role::ALL {
        out.by_role.insert(role, StatusCounts::default());
        out.expiring.insert(role, Expiring::default());
    }
    for record in records {
        let counts = out.by_role.entry(record.role).or_default();
        match (&record.status, &record.revocation) {
            (CertificateStatus::Revoked, Some(r)) if r.reason == "certificateHold" => {
                counts.on_hold += 1
            }
            (CertificateStatus::Revoked, _) => counts.revoked += 1,
            (CertificateStatus::Good, _) if record.not_after <= now => counts.expired += 1,
            (CertificateStatus::Good, _) => {
                counts.valid += 1;
                let left = record.not_after - now;
                let expiring = out.expiring.entry(record.role).or_default();
                if left <= Duration::days(30) {
                    expiring.within_30_days += 1;
                }
                if left <= Duration::days(60) {
                    expiring.within_60_days += 1;
                }
                if left <= Duration::days(90) {
                    expiring.within_90_days += 1;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RevocationRecord;
    use time::macros::{date, datetime};

    fn record(
        role: Role,
        issued: OffsetDateTime,
        not_after: OffsetDateTime,
        via: IssuancePath,
        revoked: Option<(&str, OffsetDateTime)>,
    ) -> CertificateRecord {
        CertificateRecord {
            serial: "01".parse().unwrap(),
            role,
            subject: "CN=x".into(),
            subject_alt_names: vec![],
            key: "ecdsa-p256".into(),
            not_before: issued,
            not_after,
            issued_at: issued,
            requested_via: via,
            status: if revoked.is_some() {
                CertificateStatus::Revoked
            } else {
                CertificateStatus::Good
            },
            revocation: revoked.map(|(reason, at)| RevocationRecord {
                reason: reason.into(),
                revoked_at: at,
                invalidity_date: None,
            }),
            fingerprint_sha256: String::new(),
            issuer: 1,
            parent: None,
            participant: None,
            der: vec![],
        }
    }

    #[test]
    fn weeks_start_on_monday_and_months_on_the_first() {
        // 2026-12-02 is a Wednesday.
        assert_eq!(
            Period::Week.start_of(date!(2026 - 12 - 02)),
            date!(2026 - 11 - 30)
        );
        assert_eq!(date!(2026 - 11 - 30).weekday(), time::Weekday::Monday);
        assert_eq!(
            Period::Month.start_of(date!(2026 - 12 - 31)),
            date!(2026 - 12 - 01)
        );
        assert_eq!(
            Period::Month.next(date!(2026 - 12 - 01)),
            Some(date!(2027 - 01 - 01))
        );
    }

    #[test]
    fn counts_land_in_their_period_and_role() {
        let records = [
            record(
                Role::Merchant,
                datetime!(2026-01-05 10:00 UTC),
                datetime!(2026-02-10 10:00 UTC),
                IssuancePath::Enroll,
                None,
            ),
            record(
                Role::Merchant,
                datetime!(2026-01-06 10:00 UTC),
                datetime!(2027-01-06 10:00 UTC),
                IssuancePath::Renew,
                Some(("keyCompromise", datetime!(2026-02-01 00:00 UTC))),
            ),
            record(
                Role::Bank,
                datetime!(2025-12-31 23:59 UTC),
                datetime!(2026-01-31 23:59 UTC),
                IssuancePath::CliIssue,
                Some(("superseded", datetime!(2026-01-20 00:00 UTC))),
            ),
        ];
        let report = compute(
            records.iter(),
            &ReportRequest {
                from: date!(2026 - 01 - 01),
                to: date!(2026 - 02 - 28),
                by: Period::Month,
                role: None,
            },
        )
        .unwrap();
        assert_eq!(report.rows.len(), 8);
        let row = |period: &str, role: Role| {
            report
                .rows
                .iter()
                .find(|r| r.period == period && r.role == role)
                .unwrap()
                .clone()
        };
        let jan_merchant = row("2026-01-01", Role::Merchant);
        assert_eq!((jan_merchant.issued, jan_merchant.renewed), (1, 1));
        let feb_merchant = row("2026-02-01", Role::Merchant);
        assert_eq!((feb_merchant.revoked, feb_merchant.expired), (1, 1));
        assert_eq!(
            feb_merchant.revoked_by_reason.get("keyCompromise"),
            Some(&1)
        );
        let jan_bank = row("2026-01-01", Role::Bank);
        // Issued before the range: not counted; revoked and expired inside it: counted.
        assert_eq!(
            (jan_bank.issued, jan_bank.revoked, jan_bank.expired),
            (0, 1, 1)
        );
        let totals = report.totals();
        assert_eq!(totals.len(), 2);
        assert_eq!(totals[0].issued + totals[0].renewed, 2);
        assert!(csv(&report).contains("2026-02-01,merchant,0,0,1,keyCompromise=1,1\r\n"));
    }

    #[test]
    fn a_reversed_or_huge_range_is_refused() {
        let reversed = ReportRequest {
            from: date!(2026 - 02 - 01),
            to: date!(2026 - 01 - 01),
            by: Period::Day,
            role: None,
        };
        assert!(matches!(
            compute([].iter(), &reversed),
            Err(ReportError::Range(_))
        ));
        let huge = ReportRequest {
            from: date!(1900 - 01 - 01),
            to: date!(2100 - 01 - 01),
            by: Period::Day,
            role: None,
        };
        assert!(matches!(
            compute([].iter(), &huge),
            Err(ReportError::Range(_))
        ));
        assert!(parse_date("2026-13-01").is_err());
    }

    #[test]
    fn overview_counts_status_and_expiry() {
        let now = datetime!(2026-06-01 00:00 UTC);
        let records = [
            record(
                Role::Buyer,
                now - Duration::days(10),
                now + Duration::days(20),
                IssuancePath::Enroll,
                None,
            ),
            record(
                Role::Buyer,
                now - Duration::days(10),
                now + Duration::days(80),
                IssuancePath::Enroll,
                None,
            ),
            record(
                Role::Buyer,
                now - Duration::days(100),
                now - Duration::days(1),
                IssuancePath::Enroll,
                None,
            ),
            record(
                Role::Bank,
                now,
                now + Duration::days(5),
                IssuancePath::Enroll,
                Some(("certificateHold", now)),
            ),
            record(
                Role::Bank,
                now,
                now + Duration::days(5),
                IssuancePath::Enroll,
                Some(("keyCompromise", now)),
            ),
        ];
        let o = overview(records.iter(), now);
        assert_eq!(
            o.by_role[&Role::Buyer],
            StatusCounts {
                valid: 2,
                expired: 1,
                on_hold: 0,
                revoked: 0
            }
        );
        assert_eq!(
            o.by_role[&Role::Bank],
            StatusCounts {
                valid: 0,
                expired: 0,
                on_hold: 1,
                revoked: 1
            }
        );
        assert_eq!(
            o.expiring[&Role::Buyer],
            Expiring {
                within_30_days: 1,
                within_60_days: 1,
                within_90_days: 2
            }
        );
    }
}
