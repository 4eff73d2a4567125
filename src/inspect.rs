//! Views of stored certificates for people (`paypki show`) and scripts (`--json`, the
//! admin API): shared by the CLI and the HTTP layer so both print the same thing.

use time::OffsetDateTime;

use crate::store::CertificateRecord;

/// A record as JSON for people and scripts: no DER, PEM instead.
pub fn record_json(record: &CertificateRecord) -> serde_json::Value {
    let mut value = serde_json::to_value(record).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.remove("der");
        object.insert(
            "certificate".into(),
            crate::ca::to_pem("CERTIFICATE", &record.der).into(),
        );
    }
    value
}

/// RFC 3339, or the debug form if formatting fails.
pub fn format_time(at: OffsetDateTime) -> String {
    crate::clock::format_time(at)
}

/// The human-readable form of `paypki show`.
pub fn describe_record(r: &CertificateRecord) -> String {
    let mut lines = vec![
        format!("Serial:        {}", r.serial),
        format!("Role:          {}", r.role),
        format!("Status:        {}", r.status),
    ];
    if let Some(rev) = &r.revocation {
        lines.push(format!(
            "Revoked at:    {} (reason: {})",
            format_time(rev.revoked_at),
            rev.reason
        ));
        if let Some(date) = rev.invalidity_date {
            lines.push(format!("Invalid since: {}", format_time(date)));
        }
    }
    lines.push(format!("Subject:       {}", r.subject));
    lines.push(format!(
        "SANs:          {}",
        if r.subject_alt_names.is_empty() {
            "(none)".to_string()
        } else {
            r.subject_alt_names.join(", ")
        }
    ));
    lines.push(format!("Key:           {}", r.key));
    lines.push(format!("Not before:    {}", format_time(r.not_before)));
    lines.push(format!("Not after:     {}", format_time(r.not_after)));
    lines.push(format!(
        "Issued:        {} via {}",
        format_time(r.issued_at),
        r.requested_via
    ));
    lines.push(format!("SHA-256:       {}", r.fingerprint_sha256));
    lines.push(format!("SHA-1:         {}", sha1_fingerprint(&r.der)));
    lines.push("Extensions:".into());
    for e in describe_extensions(&r.der) {
        lines.push(format!("  {e}"));
    }
    lines.join("\n")
}

/// The SHA-1 fingerprint, as `openssl x509 -fingerprint` prints it (still how many tools
/// name certificates; never used for any security decision here).
pub fn sha1_fingerprint(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// One line per extension, e.g. `keyUsage (critical): digitalSignature, nonRepudiation`.
pub fn describe_extensions(der: &[u8]) -> Vec<String> {
    use x509_parser::extensions::{GeneralName, ParsedExtension};
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return vec!["(the stored certificate does not parse)".into()];
    };
    let names = |list: &[GeneralName<'_>]| {
        list.iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    cert.extensions()
        .iter()
        .map(|ext| {
            let critical = if ext.critical { " (critical)" } else { "" };
            let (name, value) = match ext.parsed_extension() {
                ParsedExtension::BasicConstraints(bc) => (
                    "basicConstraints".to_string(),
                    format!(
                        "CA:{}{}",
                        bc.ca,
                        bc.path_len_constraint
                            .map(|p| format!(", pathlen:{p}"))
                            .unwrap_or_default()
                    ),
                ),
                ParsedExtension::KeyUsage(ku) => ("keyUsage".into(), ku.to_string()),
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    let mut v = Vec::new();
                    if eku.server_auth {
                        v.push("serverAuth".to_string())
                    }
                    if eku.client_auth {
                        v.push("clientAuth".to_string())
                    }
                    if eku.email_protection {
                        v.push("emailProtection".to_string())
                    }
                    if eku.ocsp_signing {
                        v.push("OCSPSigning".to_string())
                    }
                    v.extend(eku.other.iter().map(|o| o.to_id_string()));
                    ("extendedKeyUsage".into(), v.join(", "))
                }
                ParsedExtension::SubjectAlternativeName(san) => {
                    ("subjectAltName".into(), names(&san.general_names))
                }
                ParsedExtension::SubjectKeyIdentifier(ski) => {
                    ("subjectKeyIdentifier".into(), hex::encode(ski.0))
                }
                ParsedExtension::AuthorityKeyIdentifier(aki) => (
                    "authorityKeyIdentifier".into(),
                    aki.key_identifier
                        .as_ref()
                        .map(|k| hex::encode(k.0))
                        .unwrap_or_default(),
                ),
                ParsedExtension::CertificatePolicies(policies) => (
                    "certificatePolicies".into(),
                    policies
                        .iter()
                        .map(|p| p.policy_id.to_id_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                ParsedExtension::AuthorityInfoAccess(aia) => (
                    "authorityInfoAccess".into(),
                    aia.accessdescs
                        .iter()
                        .map(|d| {
                            let method = match d.access_method.to_id_string().as_str() {
                                "1.3.6.1.5.5.7.48.1" => "OCSP".to_string(),
                                "1.3.6.1.5.5.7.48.2" => "caIssuers".to_string(),
                                other => other.to_string(),
                            };
                            format!("{method} {}", d.access_location)
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                ParsedExtension::CRLDistributionPoints(points) => (
                    "cRLDistributionPoints".into(),
                    points
                        .iter()
                        .filter_map(|p| match &p.distribution_point {
                            Some(x509_parser::extensions::DistributionPointName::FullName(n)) => {
                                Some(names(n))
                            }
                            _ => None,
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                _ => (ext.oid.to_id_string(), hex::encode(ext.value)),
            };
            format!("{name}{critical}: {value}")
        })
        .collect()
}
