//! The issuing CA's CRL, written in one pass: entries are encoded straight into one
//! buffer from borrowed values (no owned object per entry), then the TBSCertList is
//! wrapped and signed. With a million entries this keeps memory near two copies of the
//! output. The unit test below checks that the bytes equal rcgen's for the same CRL.

use der::asn1::{AnyRef, GeneralizedTime, ObjectIdentifier, OctetString, UintRef, UtcTime};
use der::{Encode, Header, Length, Sequence, Tag, TagNumber};
use x509_cert::ext::Extension;
use x509_cert::time::Time;

use super::CaError;
use crate::model::RevocationReason;

const ID_CE_CRL_REASONS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.21");
const ID_CE_INVALIDITY_DATE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.24");
const ID_CE_AUTHORITY_KEY_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.35");
const ID_CE_CRL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.20");
/// 2050-01-01T00:00:00Z: RFC 5280 §5.1.2.4 — UTCTime before, GeneralizedTime from then on.
const UTC_TIME_LIMIT: i64 = 2_524_608_000;

fn der_error(e: der::Error) -> CaError {
    CaError::Build(format!("CRL encoding: {e}"))
}

/// RFC 5280 Time for Unix seconds.
pub(crate) fn time(seconds: i64) -> Result<Time, CaError> {
    let duration = std::time::Duration::from_secs(
        u64::try_from(seconds).map_err(|_| CaError::Build("time before 1970".into()))?,
    );
    Ok(if seconds < UTC_TIME_LIMIT {
        Time::UtcTime(UtcTime::from_unix_duration(duration).map_err(der_error)?)
    } else {
        Time::GeneralTime(GeneralizedTime::from_unix_duration(duration).map_err(der_error)?)
    })
}

/// RevokedCertificate with borrowed serial and pre-encoded extensions.
#[derive(Sequence)]
struct EntryRef<'a> {
    serial: UintRef<'a>,
    revocation_date: Time,
    #[asn1(optional = "true")]
    extensions: Option<AnyRef<'a>>,
}

fn entry_extensions(
    reason: Option<RevocationReason>,
    invalidity: Option<i64>,
) -> Result<Option<Vec<u8>>, CaError> {
    let mut extensions = Vec::new();
    // RFC 5280 §5.3.1: reasonCode SHOULD be absent rather than unspecified.
    if let Some(reason) = reason.filter(|r| *r != RevocationReason::Unspecified) {
        extensions.push(Extension {
            extn_id: ID_CE_CRL_REASONS,
            critical: false,
            extn_value: OctetString::new(reason.to_x509().to_der().map_err(der_error)?)
                .map_err(der_error)?,
        });
    }
    if let Some(seconds) = invalidity {
        // RFC 5280 §5.3.2: InvalidityDate is always GeneralizedTime.
        let at = GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(
            u64::try_from(seconds).unwrap_or(0),
        ))
        .map_err(der_error)?;
        extensions.push(Extension {
            extn_id: ID_CE_INVALIDITY_DATE,
            critical: false,
            extn_value: OctetString::new(at.to_der().map_err(der_error)?).map_err(der_error)?,
        });
    }
    if extensions.is_empty() {
        return Ok(None);
    }
    extensions.to_der().map(Some).map_err(der_error)
}

/// Encodes entries straight into the CRL's output buffer.
pub struct CrlEntryWriter {
    out: Vec<u8>,
    count: usize,
    /// Pre-encoded extensions for entries that carry only a reason, by reason code.
    by_reason: Vec<(u8, Option<Vec<u8>>)>,
    /// The last entry's revocationDate and extensions, encoded, and what they encode:
    /// revocations made together share them, so most entries copy them.
    tail_of: Option<(i64, Option<RevocationReason>, Option<i64>)>,
    tail: Vec<u8>,
    /// The pre-issuance checks of the entries, and where the unchecked ones begin.
    check: super::lint::CrlEntriesCheck,
    checked: usize,
    error: Option<CaError>,
}

/// DER length octets (X.690 §10.1: definite form, as few octets as possible), as der
/// writes them; `None` beyond what an entry may need.
fn push_length(out: &mut Vec<u8>, len: usize) -> Option<()> {
    if len < 0x80 {
        out.push(u8::try_from(len).ok()?);
    } else if len <= 0xFF {
        out.extend_from_slice(&[0x81, u8::try_from(len).ok()?]);
    } else {
        let [high, low] = u16::try_from(len).ok()?.to_be_bytes();
        out.extend_from_slice(&[0x82, high, low]);
    }
    Some(())
}

/// Year, month, day of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// 10000-01-01T00:00:00Z: the first second GeneralizedTime cannot carry here.
const TIME_END: i64 = 253_402_300_800;

/// Appends the DER Time for `seconds` exactly as [`time`] and der encode it (UTCTime
/// YYMMDDHHMMSSZ before 2050, GeneralizedTime YYYYMMDDHHMMSSZ from then on) without
/// building der's date value: this runs once per entry. `None` outside 1970..=9999,
/// where the caller falls back to der (and its error).
fn push_time(out: &mut Vec<u8>, seconds: i64) -> Option<()> {
    if !(0..TIME_END).contains(&seconds) {
        return None;
    }
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let second_of_day = seconds.rem_euclid(86_400);
    let utc = seconds < UTC_TIME_LIMIT;
    if utc {
        out.extend_from_slice(&[0x17, 13]);
    } else {
        out.extend_from_slice(&[0x18, 15]);
        push_digits(out, year / 100)?;
    }
    for value in [
        year % 100,
        month,
        day,
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
    ] {
        push_digits(out, value)?;
    }
    out.push(b'Z');
    Some(())
}

/// Two ASCII digits of a value below 100.
fn push_digits(out: &mut Vec<u8>, value: i64) -> Option<()> {
    let value = u8::try_from(value).ok().filter(|v| *v < 100)?;
    out.push(b'0' + value / 10);
    out.push(b'0' + value % 10);
    Some(())
}

impl CrlEntryWriter {
    fn new(out: Vec<u8>) -> Result<Self, CaError> {
        let mut by_reason = Vec::new();
        for code in 0..=10u8 {
            if let Some(reason) = RevocationReason::from_code(code) {
                by_reason.push((code, entry_extensions(Some(reason), None)?));
            }
        }
        Ok(CrlEntryWriter {
            checked: out.len(),
            out,
            count: 0,
            by_reason,
            tail_of: None,
            tail: Vec::new(),
            check: super::lint::CrlEntriesCheck::default(),
            error: None,
        })
    }

    /// Appends one revoked certificate. Errors are kept and reported when the CRL is signed.
    pub fn push(
        &mut self,
        serial: &[u8],
        revoked_at: i64,
        reason: Option<RevocationReason>,
        invalidity: Option<i64>,
    ) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.try_push(serial, revoked_at, reason, invalidity) {
            self.error = Some(e);
        }
    }

    fn try_push(
        &mut self,
        serial: &[u8],
        revoked_at: i64,
        reason: Option<RevocationReason>,
        invalidity: Option<i64>,
    ) -> Result<(), CaError> {
        if self
            .push_fast(serial, revoked_at, reason, invalidity)
            .is_some()
        {
            self.count += 1;
            return Ok(());
        }
        self.push_der(serial, revoked_at, reason, invalidity)
    }

    /// Writes the entry der would write (see `push_der`), by hand: a million entries
    /// spent most of their encoding time in der's generic length and date code. `None`,
    /// with nothing written, for what it does not cover (times outside 1970..=9999, a
    /// serial of 128 octets or more, an extension error), which `push_der` then
    /// encodes or reports.
    fn push_fast(
        &mut self,
        serial: &[u8],
        revoked_at: i64,
        reason: Option<RevocationReason>,
        invalidity: Option<i64>,
    ) -> Option<()> {
        let key = (revoked_at, reason, invalidity);
        if self.tail_of != Some(key) {
            self.tail_of = None;
            self.tail.clear();
            push_time(&mut self.tail, revoked_at)?;
            match invalidity {
                None => {
                    let code = reason.map(RevocationReason::code).unwrap_or(0);
                    if let Some(extensions) = self
                        .by_reason
                        .iter()
                        .find(|(c, _)| *c == code)
                        .and_then(|(_, ext)| ext.as_deref())
                    {
                        self.tail.extend_from_slice(extensions);
                    }
                }
                Some(_) => {
                    if let Some(extensions) = entry_extensions(reason, invalidity).ok()? {
                        self.tail.extend_from_slice(&extensions);
                    }
                }
            }
            self.tail_of = Some(key);
        }
        // UintRef: leading zeros stripped (one kept for zero), a zero added before a
        // high bit.
        let mut digits = serial;
        while let [0, rest @ ..] = digits {
            if rest.is_empty() {
                break;
            }
            digits = rest;
        }
        let pad = digits.first().is_some_and(|b| *b >= 0x80);
        let serial_len = u8::try_from(digits.len() + usize::from(pad))
            .ok()
            .filter(|len| *len < 0x80)?;
        let start = self.out.len();
        self.out.push(0x30);
        if push_length(&mut self.out, 2 + usize::from(serial_len) + self.tail.len()).is_none() {
            self.out.truncate(start);
            return None;
        }
        self.out.extend_from_slice(&[0x02, serial_len]);
        if pad {
            self.out.push(0);
        }
        self.out.extend_from_slice(digits);
        self.out.extend_from_slice(&self.tail);
        Some(())
    }

    /// Encodes one entry with der's types.
    fn push_der(
        &mut self,
        serial: &[u8],
        revoked_at: i64,
        reason: Option<RevocationReason>,
        invalidity: Option<i64>,
    ) -> Result<(), CaError> {
        let owned;
        let extensions: Option<&[u8]> = match (reason, invalidity) {
            (reason, None) => {
                let code = reason.map(RevocationReason::code).unwrap_or(0);
                self.by_reason
                    .iter()
                    .find(|(c, _)| *c == code)
                    .and_then(|(_, ext)| ext.as_deref())
            }
            (reason, Some(_)) => {
                owned = entry_extensions(reason, invalidity)?;
                owned.as_deref()
            }
        };
        let entry = EntryRef {
            serial: UintRef::new(serial).map_err(der_error)?,
            revocation_date: time(revoked_at)?,
            extensions: extensions
                .map(AnyRef::try_from)
                .transpose()
                .map_err(der_error)?,
        };
        entry.encode_to_vec(&mut self.out).map_err(der_error)?;
        self.count += 1;
        Ok(())
    }

    /// Runs the pre-issuance checks over the entries written since the last call (all
    /// are checked before signing anyway; calling this while waiting for more entries
    /// takes the work off the end). A failure is reported when the CRL is signed.
    pub fn check_written(&mut self) {
        if self.error.is_some() {
            return;
        }
        let result = match self.out.get(self.checked..) {
            Some(entries) => self.check.check(entries).map_err(CaError::from),
            None => Err(CaError::Build("CRL layout error".into())),
        };
        match result {
            Ok(()) => self.checked = self.out.len(),
            Err(e) => self.error = Some(e),
        }
    }

    /// Entries written so far.
    pub fn count(&self) -> usize {
        self.count
    }
}

/// What the CRL says besides its entries.
pub(crate) struct CrlFrame<'a> {
    pub(crate) signature_algorithm: &'a [u8],
    pub(crate) issuer: &'a [u8],
    pub(crate) this_update: i64,
    pub(crate) next_update: i64,
    pub(crate) number: u64,
    pub(crate) authority_key_id: &'a [u8],
}

fn header(tag: Tag, len: usize) -> Result<Vec<u8>, CaError> {
    Header::new(tag, Length::try_from(len).map_err(der_error)?)
        .map_err(der_error)?
        .to_der()
        .map_err(der_error)
}

/// Signs the TBSCertList bytes; the range is where its revokedCertificates content lies,
/// which [`CrlEntryWriter::check_written`] has checked.
pub(crate) type Signer<'a> = dyn Fn(&[u8], std::ops::Range<usize>) -> Result<Vec<u8>, CaError> + 'a;

fn put(out: &mut [u8], at: usize, bytes: &[u8]) -> Result<(), CaError> {
    out.get_mut(at..at + bytes.len())
        .ok_or_else(|| CaError::Build("CRL layout error".into()))?
        .copy_from_slice(bytes);
    Ok(())
}

/// Room reserved in front for the CertificateList and TBSCertList headers, and before
/// the entries for their SEQUENCE header (a DER header is at most 6 bytes here).
const HEADER_ROOM: usize = 6;

/// Builds the CRL in one buffer: the fields before the entries, a gap, the entries as
/// `fill` pushes them, the extensions; then the headers go into the gaps (the small
/// prefix moves, the entries never do), the TBSCertList is signed in place, and the
/// signature appended. Returns the DER CertificateList and the number of entries.
pub(crate) fn build(
    frame: &CrlFrame<'_>,
    fill: &mut dyn FnMut(&mut CrlEntryWriter),
    sign: &Signer<'_>,
) -> Result<(Vec<u8>, usize), CaError> {
    let number_bytes = frame.number.to_be_bytes();
    let first = number_bytes.iter().position(|b| *b != 0).unwrap_or(7);
    let aki = x509_cert::ext::pkix::AuthorityKeyIdentifier {
        key_identifier: Some(OctetString::new(frame.authority_key_id).map_err(der_error)?),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    };
    let crl_extensions = vec![
        Extension {
            extn_id: ID_CE_AUTHORITY_KEY_IDENTIFIER,
            critical: false,
            extn_value: OctetString::new(aki.to_der().map_err(der_error)?).map_err(der_error)?,
        },
        Extension {
            extn_id: ID_CE_CRL_NUMBER,
            critical: false,
            extn_value: OctetString::new(
                UintRef::new(number_bytes.get(first..).unwrap_or(&[0]))
                    .map_err(der_error)?
                    .to_der()
                    .map_err(der_error)?,
            )
            .map_err(der_error)?,
        },
    ]
    .to_der()
    .map_err(der_error)?;
    let extensions_header = header(
        Tag::ContextSpecific {
            constructed: true,
            number: TagNumber::N0,
        },
        crl_extensions.len(),
    )?;

    // TBSCertList, RFC 5280 §5.1.2: version v2, signature, issuer, thisUpdate, nextUpdate,
    // revokedCertificates (absent when empty), crlExtensions [0] EXPLICIT.
    let mut prefix = 1u8.to_der().map_err(der_error)?;
    prefix.extend_from_slice(frame.signature_algorithm);
    prefix.extend_from_slice(frame.issuer);
    prefix.extend_from_slice(&time(frame.this_update)?.to_der().map_err(der_error)?);
    prefix.extend_from_slice(&time(frame.next_update)?.to_der().map_err(der_error)?);

    let front = 2 * HEADER_ROOM;
    let mut out = Vec::with_capacity(1 << 16);
    out.resize(front, 0);
    out.extend_from_slice(&prefix);
    out.resize(out.len() + HEADER_ROOM, 0);
    let entries_start = out.len();
    let mut writer = CrlEntryWriter::new(out)?;
    fill(&mut writer);
    writer.check_written();
    if let Some(e) = writer.error.take() {
        return Err(e);
    }
    let count = writer.count;
    let mut out = writer.out;
    let entries_len = out.len() - entries_start;

    // Close the gap before the entries: their header (if any) ends where they begin, and
    // the prefix moves up to meet it.
    let entries_header = if count > 0 {
        header(Tag::Sequence, entries_len)?
    } else {
        Vec::new()
    };
    let header_at = entries_start - entries_header.len();
    put(&mut out, header_at, &entries_header)?;
    let prefix_at = header_at - prefix.len();
    put(&mut out, prefix_at, &prefix)?;
    out.extend_from_slice(&extensions_header);
    out.extend_from_slice(&crl_extensions);

    let tbs_header = header(Tag::Sequence, out.len() - prefix_at)?;
    let tbs_at = prefix_at - tbs_header.len();
    put(&mut out, tbs_at, &tbs_header)?;
    let tbs = out
        .get(tbs_at..)
        .ok_or_else(|| CaError::Build("CRL layout error".into()))?;
    let checked = entries_start - tbs_at;
    let signature = sign(tbs, checked..checked + entries_len)?;
    let bit_string = der::asn1::BitString::from_bytes(&signature)
        .map_err(der_error)?
        .to_der()
        .map_err(der_error)?;
    out.extend_from_slice(frame.signature_algorithm);
    out.extend_from_slice(&bit_string);
    let outer = header(Tag::Sequence, out.len() - tbs_at)?;
    let outer_at = tbs_at - outer.len();
    put(&mut out, outer_at, &outer)?;
    out.drain(..outer_at);
    Ok((out, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written entry encoding equals der's, byte for byte, across serial
    /// shapes, both Time forms and their boundaries, and every extension shape.
    #[test]
    fn fast_entries_equal_ders() {
        let serials: Vec<Vec<u8>> = vec![
            vec![],
            vec![0],
            vec![0, 0],
            vec![1],
            vec![0x7f],
            vec![0x80],
            vec![0, 0x80],
            vec![0, 0, 5, 0xff],
            vec![0x12; 16],
            vec![0xf0; 20],
            vec![0x01; 126],
            vec![0x81; 126],
            vec![0x01; 127],
            vec![0x81; 127],
            vec![0x01; 200],
        ];
        let mut times = vec![
            0,
            59,
            86_399,
            86_400,
            951_782_400, // 2000-02-29
            1_700_000_000,
            UTC_TIME_LIMIT - 1,
            UTC_TIME_LIMIT,
            4_107_542_400, // 2100-03-01
            TIME_END - 1,
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            times.push(i64::try_from(x % u64::try_from(TIME_END).unwrap()).unwrap());
        }
        let reasons = [
            None,
            Some(RevocationReason::Unspecified),
            Some(RevocationReason::KeyCompromise),
            Some(RevocationReason::CertificateHold),
            Some(RevocationReason::AaCompromise),
        ];
        let mut fast = CrlEntryWriter::new(Vec::new()).unwrap();
        let mut slow = CrlEntryWriter::new(Vec::new()).unwrap();
        let mut check = |serial: &[u8], at: i64, reason, invalidity| {
            let (f, s) = (fast.out.len(), slow.out.len());
            let fast_ok = fast.push_fast(serial, at, reason, invalidity).is_some();
            slow.push_der(serial, at, reason, invalidity).unwrap();
            if fast_ok {
                assert_eq!(
                    fast.out[f..],
                    slow.out[s..],
                    "{serial:02x?} {at} {reason:?}"
                );
            } else {
                // Only what the fast path leaves to der.
                assert!(serial.len() >= 127, "{serial:02x?} {at}");
                fast.out.truncate(f);
                slow.out.truncate(s);
            }
        };
        for serial in &serials {
            for &at in times.iter().take(12) {
                for reason in reasons {
                    check(serial, at, reason, None);
                    check(serial, at, reason, Some(at));
                    check(serial, at, reason, Some(1_700_000_000));
                }
            }
        }
        for (i, &at) in times.iter().enumerate() {
            check(&serials[i % 10], at, reasons[i % reasons.len()], None);
            check(&serials[i % 10], at, reasons[i % reasons.len()], None);
        }
        // Out of range: nothing written, der reports the error.
        let before = fast.out.len();
        assert!(fast.push_fast(&[1], -1, None, None).is_none());
        assert!(fast.push_fast(&[1], TIME_END, None, None).is_none());
        assert_eq!(fast.out.len(), before);
        assert!(fast.push_der(&[1], -1, None, None).is_err());
    }
}
