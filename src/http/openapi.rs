//! The OpenAPI document, generated from the handlers' annotations.

use axum::response::Response;
use utoipa::OpenApi;

use super::typed_body;

#[derive(OpenApi)]
#[openapi(
    info(title = "paypki", description = "Certificate authority of an online-payment network. Errors are RFC 9457 problem documents (application/problem+json)."),
    paths(
        super::enroll::enroll,
        super::enroll::renew,
        super::certificates::certificate,
        super::certificates::root_der,
        super::certificates::issuing_der,
        super::certificates::chain_pem,
        super::verify::verify,
        super::verify::verify_batch,
        super::verify::validate,
        super::status::ocsp_post,
        super::status::ocsp_get,
        super::status::issuing_crl,
        super::status::root_crl,
        super::admin::create_token,
        super::admin::create_tokens,
        super::admin::revoke,
        super::admin::unhold,
        super::admin::list_certificates,
        super::admin::show_certificate,
        super::admin::verify_audit,
        super::approvals::list,
        super::approvals::show,
        super::approvals::approve,
        super::approvals::reject,
        super::approvals::poll,
        super::officers::add,
        super::officers::list,
        super::officers::disable,
        super::officers::enable,
        super::officers::rotate,
        super::admin::add_participant,
        super::admin::list_participants,
        super::admin::show_participant,
        super::admin::update_participant,
        super::admin::suspend_participant,
        super::admin::resume_participant,
        super::admin::terminate_participant,
        super::ops::healthz,
        super::ops::metrics,
    ),
    components(schemas(super::Problem)),
    modifiers(&AdminSecurity),
    tags(
        (name = "enrollment", description = "Participants get and renew certificates"),
        (name = "certificates", description = "Status of issued certificates"),
        (name = "ca", description = "CA certificates"),
        (name = "status", description = "OCSP and CRLs for relying parties"),
        (name = "verification", description = "Signature verification and chain validation for payment components"),
        (name = "admin", description = "Officer endpoints (Authorization: Bearer <officer credential>); each needs a role, else 403"),
        (name = "operations", description = "Health and metrics"),
    )
)]
pub(crate) struct ApiDoc;

struct AdminSecurity;

impl utoipa::Modify for AdminSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "admin",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        }
    }
}

/// The document as JSON.
pub(crate) fn document() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}

/// `GET /openapi.json`.
pub(crate) async fn openapi_json() -> Response {
    typed_body("application/json", document())
}
