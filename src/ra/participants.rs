//! The participant registry's rules: which fields each role has, how they are checked
//! (BIC per ISO 9362, countries per ISO 3166-1, DNS names, references to banks), how a
//! certificate's subject and SANs follow from a record and the role's policy, and the
//! acts that change a participant's status together with its certificates' (suspend:
//! hold; resume: lift exactly those holds; terminate: revoke as cessationOfOperation).

use time::OffsetDateTime;

use super::{RaError, RegistrationAuthority};
use crate::model::{RevocationReason, Role, Serial};
use crate::names::{AttributeType, SubjectAltName, SubjectName};
use crate::store::{
    AuditEvent, CertificateChange, CertificateRecord, ParticipantFilter, ParticipantPage,
    ParticipantRecord, ParticipantStatus, PlacedHold, RevocationRecord, StoreError,
};

/// Why a participant record or act was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParticipantError {
    /// A field's value is not acceptable.
    #[error("{field}: {problem}")]
    Invalid {
        /// The field, as named in the API.
        field: &'static str,
        /// What is wrong, for people.
        problem: String,
    },
    /// A field the role does not have.
    #[error("{field} is not a field of a {role} (a {role} has: {allowed})")]
    NotForRole {
        /// The field.
        field: &'static str,
        /// The participant's role.
        role: Role,
        /// The fields the role has.
        allowed: String,
    },
    /// A field the role needs is missing (or was cleared).
    #[error("a {role} needs {field}")]
    Missing {
        /// The field.
        field: &'static str,
        /// The participant's role.
        role: Role,
    },
    /// A reference to a bank that is not a registered, non-terminated bank.
    #[error("{field}: {reference} {problem}")]
    BadBankReference {
        /// `acquiring_bank` or `issuing_bank`.
        field: &'static str,
        /// The id given.
        reference: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// No participant with this id.
    #[error("no participant with id {0}")]
    NotFound(String),
    /// The participant may not enroll, renew or be given a token now.
    #[error("participant {id} is {status}: {what} is refused{hint}", hint = if *status == ParticipantStatus::Suspended { " until an administrator resumes it" } else { " for good" })]
    Inactive {
        /// The participant.
        id: String,
        /// Its status.
        status: ParticipantStatus,
        /// What was refused (`enrollment`, `renewal`, `a new token`).
        what: &'static str,
    },
    /// The participant's status does not allow the act.
    #[error("participant {id} is {status}: it cannot be {act}")]
    StatusConflict {
        /// The participant.
        id: String,
        /// Its status.
        status: ParticipantStatus,
        /// The act (`suspended`, `resumed`, `terminated`, `updated`).
        act: &'static str,
    },
    /// The participant kept changing under the act (concurrent administrators).
    #[error(
        "participant {0} was changed by another request meanwhile; nothing was changed, try again"
    )]
    Busy(String),
}

impl ParticipantError {
    /// What kind of failure this is.
    pub fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind as K;
        match self {
            ParticipantError::Invalid { .. }
            | ParticipantError::NotForRole { .. }
            | ParticipantError::Missing { .. }
            | ParticipantError::BadBankReference { .. } => K::InvalidParticipant,
            ParticipantError::NotFound(_) => K::NotFound,
            ParticipantError::Inactive { .. } => K::ParticipantInactive,
            ParticipantError::StatusConflict { .. } | ParticipantError::Busy(_) => {
                K::ParticipantStatusConflict
            }
        }
    }
}

/// The fields of a participant as an administrator gives them: for a new participant,
/// every field its role needs; for an update, the fields to change (`Some("")` clears an
/// optional text field, a list replaces the list).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParticipantFields {
    /// Display name (CN).
    pub name: Option<String>,
    /// Legal name of a bank or merchant (O).
    pub legal_name: Option<String>,
    /// A gateway's operator (O).
    pub operator: Option<String>,
    /// ISO 3166-1 alpha-2 (C).
    pub country: Option<String>,
    /// City (L).
    pub locality: Option<String>,
    /// A bank's BIC (serialNumber).
    pub bic: Option<String>,
    /// A merchant's id (serialNumber).
    pub merchant_id: Option<String>,
    /// A merchant's acquiring bank (participant id).
    pub acquiring_bank: Option<String>,
    /// A buyer's customer reference (serialNumber).
    pub customer_reference: Option<String>,
    /// A buyer's issuing bank (participant id).
    pub issuing_bank: Option<String>,
    /// E-mail address (SAN).
    pub email: Option<String>,
    /// DNS names (SANs).
    pub dns_names: Option<Vec<String>>,
    /// URIs (SANs).
    pub uris: Option<Vec<String>>,
    /// IP addresses (SANs).
    pub ip_addresses: Option<Vec<String>>,
}

/// A participant field other than `name` (which every role has).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    LegalName,
    Operator,
    Country,
    Locality,
    Bic,
    MerchantId,
    AcquiringBank,
    CustomerReference,
    IssuingBank,
    Email,
    DnsNames,
    Uris,
    IpAddresses,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::LegalName => "legal_name",
            Field::Operator => "operator",
            Field::Country => "country",
            Field::Locality => "locality",
            Field::Bic => "bic",
            Field::MerchantId => "merchant_id",
            Field::AcquiringBank => "acquiring_bank",
            Field::CustomerReference => "customer_reference",
            Field::IssuingBank => "issuing_bank",
            Field::Email => "email",
            Field::DnsNames => "dns_names",
            Field::Uris => "uris",
            Field::IpAddresses => "ip_addresses",
        }
    }
}

/// Which fields a role needs and which it may have. Together they hold everything the
/// shipped policy of the role asks of a subject and SANs (see [`derive_names`]).
fn role_fields(role: Role) -> (&'static [Field], &'static [Field]) {
    use Field as F;
    match role {
        Role::Bank => (
            &[F::LegalName, F::Country, F::Bic],
            &[F::Locality, F::DnsNames, F::Uris],
        ),
        Role::Merchant => (
            &[F::LegalName, F::Country, F::MerchantId, F::AcquiringBank],
            &[F::Locality, F::Email, F::DnsNames, F::Uris],
        ),
        Role::Gateway => (
            &[F::Operator, F::DnsNames],
            &[F::Country, F::Locality, F::IpAddresses],
        ),
        Role::Buyer => (
            &[F::CustomerReference, F::IssuingBank],
            &[F::Country, F::Email],
        ),
    }
}

/// The most names of one kind a record may list (the gateway policy's SAN maximum; the
/// role's policy may allow fewer, and is checked too).
const MAX_NAMES: usize = 20;

/// The ISO 3166-1 alpha-2 codes (officially assigned, as of 2024).
const ISO_3166_ALPHA2: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// Whether `code` is an officially assigned ISO 3166-1 alpha-2 code (uppercase).
pub fn is_country(code: &str) -> bool {
    code.len() == 2 && ISO_3166_ALPHA2.split(' ').any(|c| c == code)
}

/// Checks a BIC (ISO 9362): 4 letters (the institution), the ISO 3166-1 country of the
/// institution, 2 letters or digits (the location) and an optional 3-character branch;
/// 8 or 11 characters in all, uppercase. The bank policy's serialNumber pattern says the
/// same in a regular expression, and is checked too when names are derived.
pub fn check_bic(bic: &str) -> Result<(), String> {
    let bytes = bic.as_bytes();
    if bytes.len() != 8 && bytes.len() != 11 {
        return Err(format!(
            "{bic:?} is not a BIC: ISO 9362 codes have 8 or 11 characters"
        ));
    }
    let (institution, rest) = bic.split_at(4);
    let (country, rest) = rest.split_at(2);
    if !institution.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(format!(
            "{bic:?} is not a BIC: its first four characters (the institution) must be letters A-Z"
        ));
    }
    if !is_country(country) {
        return Err(format!(
            "{bic:?} is not a BIC: characters 5-6 ({country}) must be an ISO 3166-1 country code"
        ));
    }
    if !rest
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return Err(format!(
            "{bic:?} is not a BIC: the location and branch must be letters A-Z or digits"
        ));
    }
    Ok(())
}

/// A text field checked as the subject attribute it becomes (length, printable,
/// no invisible formatting characters, no surrounding white space).
fn check_text(field: &'static str, attribute: AttributeType, value: &str) -> Result<(), RaError> {
    SubjectName::new(vec![(attribute, value.to_string())])
        .map(|_| ())
        .map_err(|e| {
            ParticipantError::Invalid {
                field,
                problem: e.to_string(),
            }
            .into()
        })
}

/// Names of one SAN kind: each parsed (so normalized), none twice, at most [`MAX_NAMES`].
fn check_names(field: &'static str, kind: &str, values: &[String]) -> Result<Vec<String>, RaError> {
    if values.len() > MAX_NAMES {
        return Err(ParticipantError::Invalid {
            field,
            problem: format!("at most {MAX_NAMES} entries"),
        }
        .into());
    }
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for value in values {
        let name: SubjectAltName =
            format!("{kind}:{value}")
                .parse()
                .map_err(|e: crate::names::NameError| ParticipantError::Invalid {
                    field,
                    problem: e.to_string(),
                })?;
        let text = name.to_string();
        let bare = text
            .split_once(':')
            .map(|(_, v)| v.to_string())
            .unwrap_or_default();
        if out.contains(&bare) {
            return Err(ParticipantError::Invalid {
                field,
                problem: format!("{bare} is listed twice"),
            }
            .into());
        }
        out.push(bare);
    }
    Ok(out)
}

/// The certificate subject and SANs of a participant: CN from `name`; O from
/// `legal_name` (bank, merchant) or `operator` (gateway); L from `locality`; C from
/// `country`; serialNumber from `bic` (bank), `merchant_id` (merchant) or
/// `customer_reference` (buyer); SANs from `dns_names`, `email`, `uris` and
/// `ip_addresses`, in that order. The role's policy is applied by the caller.
pub fn derive_names(
    record: &ParticipantRecord,
) -> Result<(SubjectName, Vec<SubjectAltName>), RaError> {
    use AttributeType as A;
    let organization = record.legal_name.as_ref().or(record.operator.as_ref());
    let serial_number = record
        .bic
        .as_ref()
        .or(record.merchant_id.as_ref())
        .or(record.customer_reference.as_ref());
    let mut attributes = vec![(A::CommonName, record.name.clone())];
    let optional = [
        (A::Organization, organization),
        (A::Locality, record.locality.as_ref()),
        (A::Country, record.country.as_ref()),
        (A::SerialNumber, serial_number),
    ];
    attributes.extend(
        optional
            .into_iter()
            .filter_map(|(kind, value)| value.map(|v| (kind, v.clone()))),
    );
    let subject = SubjectName::new(attributes)?;
    let mut sans = Vec::new();
    let texts = record
        .dns_names
        .iter()
        .map(|n| format!("dns:{n}"))
        .chain(record.email.iter().map(|e| format!("email:{e}")))
        .chain(record.uris.iter().map(|u| format!("uri:{u}")))
        .chain(record.ip_addresses.iter().map(|i| format!("ip:{i}")));
    for text in texts {
        sans.push(text.parse::<SubjectAltName>()?);
    }
    Ok((subject, sans))
}

/// The outcome of a suspension, resumption or termination.
#[derive(Debug, Clone)]
pub struct ParticipantAct {
    /// The participant afterwards.
    pub participant: ParticipantRecord,
    /// The certificates whose status the act changed.
    pub certificates: Vec<CertificateRecord>,
}

/// How often an act is tried again when the participant or one of its certificates
/// changed under it (another administrator, a renewal's supersession).
const ACT_ATTEMPTS: usize = 5;

impl RegistrationAuthority {
    /// Registers a participant after checking every field (and the names it would get
    /// against its role's policy); audited; returns the stored record.
    pub fn add_participant(
        &self,
        role: Role,
        fields: ParticipantFields,
        actor: &str,
    ) -> Result<ParticipantRecord, RaError> {
        let now = super::truncate_to_second(self.clock.now());
        let id = format!("par_{}", super::enrollment::random_hex(12)?);
        let empty = ParticipantRecord {
            id,
            role,
            status: ParticipantStatus::Active,
            name: String::new(),
            legal_name: None,
            operator: None,
            country: None,
            locality: None,
            bic: None,
            merchant_id: None,
            acquiring_bank: None,
            customer_reference: None,
            issuing_bank: None,
            email: None,
            dns_names: Vec::new(),
            uris: Vec::new(),
            ip_addresses: Vec::new(),
            created_at: now,
            updated_at: now,
            placed_holds: Vec::new(),
            certificates_issued: 0,
        };
        let record = self.apply_fields(&empty, fields)?;
        let (subject, sans) = self.participant_names(&record)?;
        let event = AuditEvent::new("participant-add", actor)
            .role(role)
            .detail(format!(
                "participant {} added: {role} \"{}\" (subject {subject}{})",
                record.id,
                record.name,
                describe_sans(&sans)
            ));
        self.store.add_participant(&record, event)?;
        Ok(record)
    }

    /// Changes a participant's fields (active or suspended; a terminated participant is
    /// final). Its certificates keep their names; renewals and new tokens take the new
    /// ones. Audited with the fields changed.
    pub fn update_participant(
        &self,
        id: &str,
        fields: ParticipantFields,
        actor: &str,
    ) -> Result<ParticipantRecord, RaError> {
        for _ in 0..ACT_ATTEMPTS {
            let old = self.participant(id)?;
            if old.status == ParticipantStatus::Terminated {
                return Err(ParticipantError::StatusConflict {
                    id: old.id,
                    status: old.status,
                    act: "updated",
                }
                .into());
            }
            let mut new = self.apply_fields(&old, fields.clone())?;
            new.updated_at = super::truncate_to_second(self.clock.now());
            let (subject, sans) = self.participant_names(&new)?;
            let changed = changed_fields(&old, &new);
            let event = AuditEvent::new("participant-update", actor)
                .role(old.role)
                .detail(format!(
                    "participant {id} updated ({}): subject {subject}{}",
                    if changed.is_empty() {
                        "nothing changed".to_string()
                    } else {
                        changed.join(", ")
                    },
                    describe_sans(&sans)
                ));
            match self.store.replace_participant(&old, &new, &[], event) {
                Ok(_) => return Ok(new),
                Err(StoreError::ParticipantChanged(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ParticipantError::Busy(id.to_string()).into())
    }

    /// One participant; `NotFound` if there is none.
    pub fn participant(&self, id: &str) -> Result<ParticipantRecord, RaError> {
        self.store
            .participant(id)?
            .ok_or_else(|| ParticipantError::NotFound(id.to_string()).into())
    }

    /// Participants, a page at a time.
    pub fn participants(&self, filter: &ParticipantFilter) -> Result<ParticipantPage, RaError> {
        Ok(self.store.list_participants(filter)?)
    }

    /// The certificates issued for a participant (and their renewals), in serial order.
    pub fn participant_certificates(&self, id: &str) -> Result<Vec<CertificateRecord>, RaError> {
        let mut out = Vec::new();
        for serial in self.store.participant_certificates(id)? {
            if let Some(record) = self.store.certificate(&serial)? {
                out.push(record);
            }
        }
        Ok(out)
    }

    /// The subject and SANs a participant's certificates get, checked against its role's
    /// current policy.
    pub fn participant_names(
        &self,
        record: &ParticipantRecord,
    ) -> Result<(SubjectName, Vec<SubjectAltName>), RaError> {
        let profile = self
            .policies
            .profile(record.role)
            .ok_or(RaError::NoPolicy(record.role))?;
        let (subject, sans) = derive_names(record)?;
        super::check_subject(profile, &subject)?;
        super::check_sans(profile, &sans)?;
        Ok((subject, sans))
    }

    /// The participant, if it is active; `Inactive` (refusing `what`) otherwise.
    pub(crate) fn active_participant(
        &self,
        id: &str,
        what: &'static str,
    ) -> Result<ParticipantRecord, RaError> {
        let record = self.participant(id)?;
        if record.status != ParticipantStatus::Active {
            return Err(ParticipantError::Inactive {
                id: record.id,
                status: record.status,
                what,
            }
            .into());
        }
        Ok(record)
    }

    /// Suspends an active participant: every current certificate of it (unexpired, not
    /// revoked) goes on hold (certificateHold), and enrollment and renewal are refused
    /// until it is resumed. One audit entry names the participant and the serials.
    pub fn suspend_participant(&self, id: &str, actor: &str) -> Result<ParticipantAct, RaError> {
        self.participant_act(id, actor, "participant-suspend", |old, now, current| {
            if old.status != ParticipantStatus::Active {
                return Err(conflict(old, "suspended"));
            }
            let held_at = now;
            let mut new = old.clone();
            new.status = ParticipantStatus::Suspended;
            let mut changes = Vec::new();
            for certificate in current.iter().filter(|c| c.revocation.is_none()) {
                changes.push(CertificateChange::Revoke(
                    certificate.serial.clone(),
                    RevocationRecord {
                        reason: RevocationReason::CertificateHold.name().into(),
                        revoked_at: held_at,
                        invalidity_date: None,
                    },
                ));
                new.placed_holds.push(PlacedHold {
                    serial: certificate.serial.clone(),
                    held_at,
                });
            }
            Ok((new, changes, "put on hold"))
        })
    }

    /// Resumes a suspended participant: lifts exactly the holds its suspension placed
    /// that are still in place (not holds placed since, or for other reasons, nor those
    /// made permanent meanwhile), and allows enrollment and renewal again.
    pub fn resume_participant(&self, id: &str, actor: &str) -> Result<ParticipantAct, RaError> {
        self.participant_act(id, actor, "participant-resume", |old, _, current| {
            if old.status != ParticipantStatus::Suspended {
                return Err(conflict(old, "resumed"));
            }
            let mut new = old.clone();
            new.status = ParticipantStatus::Active;
            new.placed_holds.clear();
            let changes = old
                .placed_holds
                .iter()
                .filter(|hold| {
                    current.iter().any(|c| {
                        c.serial == hold.serial
                            && c.revocation.as_ref().is_some_and(|r| {
                                r.reason == RevocationReason::CertificateHold.name()
                                    && r.revoked_at == hold.held_at
                            })
                    })
                })
                .map(|hold| CertificateChange::Unhold(hold.serial.clone()))
                .collect();
            Ok((new, changes, "taken off hold"))
        })
    }

    /// Terminates a participant for good: every current certificate of it (unexpired,
    /// good or on hold) is revoked with reason cessationOfOperation, and it can never
    /// enroll, renew or be changed again.
    pub fn terminate_participant(&self, id: &str, actor: &str) -> Result<ParticipantAct, RaError> {
        self.participant_act(id, actor, "participant-terminate", |old, now, current| {
            if old.status == ParticipantStatus::Terminated {
                return Err(conflict(old, "terminated"));
            }
            let mut new = old.clone();
            new.status = ParticipantStatus::Terminated;
            new.placed_holds.clear();
            let changes = current
                .iter()
                .filter(|c| {
                    c.revocation
                        .as_ref()
                        .is_none_or(|r| r.reason == RevocationReason::CertificateHold.name())
                })
                .map(|c| {
                    CertificateChange::Revoke(
                        c.serial.clone(),
                        RevocationRecord {
                            reason: RevocationReason::CessationOfOperation.name().into(),
                            revoked_at: now,
                            invalidity_date: None,
                        },
                    )
                })
                .collect();
            Ok((new, changes, "revoked (cessationOfOperation)"))
        })
    }

    /// The frame of the three acts: read the participant and its unexpired certificates,
    /// let `plan` decide the new record and the certificate changes, store all of it with
    /// one audit entry, then tell the listeners (OCSP re-signs, the CRL follows) about
    /// each changed certificate, exactly as a single revocation does. Tried again if
    /// something changed in between.
    fn participant_act(
        &self,
        id: &str,
        actor: &str,
        action: &str,
        plan: impl Fn(
            &ParticipantRecord,
            OffsetDateTime,
            &[CertificateRecord],
        )
            -> Result<(ParticipantRecord, Vec<CertificateChange>, &'static str), RaError>,
    ) -> Result<ParticipantAct, RaError> {
        for _ in 0..ACT_ATTEMPTS {
            let old = self.participant(id)?;
            let now = super::truncate_to_second(self.clock.now());
            let current: Vec<CertificateRecord> = self
                .participant_certificates(id)?
                .into_iter()
                .filter(|c| c.not_after > now)
                .collect();
            let (mut new, changes, done) = plan(&old, now, &current)?;
            new.updated_at = now;
            let serials: Vec<Serial> = changes
                .iter()
                .map(|c| match c {
                    CertificateChange::Revoke(serial, _) | CertificateChange::Unhold(serial) => {
                        serial.clone()
                    }
                })
                .collect();
            let event = AuditEvent::new(action, actor)
                .role(old.role)
                .detail(format!(
                    "participant {id} {}: {} certificate(s) {done}{}",
                    new.status,
                    serials.len(),
                    if serials.is_empty() {
                        String::new()
                    } else {
                        format!(
                            ": {}",
                            serials
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join(" ")
                        )
                    }
                ));
            match self.store.replace_participant(&old, &new, &changes, event) {
                Ok(certificates) => {
                    for record in &certificates {
                        self.notify(|l| l.status_changed(record));
                    }
                    return Ok(ParticipantAct {
                        participant: new,
                        certificates,
                    });
                }
                // Someone changed the participant or one of the certificates meanwhile
                // (nothing of this act was stored): read again and decide again.
                Err(StoreError::ParticipantChanged(_))
                | Err(StoreError::AlreadyRevoked(..))
                | Err(StoreError::NotOnHold(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ParticipantError::Busy(id.to_string()).into())
    }

    /// `base` with `fields` applied and every field checked for the role.
    fn apply_fields(
        &self,
        base: &ParticipantRecord,
        fields: ParticipantFields,
    ) -> Result<ParticipantRecord, RaError> {
        let role = base.role;
        let (required, optional) = role_fields(role);
        let has = |field: Field| required.contains(&field) || optional.contains(&field);
        let mut record = base.clone();
        let given: [(Field, bool); 13] = [
            (Field::LegalName, fields.legal_name.is_some()),
            (Field::Operator, fields.operator.is_some()),
            (Field::Country, fields.country.is_some()),
            (Field::Locality, fields.locality.is_some()),
            (Field::Bic, fields.bic.is_some()),
            (Field::MerchantId, fields.merchant_id.is_some()),
            (Field::AcquiringBank, fields.acquiring_bank.is_some()),
            (
                Field::CustomerReference,
                fields.customer_reference.is_some(),
            ),
            (Field::IssuingBank, fields.issuing_bank.is_some()),
            (Field::Email, fields.email.is_some()),
            (Field::DnsNames, fields.dns_names.is_some()),
            (Field::Uris, fields.uris.is_some()),
            (Field::IpAddresses, fields.ip_addresses.is_some()),
        ];
        if let Some((field, _)) = given.iter().find(|(field, given)| *given && !has(*field)) {
            return Err(ParticipantError::NotForRole {
                field: field.name(),
                role,
                allowed: std::iter::once("name")
                    .chain(required.iter().chain(optional).map(|f| f.name()))
                    .collect::<Vec<_>>()
                    .join(", "),
            }
            .into());
        }
        // Text fields: trimmed; "" clears an optional one.
        let text = |value: Option<String>, current: &Option<String>| -> Option<Option<String>> {
            value
                .map(|v| {
                    let v = v.trim().to_string();
                    (!v.is_empty()).then_some(v)
                })
                .or_else(|| Some(current.clone()))
        };
        if let Some(name) = fields.name {
            record.name = name.trim().to_string();
        }
        record.legal_name = text(fields.legal_name, &record.legal_name).flatten();
        record.operator = text(fields.operator, &record.operator).flatten();
        record.locality = text(fields.locality, &record.locality).flatten();
        record.country = text(fields.country, &record.country)
            .flatten()
            .map(|c| c.to_ascii_uppercase());
        record.bic = text(fields.bic, &record.bic)
            .flatten()
            .map(|c| c.to_ascii_uppercase());
        record.merchant_id = text(fields.merchant_id, &record.merchant_id).flatten();
        record.customer_reference =
            text(fields.customer_reference, &record.customer_reference).flatten();
        record.acquiring_bank = text(fields.acquiring_bank, &record.acquiring_bank).flatten();
        record.issuing_bank = text(fields.issuing_bank, &record.issuing_bank).flatten();
        record.email = text(fields.email, &record.email).flatten();
        if let Some(names) = fields.dns_names {
            record.dns_names = check_names("dns_names", "dns", &names)?;
        }
        if let Some(uris) = fields.uris {
            record.uris = check_names("uris", "uri", &uris)?;
        }
        if let Some(ips) = fields.ip_addresses {
            record.ip_addresses = check_names("ip_addresses", "ip", &ips)?;
        }
        self.check_record(&record)?;
        Ok(record)
    }

    /// Every rule on a whole record of its role.
    fn check_record(&self, record: &ParticipantRecord) -> Result<(), RaError> {
        use AttributeType as A;
        let role = record.role;
        let (required, _) = role_fields(role);
        check_text("name", A::CommonName, &record.name)?;
        let present = |field: Field| match field {
            Field::LegalName => record.legal_name.is_some(),
            Field::Operator => record.operator.is_some(),
            Field::Country => record.country.is_some(),
            Field::Locality => record.locality.is_some(),
            Field::Bic => record.bic.is_some(),
            Field::MerchantId => record.merchant_id.is_some(),
            Field::AcquiringBank => record.acquiring_bank.is_some(),
            Field::CustomerReference => record.customer_reference.is_some(),
            Field::IssuingBank => record.issuing_bank.is_some(),
            Field::Email => record.email.is_some(),
            Field::DnsNames => !record.dns_names.is_empty(),
            Field::Uris => !record.uris.is_empty(),
            Field::IpAddresses => !record.ip_addresses.is_empty(),
        };
        if let Some(missing) = required.iter().find(|f| !present(**f)) {
            return Err(ParticipantError::Missing {
                field: missing.name(),
                role,
            }
            .into());
        }
        let texts = [
            ("legal_name", A::Organization, &record.legal_name),
            ("operator", A::Organization, &record.operator),
            ("locality", A::Locality, &record.locality),
            ("merchant_id", A::SerialNumber, &record.merchant_id),
            (
                "customer_reference",
                A::SerialNumber,
                &record.customer_reference,
            ),
        ];
        for (field, attribute, value) in texts {
            if let Some(value) = value {
                check_text(field, attribute, value)?;
            }
        }
        if let Some(country) = &record.country {
            if !is_country(country) {
                return Err(ParticipantError::Invalid {
                    field: "country",
                    problem: format!(
                        "{country:?} is not an ISO 3166-1 alpha-2 country code (such as DE, GB, NL)"
                    ),
                }
                .into());
            }
        }
        if let Some(bic) = &record.bic {
            check_bic(bic).map_err(|problem| ParticipantError::Invalid {
                field: "bic",
                problem,
            })?;
            let bic_country = bic.get(4..6).unwrap_or_default();
            if record.country.as_deref() != Some(bic_country) {
                return Err(ParticipantError::Invalid {
                    field: "bic",
                    problem: format!(
                        "the BIC {bic} names the country {bic_country}, but the bank's country is {}",
                        record.country.as_deref().unwrap_or("not given")
                    ),
                }
                .into());
            }
        }
        if let Some(email) = &record.email {
            check_names("email", "email", std::slice::from_ref(email))?;
        }
        for (field, reference) in [
            ("acquiring_bank", &record.acquiring_bank),
            ("issuing_bank", &record.issuing_bank),
        ] {
            if let Some(reference) = reference {
                let problem = match self.store.participant(reference)? {
                    None => Some("is not a registered participant"),
                    Some(bank) if bank.role != Role::Bank => Some("is not a bank"),
                    Some(bank) if bank.status == ParticipantStatus::Terminated => {
                        Some("is a terminated bank")
                    }
                    Some(_) => None,
                };
                if let Some(problem) = problem {
                    return Err(ParticipantError::BadBankReference {
                        field,
                        reference: reference.clone(),
                        problem,
                    }
                    .into());
                }
            }
        }
        Ok(())
    }
}

fn conflict(record: &ParticipantRecord, act: &'static str) -> RaError {
    ParticipantError::StatusConflict {
        id: record.id.clone(),
        status: record.status,
        act,
    }
    .into()
}

fn describe_sans(sans: &[SubjectAltName]) -> String {
    if sans.is_empty() {
        String::new()
    } else {
        format!(
            ", SANs {}",
            sans.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        )
    }
}

/// The names of the fields that differ, for the audit trail.
fn changed_fields(old: &ParticipantRecord, new: &ParticipantRecord) -> Vec<&'static str> {
    let pairs: [(&'static str, bool); 14] = [
        ("name", old.name != new.name),
        ("legal_name", old.legal_name != new.legal_name),
        ("operator", old.operator != new.operator),
        ("country", old.country != new.country),
        ("locality", old.locality != new.locality),
        ("bic", old.bic != new.bic),
        ("merchant_id", old.merchant_id != new.merchant_id),
        ("acquiring_bank", old.acquiring_bank != new.acquiring_bank),
        (
            "customer_reference",
            old.customer_reference != new.customer_reference,
        ),
        ("issuing_bank", old.issuing_bank != new.issuing_bank),
        ("email", old.email != new.email),
        ("dns_names", old.dns_names != new.dns_names),
        ("uris", old.uris != new.uris),
        ("ip_addresses", old.ip_addresses != new.ip_addresses),
    ];
    pairs
        .into_iter()
        .filter_map(|(name, changed)| changed.then_some(name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn test_ra() -> (tempfile::TempDir, RegistrationAuthority) {
        let dir = tempfile::tempdir().unwrap();
        let data = crate::config::DataDir::new(dir.path().join("ca"));
        crate::ca::init(
            &data,
            &crate::ca::InitOptions::new("http://127.0.0.1:1".into()),
        )
        .unwrap();
        let ca = Arc::new(crate::ca::CertificateAuthority::load(&data, None).unwrap());
        let policies = Arc::new(
            super::super::Policies::load(
                &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies"),
            )
            .unwrap(),
        );
        let store = crate::store::SledStore::temporary().unwrap();
        (
            dir,
            RegistrationAuthority::new(policies, ca, std::sync::Arc::new(store.clone())),
        )
    }

    fn bank_fields() -> ParticipantFields {
        ParticipantFields {
            name: Some("Example Bank".into()),
            legal_name: Some("Example Bank AG".into()),
            country: Some("de".into()),
            bic: Some("deutdeff".into()),
            locality: Some("Frankfurt".into()),
            dns_names: Some(vec!["Bank.Example".into()]),
            ..Default::default()
        }
    }

    fn merchant_fields(bank: &str) -> ParticipantFields {
        ParticipantFields {
            name: Some("Corner Shop".into()),
            legal_name: Some("Corner Shop Ltd".into()),
            country: Some("GB".into()),
            merchant_id: Some("M1234567".into()),
            acquiring_bank: Some(bank.into()),
            email: Some("pay@shop.example".into()),
            dns_names: Some(vec!["shop.example".into()]),
            uris: Some(vec!["https://shop.example/pay".into()]),
            ..Default::default()
        }
    }

    #[test]
    fn bics_follow_iso_9362() {
        for good in ["DEUTDEFF", "DEUTDEFF500", "NEDSZAJJXXX", "BNPAFRPP"] {
            assert_eq!(check_bic(good), Ok(()), "{good}");
        }
        for bad in [
            "DEUTDEF",      // 7 characters
            "DEUTDEFF50",   // 10
            "DEU1DEFF",     // a digit in the institution code
            "DEUTZZFF",     // ZZ is no country
            "DEUTDEF!",     // not alphanumeric
            "deutdeff",     // lowercase (the RA uppercases before checking)
            "DEUTDEFF5000", // 12
        ] {
            assert!(check_bic(bad).is_err(), "{bad}");
        }
        assert!(is_country("DE") && is_country("ZW") && !is_country("ZZ") && !is_country("de"));
    }

    #[test]
    fn names_are_derived_from_the_record_in_a_fixed_order() {
        let (_dir, ra) = test_ra();
        let bank = ra.add_participant(Role::Bank, bank_fields(), "t").unwrap();
        assert!(
            bank.id.starts_with("par_") && bank.id.len() == 28,
            "{}",
            bank.id
        );
        // Normalized: country and BIC uppercased, DNS names lowercased.
        assert_eq!(bank.country.as_deref(), Some("DE"));
        assert_eq!(bank.bic.as_deref(), Some("DEUTDEFF"));
        let (subject, sans) = ra.participant_names(&bank).unwrap();
        assert_eq!(
            subject.to_string(),
            "CN=Example Bank,O=Example Bank AG,L=Frankfurt,C=DE,serialNumber=DEUTDEFF"
        );
        assert_eq!(sans, vec!["dns:bank.example".parse().unwrap()]);
        let merchant = ra
            .add_participant(Role::Merchant, merchant_fields(&bank.id), "t")
            .unwrap();
        let (subject, sans) = ra.participant_names(&merchant).unwrap();
        assert_eq!(
            subject.to_string(),
            "CN=Corner Shop,O=Corner Shop Ltd,C=GB,serialNumber=M1234567"
        );
        let sans: Vec<String> = sans.iter().map(ToString::to_string).collect();
        assert_eq!(
            sans,
            [
                "dns:shop.example",
                "email:pay@shop.example",
                "uri:https://shop.example/pay"
            ]
        );
        let gateway = ra
            .add_participant(
                Role::Gateway,
                ParticipantFields {
                    name: Some("gw.pay.example".into()),
                    operator: Some("Pay Gateway BV".into()),
                    country: Some("NL".into()),
                    dns_names: Some(vec!["gw.pay.example".into()]),
                    ip_addresses: Some(vec!["192.0.2.10".into()]),
                    ..Default::default()
                },
                "t",
            )
            .unwrap();
        let (subject, sans) = ra.participant_names(&gateway).unwrap();
        assert_eq!(
            subject.to_string(),
            "CN=gw.pay.example,O=Pay Gateway BV,C=NL"
        );
        assert_eq!(sans.len(), 2);
        let buyer = ra
            .add_participant(
                Role::Buyer,
                ParticipantFields {
                    name: Some("Alice Buyer".into()),
                    customer_reference: Some("ACCT-0042".into()),
                    issuing_bank: Some(bank.id.clone()),
                    email: Some("alice@buyer.example".into()),
                    ..Default::default()
                },
                "t",
            )
            .unwrap();
        let (subject, sans) = ra.participant_names(&buyer).unwrap();
        assert_eq!(subject.to_string(), "CN=Alice Buyer,serialNumber=ACCT-0042");
        assert_eq!(sans, vec!["email:alice@buyer.example".parse().unwrap()]);
    }

    /// Every validation rule, one named case each, by the kind of error it gives.
    #[test]
    fn invalid_records_are_refused_with_the_reason() {
        let (_dir, ra) = test_ra();
        let bank = ra.add_participant(Role::Bank, bank_fields(), "t").unwrap();
        let gateway = ra
            .add_participant(
                Role::Gateway,
                ParticipantFields {
                    name: Some("gw".into()),
                    operator: Some("Op".into()),
                    dns_names: Some(vec!["gw.example".into()]),
                    ..Default::default()
                },
                "t",
            )
            .unwrap();
        let with = |change: &dyn Fn(&mut ParticipantFields)| {
            let mut fields = bank_fields();
            change(&mut fields);
            fields
        };
        let merchant_with = |change: &dyn Fn(&mut ParticipantFields)| {
            let mut fields = merchant_fields(&bank.id);
            change(&mut fields);
            fields
        };
        use crate::error::ErrorKind as K;
        let cases: Vec<(&str, Role, ParticipantFields, K, &str)> = vec![
            (
                "a bad BIC",
                Role::Bank,
                with(&|f| f.bic = Some("DEUT1EFF".into())),
                K::InvalidParticipant,
                "bic",
            ),
            (
                "a BIC of another country",
                Role::Bank,
                with(&|f| f.bic = Some("BNPAFRPP".into())),
                K::InvalidParticipant,
                "names the country FR",
            ),
            (
                "a country that is not ISO 3166",
                Role::Bank,
                with(&|f| f.country = Some("XX".into())),
                K::InvalidParticipant,
                "ISO 3166",
            ),
            (
                "no BIC",
                Role::Bank,
                with(&|f| f.bic = None),
                K::InvalidParticipant,
                "a bank needs bic",
            ),
            (
                "a field of another role",
                Role::Bank,
                with(&|f| f.merchant_id = Some("M1234567".into())),
                K::InvalidParticipant,
                "merchant_id is not a field of a bank",
            ),
            (
                "a name over 64 characters",
                Role::Bank,
                with(&|f| f.name = Some("x".repeat(65))),
                K::InvalidParticipant,
                "name:",
            ),
            (
                "an empty name",
                Role::Bank,
                with(&|f| f.name = Some(" ".into())),
                K::InvalidParticipant,
                "name:",
            ),
            (
                "a bad DNS name",
                Role::Bank,
                with(&|f| f.dns_names = Some(vec!["*.bank.example".into()])),
                K::InvalidParticipant,
                "dns_names",
            ),
            (
                "a DNS name twice",
                Role::Bank,
                with(&|f| f.dns_names = Some(vec!["a.example".into(), "A.example".into()])),
                K::InvalidParticipant,
                "listed twice",
            ),
            (
                "six DNS names where the bank policy allows five SANs",
                Role::Bank,
                with(&|f| f.dns_names = Some((0..6).map(|i| format!("h{i}.example")).collect())),
                K::PolicyViolation,
                "at most 5",
            ),
            (
                "an unknown acquiring bank",
                Role::Merchant,
                merchant_with(&|f| f.acquiring_bank = Some("par_000000000000000000000000".into())),
                K::InvalidParticipant,
                "not a registered participant",
            ),
            (
                "an acquiring bank that is a gateway",
                Role::Merchant,
                merchant_with(&|f| f.acquiring_bank = Some(gateway.id.clone())),
                K::InvalidParticipant,
                "is not a bank",
            ),
            (
                "a merchant id the policy's pattern refuses",
                Role::Merchant,
                merchant_with(&|f| f.merchant_id = Some("X1".into())),
                K::PolicyViolation,
                "pattern",
            ),
            (
                "a bad e-mail address",
                Role::Merchant,
                merchant_with(&|f| f.email = Some("not-an-address".into())),
                K::InvalidParticipant,
                "email",
            ),
            (
                "a gateway without DNS names",
                Role::Gateway,
                ParticipantFields {
                    name: Some("gw".into()),
                    operator: Some("Op".into()),
                    ..Default::default()
                },
                K::InvalidParticipant,
                "a gateway needs dns_names",
            ),
        ];
        let mut failures = Vec::new();
        for (name, role, fields, kind, text) in cases {
            match ra.add_participant(role, fields, "t") {
                Ok(record) => failures.push(format!("{name}: accepted as {}", record.id)),
                Err(e) if e.kind() != kind || !e.to_string().contains(text) => {
                    failures.push(format!("{name}: {:?} {e}", e.kind()))
                }
                Err(_) => {}
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
        // Nothing refused was stored: the bank and the gateway only.
        let page = ra.participants(&ParticipantFilter::default()).unwrap();
        assert_eq!(page.records.len(), 2);
    }

    #[test]
    fn updates_replace_fields_and_terminated_participants_are_final() {
        let (_dir, ra) = test_ra();
        let bank = ra.add_participant(Role::Bank, bank_fields(), "t").unwrap();
        let updated = ra
            .update_participant(
                &bank.id,
                ParticipantFields {
                    locality: Some(String::new()),
                    dns_names: Some(vec!["new.bank.example".into()]),
                    ..Default::default()
                },
                "t",
            )
            .unwrap();
        assert_eq!(updated.locality, None);
        assert_eq!(updated.dns_names, ["new.bank.example"]);
        assert_eq!(updated.name, bank.name);
        // A required field cannot be cleared.
        let refused = ra
            .update_participant(
                &bank.id,
                ParticipantFields {
                    bic: Some(String::new()),
                    ..Default::default()
                },
                "t",
            )
            .unwrap_err();
        assert_eq!(refused.kind(), crate::error::ErrorKind::InvalidParticipant);
        let act = ra.terminate_participant(&bank.id, "t").unwrap();
        assert_eq!(act.participant.status, ParticipantStatus::Terminated);
        assert!(act.certificates.is_empty());
        for refused in [
            ra.update_participant(&bank.id, ParticipantFields::default(), "t")
                .unwrap_err(),
            ra.suspend_participant(&bank.id, "t").unwrap_err(),
            ra.resume_participant(&bank.id, "t").unwrap_err(),
            ra.terminate_participant(&bank.id, "t").unwrap_err(),
        ] {
            assert_eq!(
                refused.kind(),
                crate::error::ErrorKind::ParticipantStatusConflict,
                "{refused}"
            );
        }
        // A terminated bank cannot be referenced by a new merchant.
        let refused = ra
            .add_participant(Role::Merchant, merchant_fields(&bank.id), "t")
            .unwrap_err();
        assert!(refused.to_string().contains("terminated"), "{refused}");
        assert!(matches!(
            ra.participant("par_nobody").unwrap_err().kind(),
            crate::error::ErrorKind::NotFound
        ));
    }
}
