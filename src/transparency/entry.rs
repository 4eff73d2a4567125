//! The log's entries and their binary encoding: what each leaf hash is taken over
//! (RFC 9162 §2.1.1: leaf hash = SHA-256(0x00 ‖ entry)).
//!
//! In the presentation language of RFC 8446 §3 (as RFC 9162 uses it), big-endian:
//!
//! ```text
//! enum { certificate(1), revocation(2), hold_lifted(3), (255) } EntryType;
//!
//! struct {
//!     EntryType entry_type;
//!     uint64 timestamp;               /* ms since the epoch: when it was recorded */
//!     uint32 issuer;                  /* the issuing CA's id (1 before any rollover) */
//!     select (entry_type) {
//!         case certificate:
//!             opaque der<1..2^24-1>;  /* the certificate as issued */
//!         case revocation:
//!             opaque serial<1..2^8-1>;
//!             uint8 reason;           /* RFC 5280 §5.3.1 CRLReason code */
//!             uint64 revocation_date; /* ms since the epoch */
//!             uint8 has_invalidity_date;
//!             uint64 invalidity_date; /* ms; 0 when has_invalidity_date is 0 */
//!         case hold_lifted:
//!             opaque serial<1..2^8-1>;
//!     };
//! } LogEntry;
//! ```
//!
//! A certificate entry carries the whole certificate, so a monitor sees its subject,
//! names, key and serial without asking the CA anything else.

use crate::model::RevocationReason;

/// One entry of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEntry {
    /// A certificate the CA issued.
    Certificate {
        /// When it was recorded (ms since the epoch).
        timestamp: u64,
        /// The issuing CA's id.
        issuer: u32,
        /// The certificate, DER.
        der: Vec<u8>,
    },
    /// A certificate revoked (a certificateHold included).
    Revocation {
        /// When it was recorded (ms since the epoch).
        timestamp: u64,
        /// The issuing CA's id.
        issuer: u32,
        /// The serial's octets.
        serial: Vec<u8>,
        /// Why.
        reason: RevocationReason,
        /// revocationDate (ms since the epoch).
        revocation_date: u64,
        /// invalidityDate (ms since the epoch), if given.
        invalidity_date: Option<u64>,
    },
    /// A certificateHold lifted: the certificate is good again.
    HoldLifted {
        /// When it was recorded (ms since the epoch).
        timestamp: u64,
        /// The issuing CA's id.
        issuer: u32,
        /// The serial's octets.
        serial: Vec<u8>,
    },
}

/// Why bytes are not a log entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a paypki log entry: {0}")]
pub struct EntryError(pub &'static str);

/// ms since the epoch of an instant (instants before 1970 become 0).
pub fn millis(at: time::OffsetDateTime) -> u64 {
    u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

impl LogEntry {
    /// The entry type's name, as the HTTP API shows it.
    pub fn kind(&self) -> &'static str {
        match self {
            LogEntry::Certificate { .. } => "certificate",
            LogEntry::Revocation { .. } => "revocation",
            LogEntry::HoldLifted { .. } => "hold-lifted",
        }
    }

    /// When it was recorded (ms since the epoch).
    pub fn timestamp(&self) -> u64 {
        match self {
            LogEntry::Certificate { timestamp, .. }
            | LogEntry::Revocation { timestamp, .. }
            | LogEntry::HoldLifted { timestamp, .. } => *timestamp,
        }
    }

    /// The encoding the leaf hash is taken over.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            LogEntry::Certificate {
                timestamp,
                issuer,
                der,
            } => {
                out.push(1);
                out.extend_from_slice(&timestamp.to_be_bytes());
                out.extend_from_slice(&issuer.to_be_bytes());
                // Certificates are far below 2^24 bytes (records are checked at
                // issuance); a larger one would not be a certificate we sign.
                let len = (der.len() as u32).min(0x00ff_ffff);
                out.extend_from_slice(&len.to_be_bytes()[1..]);
                out.extend_from_slice(der.get(..len as usize).unwrap_or(der));
            }
            LogEntry::Revocation {
                timestamp,
                issuer,
                serial,
                reason,
                revocation_date,
                invalidity_date,
            } => {
                out.push(2);
                out.extend_from_slice(&timestamp.to_be_bytes());
                out.extend_from_slice(&issuer.to_be_bytes());
                push_serial(&mut out, serial);
                out.push(reason.code());
                out.extend_from_slice(&revocation_date.to_be_bytes());
                out.push(u8::from(invalidity_date.is_some()));
                out.extend_from_slice(&invalidity_date.unwrap_or(0).to_be_bytes());
            }
            LogEntry::HoldLifted {
                timestamp,
                issuer,
                serial,
            } => {
                out.push(3);
                out.extend_from_slice(&timestamp.to_be_bytes());
                out.extend_from_slice(&issuer.to_be_bytes());
                push_serial(&mut out, serial);
            }
        }
        out
    }

    /// Parses an encoded entry (all of it: trailing bytes are an error).
    pub fn decode(bytes: &[u8]) -> Result<Self, EntryError> {
        let mut r = Reader(bytes);
        let kind = r.u8()?;
        let timestamp = r.u64()?;
        let issuer = r.u32()?;
        let entry = match kind {
            1 => {
                let len = r.u24()?;
                if len == 0 {
                    return Err(EntryError("empty certificate"));
                }
                LogEntry::Certificate {
                    timestamp,
                    issuer,
                    der: r.take(len)?.to_vec(),
                }
            }
            2 => {
                let serial = r.serial()?;
                let reason = RevocationReason::from_code(r.u8()?)
                    .ok_or(EntryError("unknown revocation reason"))?;
                let revocation_date = r.u64()?;
                let has_invalidity = r.u8()?;
                let invalidity = r.u64()?;
                LogEntry::Revocation {
                    timestamp,
                    issuer,
                    serial,
                    reason,
                    revocation_date,
                    invalidity_date: match has_invalidity {
                        0 if invalidity == 0 => None,
                        1 => Some(invalidity),
                        _ => return Err(EntryError("bad invalidity date")),
                    },
                }
            }
            3 => LogEntry::HoldLifted {
                timestamp,
                issuer,
                serial: r.serial()?,
            },
            _ => return Err(EntryError("unknown entry type")),
        };
        if !r.0.is_empty() {
            return Err(EntryError("trailing bytes"));
        }
        Ok(entry)
    }
}

fn push_serial(out: &mut Vec<u8>, serial: &[u8]) {
    // Serials are at most 20 octets (RFC 5280 §4.1.2.2).
    let serial = serial.get(..255).unwrap_or(serial);
    out.push(serial.len() as u8);
    out.extend_from_slice(serial);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], EntryError> {
        if self.0.len() < n {
            return Err(EntryError("truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, EntryError> {
        Ok(self.take(1)?.first().copied().unwrap_or(0))
    }
    fn u24(&mut self) -> Result<usize, EntryError> {
        let b = self.take(3)?;
        Ok(b.iter().fold(0usize, |acc, x| acc << 8 | usize::from(*x)))
    }
    fn u32(&mut self) -> Result<u32, EntryError> {
        let b: [u8; 4] = self
            .take(4)?
            .try_into()
            .map_err(|_| EntryError("truncated"))?;
        Ok(u32::from_be_bytes(b))
    }
    fn u64(&mut self) -> Result<u64, EntryError> {
        let b: [u8; 8] = self
            .take(8)?
            .try_into()
            .map_err(|_| EntryError("truncated"))?;
        Ok(u64::from_be_bytes(b))
    }
    fn serial(&mut self) -> Result<Vec<u8>, EntryError> {
        let len = usize::from(self.u8()?);
        if len == 0 {
            return Err(EntryError("empty serial"));
        }
        Ok(self.take(len)?.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_junk_is_refused() {
        let entries = [
            LogEntry::Certificate {
                timestamp: 1_790_000_000_123,
                issuer: 1,
                der: vec![0x30, 0x03, 1, 2, 3],
            },
            LogEntry::Revocation {
                timestamp: 5,
                issuer: 2,
                serial: vec![0x7f, 1],
                reason: RevocationReason::KeyCompromise,
                revocation_date: 4,
                invalidity_date: Some(3),
            },
            LogEntry::Revocation {
                timestamp: 5,
                issuer: 2,
                serial: vec![0x7f, 1],
                reason: RevocationReason::CertificateHold,
                revocation_date: 4,
                invalidity_date: None,
            },
            LogEntry::HoldLifted {
                timestamp: 9,
                issuer: 1,
                serial: vec![1],
            },
        ];
        for entry in entries {
            let bytes = entry.encode();
            assert_eq!(LogEntry::decode(&bytes).unwrap(), entry);
            for cut in 0..bytes.len() {
                assert!(LogEntry::decode(&bytes[..cut]).is_err(), "{cut}");
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(LogEntry::decode(&longer).is_err());
        }
        // The layout, byte for byte, of a certificate entry.
        let bytes = LogEntry::Certificate {
            timestamp: 0x0102,
            issuer: 7,
            der: vec![0xaa, 0xbb],
        }
        .encode();
        assert_eq!(
            bytes,
            [1, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 7, 0, 0, 2, 0xaa, 0xbb]
        );
    }
}
