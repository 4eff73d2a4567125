//! Role policies: `policies/{buyer,merchant,bank,gateway}.toml`, each turned into a checked
//! [`Profile`] at start-up. A policy error names the file, the key and the problem.
//!
//! Every key is documented in docs/policies.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::model::{parse_oid, ExtendedKeyUsage, KeyAlgorithm, KeyUsage, Role};
use crate::names::{AttributeType, SanKind};

/// A policy file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file is missing or unreadable.
    #[error("{file}: cannot read the policy file: {reason}")]
    Read {
        /// The file.
        file: PathBuf,
        /// What the OS said.
        reason: String,
    },
    /// TOML syntax, an unknown key, or a value of the wrong type.
    #[error("{file}: {reason}")]
    Syntax {
        /// The file.
        file: PathBuf,
        /// The parser's message, which names the key and line.
        reason: String,
    },
    /// A value that parses but makes no sense.
    #[error("{file}: key `{key}`: {problem}")]
    Invalid {
        /// The file.
        file: PathBuf,
        /// The dotted key.
        key: &'static str,
        /// What is wrong.
        problem: String,
    },
}

/// The raw file, as written. Unknown keys are errors.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    role: String,
    description: String,
    certificate_policy_oid: String,
    keys: KeysSection,
    validity: ValiditySection,
    usage: UsageSection,
    subject: SubjectSection,
    #[serde(default)]
    san: SanSection,
    #[serde(default)]
    enrollment: EnrollmentSection,
    #[serde(default)]
    verification: VerificationSection,
    #[serde(default)]
    approval: ApprovalSection,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApprovalSection {
    #[serde(default)]
    acts: Vec<String>,
    #[serde(default = "default_scope")]
    scope: String,
    #[serde(default = "default_required_approvals")]
    required: u32,
    #[serde(default)]
    approvers: Vec<String>,
    #[serde(default = "default_approval_hours")]
    expires_after_hours: u32,
}

impl Default for ApprovalSection {
    fn default() -> Self {
        ApprovalSection {
            acts: Vec::new(),
            scope: default_scope(),
            required: default_required_approvals(),
            approvers: Vec::new(),
            expires_after_hours: default_approval_hours(),
        }
    }
}

fn default_scope() -> String {
    "participants".into()
}
fn default_required_approvals() -> u32 {
    1
}
fn default_approval_hours() -> u32 {
    24
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VerificationSection {
    #[serde(default = "default_claimed_time_grace_seconds")]
    claimed_time_grace_seconds: u32,
}

impl Default for VerificationSection {
    fn default() -> Self {
        VerificationSection {
            claimed_time_grace_seconds: default_claimed_time_grace_seconds(),
        }
    }
}

fn default_claimed_time_grace_seconds() -> u32 {
    300
}

fn default_supersede_after_hours() -> u32 {
    24
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysSection {
    algorithms: Vec<String>,
    #[serde(default = "default_rsa_min_bits")]
    rsa_min_bits: u32,
}

fn default_rsa_min_bits() -> u32 {
    2048
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ValiditySection {
    default_days: u32,
    max_days: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsageSection {
    key_usage: Vec<String>,
    extended_key_usage: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubjectSection {
    required: Vec<String>,
    #[serde(default)]
    optional: Vec<String>,
    #[serde(default)]
    patterns: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SanSection {
    #[serde(default)]
    allowed: Vec<String>,
    #[serde(default)]
    required: Vec<String>,
    #[serde(default = "default_max_sans")]
    max: usize,
}

fn default_max_sans() -> usize {
    10
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrollmentSection {
    #[serde(default = "default_token_ttl_hours")]
    token_ttl_hours: u32,
    #[serde(default = "default_token_max_ttl_hours")]
    token_max_ttl_hours: u32,
    #[serde(default = "default_true")]
    renewal: bool,
    #[serde(default = "default_renewal_window_days")]
    renewal_window_days: u32,
    #[serde(default = "default_supersede_after_hours")]
    supersede_after_hours: u32,
}

impl Default for EnrollmentSection {
    fn default() -> Self {
        EnrollmentSection {
            token_ttl_hours: default_token_ttl_hours(),
            token_max_ttl_hours: default_token_max_ttl_hours(),
            renewal: true,
            renewal_window_days: default_renewal_window_days(),
            supersede_after_hours: default_supersede_after_hours(),
        }
    }
}

fn default_token_ttl_hours() -> u32 {
    24
}
fn default_token_max_ttl_hours() -> u32 {
    24 * 7
}
fn default_true() -> bool {
    true
}
fn default_renewal_window_days() -> u32 {
    30
}

/// Rules on the subject DN.
#[derive(Debug, Clone)]
pub struct SubjectRules {
    /// Attributes that must be present.
    pub required: Vec<AttributeType>,
    /// Attributes that may be present besides the required ones.
    pub optional: Vec<AttributeType>,
    /// Regular expressions (anchored) a value must match.
    pub patterns: Vec<(AttributeType, regex::Regex)>,
}

/// Rules on subject alternative names.
#[derive(Debug, Clone)]
pub struct SanRules {
    /// Kinds a certificate may carry.
    pub allowed: Vec<SanKind>,
    /// Kinds a certificate must carry at least one of each.
    pub required: Vec<SanKind>,
    /// Most SANs in one certificate.
    pub max: usize,
}

/// Enrollment rules: tokens and renewal.
#[derive(Debug, Clone)]
pub struct EnrollmentRules {
    /// Token lifetime when `token create` names none.
    pub token_ttl: time::Duration,
    /// Longest token lifetime allowed.
    pub token_max_ttl: time::Duration,
    /// Whether holders may renew over `POST /v1/renew`.
    pub renewal: bool,
    /// How long before expiry renewal opens.
    pub renewal_window: time::Duration,
    /// How long a renewed certificate stays good beside its successor before it is
    /// revoked as superseded (the holder's time to deploy the new one).
    pub supersede_after: time::Duration,
}

/// An act on a role's certificates that may need a second officer.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovalAct {
    /// Issuing (enrollment with a token, `paypki issue`).
    Issue,
    /// Renewing.
    Renew,
    /// Revoking (holds included).
    Revoke,
}

impl ApprovalAct {
    /// The name used in policy files.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalAct::Issue => "issue",
            ApprovalAct::Renew => "renew",
            ApprovalAct::Revoke => "revoke",
        }
    }

    /// The officer role that requests and approves the act.
    pub fn role(self) -> crate::model::OfficerRole {
        match self {
            ApprovalAct::Issue | ApprovalAct::Renew => crate::model::OfficerRole::RaOfficer,
            ApprovalAct::Revoke => crate::model::OfficerRole::RevocationOfficer,
        }
    }
}

impl std::fmt::Display for ApprovalAct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Dual control: which acts on this role's certificates need other officers' approval.
#[derive(Debug, Clone)]
pub struct ApprovalRules {
    /// The acts that need approval.
    pub acts: Vec<ApprovalAct>,
    /// Whether only certificates of registered participants need it (else all).
    pub participants_only: bool,
    /// m: approvals needed, each from an officer other than the requester.
    pub required: u32,
    /// n: the officers who may approve; empty: any officer with the act's role.
    pub approvers: Vec<String>,
    /// How long a request waits for approval before it expires.
    pub expires_after: time::Duration,
}

impl ApprovalRules {
    /// Whether `act` on a certificate (of a participant when `participant`) needs approval.
    pub fn needed(&self, act: ApprovalAct, participant: bool) -> bool {
        self.acts.contains(&act) && (participant || !self.participants_only)
    }
}

/// How the verification service treats times callers claim.
#[derive(Debug, Clone)]
pub struct VerificationRules {
    /// How far in the past a time the caller claims (and no timestamp proves) may lie and
    /// still be the time a signature is judged at.
    pub claimed_time_grace: time::Duration,
}

/// A role's checked certificate profile.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The role this profile issues for.
    pub role: Role,
    /// One line for people.
    pub description: String,
    /// The certificate-policy OID written into every certificate of this role.
    pub policy_oid: Vec<u64>,
    /// Accepted subject key algorithms.
    pub key_algorithms: Vec<KeyAlgorithm>,
    /// Smallest accepted RSA modulus.
    pub rsa_min_bits: u32,
    /// Validity when the request names none.
    pub default_validity: time::Duration,
    /// Longest validity.
    pub max_validity: time::Duration,
    /// keyUsage bits.
    pub key_usage: Vec<KeyUsage>,
    /// Extended key usages.
    pub extended_key_usage: Vec<ExtendedKeyUsage>,
    /// Subject DN rules.
    pub subject: SubjectRules,
    /// SAN rules.
    pub san: SanRules,
    /// Enrollment rules.
    pub enrollment: EnrollmentRules,
    /// Verification rules for this role's signatures.
    pub verification: VerificationRules,
    /// Dual control.
    pub approval: ApprovalRules,
}

/// The four profiles, one per role.
#[derive(Debug, Clone)]
pub struct Policies {
    profiles: Vec<Profile>,
}

/// RSA keys ring cannot use above this size, and nobody needs.
const RSA_MAX_BITS: u32 = 8192;
/// A hard cap whatever the file says: participants' certificates are short-lived by design.
const MAX_LEAF_DAYS: u32 = 3 * 366;

impl Policies {
    /// No profiles: for work that applies no policy (revocation), so that a broken policy
    /// file can never stop an administrator from revoking.
    pub fn none() -> Self {
        Policies {
            profiles: Vec::new(),
        }
    }

    /// Loads and checks every role's file from `dir`.
    pub fn load(dir: &Path) -> Result<Self, PolicyError> {
        let mut profiles = Vec::new();
        let mut oids: Vec<(Vec<u64>, PathBuf)> = Vec::new();
        for role in Role::ALL {
            let file = dir.join(format!("{role}.toml"));
            let text = std::fs::read_to_string(&file).map_err(|e| PolicyError::Read {
                file: file.clone(),
                reason: e.to_string(),
            })?;
            let profile = Profile::parse(&file, &text, role)?;
            if let Some((_, other)) = oids.iter().find(|(oid, _)| *oid == profile.policy_oid) {
                return Err(PolicyError::Invalid {
                    file,
                    key: "certificate_policy_oid",
                    problem: format!(
                        "the same OID is used by {}: each role needs its own, so relying parties can tell roles apart",
                        other.display()
                    ),
                });
            }
            oids.push((profile.policy_oid.clone(), file));
            profiles.push(profile);
        }
        Ok(Policies { profiles })
    }

    /// The profile for a role.
    pub fn profile(&self, role: Role) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.role == role)
    }

    /// The role whose certificate-policy OID this is.
    pub fn role_for_policy_oid(&self, arcs: &[u64]) -> Option<Role> {
        self.profiles
            .iter()
            .find(|p| p.policy_oid == arcs)
            .map(|p| p.role)
    }

    /// All profiles.
    pub fn profiles(&self) -> &[Profile] {
        &self.profiles
    }
}

impl Profile {
    /// Parses and checks one policy file's text.
    pub fn parse(file: &Path, text: &str, expected_role: Role) -> Result<Self, PolicyError> {
        let raw: PolicyFile = toml::from_str(text).map_err(|e| PolicyError::Syntax {
            file: file.to_path_buf(),
            reason: e.to_string().trim().replace('\n', " "),
        })?;
        let invalid = |key: &'static str, problem: String| PolicyError::Invalid {
            file: file.to_path_buf(),
            key,
            problem,
        };

        let role: Role = raw
            .role
            .parse()
            .map_err(|e: crate::model::UnknownRole| invalid("role", e.to_string()))?;
        if role != expected_role {
            return Err(invalid(
                "role",
                format!("says {role:?} but the file is the {expected_role} policy"),
            ));
        }
        let policy_oid = parse_oid(&raw.certificate_policy_oid).ok_or_else(|| {
            invalid(
                "certificate_policy_oid",
                format!("{:?} is not an OID paypki can encode (dotted decimal, first arc 0-2, second arc at most 39, later arcs below 268435456)", raw.certificate_policy_oid),
            )
        })?;

        let mut key_algorithms = Vec::new();
        for name in &raw.keys.algorithms {
            let alg: KeyAlgorithm =
                name.parse()
                    .map_err(|e: crate::model::UnknownKeyAlgorithm| {
                        invalid("keys.algorithms", e.to_string())
                    })?;
            key_algorithms.push(alg);
        }
        if key_algorithms.is_empty() {
            return Err(invalid(
                "keys.algorithms",
                "must list at least one algorithm".into(),
            ));
        }
        if !(2048..=RSA_MAX_BITS).contains(&raw.keys.rsa_min_bits) {
            return Err(invalid(
                "keys.rsa_min_bits",
                format!("must be between 2048 and {RSA_MAX_BITS} (RSA below 2048 bits is broken)"),
            ));
        }

        let ValiditySection {
            default_days,
            max_days,
        } = raw.validity;
        if max_days == 0 || max_days > MAX_LEAF_DAYS {
            return Err(invalid(
                "validity.max_days",
                format!("must be 1 to {MAX_LEAF_DAYS}"),
            ));
        }
        if default_days == 0 || default_days > max_days {
            return Err(invalid(
                "validity.default_days",
                format!("must be 1 to validity.max_days ({max_days})"),
            ));
        }

        let key_usage = raw
            .usage
            .key_usage
            .iter()
            .map(|n| {
                KeyUsage::parse(n).ok_or_else(|| {
                    invalid(
                        "usage.key_usage",
                        format!("unknown {n:?} (digital_signature, non_repudiation, key_encipherment, key_agreement)"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if key_usage.is_empty() {
            return Err(invalid(
                "usage.key_usage",
                "must list at least one usage".into(),
            ));
        }
        let extended_key_usage = raw
            .usage
            .extended_key_usage
            .iter()
            .map(|n| {
                ExtendedKeyUsage::parse(n).ok_or_else(|| {
                    invalid(
                        "usage.extended_key_usage",
                        format!("unknown {n:?} (server_auth, client_auth, email_protection or a dotted OID other than OCSP signing)"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;

        let attrs =
            |key: &'static str, names: &[String]| -> Result<Vec<AttributeType>, PolicyError> {
                names
                    .iter()
                    .map(|n| {
                        n.parse::<AttributeType>()
                            .map_err(|e| invalid(key, e.to_string()))
                    })
                    .collect()
            };
        let required = attrs("subject.required", &raw.subject.required)?;
        let optional = attrs("subject.optional", &raw.subject.optional)?;
        if !required.contains(&AttributeType::CommonName) {
            return Err(invalid("subject.required", "must include CN".into()));
        }
        let mut patterns = Vec::new();
        for (name, pattern) in &raw.subject.patterns {
            let kind: AttributeType = name
                .parse()
                .map_err(|e: crate::names::NameError| invalid("subject.patterns", e.to_string()))?;
            if !required.contains(&kind) && !optional.contains(&kind) {
                return Err(invalid(
                    "subject.patterns",
                    format!("{kind} has a pattern but is neither required nor optional"),
                ));
            }
            let regex = regex::Regex::new(&format!("^(?:{pattern})$"))
                .map_err(|e| invalid("subject.patterns", format!("{kind}: {e}")))?;
            patterns.push((kind, regex));
        }

        let san_kind = |key: &'static str, n: &String| -> Result<SanKind, PolicyError> {
            match n.as_str() {
                "dns" => Ok(SanKind::Dns),
                "email" => Ok(SanKind::Email),
                "uri" => Ok(SanKind::Uri),
                "ip" => Ok(SanKind::Ip),
                _ => Err(invalid(
                    key,
                    format!("unknown SAN kind {n:?} (dns, email, uri, ip)"),
                )),
            }
        };
        let allowed = raw
            .san
            .allowed
            .iter()
            .map(|n| san_kind("san.allowed", n))
            .collect::<Result<Vec<_>, _>>()?;
        let san_required = raw
            .san
            .required
            .iter()
            .map(|n| san_kind("san.required", n))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(kind) = san_required.iter().find(|k| !allowed.contains(k)) {
            return Err(invalid(
                "san.required",
                format!("{kind} is required but not in san.allowed"),
            ));
        }
        if raw.san.max > 100 || (raw.san.max == 0 && !san_required.is_empty()) {
            return Err(invalid(
                "san.max",
                "must be 1 to 100 when SANs are required, at most 100".into(),
            ));
        }
        if extended_key_usage.contains(&ExtendedKeyUsage::ServerAuth)
            && !san_required.contains(&SanKind::Dns)
            && !san_required.contains(&SanKind::Ip)
        {
            // RFC 6125 / CA/B BR: TLS servers are identified by SAN, not CN.
            return Err(invalid(
                "san.required",
                "a server_auth profile must require a dns or ip SAN".into(),
            ));
        }

        let e = raw.enrollment;
        if e.token_ttl_hours == 0 || e.token_ttl_hours > e.token_max_ttl_hours {
            return Err(invalid(
                "enrollment.token_ttl_hours",
                "must be 1 to enrollment.token_max_ttl_hours".into(),
            ));
        }
        if e.token_max_ttl_hours > 24 * 90 {
            return Err(invalid(
                "enrollment.token_max_ttl_hours",
                "must be at most 2160 (90 days)".into(),
            ));
        }
        if e.renewal_window_days == 0 || e.renewal_window_days > max_days {
            return Err(invalid(
                "enrollment.renewal_window_days",
                format!("must be 1 to validity.max_days ({max_days})"),
            ));
        }

        if e.supersede_after_hours > 24 * 90 {
            return Err(invalid(
                "enrollment.supersede_after_hours",
                "must be at most 2160 (90 days)".into(),
            ));
        }
        let grace = raw.verification.claimed_time_grace_seconds;
        if grace > 86_400 {
            return Err(invalid(
                "verification.claimed_time_grace_seconds",
                "must be at most 86400 (one day): an older claimed time needs a timestamp".into(),
            ));
        }
        let approval = {
            let a = &raw.approval;
            let mut acts = Vec::new();
            for act in &a.acts {
                let parsed = match act.as_str() {
                    "issue" => ApprovalAct::Issue,
                    "renew" => ApprovalAct::Renew,
                    "revoke" => ApprovalAct::Revoke,
                    other => {
                        return Err(invalid(
                            "approval.acts",
                            format!("{other:?} is not issue, renew or revoke"),
                        ))
                    }
                };
                if !acts.contains(&parsed) {
                    acts.push(parsed);
                }
            }
            let participants_only = match a.scope.as_str() {
                "participants" => true,
                "all" => false,
                other => {
                    return Err(invalid(
                        "approval.scope",
                        format!("{other:?} is not participants or all"),
                    ))
                }
            };
            if a.required == 0 || a.required > 10 {
                return Err(invalid("approval.required", "must be 1 to 10".into()));
            }
            if !a.approvers.is_empty() && (a.required as usize) > a.approvers.len() {
                return Err(invalid(
                    "approval.required",
                    format!(
                        "{} approvals can never come from {} approvers",
                        a.required,
                        a.approvers.len()
                    ),
                ));
            }
            for name in &a.approvers {
                crate::ra::officers::check_name(name)
                    .map_err(|e| invalid("approval.approvers", e.to_string()))?;
            }
            if a.expires_after_hours == 0 || a.expires_after_hours > 24 * 30 {
                return Err(invalid(
                    "approval.expires_after_hours",
                    "must be 1 to 720 (30 days)".into(),
                ));
            }
            ApprovalRules {
                acts,
                participants_only,
                required: a.required,
                approvers: a.approvers.clone(),
                expires_after: time::Duration::hours(i64::from(a.expires_after_hours)),
            }
        };

        Ok(Profile {
            role,
            description: raw.description,
            policy_oid,
            key_algorithms,
            rsa_min_bits: raw.keys.rsa_min_bits,
            default_validity: time::Duration::days(i64::from(default_days)),
            max_validity: time::Duration::days(i64::from(max_days)),
            key_usage,
            extended_key_usage,
            subject: SubjectRules {
                required,
                optional,
                patterns,
            },
            san: SanRules {
                allowed,
                required: san_required,
                max: raw.san.max,
            },
            enrollment: EnrollmentRules {
                token_ttl: time::Duration::hours(i64::from(e.token_ttl_hours)),
                token_max_ttl: time::Duration::hours(i64::from(e.token_max_ttl_hours)),
                renewal: e.renewal,
                renewal_window: time::Duration::days(i64::from(e.renewal_window_days)),
                supersede_after: time::Duration::hours(i64::from(e.supersede_after_hours)),
            },
            verification: VerificationRules {
                claimed_time_grace: time::Duration::seconds(i64::from(grace)),
            },
            approval,
        })
    }

    /// The policy OID in dotted form.
    pub fn policy_oid_string(&self) -> String {
        self.policy_oid
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(".")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped(role: Role) -> String {
        std::fs::read_to_string(format!(
            "{}/policies/{role}.toml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn shipped_policies_load() {
        let policies =
            Policies::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")).unwrap();
        assert_eq!(policies.profiles().len(), 4);
        let gateway = policies.profile(Role::Gateway).unwrap();
        assert!(gateway
            .extended_key_usage
            .contains(&ExtendedKeyUsage::ServerAuth));
        assert_eq!(
            policies.role_for_policy_oid(&gateway.policy_oid),
            Some(Role::Gateway)
        );
    }

    fn error_for(role: Role, text: &str) -> String {
        Profile::parse(Path::new("p.toml"), text, role)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn unknown_key_is_named() {
        let text = shipped(Role::Buyer).replace("[validity]", "[validity]\ncolour = 3");
        let message = error_for(Role::Buyer, &text);
        assert!(
            message.contains("p.toml") && message.contains("colour"),
            "{message}"
        );
    }

    #[test]
    fn bad_values_are_named() {
        let cases = [
            (
                "rsa_min_bits = 2048",
                "rsa_min_bits = 1024",
                "keys.rsa_min_bits",
            ),
            (
                "default_days = 365",
                "default_days = 5000",
                "validity.default_days",
            ),
            (
                "\"client_auth\"",
                "\"clientauth\"",
                "usage.extended_key_usage",
            ),
            ("role = \"buyer\"", "role = \"bank\"", "role"),
            ("\"ed25519\"", "\"dsa\"", "keys.algorithms"),
        ];
        for (from, to, key) in cases {
            let text = shipped(Role::Buyer);
            assert!(text.contains(from), "fixture lacks {from}");
            let message = error_for(Role::Buyer, &text.replacen(from, to, 1));
            assert!(message.contains(&format!("`{key}`")), "{key}: {message}");
        }
    }

    #[test]
    fn missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let message = Policies::load(dir.path()).unwrap_err().to_string();
        assert!(message.contains("buyer.toml"), "{message}");
    }
}
