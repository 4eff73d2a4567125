//! The PostgreSQL store against a real server: `PAYPKI_TEST_DATABASE_URL` names one
//! (`scripts/pg start DIR` makes one); each test works in a database of its own.

use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::*;
use crate::model::{CertificateStatus, RevocationReason, Role, Serial};
use crate::store::tests::record;
use crate::store::{
    AuditStore, CertificateChange, CertificateRecord, CertificateStore, CrlStore, IssuancePath,
    KnownStatus, LineageStore, ListFilter, OfficerStore, ParticipantFilter, ParticipantRecord,
    ParticipantStatus, ParticipantStore, PlannedIssuance, RevocationEventStore, RevocationRecord,
    RevocationStore, RevokedEntry, SledStore, Store, StoreCopy, StoreItem, StoreReader, StoredCrl,
    TokenRecord, TokenStore,
};

/// A database of its own on the test server, dropped at the end.
struct TestDb {
    server: String,
    name: String,
    url: String,
}

fn server_url() -> String {
    std::env::var("PAYPKI_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "PAYPKI_TEST_DATABASE_URL is not set: the PostgreSQL store's tests need a server; \
             start one with: export PAYPKI_TEST_DATABASE_URL=$(scripts/pg start /tmp/paypki-pg)"
        )
    })
}

/// Runs SQL on a database, from a test thread (outside any runtime).
fn admin(url: &str, sql: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client.batch_execute(sql).await.unwrap();
    });
}

/// The URL of database `name` on the server of `url`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    format!("{server}/{name}{query}")
}

impl TestDb {
    fn unmigrated() -> TestDb {
        let server = server_url();
        let name = format!("paypki_test_{}", random_node_id().unwrap());
        admin(&server, &format!("CREATE DATABASE {name}"));
        let url = with_database(&server, &name);
        TestDb { server, name, url }
    }

    fn new() -> TestDb {
        let db = TestDb::unmigrated();
        PgStore::migrate(&db.url).unwrap();
        db
    }

    fn store(&self) -> PgStore {
        PgStore::connect(&self.url).unwrap()
    }

    fn sql(&self, sql: &str) {
        admin(&self.url, sql);
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Best effort: a failed test leaves nothing behind on a shared server.
        let server = self.server.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let (client, connection) = tokio_postgres::connect(&server, tokio_postgres::NoTls)
                    .await
                    .ok()?;
                tokio::spawn(connection);
                client.batch_execute(&sql).await.ok()
            })
        })
        .join();
    }
}

fn ev(action: &str) -> AuditEvent {
    AuditEvent::new(action, "test")
}

fn revocation(reason: RevocationReason) -> RevocationRecord {
    RevocationRecord {
        reason: reason.name().into(),
        revoked_at: OffsetDateTime::now_utc(),
        invalidity_date: None,
    }
}

fn serial(hex: &str) -> Serial {
    hex.parse().unwrap()
}

fn token(id: &str) -> TokenRecord {
    let now = OffsetDateTime::now_utc();
    TokenRecord {
        id: id.into(),
        secret_sha256: "00".into(),
        role: Role::Buyer,
        subject: "CN=a".into(),
        subject_alt_names: vec![],
        created_at: now,
        expires_at: now + time::Duration::hours(1),
        used_at: None,
        serial: None,
        created_by: None,
        approval: None,
        participant: None,
    }
}

fn bank(id: &str) -> ParticipantRecord {
    let now = OffsetDateTime::now_utc();
    ParticipantRecord {
        id: id.into(),
        role: Role::Bank,
        status: ParticipantStatus::Active,
        name: "Bank".into(),
        legal_name: Some("Bank AG".into()),
        operator: None,
        country: Some("DE".into()),
        locality: None,
        bic: Some("DEUTDEFF".into()),
        merchant_id: None,
        acquiring_bank: None,
        customer_reference: None,
        issuing_bank: None,
        email: None,
        dns_names: vec![],
        uris: vec![],
        ip_addresses: vec![],
        created_at: now,
        updated_at: now,
        placed_holds: vec![],
        certificates_issued: 0,
    }
}

#[test]
fn serials_are_reserved_once() {
    let db = TestDb::new();
    let store = db.store();
    let plan = PlannedIssuance {
        role: Role::Bank,
        subject: "CN=x".into(),
        reserved_at: OffsetDateTime::now_utc(),
        requested_via: IssuancePath::CliIssue,
    };
    store.reserve_serial(&serial("0a0b"), &plan).unwrap();
    assert!(matches!(
        store.reserve_serial(&serial("0a0b"), &plan),
        Err(StoreError::SerialTaken(_))
    ));
    store
        .record_issued(&record("01", Role::Bank, 10), ev("issue"))
        .unwrap();
    assert!(matches!(
        store.record_issued(&record("01", Role::Bank, 10), ev("issue")),
        Err(StoreError::SerialTaken(_))
    ));
    assert_eq!(store.backend(), "postgresql");
}

#[test]
fn a_token_is_claimed_once_by_racing_threads() {
    let db = TestDb::new();
    let store = db.store();
    let now = OffsetDateTime::now_utc();
    store.put_token(&token("t1"), ev("token-create")).unwrap();
    let wins: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..32)
            .map(|_| scope.spawn(|| store.claim_token("t1", now).unwrap()))
            .collect();
        handles
            .into_iter()
            .map(|h| usize::from(h.join().unwrap()))
            .sum()
    });
    assert_eq!(wins, 1);
    assert_eq!(store.token("t1").unwrap().unwrap().used_at, Some(now));
    assert!(!store.claim_token("missing", now).unwrap());
    store.release_token("t1").unwrap();
    assert!(store.claim_token("t1", now).unwrap());
    store.complete_token("t1", &serial("01")).unwrap();
    store.release_token("t1").unwrap();
    assert!(
        !store.claim_token("t1", now).unwrap(),
        "a completed token stays used"
    );
    store.token_awaits_approval("t1", "apr_1").unwrap();
    let stored = store.token("t1").unwrap().unwrap();
    assert_eq!(stored.serial, Some(serial("01")));
    assert_eq!(stored.approval.as_deref(), Some("apr_1"));
    store
        .put_tokens(&[token("t2"), token("t3")], ev("token-create"))
        .unwrap();
    assert!(store.token("t3").unwrap().is_some());
    assert_eq!(store.verify_audit().unwrap().entries, 2);
}

/// The same certificates, in both stores: varied roles, expiries (some expired) and
/// statuses.
fn certificates() -> Vec<CertificateRecord> {
    let roles = [Role::Bank, Role::Buyer, Role::Merchant, Role::Gateway];
    (1..=40u32)
        .map(|i| {
            // Serials of different lengths, so byte order and number order differ.
            let hex = if i % 3 == 0 {
                format!("{i:02x}00")
            } else {
                format!("{i:02x}")
            };
            let days = [-5, 10, 40, 100, 400][(i % 5) as usize] + i64::from(i % 7);
            let mut r = record(&hex, roles[(i % 4) as usize], days);
            r.issuer = 1 + i % 2;
            r
        })
        .collect()
}

fn fill_certificates(stores: &[&dyn Store]) {
    let records = certificates();
    for store in stores {
        for r in &records {
            store.record_issued(r, ev("issue")).unwrap();
        }
    }
    let revocations: Vec<(Serial, RevocationRecord)> = records
        .iter()
        .filter(|r| r.serial.as_bytes()[0] % 4 == 1)
        .map(|r| {
            (
                r.serial.clone(),
                revocation(RevocationReason::KeyCompromise),
            )
        })
        .collect();
    for store in stores {
        for (s, rev) in &revocations {
            store.revoke(s, rev.clone(), ev("revoke")).unwrap();
        }
    }
}

#[test]
fn listings_equal_sled_on_every_index_and_page_size() {
    let db = TestDb::new();
    let pg = db.store();
    let sled = SledStore::temporary().unwrap();
    fill_certificates(&[&pg, &sled]);
    for r in certificates() {
        assert_eq!(
            pg.certificate(&r.serial).unwrap(),
            sled.certificate(&r.serial).unwrap()
        );
    }
    let now = OffsetDateTime::now_utc();
    let filters = [
        ListFilter::default(),
        ListFilter {
            role: Some(Role::Bank),
            ..Default::default()
        },
        ListFilter {
            status: Some(CertificateStatus::Revoked),
            ..Default::default()
        },
        ListFilter {
            role: Some(Role::Buyer),
            status: Some(CertificateStatus::Good),
            ..Default::default()
        },
        ListFilter {
            expiring_before: Some(now + time::Duration::days(120)),
            ..Default::default()
        },
        ListFilter {
            expiring_before: Some(now + time::Duration::days(120)),
            role: Some(Role::Merchant),
            ..Default::default()
        },
        ListFilter {
            expiring_before: Some(now + time::Duration::days(1000)),
            status: Some(CertificateStatus::Good),
            ..Default::default()
        },
    ];
    for filter in &filters {
        for limit in [None, Some(0), Some(1), Some(2), Some(3), Some(7), Some(100)] {
            // Page by page: the same records and the same cursors (sled's cursor is
            // given to both, so each page starts from the same place).
            let mut after = None;
            for _ in 0..100 {
                let f = ListFilter {
                    limit,
                    after: after.clone(),
                    ..filter.clone()
                };
                let (a, b) = (pg.list_page(&f).unwrap(), sled.list_page(&f).unwrap());
                assert_eq!(a.records, b.records, "{filter:?} {limit:?} {after:?}");
                assert_eq!(a.next, b.next, "{filter:?} {limit:?} {after:?}");
                match b.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
        // Cursors that no page gave: before, inside and beyond the index's range.
        for after in [
            vec![],
            vec![0],
            vec![3],
            vec![3, 0x10],
            vec![4],
            vec![0xff],
            vec![0x80, 0, 0, 0],
            vec![0x80, 0, 0, 0, 0x70, 0, 0, 0, 5],
            vec![0xff; 12],
        ] {
            let f = ListFilter {
                limit: Some(3),
                after: Some(after.clone()),
                ..filter.clone()
            };
            let (a, b) = (pg.list_page(&f).unwrap(), sled.list_page(&f).unwrap());
            assert_eq!(a.records, b.records, "{filter:?} {after:?}");
            assert_eq!(a.next, b.next, "{filter:?} {after:?}");
        }
    }
    // Status reads agree too.
    for r in certificates() {
        assert_eq!(
            pg.known_status(r.serial.as_bytes()).unwrap(),
            sled.known_status(r.serial.as_bytes()).unwrap()
        );
    }
    assert_eq!(
        pg.known_status(&[0x7f, 0x7f]).unwrap(),
        KnownStatus::NeverIssued
    );
    let (mut a, mut b) = (Vec::new(), Vec::new());
    pg.for_each_revoked(&mut |s, e| a.push((s.to_vec(), e)))
        .unwrap();
    sled.for_each_revoked(&mut |s, e| b.push((s.to_vec(), e)))
        .unwrap();
    assert_eq!(a, b);
    assert!(!a.is_empty());
}

#[test]
fn revoke_hold_unhold_and_counters() {
    let db = TestDb::new();
    let store = db.store();
    store
        .record_issued(&record("0a", Role::Merchant, 30), ev("issue"))
        .unwrap();
    let s = serial("0a");
    assert!(matches!(
        store.unhold(&s, ev("unhold")),
        Err(StoreError::NotOnHold(_))
    ));
    let held_at = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
    let mut hold = revocation(RevocationReason::CertificateHold);
    hold.revoked_at = held_at;
    store.revoke(&s, hold.clone(), ev("revoke")).unwrap();
    let mut seen = Vec::new();
    store
        .for_each_revoked(&mut |s, e| seen.push((s.to_vec(), e.reason)))
        .unwrap();
    assert_eq!(seen, vec![(vec![0x0a], RevocationReason::CertificateHold)]);
    store.unhold(&s, ev("unhold")).unwrap();
    assert_eq!(
        store.certificate(&s).unwrap().unwrap().status,
        CertificateStatus::Good
    );
    assert_eq!(
        store.known_status(s.as_bytes()).unwrap(),
        KnownStatus::Good { issuer: 1 }
    );
    store.revoke(&s, hold, ev("revoke")).unwrap();
    let permanent = store
        .revoke(
            &s,
            revocation(RevocationReason::KeyCompromise),
            ev("revoke"),
        )
        .unwrap();
    let rev = permanent.revocation.unwrap();
    assert_eq!(rev.reason, "keyCompromise");
    // RFC 5280 §5.3.1 practice: the permanent revocation keeps the hold's date.
    assert_eq!(rev.revoked_at, held_at);
    match store.known_status(s.as_bytes()).unwrap() {
        KnownStatus::Revoked(entry) => {
            assert_eq!(entry.revoked_at, held_at.unix_timestamp());
            assert_eq!(entry.reason, RevocationReason::KeyCompromise);
        }
        other => panic!("expected revoked, got {other:?}"),
    }
    assert!(matches!(
        store.revoke(&s, revocation(RevocationReason::Superseded), ev("revoke")),
        Err(StoreError::AlreadyRevoked(_, _))
    ));
    assert!(matches!(
        store.revoke(
            &serial("0b"),
            revocation(RevocationReason::Superseded),
            ev("revoke")
        ),
        Err(StoreError::NotFound(_))
    ));
    let revoked = store
        .list(&ListFilter {
            status: Some(CertificateStatus::Revoked),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(revoked.len(), 1);
    assert_eq!(store.next_counter("crl").unwrap(), 1);
    assert_eq!(store.next_counter("crl").unwrap(), 2);
    assert_eq!(store.next_counter_at_least("crl", 1000).unwrap(), 1000);
    assert_eq!(store.next_counter_at_least("crl", 1000).unwrap(), 1001);
    assert_eq!(store.next_counter_at_least("crl", 5).unwrap(), 1002);
    assert_eq!(store.next_counter_at_least("other", 7).unwrap(), 7);
    let report = store.verify_audit().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    // issue, hold, unhold, hold, permanent: the refused acts left nothing.
    assert_eq!(report.entries, 5);
}

#[test]
fn a_serial_without_record_can_be_revoked_once() {
    let db = TestDb::new();
    let store = db.store();
    let s = serial("7f01");
    let entry = RevokedEntry {
        reason: RevocationReason::KeyCompromise,
        revoked_at: 1_800_000_000,
        invalidity_date: Some(1_799_000_000),
        not_after: 1_900_000_000,
        issuer: 2,
    };
    store.revoke_unrecorded(&s, entry, ev("revoke")).unwrap();
    assert_eq!(
        store.known_status(s.as_bytes()).unwrap(),
        KnownStatus::Revoked(entry)
    );
    assert!(matches!(
        store.revoke_unrecorded(&s, entry, ev("revoke")),
        Err(StoreError::AlreadyRevoked(_, reason)) if reason == "keyCompromise"
    ));
    store
        .record_issued(&record("0d", Role::Merchant, 30), ev("issue"))
        .unwrap();
    assert!(matches!(
        store.revoke_unrecorded(&serial("0d"), entry, ev("revoke")),
        Err(StoreError::SerialTaken(_))
    ));
    let events = store.revocation_events_after(0, 10).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].serial, s);
    assert_eq!(events[0].issuer, 2);
    assert!(store.verify_audit().unwrap().problems.is_empty());
}

#[test]
fn an_act_changes_the_participant_and_its_certificates_together_or_not_at_all() {
    let db = TestDb::new();
    let store = db.store();
    let participant = bank("par_1");
    store
        .add_participant(&participant, ev("participant-add"))
        .unwrap();
    assert!(matches!(
        store.add_participant(&participant, ev("participant-add")),
        Err(StoreError::ParticipantExists(_))
    ));
    let mut cert = record("0a", Role::Bank, 30);
    cert.participant = Some("par_1".into());
    store.record_issued(&cert, ev("issue")).unwrap();
    store
        .record_issued(&record("0b", Role::Bank, 30), ev("issue"))
        .unwrap();
    assert_eq!(
        store.participant_certificates("par_1").unwrap(),
        vec![cert.serial.clone()]
    );
    assert!(store.participant_certificates("par_").unwrap().is_empty());
    let participant = store.participant("par_1").unwrap().unwrap();
    assert_eq!(participant.certificates_issued, 1);

    let mut suspended = participant.clone();
    suspended.status = ParticipantStatus::Suspended;
    let hold = CertificateChange::Revoke(
        cert.serial.clone(),
        revocation(RevocationReason::CertificateHold),
    );
    let changed = store
        .replace_participant(&participant, &suspended, &[hold], ev("participant-suspend"))
        .unwrap();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].status, CertificateStatus::Revoked);
    // A stale `old` is refused and changes nothing.
    assert!(matches!(
        store.replace_participant(&participant, &suspended, &[], ev("participant-suspend")),
        Err(StoreError::ParticipantChanged(_))
    ));
    // A change that no longer applies undoes the whole act.
    let mut back = suspended.clone();
    back.status = ParticipantStatus::Active;
    assert!(matches!(
        store.replace_participant(
            &suspended,
            &back,
            &[
                CertificateChange::Unhold(cert.serial.clone()),
                CertificateChange::Unhold(serial("0b"))
            ],
            ev("participant-resume")
        ),
        Err(StoreError::NotOnHold(_))
    ));
    assert_eq!(
        store.participant("par_1").unwrap().unwrap().status,
        ParticipantStatus::Suspended
    );
    assert_eq!(
        store.certificate(&cert.serial).unwrap().unwrap().status,
        CertificateStatus::Revoked
    );
    // No certificate is recorded for a participant that is not active.
    let mut late = record("0c", Role::Bank, 30);
    late.participant = Some("par_1".into());
    assert!(matches!(
        store.record_issued(&late, ev("issue")),
        Err(StoreError::ParticipantInactive(
            _,
            ParticipantStatus::Suspended
        ))
    ));
    assert!(store.certificate(&late.serial).unwrap().is_none());
    // An issuance for a participant makes an act decided before it stale.
    let resumed = store
        .replace_participant(
            &suspended,
            &back,
            &[CertificateChange::Unhold(cert.serial.clone())],
            ev("participant-resume"),
        )
        .unwrap();
    assert_eq!(resumed[0].status, CertificateStatus::Good);
    let before = store.participant("par_1").unwrap().unwrap();
    store.record_issued(&late, ev("issue")).unwrap();
    assert!(matches!(
        store.replace_participant(&before, &suspended, &[], ev("participant-suspend")),
        Err(StoreError::ParticipantChanged(_))
    ));
    let report = store.verify_audit().unwrap();
    assert!(report.problems.is_empty());
    // add, two issues, suspension, resumption, a third issue: failed acts left nothing.
    assert_eq!(report.entries, 6);
    assert_eq!(store.last_revocation_event().unwrap(), 2);
}

#[test]
fn participants_list_in_pages_and_by_filter_as_on_sled() {
    let db = TestDb::new();
    let pg = db.store();
    let sled = SledStore::temporary().unwrap();
    for i in [3, 0, 4, 1, 2, 10] {
        let mut p = bank(&format!("par_{i}"));
        if i % 2 == 1 {
            p.role = Role::Gateway;
        }
        if i == 4 {
            p.status = ParticipantStatus::Terminated;
        }
        for store in [&pg as &dyn Store, &sled] {
            store.add_participant(&p, ev("participant-add")).unwrap();
        }
    }
    let filters = [
        ParticipantFilter::default(),
        ParticipantFilter {
            role: Some(Role::Gateway),
            ..Default::default()
        },
        ParticipantFilter {
            status: Some(ParticipantStatus::Active),
            ..Default::default()
        },
    ];
    for filter in filters {
        for limit in [None, Some(0), Some(1), Some(2), Some(5)] {
            let mut after = None;
            for _ in 0..20 {
                let f = ParticipantFilter {
                    limit,
                    after: after.clone(),
                    ..filter.clone()
                };
                let (a, b) = (
                    pg.list_participants(&f).unwrap(),
                    sled.list_participants(&f).unwrap(),
                );
                assert_eq!(a.records, b.records);
                assert_eq!(a.next, b.next);
                match b.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
    }
}

#[test]
fn the_audit_chain_verifies_and_an_edited_row_is_detected() {
    let db = TestDb::new();
    let store = db.store();
    for i in 0..3 {
        store
            .append_audit(ev("test").detail(format!("event {i}")))
            .unwrap();
    }
    let report = store.verify_audit().unwrap();
    assert_eq!(report.entries, 3);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let entries = store.audit_entries(10).unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(report.head_hash, entries[2].hash);
    assert_eq!(store.audit_entries(2).unwrap().len(), 2);

    db.sql("UPDATE audit SET entry = jsonb_set(entry, '{detail}', '\"forged\"') WHERE seq = 2");
    let report = store.verify_audit().unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("entry 2") && p.contains("edited")),
        "{:?}",
        report.problems
    );
    db.sql("DELETE FROM audit WHERE seq = 3");
    let report = store.verify_audit().unwrap();
    assert!(
        report.problems.iter().any(|p| p.contains("chain head")),
        "{:?}",
        report.problems
    );
}

#[test]
fn audit_appends_from_racing_threads_form_one_chain() {
    let db = TestDb::new();
    let store = db.store();
    std::thread::scope(|scope| {
        for t in 0..8 {
            let store = &store;
            scope.spawn(move || {
                for i in 0..10 {
                    store
                        .append_audit(ev("test").detail(format!("{t}/{i}")))
                        .unwrap();
                }
            });
        }
    });
    let report = store.verify_audit().unwrap();
    assert_eq!(report.entries, 80);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[test]
fn revocation_events_are_numbered_in_order_and_resume_by_id() {
    let db = TestDb::new();
    let store = db.store();
    assert_eq!(store.last_revocation_event().unwrap(), 0);
    for i in 1..=5u8 {
        let hex = format!("{i:02x}");
        store
            .record_issued(&record(&hex, Role::Buyer, 30), ev("issue"))
            .unwrap();
    }
    // Racing revocations still get ids 1..n without gaps.
    std::thread::scope(|scope| {
        for i in 1..=5u8 {
            let store = &store;
            scope.spawn(move || {
                store
                    .revoke(
                        &serial(&format!("{i:02x}")),
                        revocation(RevocationReason::CertificateHold),
                        ev("revoke"),
                    )
                    .unwrap();
            });
        }
    });
    store.unhold(&serial("03"), ev("unhold")).unwrap();
    let all = store.revocation_events_after(0, 100).unwrap();
    assert_eq!(
        all.iter().map(|e| e.id).collect::<Vec<_>>(),
        (1..=6).collect::<Vec<_>>()
    );
    assert_eq!(all[5].kind, crate::store::RevocationEventKind::Unheld);
    assert_eq!(store.last_revocation_event().unwrap(), 6);
    let rest = store.revocation_events_after(4, 1).unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].id, 5);
    assert_eq!(store.revocation_events_after(6, 10).unwrap(), vec![]);
    assert_eq!(store.revocation_events_after(u64::MAX, 10).unwrap(), vec![]);
}

fn crl(number: u64) -> StoredCrl {
    let now = OffsetDateTime::now_utc();
    StoredCrl {
        number,
        this_update: now,
        next_update: now + time::Duration::days(1),
        entries: 0,
        der: vec![number as u8],
    }
}

#[test]
fn save_crl_keeps_the_highest_number() {
    let db = TestDb::new();
    let store = db.store();
    assert!(store.latest_crl(1).unwrap().is_none());
    assert!(store.save_crl(1, &crl(5)).unwrap());
    assert!(!store.save_crl(1, &crl(5)).unwrap());
    assert!(!store.save_crl(1, &crl(3)).unwrap());
    assert!(store.save_crl(2, &crl(1)).unwrap());
    assert!(store.save_crl(1, &crl(6)).unwrap());
    assert_eq!(store.latest_crl(1).unwrap().unwrap().number, 6);
    let stored = store.latest_crl(2).unwrap().unwrap();
    assert_eq!((stored.number, stored.der), (1, vec![1]));
}

/// The next notice, waiting at most `within`.
fn next_notice(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<StoreNotice>,
    within: Duration,
) -> Option<StoreNotice> {
    let deadline = Instant::now() + within;
    loop {
        match rx.try_recv() {
            Ok(notice) => return Some(notice),
            Err(_) if Instant::now() >= deadline => return None,
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

#[test]
fn a_change_on_one_node_reaches_the_others_but_not_itself() {
    let db = TestDb::new();
    let (a, b) = (db.store(), db.store());
    let mut heard_by_a = a.subscribe().unwrap();
    let mut heard_by_b = b.subscribe().unwrap();
    a.record_issued(&record("0a", Role::Bank, 30), ev("issue"))
        .unwrap();
    let started = Instant::now();
    a.revoke(
        &serial("0a"),
        revocation(RevocationReason::KeyCompromise),
        ev("revoke"),
    )
    .unwrap();
    assert_eq!(
        next_notice(&mut heard_by_b, Duration::from_secs(1)),
        Some(StoreNotice::StatusChanged {
            serial: serial("0a"),
            issuer: 1
        })
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(a.save_crl(1, &crl(9)).unwrap());
    assert_eq!(
        next_notice(&mut heard_by_b, Duration::from_secs(1)),
        Some(StoreNotice::CrlPublished { issuer: 1 })
    );
    // A CRL that is not kept tells nobody.
    assert!(!a.save_crl(1, &crl(2)).unwrap());
    assert_eq!(
        next_notice(&mut heard_by_b, Duration::from_millis(300)),
        None
    );
    assert_eq!(
        next_notice(&mut heard_by_a, Duration::from_millis(300)),
        None
    );
    // And the other way round.
    b.unhold(&serial("0a"), ev("unhold")).unwrap_err();
    b.revoke_unrecorded(
        &serial("0b"),
        RevokedEntry {
            reason: RevocationReason::KeyCompromise,
            revoked_at: 1,
            invalidity_date: None,
            not_after: 2,
            issuer: 3,
        },
        ev("revoke"),
    )
    .unwrap();
    assert_eq!(
        next_notice(&mut heard_by_a, Duration::from_secs(1)),
        Some(StoreNotice::StatusChanged {
            serial: serial("0b"),
            issuer: 3
        })
    );
    assert_eq!(
        next_notice(&mut heard_by_b, Duration::from_millis(300)),
        None
    );
}

#[test]
fn a_lost_connection_is_reported_and_the_store_recovers() {
    let db = TestDb::new();
    let store = db.store();
    let other = db.store();
    let mut notices = store.subscribe().unwrap();
    store
        .record_issued(&record("0a", Role::Bank, 30), ev("issue"))
        .unwrap();
    // Every connection of the store is cut, as when the server restarts.
    db.sql(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = '{}' AND pid <> pg_backend_pid()",
        db.name
    ));
    assert_eq!(
        next_notice(&mut notices, Duration::from_secs(3)),
        Some(StoreNotice::Disconnected)
    );
    assert_eq!(
        next_notice(&mut notices, Duration::from_secs(3)),
        Some(StoreNotice::Reconnected)
    );
    // The pool drops the dead connections and opens new ones.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match store.certificate(&serial("0a")) {
            Ok(found) => {
                assert!(found.is_some());
                break;
            }
            Err(StoreError::Unavailable(_)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("{e}"),
        }
    }
    // And notices flow again.
    let deadline = Instant::now() + Duration::from_secs(5);
    while other
        .revoke(
            &serial("0a"),
            revocation(RevocationReason::KeyCompromise),
            ev("revoke"),
        )
        .is_err()
    {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        next_notice(&mut notices, Duration::from_secs(1)),
        Some(StoreNotice::StatusChanged {
            serial: serial("0a"),
            issuer: 1
        })
    );
}

#[test]
fn a_database_that_is_not_there_is_unavailable_quickly() {
    let started = Instant::now();
    let err = PgStore::connect("postgres://paypki:secret-password@127.0.0.1:1/paypki").unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    assert!(!err.to_string().contains("secret-password"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        redact("postgres://u:secret@h:5/db?sslmode=disable&password=x"),
        "postgres://u@h:5/db?sslmode=disable"
    );
}

#[test]
fn an_unmigrated_database_is_refused_until_migrated() {
    let db = TestDb::unmigrated();
    let err = PgStore::connect(&db.url).unwrap_err();
    assert!(matches!(err, StoreError::Schema(_)), "{err}");
    assert!(err.to_string().contains("paypki db migrate"), "{err}");
    assert_eq!(
        PgStore::schema_version(&db.url).unwrap(),
        (None, LATEST_SCHEMA)
    );
    // Two migrators at once: each migration is applied exactly once, by one of them
    // (which one, and whether one migrator applies both, depends on who takes the lock
    // first for each step).
    let applied: Vec<Vec<(u32, String)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| PgStore::migrate(&db.url).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all = applied.concat();
    all.sort();
    assert_eq!(
        all,
        vec![(1, "initial".to_string()), (2, "transparency".to_string())]
    );
    assert_eq!(
        PgStore::schema_version(&db.url).unwrap(),
        (Some(LATEST_SCHEMA), LATEST_SCHEMA)
    );
    assert!(PgStore::migrate(&db.url).unwrap().is_empty());
    db.store();
    // A database a newer paypki migrated is refused too.
    db.sql("INSERT INTO paypki_schema (version, name) VALUES (99, 'future')");
    let err = PgStore::connect(&db.url).unwrap_err();
    assert!(err.to_string().contains("newer paypki"), "{err}");
}

#[test]
fn lineage_officers_and_approvals() {
    let db = TestDb::new();
    let store = db.store();
    let parent = serial("0a");
    let mut child = record("0b", Role::Merchant, 30);
    child.parent = Some(parent.clone());
    store.record_issued(&child, ev("issue")).unwrap();
    store
        .record_issued(&record("0a0b", Role::Merchant, 30), ev("issue"))
        .unwrap();
    assert_eq!(store.children(&parent).unwrap(), vec![child.serial.clone()]);
    let later = OffsetDateTime::now_utc() + time::Duration::minutes(10);
    assert!(store.claim_renewal_proof(&[7; 32], later).unwrap());
    assert!(!store.claim_renewal_proof(&[7; 32], later).unwrap());
    assert!(store.claim_renewal_proof(&[8; 32], later).unwrap());
    let now = OffsetDateTime::now_utc();
    store
        .schedule_supersession(&parent, now - time::Duration::seconds(1))
        .unwrap();
    store
        .schedule_supersession(&child.serial, now + time::Duration::hours(1))
        .unwrap();
    assert_eq!(store.take_due_supersessions(now).unwrap(), vec![parent]);
    assert!(store.take_due_supersessions(now).unwrap().is_empty());

    assert!(store.migrate_admin_credential(now).unwrap().is_none());
    store.set_admin_credential_hash("ab").unwrap();
    let admin = store.migrate_admin_credential(now).unwrap().unwrap();
    assert_eq!(store.officers().unwrap(), vec![admin.clone()]);
    assert_eq!(store.legacy_officer().unwrap(), Some(admin.clone()));
    assert!(!store.add_officer(&admin, ev("officer-add")).unwrap());
    let mut disabled = admin.clone();
    disabled.disabled = true;
    assert!(store
        .update_officer(&admin, &disabled, ev("officer-disable"))
        .unwrap());
    assert!(!store
        .update_officer(&admin, &disabled, ev("officer-disable"))
        .unwrap());
    assert_eq!(store.officer("admin").unwrap(), Some(disabled));
    assert!(store.verify_audit().unwrap().problems.is_empty());
}

/// Everything kinds of item a store can hold, made through the traits.
fn fill_everything(store: &dyn Store) {
    fill_certificates(&[store]);
    let now = OffsetDateTime::now_utc();
    store.next_counter_at_least("crl-1", 77).unwrap();
    store.set_admin_credential_hash("cafe").unwrap();
    store.migrate_admin_credential(now).unwrap();
    store
        .add_participant(&bank("par_9"), ev("participant-add"))
        .unwrap();
    let mut owned = record("7e01", Role::Bank, 50);
    owned.participant = Some("par_9".into());
    owned.parent = Some(serial("01"));
    store.record_issued(&owned, ev("renew")).unwrap();
    store
        .put_tokens(&[token("tok_a"), token("tok_b")], ev("token-create"))
        .unwrap();
    store
        .reserve_serial(
            &serial("7e02"),
            &PlannedIssuance {
                role: Role::Bank,
                subject: "CN=planned".into(),
                reserved_at: now,
                requested_via: IssuancePath::Enroll,
            },
        )
        .unwrap();
    store
        .revoke_unrecorded(
            &serial("7e03"),
            RevokedEntry {
                reason: RevocationReason::Superseded,
                revoked_at: 1_800_000_000,
                invalidity_date: None,
                not_after: 1_900_000_000,
                issuer: 1,
            },
            ev("revoke"),
        )
        .unwrap();
    store
        .claim_renewal_proof(&[9; 32], now + time::Duration::hours(1))
        .unwrap();
    store
        .schedule_supersession(&serial("01"), now + time::Duration::hours(2))
        .unwrap();
    store.save_crl(1, &crl(4)).unwrap();
    store.save_crl(2, &crl(8)).unwrap();
    store.unhold(&serial("02"), ev("unhold")).unwrap_err();
}

fn export_all(store: &dyn Store) -> Vec<String> {
    let mut out = Vec::new();
    store
        .export(&mut |item| {
            out.push(format!("{item:?}"));
            Ok(())
        })
        .unwrap();
    out
}

fn copy(from: &dyn Store, to: &dyn Store, batch: usize) {
    assert!(to.is_empty().unwrap());
    let mut items = Vec::new();
    from.export(&mut |item: StoreItem| {
        items.push(item);
        if items.len() == batch {
            to.import(std::mem::take(&mut items))?;
        }
        Ok(())
    })
    .unwrap();
    to.import(items).unwrap();
    to.finish_import().unwrap();
}

#[test]
fn a_copy_sled_to_postgresql_to_sled_keeps_everything() {
    let db = TestDb::new();
    let pg = db.store();
    let sled = SledStore::temporary().unwrap();
    fill_everything(&sled);
    copy(&sled, &pg, 7);
    let back = SledStore::temporary().unwrap();
    copy(&pg, &back, 5);
    let counts = sled.counts().unwrap();
    assert!(
        counts.certificates > 40 && counts.revocation_events > 5,
        "{counts:?}"
    );
    assert_eq!(pg.counts().unwrap(), counts);
    assert_eq!(back.counts().unwrap(), counts);
    let all = ListFilter::default();
    assert_eq!(pg.list(&all).unwrap(), sled.list(&all).unwrap());
    assert_eq!(back.list(&all).unwrap(), sled.list(&all).unwrap());
    // Item for item, in the same order (sled's children are ordered by parent length
    // first; here every parent has the same length).
    assert_eq!(export_all(&back), export_all(&sled));
    assert_eq!(export_all(&pg), export_all(&sled));
    let (a, b, c) = (
        sled.verify_audit().unwrap(),
        pg.verify_audit().unwrap(),
        back.verify_audit().unwrap(),
    );
    assert!(a.problems.is_empty() && b.problems.is_empty() && c.problems.is_empty());
    assert_eq!(a.head_hash, b.head_hash);
    assert_eq!(a.head_hash, c.head_hash);
    assert_eq!(a.entries, b.entries);
    // The copy goes on where the original stopped: the chain and the event ids.
    pg.append_audit(ev("after-copy")).unwrap();
    assert!(pg.verify_audit().unwrap().problems.is_empty());
    let last = pg.last_revocation_event().unwrap();
    assert_eq!(last, sled.last_revocation_event().unwrap());
    pg.revoke(
        &serial("02"),
        revocation(RevocationReason::Superseded),
        ev("revoke"),
    )
    .unwrap();
    assert_eq!(pg.last_revocation_event().unwrap(), last + 1);
    assert_eq!(
        pg.participant_certificates("par_9").unwrap(),
        vec![serial("7e01")]
    );
    assert_eq!(pg.children(&serial("01")).unwrap(), vec![serial("7e01")]);
}

#[test]
fn copying_100000_certificates_takes_well_under_a_minute() {
    let db = TestDb::new();
    let pg = db.store();
    let sled = SledStore::temporary().unwrap();
    let template = record("01", Role::Merchant, 365);
    let records = (1..=100_000u32).map(|i| {
        let mut r = template.clone();
        r.serial = serial(&format!("{:08x}", i | 0x1000_0000));
        r
    });
    sled.import_records(records, "test").unwrap();
    let started = Instant::now();
    copy(&sled, &pg, 10_000);
    let took = started.elapsed();
    assert_eq!(pg.counts().unwrap(), sled.counts().unwrap());
    assert!(took < Duration::from_secs(30), "copying took {took:?}");
    eprintln!("copied 100,000 certificates to PostgreSQL in {took:?}");
}

#[test]
fn the_transparency_log_matches_sled_and_is_caught_up_once() {
    use crate::store::TransparencyStore;
    use crate::transparency::tree::{leaf_hash, root, MemoryTree};
    let db = TestDb::new();
    let store = db.store();
    let sled = SledStore::temporary().unwrap();
    // Racing issuances still get dense indexes.
    std::thread::scope(|scope| {
        for i in 1..=9u8 {
            let store = &store;
            scope.spawn(move || {
                store
                    .record_issued(&record(&format!("{i:02x}"), Role::Bank, 30), ev("issue"))
                    .unwrap();
            });
        }
    });
    store
        .revoke(
            &serial("03"),
            revocation(RevocationReason::CertificateHold),
            ev("revoke"),
        )
        .unwrap();
    store.unhold(&serial("03"), ev("unhold")).unwrap();
    assert_eq!(store.log_size().unwrap(), 11);
    let entries = store.log_entries(0, 100).unwrap();
    assert_eq!(entries.len(), 11);
    let mut memory = MemoryTree::default();
    for e in &entries {
        memory.push(leaf_hash(e));
    }
    for size in 1..=11 {
        assert_eq!(
            crate::transparency::root_at(&store, size).unwrap(),
            root(&mut memory, size).unwrap(),
            "size {size}"
        );
    }
    assert_eq!(
        store.log_index_of_leaf(&leaf_hash(&entries[10])).unwrap(),
        Some(10)
    );
    let third = store
        .log_index_of_certificate(&serial("03"))
        .unwrap()
        .unwrap();
    assert!(third < 9);
    // The same entries give the same tree in sled (the copy test compares the rest).
    for e in &entries {
        let decoded = crate::transparency::entry::LogEntry::decode(e).unwrap();
        sled.log_transaction(|log| log.append(&[1], &decoded))
            .unwrap();
    }
    assert_eq!(
        crate::transparency::root_at(&sled, 11).unwrap(),
        crate::transparency::root_at(&store, 11).unwrap()
    );

    // A database migrated from schema 1: no log yet. The next connection catches up,
    // once: 9 certificates (one revoked: its revocation too, as it is now — it is not).
    store
        .revoke(
            &serial("05"),
            revocation(RevocationReason::KeyCompromise),
            ev("revoke"),
        )
        .unwrap();
    db.sql(
        "DELETE FROM tlog_entries; DELETE FROM tlog_nodes; UPDATE audit_head SET tlog_size = 0;
         DELETE FROM meta WHERE key = 'tlog_complete'",
    );
    let again = db.store();
    assert_eq!(again.log_size().unwrap(), 10);
    let entries = again.log_entries(0, 100).unwrap();
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| {
            crate::transparency::entry::LogEntry::decode(e)
                .unwrap()
                .kind()
        })
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "certificate").count(), 9);
    assert_eq!(kinds.last(), Some(&"revocation"));
    assert_eq!(db.store().log_size().unwrap(), 10, "caught up once");
    let mut memory = MemoryTree::default();
    for e in &entries {
        memory.push(leaf_hash(e));
    }
    assert_eq!(
        crate::transparency::root_at(&again, 10).unwrap(),
        root(&mut memory, 10).unwrap()
    );
}
