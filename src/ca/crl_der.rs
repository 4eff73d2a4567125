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
    error: Option<CaError>,
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
            out,
            count: 0,
            by_reason,
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

/// Signs the TBSCertList bytes.
pub(crate) type Signer<'a> = dyn Fn(&[u8]) -> Result<Vec<u8>, CaError> + 'a;

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
    let signature = sign(tbs)?;
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
