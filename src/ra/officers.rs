//! Named officers: who is acting, with which roles, and the role each act needs.
//!
//! Every administrative act (over the admin API or the CLI) is done by an officer who
//! presented a credential: `ppo_<name>_<64 hex>`, of which only the SHA-256 is stored and
//! which is compared in constant time. The officer's name goes into the audit trail with
//! how they authenticated. The pre-officer admin credential (`ppa_…`) of a migrated data
//! directory keeps working as officer `admin`.
//!
//! Officers are managed by security officers; the last active security officer cannot be
//! disabled (nobody could manage officers afterwards).

use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::model::OfficerRole;
use crate::store::{AuditEvent, OfficerRecord, OfficerStore, StoreError};

const CREDENTIAL_PREFIX: &str = "ppo_";
const LEGACY_PREFIX: &str = "ppa_";
/// The longest officer name.
pub const MAX_NAME: usize = 64;

/// How an officer proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethod {
    /// `Authorization: Bearer` on the admin API.
    AdminApi,
    /// The CLI, with the credential from `PAYPKI_OFFICER_CREDENTIAL`.
    CliEnvironment,
    /// The CLI, with the credential from a file.
    CliFile(String),
    /// The web console: a session opened with the credential.
    Console,
}

impl std::fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthMethod::AdminApi => f.write_str("admin API credential"),
            AuthMethod::CliEnvironment => {
                f.write_str("CLI, credential from PAYPKI_OFFICER_CREDENTIAL")
            }
            AuthMethod::CliFile(path) => write!(f, "CLI, credential file {path}"),
            AuthMethod::Console => f.write_str("web console session"),
        }
    }
}

/// An authenticated officer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Officer {
    name: String,
    roles: Vec<OfficerRole>,
    via: AuthMethod,
}

impl Officer {
    /// The officer's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The officer's roles.
    pub fn roles(&self) -> &[OfficerRole] {
        &self.roles
    }

    /// How they authenticated.
    pub fn via(&self) -> &AuthMethod {
        &self.via
    }

    /// Who acted, for the audit trail: the officer and how they authenticated.
    pub fn actor(&self) -> String {
        format!("officer {} ({})", self.name, self.via)
    }

    /// Whether the officer holds `role`.
    pub fn has(&self, role: OfficerRole) -> bool {
        self.roles.contains(&role)
    }

    /// Allows the act when the officer holds `role`.
    pub fn require(&self, role: OfficerRole) -> Result<(), OfficerError> {
        self.require_any(&[role])
    }

    /// Allows the act when the officer holds any of `roles`.
    pub fn require_any(&self, roles: &[OfficerRole]) -> Result<(), OfficerError> {
        if roles.iter().any(|role| self.has(*role)) {
            Ok(())
        } else {
            Err(OfficerError::Forbidden {
                officer: self.name.clone(),
                needs: roles.to_vec(),
            })
        }
    }
}

/// What can go wrong with officers.
#[derive(Debug, thiserror::Error)]
pub enum OfficerError {
    /// No credential, a malformed or wrong one, or a disabled officer's: the same answer
    /// for each, so a caller learns nothing about which officers exist.
    #[error("an officer credential is needed: the one given is missing, wrong, or its officer is disabled")]
    Unauthenticated,
    /// The officer lacks the role the act needs.
    #[error("officer {officer} may not do this: it needs the role {}", roles_text(.needs))]
    Forbidden {
        /// Who asked.
        officer: String,
        /// The roles that would allow it (any one).
        needs: Vec<OfficerRole>,
    },
    /// A name that is not `[a-z0-9-]{1,64}`.
    #[error("officer names are 1 to {MAX_NAME} characters of a-z, 0-9 and -: {0:?}")]
    BadName(String),
    /// An officer without roles.
    #[error("an officer needs at least one role")]
    NoRoles,
    /// The name is taken.
    #[error("there is already an officer called {0}")]
    Exists(String),
    /// No officer by that name.
    #[error("there is no officer called {0}")]
    Unknown(String),
    /// The change would leave no active security officer.
    #[error("officer {0} is the last active security officer: add another before disabling it or taking its role")]
    LastSecurityOfficer(String),
    /// The record changed meanwhile (a concurrent change); retry.
    #[error("officer {0} was changed at the same time; try again")]
    Concurrent(String),
    /// The random generator failed.
    #[error("the system random generator failed")]
    Random,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn roles_text(roles: &[OfficerRole]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(" or ")
}

impl OfficerError {
    /// What kind of failure this is.
    pub fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind as K;
        match self {
            OfficerError::Unauthenticated => K::Unauthorized,
            OfficerError::Forbidden { .. } => K::Forbidden,
            OfficerError::BadName(_) | OfficerError::NoRoles => K::Malformed,
            OfficerError::Exists(_)
            | OfficerError::LastSecurityOfficer(_)
            | OfficerError::Concurrent(_) => K::Conflict,
            OfficerError::Unknown(_) => K::NotFound,
            OfficerError::Random => K::Internal,
            OfficerError::Store(e) => e.kind(),
        }
    }
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, data))
}

fn same_digest(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Checks a name: `[a-z0-9-]{1,64}`, not starting with `-`.
pub fn check_name(name: &str) -> Result<(), OfficerError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(OfficerError::BadName(name.chars().take(80).collect()))
    }
}

/// A new credential for officer `name`: the secret (shown once) and its SHA-256.
pub fn new_credential(name: &str) -> Result<(String, String), OfficerError> {
    use ring::rand::SecureRandom;
    let mut secret = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut secret)
        .map_err(|_| OfficerError::Random)?;
    let credential = format!("{CREDENTIAL_PREFIX}{name}_{}", hex::encode(secret));
    let hash = sha256_hex(credential.as_bytes());
    Ok((credential, hash))
}

/// The officer name a credential claims (`admin` for a pre-officer `ppa_…` one): to
/// address the officer, never to authenticate.
pub fn name_in_credential(credential: &str) -> Option<&str> {
    let credential = credential.trim();
    if credential.starts_with(LEGACY_PREFIX) {
        return Some("admin");
    }
    credential
        .strip_prefix(CREDENTIAL_PREFIX)
        .and_then(|rest| rest.rsplit_once('_'))
        .map(|(name, _)| name)
        .filter(|name| check_name(name).is_ok())
}

/// Who presents `credential`: the officer, if the credential is theirs and they are not
/// disabled.
pub fn authenticate(
    store: &dyn OfficerStore,
    credential: Option<&str>,
    via: AuthMethod,
) -> Result<Officer, OfficerError> {
    let credential = credential
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or(OfficerError::Unauthenticated)?;
    let record = if credential.starts_with(LEGACY_PREFIX) {
        store.legacy_officer()?
    } else {
        let named = name_in_credential(credential).ok_or(OfficerError::Unauthenticated)?;
        store.officer(named)?
    };
    // Hash even when there is no such officer, so timing tells nothing either.
    let presented = sha256_hex(credential.as_bytes());
    match record {
        Some(record) if !record.disabled && same_digest(&presented, &record.credential_sha256) => {
            Ok(Officer {
                name: record.name,
                roles: record.roles,
                via,
            })
        }
        _ => Err(OfficerError::Unauthenticated),
    }
}

/// The officer of a console session opened earlier with their credential: as they are
/// now (roles changed since are the current ones), refused once disabled or removed.
pub fn resume_session(store: &dyn OfficerStore, name: &str) -> Result<Officer, OfficerError> {
    match store.officer(name)? {
        Some(record) if !record.disabled => Ok(Officer {
            name: record.name,
            roles: record.roles,
            via: AuthMethod::Console,
        }),
        _ => Err(OfficerError::Unauthenticated),
    }
}

/// One officer as lists show it (never the credential or its hash).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct OfficerView {
    /// Name.
    pub name: String,
    /// Roles.
    pub roles: Vec<OfficerRole>,
    /// Whether the credential is refused.
    pub disabled: bool,
    /// When the account was made (RFC 3339).
    pub created_at: String,
    /// Who made it.
    pub created_by: String,
    /// When the credential was last replaced (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotated_at: Option<String>,
}

impl From<&OfficerRecord> for OfficerView {
    fn from(record: &OfficerRecord) -> Self {
        OfficerView {
            name: record.name.clone(),
            roles: record.roles.clone(),
            disabled: record.disabled,
            created_at: crate::clock::format_time(record.created_at),
            created_by: record.created_by.clone(),
            rotated_at: record.rotated_at.map(crate::clock::format_time),
        }
    }
}

/// An officer and the credential made for it (shown once, never stored).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct OfficerCredential {
    /// The officer.
    #[serde(flatten)]
    pub officer: OfficerView,
    /// The credential: give it to the officer; it is not shown again.
    pub credential: String,
}

fn dedup(mut roles: Vec<OfficerRole>) -> Result<Vec<OfficerRole>, OfficerError> {
    roles.sort();
    roles.dedup();
    if roles.is_empty() {
        return Err(OfficerError::NoRoles);
    }
    Ok(roles)
}

/// Makes the first officer of a new CA (by `init`, or `serve` for a development CA).
/// Returns its credential.
pub fn create_first(
    store: &dyn OfficerStore,
    name: &str,
    roles: Vec<OfficerRole>,
    now: OffsetDateTime,
    actor: &str,
) -> Result<OfficerCredential, OfficerError> {
    insert(store, name, roles, now, actor, actor, "first officer")
}

/// Adds an officer (security officers only). Returns its credential.
pub fn add(
    store: &dyn OfficerStore,
    by: &Officer,
    name: &str,
    roles: Vec<OfficerRole>,
    now: OffsetDateTime,
) -> Result<OfficerCredential, OfficerError> {
    by.require(OfficerRole::SecurityOfficer)?;
    insert(store, name, roles, now, &by.name, &by.actor(), "officer")
}

/// Stores a new officer with a new credential and its audit entry.
fn insert(
    store: &dyn OfficerStore,
    name: &str,
    roles: Vec<OfficerRole>,
    now: OffsetDateTime,
    created_by: &str,
    actor: &str,
    what: &str,
) -> Result<OfficerCredential, OfficerError> {
    check_name(name)?;
    let roles = dedup(roles)?;
    let (credential, hash) = new_credential(name)?;
    let record = OfficerRecord {
        name: name.into(),
        roles,
        credential_sha256: hash,
        disabled: false,
        legacy_credential: false,
        created_at: now,
        created_by: created_by.into(),
        rotated_at: None,
    };
    let roles_list = record
        .roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let event = AuditEvent::new("officer-add", actor)
        .detail(format!("{what} {name} with roles {roles_list}"));
    if !store.add_officer(&record, event)? {
        return Err(OfficerError::Exists(name.into()));
    }
    Ok(OfficerCredential {
        officer: OfficerView::from(&record),
        credential,
    })
}

/// Every officer (security officers and auditors).
pub fn list(store: &dyn OfficerStore, by: &Officer) -> Result<Vec<OfficerView>, OfficerError> {
    by.require_any(&[OfficerRole::SecurityOfficer, OfficerRole::Auditor])?;
    Ok(store.officers()?.iter().map(OfficerView::from).collect())
}

fn existing(store: &dyn OfficerStore, name: &str) -> Result<OfficerRecord, OfficerError> {
    check_name(name)?;
    store
        .officer(name)?
        .ok_or_else(|| OfficerError::Unknown(name.into()))
}

/// Whether another active security officer than `name` exists.
fn another_security_officer(store: &dyn OfficerStore, name: &str) -> Result<bool, OfficerError> {
    Ok(store
        .officers()?
        .iter()
        .any(|o| o.name != name && !o.disabled && o.roles.contains(&OfficerRole::SecurityOfficer)))
}

/// Disables or re-enables an officer (security officers only). Disabling the last
/// active security officer is refused.
pub fn set_disabled(
    store: &dyn OfficerStore,
    by: &Officer,
    name: &str,
    disabled: bool,
) -> Result<OfficerView, OfficerError> {
    by.require(OfficerRole::SecurityOfficer)?;
    let current = existing(store, name)?;
    if disabled
        && current.roles.contains(&OfficerRole::SecurityOfficer)
        && !another_security_officer(store, name)?
    {
        return Err(OfficerError::LastSecurityOfficer(name.into()));
    }
    let mut record = current.clone();
    record.disabled = disabled;
    let action = if disabled {
        "officer-disable"
    } else {
        "officer-enable"
    };
    let event = AuditEvent::new(action, &by.actor()).detail(format!("officer {name}"));
    if !store.update_officer(&current, &record, event)? {
        return Err(OfficerError::Concurrent(name.into()));
    }
    Ok(OfficerView::from(&record))
}

/// Replaces an officer's credential: a security officer for anyone, any officer for
/// themselves. The old credential stops working at once. Returns the new one.
pub fn rotate(
    store: &dyn OfficerStore,
    by: &Officer,
    name: &str,
    now: OffsetDateTime,
) -> Result<OfficerCredential, OfficerError> {
    if by.name != name {
        by.require(OfficerRole::SecurityOfficer)?;
    }
    let current = existing(store, name)?;
    let (credential, hash) = new_credential(name)?;
    let mut record = current.clone();
    record.credential_sha256 = hash;
    record.legacy_credential = false;
    record.rotated_at = Some(now);
    let event = AuditEvent::new("officer-rotate", &by.actor())
        .detail(format!("a new credential for officer {name}"));
    if !store.update_officer(&current, &record, event)? {
        return Err(OfficerError::Concurrent(name.into()));
    }
    Ok(OfficerCredential {
        officer: OfficerView::from(&record),
        credential,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SledStore;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap()
    }

    #[test]
    fn credentials_authenticate_their_officer_only_while_enabled() {
        let store = SledStore::temporary().unwrap();
        let first = create_first(
            &store,
            "sec",
            vec![OfficerRole::SecurityOfficer],
            now(),
            "init",
        )
        .unwrap();
        let sec = authenticate(&store, Some(&first.credential), AuthMethod::AdminApi).unwrap();
        assert_eq!(sec.name(), "sec");
        assert_eq!(sec.actor(), "officer sec (admin API credential)");

        let alice = add(
            &store,
            &sec,
            "alice",
            vec![OfficerRole::RaOfficer, OfficerRole::RaOfficer],
            now(),
        )
        .unwrap();
        assert_eq!(alice.officer.roles, [OfficerRole::RaOfficer]);
        let as_alice =
            authenticate(&store, Some(&alice.credential), AuthMethod::CliEnvironment).unwrap();
        assert!(as_alice.require(OfficerRole::RaOfficer).is_ok());
        let denied = as_alice
            .require(OfficerRole::RevocationOfficer)
            .unwrap_err();
        assert!(
            denied.to_string().contains("revocation-officer"),
            "{denied}"
        );
        assert!(matches!(
            add(&store, &as_alice, "bob", vec![OfficerRole::Auditor], now()),
            Err(OfficerError::Forbidden { .. })
        ));

        // Wrong, malformed, another officer's name with alice's secret, absent.
        let swapped = alice.credential.replace("ppo_alice_", "ppo_sec_");
        for bad in ["", "ppo_", "ppo_alice_00", "nonsense", &swapped] {
            assert!(matches!(
                authenticate(&store, Some(bad), AuthMethod::AdminApi),
                Err(OfficerError::Unauthenticated)
            ));
        }
        assert!(authenticate(&store, None, AuthMethod::AdminApi).is_err());

        set_disabled(&store, &sec, "alice", true).unwrap();
        assert!(authenticate(&store, Some(&alice.credential), AuthMethod::AdminApi).is_err());
        set_disabled(&store, &sec, "alice", false).unwrap();
        let rotated = rotate(&store, &as_alice, "alice", now()).unwrap();
        assert!(authenticate(&store, Some(&alice.credential), AuthMethod::AdminApi).is_err());
        assert!(authenticate(&store, Some(&rotated.credential), AuthMethod::AdminApi).is_ok());
        assert!(matches!(
            rotate(&store, &as_alice, "sec", now()),
            Err(OfficerError::Forbidden { .. })
        ));
        // The last security officer stays.
        assert!(matches!(
            set_disabled(&store, &sec, "sec", true),
            Err(OfficerError::LastSecurityOfficer(_))
        ));
        assert!(matches!(
            add(&store, &sec, "alice", vec![OfficerRole::Auditor], now()),
            Err(OfficerError::Exists(_))
        ));
        for bad in ["Alice", "-x", "a_b", "", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_pre_officer_admin_credential_becomes_officer_admin() {
        let store = SledStore::temporary().unwrap();
        let legacy = "ppa_0123456789abcdef";
        store
            .set_admin_credential_hash(&sha256_hex(legacy.as_bytes()))
            .unwrap();
        let migrated = crate::store::Store::migrate_admin_credential(&store, now())
            .unwrap()
            .unwrap();
        assert_eq!(migrated.name, "admin");
        assert!(migrated.roles.contains(&OfficerRole::SecurityOfficer));
        assert!(crate::store::Store::migrate_admin_credential(&store, now())
            .unwrap()
            .is_none());
        let admin = authenticate(&store, Some(legacy), AuthMethod::AdminApi).unwrap();
        assert_eq!(admin.name(), "admin");
        assert!(authenticate(&store, Some("ppa_wrong"), AuthMethod::AdminApi).is_err());
        // Rotating replaces the legacy credential with a named one.
        let rotated = rotate(&store, &admin, "admin", now()).unwrap();
        assert!(rotated.credential.starts_with("ppo_admin_"));
        assert!(authenticate(&store, Some(legacy), AuthMethod::AdminApi).is_err());
    }
}
