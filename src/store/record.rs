//! The compact binary forms of the values stored per certificate: the
//! [`CertificateRecord`] in `certificates`, the [`PlannedIssuance`] in `serials`, the
//! [`TokenRecord`] in `tokens`, and the [`AuditEntry`] in `audit`.
//!
//! Earlier versions stored both as JSON (the DER in base64): about twice the bytes, and
//! with sled's per-page overhead nearly 4 KB per certificate on disk. A value is JSON
//! when its first byte is `{`, so data directories of earlier versions read as before;
//! every writer writes the binary form, so a record becomes compact when it changes.
//!
//! Certificate record, version 1 (integers big-endian, `len` a LEB128 varint):
//! `1 ‖ role ‖ requested_via ‖ status ‖ issuer u32 ‖ not_before ‖ not_after ‖ issued_at
//! ‖ len serial ‖ len subject ‖ count (len SAN)* ‖ len key ‖ fingerprint ‖ parent ‖
//! participant ‖ revocation ‖ DER (the rest)`, where a time is `i64 seconds ‖ u32
//! nanoseconds` (UTC), the fingerprint is `2 ‖ 32 octets` when it is in the colon form
//! paypki writes (`AB:CD:…`, layout 3), `1 ‖ 32 octets` when it is lowercase hex of
//! SHA-256 size and `0 ‖ len text` otherwise, an option is `0` or `1 ‖ value`, and a
//! revocation is `len reason ‖ revoked_at ‖ option invalidity_date`.
//!
//! Certificate record, version 2 (layout 4): the same fields after the version byte
//! `2`, then, instead of the DER, where it is in the DER log (`der_log`): `len offset ‖
//! len length`. The issuer stays at the same place in both versions.
//!
//! Token, version 1 (layout 3; JSON before): `1 ‖ role ‖ created_at ‖ expires_at ‖
//! option used_at ‖ len id ‖ len secret_sha256 ‖ len subject ‖ count (len SAN)* ‖ option
//! serial ‖ option created_by ‖ option approval ‖ option participant`. Enrollment reads a
//! token three times and writes it twice; JSON with RFC 3339 times cost more than the
//! sled operations around it.
//!
//! Audit entry, version 1 (layout 5; JSON before): `1 ‖ varint seq ‖ at ‖ len action ‖
//! len actor ‖ option serial ‖ option role ‖ len detail ‖ prev_hash (32) ‖ hash (32)`.
//! The entry's hash stays the SHA-256 of its canonical JSON body (`audit`), so the
//! compact form is only how sled keeps it: it is written when the entry can be rebuilt
//! exactly from it (a UTC time, hashes in lowercase hex), JSON otherwise. One is written
//! per issuance, and as JSON it was the largest value of a certificate (about 410
//! bytes, against about 200).
//!
//! Reservation, version 1: `1 ‖ role ‖ requested_via ‖ reserved_at ‖ subject (the rest)`.
//! An empty value (or `imported`, as earlier versions wrote) is a serial taken by a bulk
//! import, with no plan.

use time::OffsetDateTime;

use super::audit::EntryBodyPublic;
use super::der_log::DerRef;
use super::{
    role_byte, status_byte, AuditEntry, CertificateRecord, IssuancePath, PlannedIssuance,
    RevocationRecord, StoreError, TokenRecord,
};
use crate::model::{CertificateStatus, Role, Serial};

/// The version byte of the binary forms; never `{`, the first byte of the JSON ones.
const VERSION: u8 = 1;
/// The version byte of a certificate record whose DER is in the DER log.
const VERSION_DER_LOGGED: u8 = 2;

/// A certificate record as stored: the record, and where its DER is when it is in the
/// DER log (its `der` is then empty until read from there).
#[derive(Debug, PartialEq)]
pub(super) struct StoredCertificate {
    pub(super) record: CertificateRecord,
    pub(super) der_at: Option<DerRef>,
}

/// Encodes a certificate record in the compact binary form, with its DER inside (as
/// layouts 1 to 3 wrote it; kept to make such records in tests).
#[cfg(test)]
pub(super) fn encode_certificate(record: &CertificateRecord) -> Vec<u8> {
    encode_stored(record, None)
}

/// Encodes a certificate record in the compact binary form: with its DER inside, or,
/// when `der_at` says where it is in the DER log, with that place instead.
pub(super) fn encode_stored(record: &CertificateRecord, der_at: Option<DerRef>) -> Vec<u8> {
    let mut out = Vec::with_capacity(record.der.len() + 128);
    out.extend_from_slice(&[
        match der_at {
            Some(_) => VERSION_DER_LOGGED,
            None => VERSION,
        },
        role_byte(record.role),
        path_byte(record.requested_via),
        status_byte(record.status),
    ]);
    out.extend_from_slice(&record.issuer.to_be_bytes());
    for at in [record.not_before, record.not_after, record.issued_at] {
        put_time(&mut out, at);
    }
    put_bytes(&mut out, record.serial.as_bytes());
    put_bytes(&mut out, record.subject.as_bytes());
    put_len(&mut out, record.subject_alt_names.len());
    for name in &record.subject_alt_names {
        put_bytes(&mut out, name.as_bytes());
    }
    put_bytes(&mut out, record.key.as_bytes());
    match (
        colon_fingerprint(&record.fingerprint_sha256),
        raw_fingerprint(&record.fingerprint_sha256),
    ) {
        (Some(raw), _) => {
            out.push(2);
            out.extend_from_slice(&raw);
        }
        (None, Some(raw)) => {
            out.push(1);
            out.extend_from_slice(&raw);
        }
        (None, None) => {
            out.push(0);
            put_bytes(&mut out, record.fingerprint_sha256.as_bytes());
        }
    }
    put_option(&mut out, record.parent.as_ref().map(Serial::as_bytes));
    put_option(&mut out, record.participant.as_deref().map(str::as_bytes));
    match &record.revocation {
        Some(revocation) => {
            out.push(1);
            put_bytes(&mut out, revocation.reason.as_bytes());
            put_time(&mut out, revocation.revoked_at);
            match revocation.invalidity_date {
                Some(at) => {
                    out.push(1);
                    put_time(&mut out, at);
                }
                None => out.push(0),
            }
        }
        None => out.push(0),
    }
    match der_at {
        Some(at) => {
            put_varint(&mut out, at.offset);
            put_varint(&mut out, u64::from(at.len));
        }
        None => out.extend_from_slice(&record.der),
    }
    out
}

/// Decodes a certificate record in any of its forms (JSON from earlier versions, or
/// binary with the DER inside or in the DER log).
pub(super) fn decode_certificate(bytes: &[u8]) -> Result<StoredCertificate, StoreError> {
    if bytes.first() == Some(&VERSION_DER_LOGGED) {
        let mut reader = Reader::new(bytes.get(1..).unwrap_or_default());
        return reader
            .certificate_fields()
            .and_then(|record| {
                let offset = reader.varint()?;
                let len = u32::try_from(reader.varint()?).ok()?;
                reader.rest.is_empty().then_some(StoredCertificate {
                    record,
                    der_at: Some(DerRef { offset, len }),
                })
            })
            .ok_or_else(|| StoreError::Corrupt("certificate record".into()));
    }
    decode_either(bytes, "certificate record", |r| {
        let mut record = r.certificate_fields()?;
        record.der = r.rest().to_vec();
        Some(record)
    })
    .map(|record| StoredCertificate {
        record,
        der_at: None,
    })
}

/// Decodes a value stored as JSON (first byte `{`) by earlier versions or in its binary
/// form (first byte [`VERSION`]).
fn decode_either<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: &str,
    binary: impl FnOnce(&mut Reader<'_>) -> Option<T>,
) -> Result<T, StoreError> {
    match bytes.first() {
        Some(b'{') => serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string())),
        Some(&VERSION) => binary(&mut Reader::new(bytes.get(1..).unwrap_or_default()))
            .ok_or_else(|| StoreError::Corrupt(what.into())),
        _ => Err(StoreError::Corrupt(format!("{what} of an unknown format"))),
    }
}

/// The issuing CA of a stored certificate record, without decoding the rest: in the
/// binary form it is the four octets after the version, role, path and status bytes.
pub(super) fn issuer_of(bytes: &[u8]) -> Result<u32, StoreError> {
    match bytes.first() {
        Some(&VERSION | &VERSION_DER_LOGGED) => bytes
            .get(4..8)
            .and_then(|octets| <[u8; 4]>::try_from(octets).ok())
            .map(u32::from_be_bytes)
            .ok_or_else(|| StoreError::Corrupt("certificate record".into())),
        _ => decode_certificate(bytes).map(|stored| stored.record.issuer),
    }
}

/// Encodes a reservation in the compact binary form.
pub(super) fn encode_plan(plan: &PlannedIssuance) -> Vec<u8> {
    let mut out = Vec::with_capacity(plan.subject.len() + 16);
    out.extend_from_slice(&[VERSION, role_byte(plan.role), path_byte(plan.requested_via)]);
    put_time(&mut out, plan.reserved_at);
    out.extend_from_slice(plan.subject.as_bytes());
    out
}

/// Decodes a reservation in either form; `None` for a serial taken by a bulk import
/// (no plan) or a value that is neither form.
pub(super) fn decode_plan(bytes: &[u8]) -> Option<PlannedIssuance> {
    match bytes.first() {
        Some(b'{') => serde_json::from_slice(bytes).ok(),
        Some(&VERSION) => {
            let mut reader = Reader::new(bytes.get(1..)?);
            let role = role_of(reader.byte()?)?;
            let requested_via = path_of(reader.byte()?)?;
            let reserved_at = reader.time()?;
            let subject = String::from_utf8(reader.rest().to_vec()).ok()?;
            Some(PlannedIssuance {
                role,
                subject,
                reserved_at,
                requested_via,
            })
        }
        _ => None,
    }
}

fn path_byte(path: IssuancePath) -> u8 {
    match path {
        IssuancePath::CliIssue => 1,
        IssuancePath::Enroll => 2,
        IssuancePath::Renew => 3,
    }
}

fn path_of(byte: u8) -> Option<IssuancePath> {
    match byte {
        1 => Some(IssuancePath::CliIssue),
        2 => Some(IssuancePath::Enroll),
        3 => Some(IssuancePath::Renew),
        _ => None,
    }
}

fn role_of(byte: u8) -> Option<Role> {
    Role::ALL.into_iter().find(|role| role_byte(*role) == byte)
}

fn status_of(byte: u8) -> Option<CertificateStatus> {
    [CertificateStatus::Good, CertificateStatus::Revoked]
        .into_iter()
        .find(|status| status_byte(*status) == byte)
}

/// The 32 octets of a fingerprint that is lowercase hex of a SHA-256 (so that it comes
/// back as the same text); `None` for anything else, which is kept as text.
fn raw_fingerprint(text: &str) -> Option<[u8; 32]> {
    let raw: [u8; 32] = hex::decode(text).ok()?.try_into().ok()?;
    (hex::encode(raw) == text).then_some(raw)
}

/// The 32 octets of a fingerprint in the colon form paypki writes (so that it comes
/// back as the same text).
fn colon_fingerprint(text: &str) -> Option<[u8; 32]> {
    let mut raw = [0u8; 32];
    let mut parts = text.split(':');
    for octet in &mut raw {
        let part = parts.next()?;
        if part.len() != 2 {
            return None;
        }
        *octet = u8::from_str_radix(part, 16).ok()?;
    }
    (parts.next().is_none() && crate::model::fingerprint_text(&raw) == text).then_some(raw)
}

/// Encodes a token in the compact binary form.
pub(super) fn encode_token(token: &TokenRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&[VERSION, role_byte(token.role)]);
    put_time(&mut out, token.created_at);
    put_time(&mut out, token.expires_at);
    match token.used_at {
        Some(at) => {
            out.push(1);
            put_time(&mut out, at);
        }
        None => out.push(0),
    }
    put_bytes(&mut out, token.id.as_bytes());
    put_bytes(&mut out, token.secret_sha256.as_bytes());
    put_bytes(&mut out, token.subject.as_bytes());
    put_len(&mut out, token.subject_alt_names.len());
    for name in &token.subject_alt_names {
        put_bytes(&mut out, name.as_bytes());
    }
    let serial = token.serial.as_ref().map(Serial::as_bytes);
    for field in [
        serial,
        token.created_by.as_deref().map(str::as_bytes),
        token.approval.as_deref().map(str::as_bytes),
        token.participant.as_deref().map(str::as_bytes),
    ] {
        put_option(&mut out, field);
    }
    out
}

/// Decodes a token in either form (JSON from earlier versions, or binary).
pub(super) fn decode_token(bytes: &[u8]) -> Result<TokenRecord, StoreError> {
    decode_either(bytes, "token record", |r| r.token())
}

/// Encodes an audit entry in the compact form when it rebuilds exactly from it (see
/// the module's documentation), as JSON otherwise.
pub(super) fn encode_audit(entry: &AuditEntry) -> Result<Vec<u8>, StoreError> {
    let body = entry.body();
    let raw_hash = |text: &str| -> Option<[u8; 32]> {
        let raw: [u8; 32] = hex::decode(text).ok()?.try_into().ok()?;
        (hex::encode(raw) == text).then_some(raw)
    };
    let (Some(prev_hash), Some(hash)) = (raw_hash(&body.prev_hash), raw_hash(&entry.hash)) else {
        return entry.encode();
    };
    if body.at.offset() != time::UtcOffset::UTC {
        return entry.encode();
    }
    let mut out = Vec::with_capacity(128 + body.detail.len() + body.actor.len());
    out.push(VERSION);
    put_varint(&mut out, body.seq);
    put_time(&mut out, body.at);
    put_bytes(&mut out, body.action.as_bytes());
    put_bytes(&mut out, body.actor.as_bytes());
    put_option(&mut out, body.serial.as_ref().map(Serial::as_bytes));
    match body.role {
        Some(role) => out.extend_from_slice(&[1, role_byte(role)]),
        None => out.push(0),
    }
    put_bytes(&mut out, body.detail.as_bytes());
    out.extend_from_slice(&prev_hash);
    out.extend_from_slice(&hash);
    Ok(out)
}

/// Decodes an audit entry in either form (JSON from earlier versions, or compact).
pub(super) fn decode_audit(bytes: &[u8]) -> Result<AuditEntry, StoreError> {
    decode_either(bytes, "audit entry", |r| {
        let seq = r.varint()?;
        let at = r.time()?;
        let action = r.text()?;
        let actor = r.text()?;
        let serial = r.option(|r| serial_of(r.bytes()?))?;
        let role = r.option(|r| role_of(r.byte()?))?;
        let detail = r.text()?;
        let prev_hash = hex::encode(r.array::<32>()?);
        let hash = hex::encode(r.array::<32>()?);
        if !r.rest().is_empty() {
            return None;
        }
        Some(AuditEntry::from_parts(
            EntryBodyPublic {
                seq,
                at,
                action,
                actor,
                serial,
                role,
                detail,
                prev_hash,
            },
            hash,
        ))
    })
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    put_varint(out, len as u64);
}

/// LEB128.
fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let low = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

/// `0`, or `1 ‖ len value`.
fn put_option(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        Some(value) => {
            out.push(1);
            put_bytes(out, value);
        }
        None => out.push(0),
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

fn put_time(out: &mut Vec<u8>, at: OffsetDateTime) {
    out.extend_from_slice(&at.unix_timestamp().to_be_bytes());
    out.extend_from_slice(&at.nanosecond().to_be_bytes());
}

/// Reads the binary forms; every method answers `None` when the bytes run out or do not
/// make sense, which the caller reports as a corrupt record.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.rest.len() {
            return None;
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn byte(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }

    fn len(&mut self) -> Option<usize> {
        usize::try_from(self.varint()?).ok()
    }

    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = self.len()?;
        self.take(len)
    }

    fn text(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?.to_vec()).ok()
    }

    fn time(&mut self) -> Option<OffsetDateTime> {
        let seconds = i64::from_be_bytes(self.array()?);
        let nanos = u32::from_be_bytes(self.array()?);
        OffsetDateTime::from_unix_timestamp(seconds)
            .ok()?
            .replace_nanosecond(nanos)
            .ok()
    }

    fn flag(&mut self) -> Option<bool> {
        match self.byte()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }

    fn option<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.flag()? {
            read(self).map(Some)
        } else {
            Some(None)
        }
    }

    /// `count (len text)*`.
    fn texts(&mut self) -> Option<Vec<String>> {
        let count = self.len()?;
        // Each text takes at least one byte: a count beyond the bytes left is corrupt
        // (and must not reserve memory for it).
        if count > self.rest.len() {
            return None;
        }
        let mut texts = Vec::with_capacity(count);
        for _ in 0..count {
            texts.push(self.text()?);
        }
        Some(texts)
    }

    fn token(&mut self) -> Option<TokenRecord> {
        let role = role_of(self.byte()?)?;
        let created_at = self.time()?;
        let expires_at = self.time()?;
        let used_at = self.option(Self::time)?;
        let id = self.text()?;
        let secret_sha256 = self.text()?;
        let subject = self.text()?;
        let subject_alt_names = self.texts()?;
        let serial = self.option(|r| serial_of(r.bytes()?))?;
        let created_by = self.option(Self::text)?;
        let approval = self.option(Self::text)?;
        let participant = self.option(Self::text)?;
        self.rest.is_empty().then_some(TokenRecord {
            id,
            secret_sha256,
            role,
            subject,
            subject_alt_names,
            created_at,
            expires_at,
            used_at,
            serial,
            created_by,
            approval,
            participant,
        })
    }

    /// A certificate record's fields, up to the DER (or its place), which the caller
    /// reads according to the version.
    fn certificate_fields(&mut self) -> Option<CertificateRecord> {
        let role = role_of(self.byte()?)?;
        let requested_via = path_of(self.byte()?)?;
        let status = status_of(self.byte()?)?;
        let issuer = u32::from_be_bytes(self.array()?);
        let not_before = self.time()?;
        let not_after = self.time()?;
        let issued_at = self.time()?;
        let serial = serial_of(self.bytes()?)?;
        let subject = self.text()?;
        let subject_alt_names = self.texts()?;
        let key = self.text()?;
        let fingerprint_sha256 = match self.byte()? {
            0 => self.text()?,
            1 => hex::encode(self.array::<32>()?),
            2 => crate::model::fingerprint_text(&self.array::<32>()?),
            _ => return None,
        };
        let parent = self.option(|r| serial_of(r.bytes()?))?;
        let participant = self.option(Self::text)?;
        let revocation = if self.flag()? {
            let reason = self.text()?;
            let revoked_at = self.time()?;
            let invalidity_date = if self.flag()? {
                Some(self.time()?)
            } else {
                None
            };
            Some(RevocationRecord {
                reason,
                revoked_at,
                invalidity_date,
            })
        } else {
            None
        };
        Some(CertificateRecord {
            serial,
            role,
            subject,
            subject_alt_names,
            key,
            not_before,
            not_after,
            issued_at,
            requested_via,
            status,
            revocation,
            fingerprint_sha256,
            issuer,
            parent,
            participant,
            der: Vec::new(),
        })
    }
}

/// A serial from its stored octets (as [`Serial::as_bytes`] gave them).
fn serial_of(octets: &[u8]) -> Option<Serial> {
    hex::encode(octets).parse().ok()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn full_record() -> CertificateRecord {
        let at = |s: i64, n: u32| {
            OffsetDateTime::from_unix_timestamp(s)
                .unwrap()
                .replace_nanosecond(n)
                .unwrap()
        };
        CertificateRecord {
            serial: "7fa1b2c3d4e5f60718293a4b5c6d7e8f".parse().unwrap(),
            role: Role::Gateway,
            subject: "CN=gw é,O=Example".into(),
            subject_alt_names: vec!["dns:a.example".into(), "dns:b.example".into()],
            key: "rsa-3072".into(),
            not_before: at(1_700_000_000, 123),
            not_after: at(253_402_300_799, 0),
            issued_at: at(-5, 999_999_999),
            requested_via: IssuancePath::Renew,
            status: CertificateStatus::Revoked,
            revocation: Some(RevocationRecord {
                reason: "keyCompromise".into(),
                revoked_at: at(1_700_000_100, 0),
                invalidity_date: Some(at(1_699_000_000, 5)),
            }),
            fingerprint_sha256: hex::encode([0xab; 32]),
            issuer: 70_000,
            parent: Some("ff".parse().unwrap()),
            participant: Some("par_1".into()),
            der: (0..=255).collect(),
        }
    }

    #[test]
    fn certificate_records_round_trip_compactly() {
        let full = full_record();
        let bytes = encode_certificate(&full);
        assert_eq!(decode_certificate(&bytes).unwrap().record, full);
        // DER raw, the fingerprint as 32 octets: little beyond the DER itself.
        assert!(bytes.len() < full.der.len() + 240, "{}", bytes.len());
        let mut bare = full;
        bare.subject_alt_names.clear();
        bare.fingerprint_sha256 = "not hex".into();
        bare.parent = None;
        bare.participant = None;
        bare.revocation = None;
        bare.status = CertificateStatus::Good;
        bare.der.clear();
        assert_eq!(
            decode_certificate(&encode_certificate(&bare))
                .unwrap()
                .record,
            bare
        );
        // Upper-case hex would not come back as the same text: kept as text.
        bare.fingerprint_sha256 = hex::encode_upper([0xab; 32]);
        assert_eq!(
            decode_certificate(&encode_certificate(&bare))
                .unwrap()
                .record,
            bare
        );
    }

    #[test]
    fn fingerprints_in_paypkis_colon_form_are_stored_as_octets() {
        let mut record = full_record();
        record.fingerprint_sha256 = crate::model::sha256_fingerprint(&record.der);
        let bytes = encode_certificate(&record);
        assert_eq!(decode_certificate(&bytes).unwrap().record, record);
        let as_text = {
            let mut other = record.clone();
            other.fingerprint_sha256 = "not hex".into();
            encode_certificate(&other).len() - "not hex".len()
        };
        // 1 flag + 32 octets instead of a length and 95 characters.
        assert_eq!(bytes.len() + 1, as_text + 32);
        // Near misses stay text and come back unchanged.
        for text in [
            record.fingerprint_sha256.to_lowercase(),
            record.fingerprint_sha256.replace(':', ""),
            format!("{}:00", record.fingerprint_sha256),
            record.fingerprint_sha256[3..].to_string(),
        ] {
            let mut other = record.clone();
            other.fingerprint_sha256 = text;
            assert_eq!(
                decode_certificate(&encode_certificate(&other))
                    .unwrap()
                    .record,
                other
            );
        }
    }

    fn token() -> TokenRecord {
        let at = |s: i64| OffsetDateTime::from_unix_timestamp(s).unwrap();
        TokenRecord {
            id: "0123456789abcdef01234567".into(),
            secret_sha256: "ab".repeat(32),
            role: Role::Merchant,
            subject: "CN=Shop é,O=Shop Ltd".into(),
            subject_alt_names: vec!["dns:shop.example".into(), "email:a@shop.example".into()],
            created_at: at(1_700_000_000),
            expires_at: at(1_700_086_400),
            used_at: Some(at(1_700_000_500).replace_nanosecond(7).unwrap()),
            serial: Some("7fa1".parse().unwrap()),
            created_by: Some("alice".into()),
            approval: Some("apr_1".into()),
            participant: Some("par_1".into()),
        }
    }

    #[test]
    fn tokens_round_trip_and_json_ones_of_earlier_versions_read() {
        let full = token();
        let bytes = encode_token(&full);
        assert_eq!(decode_token(&bytes).unwrap(), full);
        let json = serde_json::to_vec(&full).unwrap();
        assert!(
            bytes.len() * 3 < json.len() * 2,
            "{} {}",
            bytes.len(),
            json.len()
        );
        assert_eq!(decode_token(&json).unwrap(), full);
        let bare = TokenRecord {
            subject_alt_names: vec![],
            used_at: None,
            serial: None,
            created_by: None,
            approval: None,
            participant: None,
            ..full
        };
        assert_eq!(decode_token(&encode_token(&bare)).unwrap(), bare);
        assert_cut_or_longer_is_corrupt(&bytes, decode_token);
    }

    /// Every truncation of `bytes`, and a byte too many, decodes as an error; nothing
    /// panics.
    pub(in crate::store) fn assert_cut_or_longer_is_corrupt<T: std::fmt::Debug>(
        bytes: &[u8],
        decode: impl Fn(&[u8]) -> Result<T, StoreError>,
    ) {
        for end in 0..bytes.len() {
            assert!(decode(bytes.get(..end).unwrap()).is_err(), "{end}");
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(decode(&longer).is_err());
    }

    #[test]
    fn records_pointing_into_the_der_log_round_trip_without_their_der() {
        let full = full_record();
        let at = DerRef {
            offset: 5_000_000_000,
            len: 700,
        };
        let bytes = encode_stored(&full, Some(at));
        let stored = decode_certificate(&bytes).unwrap();
        assert_eq!(stored.der_at, Some(at));
        assert_eq!(
            stored.record,
            CertificateRecord {
                der: Vec::new(),
                ..full.clone()
            }
        );
        // The place takes a few bytes instead of the DER's.
        assert!(bytes.len() + full.der.len() < encode_certificate(&full).len() + 10);
        assert_eq!(issuer_of(&bytes).unwrap(), 70_000);
        assert_cut_or_longer_is_corrupt(&bytes, decode_certificate);
    }

    #[test]
    fn json_records_of_earlier_versions_still_read() {
        let full = full_record();
        let json = serde_json::to_vec(&full).unwrap();
        assert_eq!(decode_certificate(&json).unwrap().record, full);
    }

    #[test]
    fn the_issuer_reads_from_either_form_without_decoding_the_rest() {
        let full = full_record();
        assert_eq!(issuer_of(&encode_certificate(&full)).unwrap(), 70_000);
        assert_eq!(
            issuer_of(&serde_json::to_vec(&full).unwrap()).unwrap(),
            70_000
        );
        // A JSON record from before rollover has no issuer: CA 1's.
        let mut json: serde_json::Value = serde_json::to_value(&full).unwrap();
        json.as_object_mut().unwrap().remove("issuer");
        assert_eq!(issuer_of(&serde_json::to_vec(&json).unwrap()).unwrap(), 1);
        assert!(issuer_of(&[VERSION, 1, 1]).is_err());
        assert!(issuer_of(b"").is_err());
    }

    #[test]
    fn truncated_or_unknown_records_are_corrupt_not_panics() {
        let bytes = encode_certificate(&full_record());
        // Up to the start of the DER, every cut loses a field.
        for cut in 0..bytes.len() - 256 {
            assert!(
                decode_certificate(bytes.get(..cut).unwrap()).is_err(),
                "{cut}"
            );
        }
        assert!(decode_certificate(&[9, 1, 2]).is_err());
        assert!(decode_certificate(&[]).is_err());
    }

    #[test]
    fn reservations_round_trip_and_old_forms_read() {
        let plan = PlannedIssuance {
            role: Role::Merchant,
            subject: "CN=m".into(),
            reserved_at: OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
            requested_via: IssuancePath::Enroll,
        };
        let same = |got: Option<PlannedIssuance>| {
            let got = got.unwrap();
            (got.role, got.subject, got.reserved_at, got.requested_via)
                == (
                    plan.role,
                    plan.subject.clone(),
                    plan.reserved_at,
                    plan.requested_via,
                )
        };
        let bytes = encode_plan(&plan);
        assert!(bytes.len() < 20);
        assert!(same(decode_plan(&bytes)));
        assert!(same(decode_plan(&serde_json::to_vec(&plan).unwrap())));
        assert!(decode_plan(b"imported").is_none());
        assert!(decode_plan(b"").is_none());
    }
}
