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
    let dotted = policy_arcs
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".");
    let policy_identifier = ObjectIdentifier::new(&dotted)
        .map_err(|e| CaError::Build(format!("policy OID {dotted}: {e}")))?;
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
