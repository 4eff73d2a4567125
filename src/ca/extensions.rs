//! DER for the extensions rcgen does not build itself, encoded with RustCrypto's
//! `x509-cert` types (no hand-written ASN.1).

use der::asn1::{Ia5String, Null, ObjectIdentifier};
use der::oid::db::rfc5280::{
    ID_AD_CA_ISSUERS, ID_AD_OCSP, ID_CE_CERTIFICATE_POLICIES, ID_PE_AUTHORITY_INFO_ACCESS,
};
use der::oid::db::rfc6960::ID_PKIX_OCSP_NOCHECK;
use der::Encode;
use rcgen::CustomExtension;
use x509_cert::ext::pkix::certpolicy::PolicyInformation;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax, CertificatePolicies};

use super::CaError;

fn arcs(oid: &ObjectIdentifier) -> Vec<u64> {
    oid.arcs().map(u64::from).collect()
}

fn encoding_error(what: &str, e: der::Error) -> CaError {
    CaError::Build(format!("cannot encode {what}: {e}"))
}

/// certificatePolicies (RFC 5280 §4.2.1.4) with one policy and no qualifiers; non-critical
/// so that relying parties that do not know the OID still accept the certificate.
pub(crate) fn certificate_policies(policy_arcs: &[u64]) -> Result<CustomExtension, CaError> {
    // Not ObjectIdentifier::new(dotted): const-oid 0.9.6 encodes some arcs wrongly.
    let policy_identifier = crate::model::oid_from_arcs(policy_arcs).ok_or_else(|| {
        let dotted = policy_arcs
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(".");
        CaError::Build(format!("policy OID {dotted} cannot be encoded"))
    })?;
    let policies = CertificatePolicies(vec![PolicyInformation {
        policy_identifier,
        policy_qualifiers: None,
    }]);
    let der = policies
        .to_der()
        .map_err(|e| encoding_error("certificatePolicies", e))?;
    Ok(CustomExtension::from_oid_content(
        &arcs(&ID_CE_CERTIFICATE_POLICIES),
        der,
    ))
}

/// extendedKeyUsage with id-kp-timeStamping alone, critical, as RFC 3161 §2.3 requires of
/// a TSA certificate (rcgen marks its EKU extension non-critical).
pub(crate) fn time_stamping_eku() -> Result<CustomExtension, CaError> {
    let der = x509_cert::ext::pkix::ExtendedKeyUsage(vec![crate::tsp::ID_KP_TIME_STAMPING])
        .to_der()
        .map_err(|e| encoding_error("extendedKeyUsage", e))?;
    let mut extension =
        CustomExtension::from_oid_content(&arcs(&der::oid::db::rfc5280::ID_CE_EXT_KEY_USAGE), der);
    extension.set_criticality(true);
    Ok(extension)
}

/// authorityInfoAccess (RFC 5280 §4.2.2.1): OCSP responder and/or caIssuers URLs.
pub(crate) fn authority_info_access(
    ocsp_url: Option<&str>,
    ca_issuers_url: &str,
) -> Result<CustomExtension, CaError> {
    let uri = |url: &str| {
        Ia5String::new(url)
            .map(GeneralName::UniformResourceIdentifier)
            .map_err(|e| encoding_error("an AIA URL", e))
    };
    let mut descriptions = Vec::new();
    if let Some(url) = ocsp_url {
        descriptions.push(AccessDescription {
            access_method: ID_AD_OCSP,
            access_location: uri(url)?,
        });
    }
    descriptions.push(AccessDescription {
        access_method: ID_AD_CA_ISSUERS,
        access_location: uri(ca_issuers_url)?,
    });
    let der = AuthorityInfoAccessSyntax(descriptions)
        .to_der()
        .map_err(|e| encoding_error("authorityInfoAccess", e))?;
    Ok(CustomExtension::from_oid_content(
        &arcs(&ID_PE_AUTHORITY_INFO_ACCESS),
        der,
    ))
}

/// id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1): the responder certificate is not itself
/// checked for revocation; its short validity bounds the risk.
pub(crate) fn ocsp_nocheck() -> Result<CustomExtension, CaError> {
    let der = Null
        .to_der()
        .map_err(|e| encoding_error("ocsp-nocheck", e))?;
    Ok(CustomExtension::from_oid_content(
        &arcs(&ID_PKIX_OCSP_NOCHECK),
        der,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (fuzz/regressions/durations_and_oids/oid-arc-2113000): const-oid 0.9.6
    /// encodes some arcs wrongly (128 as `80 00`, which reads back as 0; likewise
    /// 16384..=16511, 2097152..=2113535, 268435456..=270532607), so a policy naming
    /// 1.2.2113000 had certificates carry another OID. What the extension carries is
    /// read back here by x509-parser, independently of const-oid.
    #[test]
    fn certificate_policies_carry_the_oid_the_policy_names() {
        use x509_parser::der_parser::der::parse_der;
        for text in [
            "1.2.128",
            "1.3.6.1.4.1.128.1",
            "1.2.16384",
            "1.2.16511",
            "1.2.2113000",
            "1.2.268435456",
            "1.3.6.1.4.1.59001.1.2",
            "2.39.127.129.16383",
        ] {
            let arcs = crate::model::parse_oid(text).expect(text);
            let extension = certificate_policies(&arcs).unwrap();
            let (_, policies) = parse_der(extension.content()).unwrap();
            let policy = &policies.as_sequence().unwrap()[0].as_sequence().unwrap()[0];
            let written: Vec<u64> = policy.as_oid().unwrap().iter().unwrap().collect();
            assert_eq!(written, arcs, "{text}");
        }
    }
}
