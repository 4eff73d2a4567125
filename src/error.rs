//! The one vocabulary of failures. Every layer's error enum classifies each of its
//! variants with an exhaustive `kind()` at the source (no wildcard arm: adding a variant
//! forces its author to say what kind it is), and the HTTP layer maps kinds to a status,
//! a problem type and a title in one table (`http::problem::describe`).

/// What kind of failure, independent of who reports it and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request cannot be read (syntax, fields, encoding, parameters).
    Malformed,
    /// The CSR cannot be read.
    BadCsr,
    /// The CSR's self-signature does not verify.
    BadCsrSignature,
    /// The enrollment token is not of the right form.
    BadToken,
    /// The officer credential is missing or wrong, or its officer is disabled.
    Unauthorized,
    /// The officer lacks the role the act needs.
    Forbidden,
    /// A request under dual control was rejected or expired: nothing will be issued.
    ApprovalRefused,
    /// The request conflicts with the current state (a name taken, the last security
    /// officer, a concurrent change).
    Conflict,
    /// The enrollment token is unknown, wrong or expired.
    TokenRejected,
    /// A renewal that is not allowed.
    RenewalRefused,
    /// No such certificate, CA, path or file.
    NotFound,
    /// The token was used already.
    TokenUsed,
    /// The certificate is revoked already.
    AlreadyRevoked,
    /// Unhold of a certificate that is not on hold.
    NotOnHold,
    /// A CRL that is not newer than the published one.
    CrlNotNewer,
    /// The key is refused by the role's policy (or cannot be certified at all).
    KeyRefused,
    /// Subject, SANs, validity or token lifetime break the role's policy.
    PolicyViolation,
    /// The CSR names something other than the token grants.
    CsrMismatch,
    /// A revocation that cannot be carried out as asked.
    RevocationRefused,
    /// A CRL that is not this CA's root's.
    BadCrl,
    /// No issuing CA may issue.
    NoIssuingCa,
    /// Too many attempts; retry later.
    RateLimited,
    /// A dependency (the store) cannot answer now; retry.
    Unavailable,
    /// A participant record that cannot be registered as given (a bad BIC, country, DNS
    /// name, a field its role does not have, a referenced bank that is not one).
    InvalidParticipant,
    /// The participant is suspended or terminated: no enrollment, renewal or token.
    ParticipantInactive,
    /// The participant's status does not allow the act (resume an active one, anything
    /// on a terminated one).
    ParticipantStatusConflict,
    /// An internal pre-issuance check refused to sign.
    PreIssuanceCheck,
    /// A fault of the CA itself.
    Internal,
}
