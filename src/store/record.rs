//! The compact binary forms of the values stored per certificate: the
//! [`CertificateRecord`] in `certificates` and the [`PlannedIssuance`] in `serials`.
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
//! nanoseconds` (UTC), the fingerprint is `1 ‖ 32 octets` when it is lowercase hex of
//! SHA-256 size and `0 ‖ len text` otherwise, an option is `0` or `1 ‖ value`, and a
//! revocation is `len reason ‖ revoked_at ‖ option invalidity_date`.
//!
//! Reservation, version 1: `1 ‖ role ‖ requested_via ‖ reserved_at ‖ subject (the rest)`.
//! An empty value (or `imported`, as earlier versions wrote) is a serial taken by a bulk
//! import, with no plan.

use time::OffsetDateTime;

use super::{
    role_byte, status_byte, CertificateRecord, IssuancePath, PlannedIssuance, RevocationRecord,
    StoreError,
};
use crate::model::{CertificateStatus, Role, Serial};

/// The version byte of the binary forms; never `{`, the first byte of the JSON ones.
const VERSION: u8 = 1;

/// Encodes a certificate record in the compact binary form.
pub(super) fn encode_certificate(record: &CertificateRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(record.der.len() + 128);
    out.extend_from_slice(&[
        VERSION,
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
    match raw_fingerprint(&record.fingerprint_sha256) {
        Some(raw) => {
            out.push(1);
            out.extend_from_slice(&raw);
        }
        None => {
            out.push(0);
            put_bytes(&mut out, record.fingerprint_sha256.as_bytes());
        }
    }
    match &record.parent {
        Some(parent) => {
            out.push(1);
            put_bytes(&mut out, parent.as_bytes());
        }
        None => out.push(0),
    }
    match &record.participant {
        Some(participant) => {
            out.push(1);
            put_bytes(&mut out, participant.as_bytes());
        }
        None => out.push(0),
    }
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
    out.extend_from_slice(&record.der);
    out
}

/// Decodes a certificate record in either form (JSON from earlier versions, or binary).
pub(super) fn decode_certificate(bytes: &[u8]) -> Result<CertificateRecord, StoreError> {
    match bytes.first() {
        Some(b'{') => serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string())),
        Some(&VERSION) => Reader::new(bytes.get(1..).unwrap_or_default())
            .certificate()
            .ok_or_else(|| StoreError::Corrupt("certificate record".into())),
        _ => Err(StoreError::Corrupt(
            "certificate record of an unknown format".into(),
        )),
    }
}

/// The issuing CA of a stored certificate record, without decoding the rest: in the
/// binary form it is the four octets after the version, role, path and status bytes.
pub(super) fn issuer_of(bytes: &[u8]) -> Result<u32, StoreError> {
    match bytes.first() {
        Some(&VERSION) => bytes
            .get(4..8)
            .and_then(|octets| <[u8; 4]>::try_from(octets).ok())
            .map(u32::from_be_bytes)
            .ok_or_else(|| StoreError::Corrupt("certificate record".into())),
        _ => decode_certificate(bytes).map(|record| record.issuer),
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

fn put_len(out: &mut Vec<u8>, len: usize) {
    let mut value = len as u64;
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
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return usize::try_from(value).ok();
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

    fn certificate(&mut self) -> Option<CertificateRecord> {
        let role = role_of(self.byte()?)?;
        let requested_via = path_of(self.byte()?)?;
        let status = status_of(self.byte()?)?;
        let issuer = u32::from_be_bytes(self.array()?);
        let not_before = self.time()?;
        let not_after = self.time()?;
        let issued_at = self.time()?;
        let serial = serial_of(self.bytes()?)?;
        let subject = self.text()?;
        let count = self.len()?;
        // Each name takes at least one byte: a count beyond the bytes left is corrupt
        // (and must not reserve memory for it).
        if count > self.rest.len() {
            return None;
        }
        let mut subject_alt_names = Vec::with_capacity(count);
        for _ in 0..count {
            subject_alt_names.push(self.text()?);
        }
        let key = self.text()?;
        let fingerprint_sha256 = if self.flag()? {
            hex::encode(self.array::<32>()?)
        } else {
            self.text()?
        };
        let parent = if self.flag()? {
            Some(serial_of(self.bytes()?)?)
        } else {
            None
        };
        let participant = if self.flag()? {
            Some(self.text()?)
        } else {
            None
        };
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
            der: self.rest().to_vec(),
        })
    }
}

/// A serial from its stored octets (as [`Serial::as_bytes`] gave them).
fn serial_of(octets: &[u8]) -> Option<Serial> {
    hex::encode(octets).parse().ok()
}

#[cfg(test)]
mod tests {
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
        assert_eq!(decode_certificate(&bytes).unwrap(), full);
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
            decode_certificate(&encode_certificate(&bare)).unwrap(),
            bare
        );
        // Upper-case hex would not come back as the same text: kept as text.
        bare.fingerprint_sha256 = hex::encode_upper([0xab; 32]);
        assert_eq!(
            decode_certificate(&encode_certificate(&bare)).unwrap(),
            bare
        );
    }

    #[test]
    fn json_records_of_earlier_versions_still_read() {
        let full = full_record();
        let json = serde_json::to_vec(&full).unwrap();
        assert_eq!(decode_certificate(&json).unwrap(), full);
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
