//! The checks of a signature, as a pipeline: the time it is judged at, validity, the
//! signature mathematics, revocation, key usage, role. The first that fails is the
//! verdict.

use super::*;

impl Verifier {
    /// The checks of a signature by an admitted certificate, in order; the first that
    /// fails is the verdict. `judged` receives the time the signature is judged at, once
    /// it is known.
    pub(super) fn checks(
        &self,
        request: &VerifyRequest,
        budget: &VerifyBudget,
        leaf: &Leaf,
        detached: Option<&cms::DetachedSignature>,
        judged: &mut Option<JudgedTime>,
        revocation: &mut Option<RevocationEvidence>,
    ) -> Result<SignatureScheme, Verdict> {
        let (Some(issuer), Some(window)) = (leaf.issuer, leaf.window) else {
            // Admission sets both; an admitted leaf without them is a bug, not a verdict.
            return Err((
                Reason::Unavailable,
                "internal error: the certificate was not checked; try again".into(),
            ));
        };
        let status = self.status_of(leaf)?;
        let time = self.judge_time(request.time, leaf, issuer, &status);
        let at = time.at;
        *judged = Some(time);
        *revocation = Some(self.revocation_evidence(issuer, &status, at.unix_timestamp()));
        check_validity(leaf, window, at)?;
        let scheme = self.check_signature(request, budget, leaf, detached)?;
        self.check_revocation(issuer, &status, at.unix_timestamp())?;
        check_key_usage(leaf)?;
        check_role(leaf, request.require_role)?;
        Ok(scheme)
    }

    /// The certificate's status in the CA's records.
    pub(super) fn status_of(&self, leaf: &Leaf) -> Result<KnownStatus, Verdict> {
        self.store
            .known_status(leaf.serial.as_bytes())
            .map_err(|e| {
                tracing::error!(error = %e, "revocation lookup failed");
                (
                    Reason::Unavailable,
                    "the revocation status could not be read; try again".to_string(),
                )
            })
    }

    /// The signature mathematics: detached CMS, or a raw signature.
    pub(super) fn check_signature(
        &self,
        request: &VerifyRequest,
        budget: &VerifyBudget,
        leaf: &Leaf,
        detached: Option<&cms::DetachedSignature>,
    ) -> Result<SignatureScheme, Verdict> {
        let Some(parsed) = detached else {
            return self.raw_signature(leaf, request, budget);
        };
        if !matches!(request.certificate, SignerCertificate::FromSignature)
            && !parsed.names_signer(&leaf.der)
        {
            return Err((
                Reason::BadSignature,
                "the CMS signature names a different signer than the given certificate".into(),
            ));
        }
        match parsed.signed_bytes(&request.message, leaf.public_key.algorithm()) {
            Ok(_) if !budget.try_spend(check_cost(&leaf.public_key)) => Err(over_budget()),
            Ok((covered, scheme)) => verify_signature_with_id(
                &leaf.public_key,
                scheme,
                &covered,
                &parsed.signature,
                request.distinguishing_id(),
            )
            .map(|()| scheme)
            .map_err(|_| {
                (
                    Reason::BadSignature,
                    "the CMS signature does not verify with the signer's key".into(),
                )
            }),
            Err(cms::CmsError::Unsupported(e)) => Err((Reason::UnsupportedAlgorithm, e)),
            Err(cms::CmsError::Mismatch(e)) => Err((Reason::BadSignature, e)),
            Err(cms::CmsError::Malformed(e)) => Err((Reason::Malformed, e)),
        }
    }

    /// What the revocation check reads, for a receipt: the root's revocation of the
    /// issuing CA (the published root CRL and the registry) first, else the CA's own
    /// records (the store OCSP and the CRLs are made from).
    pub(super) fn revocation_evidence(
        &self,
        issuer: u32,
        status: &KnownStatus,
        time: i64,
    ) -> RevocationEvidence {
        let evidence =
            |status: &'static str,
             source: &'static str,
             revoked: Option<(i64, RevocationReason)>| RevocationEvidence {
                status: status.into(),
                source: source.into(),
                revoked_at: revoked
                    .and_then(|(at, _)| OffsetDateTime::from_unix_timestamp(at).ok()),
                reason: revoked.map(|(_, reason)| reason.to_string()),
            };
        let judged = |entry: &RevokedEntry| {
            if revoked_at(entry, time) {
                "revoked"
            } else {
                "good"
            }
        };
        if let Some(revocation) = self.ca.issuer_revocation(issuer) {
            let entry = RevokedEntry {
                reason: revocation.reason,
                revoked_at: revocation.revoked_at,
                invalidity_date: None,
                not_after: i64::MAX,
                issuer,
            };
            return evidence(
                judged(&entry),
                "root_crl",
                Some((revocation.revoked_at, revocation.reason)),
            );
        }
        match status {
            KnownStatus::Revoked(entry) => evidence(
                judged(entry),
                "store",
                Some((entry.revoked_at, entry.reason)),
            ),
            KnownStatus::Good { .. } => evidence("good", "store", None),
            KnownStatus::NeverIssued => evidence("unknown", "store", None),
        }
    }

    /// Revocation at the judged time: of the issuing CA by the root, then of the
    /// certificate itself.
    pub(super) fn check_revocation(
        &self,
        issuer: u32,
        status: &KnownStatus,
        time: i64,
    ) -> Result<(), Verdict> {
        if let Some(revocation) = self.issuer_revoked(issuer, time) {
            return Err((Reason::Revoked, revocation));
        }
        match status {
            KnownStatus::Revoked(entry) if revoked_at(entry, time) => {
                Err((Reason::Revoked, revoked_message(entry)))
            }
            KnownStatus::NeverIssued => Err((
                Reason::UnknownIssuer,
                "this CA has no record of the certificate".into(),
            )),
            _ => Ok(()),
        }
    }

    /// The time a signature is judged at (docs/verification.md, "Which time a signature is
    /// judged at"). A time the caller claims is chosen by whoever holds the key, so it is
    /// honoured only within the signer's role policy's grace period, never in the future,
    /// and never for a certificate revoked for a compromise (whose thief would claim a
    /// time before the compromise). Otherwise: the server's time. No timestamp can prove
    /// a time yet, so `proven` is false.
    pub(super) fn judge_time(
        &self,
        claimed: Option<OffsetDateTime>,
        leaf: &Leaf,
        issuer: u32,
        status: &KnownStatus,
    ) -> JudgedTime {
        let now = self.clock.now();
        let server = |note: Option<String>| JudgedTime {
            at: now,
            source: TimeSource::Server,
            proven: false,
            claimed,
            note,
        };
        let Some(claimed_at) = claimed else {
            return server(None);
        };
        let compromise = |reason: RevocationReason| {
            matches!(
                reason,
                RevocationReason::KeyCompromise
                    | RevocationReason::CaCompromise
                    | RevocationReason::AaCompromise
            )
        };
        let compromised = match status {
            KnownStatus::Revoked(entry) if compromise(entry.reason) => Some(entry.reason),
            _ => self
                .ca
                .issuer_revocation(issuer)
                .map(|r| r.reason)
                .filter(|r| compromise(*r) || *r == RevocationReason::Unspecified),
        };
        if let Some(reason) = compromised {
            return server(Some(format!(
                "the certificate was revoked for {reason}: a time the signer claims cannot be trusted, so the signature is judged at the server's time"
            )));
        }
        let grace = leaf
            .role
            .and_then(|role| self.policies.profile(role))
            .map(|profile| profile.verification.claimed_time_grace)
            .unwrap_or(DEFAULT_CLAIMED_TIME_GRACE);
        if claimed_at > now + CLOCK_SKEW {
            return server(Some(
                "the claimed time is in the future: judged at the server's time".into(),
            ));
        }
        if now - claimed_at > grace {
            return server(Some(format!(
                "the claimed time is more than {} s old, which the signer's policy allows only with a timestamp: judged at the server's time",
                grace.whole_seconds()
            )));
        }
        JudgedTime {
            at: claimed_at,
            source: TimeSource::Claimed,
            proven: false,
            claimed,
            note: None,
        }
    }

    pub(super) fn raw_signature(
        &self,
        leaf: &Leaf,
        request: &VerifyRequest,
        budget: &VerifyBudget,
    ) -> Result<SignatureScheme, (Reason, String)> {
        let key = leaf.public_key.algorithm();
        let candidates: Vec<SignatureScheme> = match &request.format {
            SignatureFormat::Raw(Some(name)) => match SignatureScheme::from_name(name, key) {
                Some(scheme) => vec![scheme],
                None => {
                    return Err((
                        Reason::UnsupportedAlgorithm,
                        format!(
                            "algorithm {name:?} does not fit a {key} key (use one of: {})",
                            SignatureScheme::candidates(key)
                                .iter()
                                .map(|s| s.name())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ))
                }
            },
            _ => SignatureScheme::candidates(key).to_vec(),
        };
        // Only the named scheme when one is named; otherwise each candidate in turn, each
        // paid for from the request's budget.
        let cost = check_cost(&leaf.public_key);
        for scheme in candidates {
            if !budget.try_spend(cost) {
                return Err(over_budget());
            }
            if verify_signature_with_id(
                &leaf.public_key,
                scheme,
                &request.message,
                &request.signature,
                request.distinguishing_id(),
            )
            .is_ok()
            {
                return Ok(scheme);
            }
        }
        Err((
            Reason::BadSignature,
            "the signature does not verify with the signer's key".into(),
        ))
    }
}

/// A failed check: the reason for programs and a sentence for people.
pub(super) type Verdict = (Reason, String);

/// The judged time within the validity of the leaf and of its CAs.
pub(super) fn check_validity(
    leaf: &Leaf,
    window: chain::Window,
    at: OffsetDateTime,
) -> Result<(), Verdict> {
    let time = at.unix_timestamp();
    if time < window.not_before {
        return Err((
            Reason::NotYetValid,
            format!(
                "the certificate was not yet valid at {} (valid from {})",
                crate::clock::format_time(at),
                unix(leaf.not_before.max(window.not_before))
            ),
        ));
    }
    if time >= window.not_after {
        return Err((Reason::Expired, expired_message(leaf, time)));
    }
    Ok(())
}

/// RFC 5280 §4.2.1.3: the key must be for signing.
pub(super) fn check_key_usage(leaf: &Leaf) -> Result<(), Verdict> {
    if leaf.can_sign {
        Ok(())
    } else {
        Err((
            Reason::KeyUsage,
            "the certificate's keyUsage allows neither digitalSignature nor nonRepudiation".into(),
        ))
    }
}

/// The role the caller requires, from the certificate-policy OID.
pub(super) fn check_role(leaf: &Leaf, required: Option<Role>) -> Result<(), Verdict> {
    match required {
        Some(required) if leaf.role != Some(required) => Err((
            Reason::WrongRole,
            format!(
                "the signer is {} but a {required} is required",
                leaf.role
                    .map(|r| format!("a {r}"))
                    .unwrap_or_else(|| "of no known role".into())
            ),
        )),
        _ => Ok(()),
    }
}

/// Whether a revocation applies to a signature made at `time`.
///
/// Compromise reasons apply from the invalidity date when one was given, and otherwise
/// to every signature: whoever holds a stolen key can also pick the claimed time. Other
/// reasons apply from the revocation time on, so a signature made before it stays valid.
pub fn revoked_at(entry: &RevokedEntry, time: i64) -> bool {
    match entry.reason {
        RevocationReason::KeyCompromise
        | RevocationReason::CaCompromise
        | RevocationReason::AaCompromise => entry.invalidity_date.is_none_or(|since| time >= since),
        _ => time >= entry.revoked_at,
    }
}

pub(super) fn unix(seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(seconds)
        .map(crate::clock::format_time)
        .unwrap_or_else(|_| seconds.to_string())
}

pub(super) fn revoked_message(entry: &RevokedEntry) -> String {
    format!(
        "the certificate was revoked ({}) at {}{}",
        entry.reason,
        unix(entry.revoked_at),
        entry
            .invalidity_date
            .map(|d| format!(", key invalid since {}", unix(d)))
            .unwrap_or_default()
    )
}

pub(super) fn expired_message(leaf: &Leaf, time: i64) -> String {
    if time >= leaf.not_after {
        format!(
            "the certificate had expired at that time (valid until {})",
            unix(leaf.not_after)
        )
    } else {
        "a CA certificate of the chain had expired at that time".into()
    }
}
