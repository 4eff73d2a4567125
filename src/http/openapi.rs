//! The OpenAPI document: generated from the handlers' annotations, then completed with
//! what the layers around the handlers answer (see [`complete`]), so that every
//! operation lists every status it can return, with its media type and headers.
//! `tests/api_contract.rs` checks real answers of every operation against it.

use std::sync::OnceLock;

use axum::response::Response;
use serde_json::{json, Map, Value};
use utoipa::OpenApi;

use super::typed_body;

#[derive(OpenApi)]
#[openapi(
    info(title = "paypki", description = "Certificate authority of an online-payment network. Errors are RFC 9457 problem documents (application/problem+json) whose `type` is `urn:paypki:problem:<kind>`; docs/api.md lists the kinds."),
    paths(
        super::enroll::enroll,
        super::enroll::renew,
        super::certificates::certificate,
        super::certificates::root_der,
        super::certificates::issuing_der,
        super::certificates::chain_pem,
        super::certificates::ca_file,
        super::verify::verify,
        super::verify::verify_batch,
        super::verify::validate,
        super::status::ocsp_post,
        super::status::ocsp_get,
        super::status::issuing_crl,
        super::status::root_crl,
        super::status::crl_file,
        super::tsa::timestamp,
        super::admin::publish_root_crl,
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
        super::events::revocations,
        super::transparency::sth,
        super::transparency::proof,
        super::transparency::consistency,
        super::transparency::entries,
        super::ops::healthz,
        super::ops::metrics,
        openapi_json,
    ),
    components(schemas(super::Problem, crate::verify::receipt::ReceiptDocument)),
    modifiers(&AdminSecurity),
    tags(
        (name = "enrollment", description = "Participants get and renew certificates"),
        (name = "certificates", description = "Status of issued certificates"),
        (name = "ca", description = "CA certificates"),
        (name = "status", description = "OCSP and CRLs for relying parties"),
        (name = "verification", description = "Signature verification and chain validation for payment components"),
        (name = "evidence", description = "Evidence for disputes: RFC 3161 timestamps; the receipts of /v1/verify (`ReceiptDocument` is the JSON inside a receipt's `document`)"),
        (name = "admin", description = "Officer endpoints (Authorization: Bearer <officer credential>); each needs a role, else 403"),
        (name = "transparency", description = "The issuance transparency log (RFC 9162 Merkle tree): signed tree heads, proofs, entries"),
        (name = "operations", description = "Health, metrics and this document"),
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

/// The HTTP methods an OpenAPI path item may hold.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The media type of every problem document.
const PROBLEM: &str = "application/problem+json";

/// A response whose body is a problem document.
fn problem_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { PROBLEM: { "schema": { "$ref": "#/components/schemas/Problem" } } },
    })
}

/// A response header (`required`: always sent with this status).
fn header(description: &str, schema: Value, required: bool) -> Value {
    json!({ "description": description, "required": required, "schema": schema })
}

/// Completes the generated document with what the router's layers and extractors do,
/// for every operation alike, so that no annotation has to repeat it:
///
/// * a response whose body is a [`super::Problem`] is `application/problem+json`;
/// * every operation: 405 for another method on its path (with `Allow`), 500 for a
///   store or CA failure or a panicking handler (`CatchPanicLayer`), 503 for a request
///   that outlives `--request-timeout` (`TimeoutLayer`) or a connection over
///   `--max-connections` (with `Retry-After`);
/// * a JSON request body (the `ApiJson` extractor): 400, 413 and 415;
/// * the admin security scheme (the `Officer` extractor): 401 with `WWW-Authenticate`,
///   and 403;
/// * 429 carries `Retry-After` always, 503 sometimes.
///
/// A status the annotation already documents keeps its description; the 503 a handler
/// documents gains the layers' reasons.
fn complete(document: &mut Value) {
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        let allowed: Vec<String> = item
            .keys()
            .filter(|k| METHODS.contains(&k.as_str()))
            .map(|k| k.to_ascii_uppercase())
            .collect();
        let allowed = allowed.join(", ");
        for (method, operation) in item.iter_mut() {
            if METHODS.contains(&method.as_str()) {
                complete_operation(operation, &allowed);
            }
        }
    }
}

fn complete_operation(operation: &mut Value, allowed: &str) {
    let secured = operation.get("security").is_some();
    let json_body = operation
        .pointer("/requestBody/content/application~1json")
        .is_some();
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for response in responses.values_mut() {
        problem_media_type(response);
    }
    fn add_to(responses: &mut Map<String, Value>, status: &str, description: &str) {
        responses
            .entry(status)
            .or_insert_with(|| problem_response(description));
    }
    let mut add = |status: &str, description: &str| add_to(responses, status, description);
    if json_body {
        add("400", "The body is not JSON, or not JSON of this shape: a missing or unknown field, a value of the wrong type (malformed-request)");
        add(
            "413",
            "The body is over the limit: 96 KiB, 8 MiB for the batch endpoints (payload-too-large)",
        );
        add(
            "415",
            "The body is not sent as Content-Type: application/json (unsupported-media-type)",
        );
    }
    if secured {
        add(
            "401",
            "No, a malformed, a wrong or a disabled officer's credential (unauthorized)",
        );
        add(
            "403",
            "The officer lacks the role this needs; the detail names it (forbidden)",
        );
    }
    add(
        "405",
        &format!("A method other than {allowed} on this path (method-not-allowed); Allow names the methods"),
    );
    add(
        "500",
        "A store or CA failure, or a bug (internal); nothing was issued. The cause is logged, never sent",
    );
    const LAYERS_503: &str = "the request outlived --request-timeout (timeout: its effect may still happen), or --max-connections are open (overloaded, with Retry-After; the connection is closed)";
    match responses.get_mut("503") {
        Some(response) => {
            if let Some(Value::String(description)) = response.get_mut("description") {
                description.push_str("; or ");
                description.push_str(LAYERS_503);
            }
        }
        None => add_to(responses, "503", &capitalized(LAYERS_503)),
    }
    let retry_after = |required| {
        header(
            "Seconds to wait before retrying",
            json!({ "type": "integer", "minimum": 0 }),
            required,
        )
    };
    let headers: [(&str, &str, Value); 4] = [
        ("429", "Retry-After", retry_after(true)),
        (
            "503",
            "Retry-After",
            header(
                "Seconds to wait before retrying; sent with overloaded",
                json!({ "type": "integer", "minimum": 0 }),
                false,
            ),
        ),
        (
            "401",
            "WWW-Authenticate",
            header(
                "Bearer realm=\"paypki-admin\"",
                json!({ "type": "string" }),
                true,
            ),
        ),
        (
            "405",
            "Allow",
            header(
                "The methods the path allows",
                json!({ "type": "string" }),
                true,
            ),
        ),
    ];
    for (status, name, value) in headers {
        if let Some(response) = responses.get_mut(status).and_then(Value::as_object_mut) {
            let headers = response
                .entry("headers")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(headers) = headers.as_object_mut() {
                headers.entry(name).or_insert(value);
            }
        }
    }
    // Statuses in order, as a reader looks them up.
    let mut sorted: Vec<(String, Value)> = std::mem::take(responses).into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    responses.extend(sorted);
}

/// A documented `application/json` body whose schema is the Problem becomes
/// `application/problem+json`, the media type the server sends.
fn problem_media_type(response: &mut Value) {
    let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else {
        return;
    };
    let is_problem = content
        .get("application/json")
        .and_then(|c| c.pointer("/schema/$ref"))
        .and_then(Value::as_str)
        == Some("#/components/schemas/Problem");
    if is_problem {
        if let Some(media) = content.remove("application/json") {
            content.insert(PROBLEM.to_string(), media);
        }
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The document as JSON (built once).
pub(crate) fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut value = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        complete(&mut value);
        serde_json::to_string_pretty(&value).unwrap_or_default()
    })
}

/// This OpenAPI 3.1 document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", body = Object)))]
pub(crate) async fn openapi_json() -> Response {
    typed_body("application/json", document())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed() -> Value {
        serde_json::from_str(document()).unwrap()
    }

    #[test]
    fn every_wire_pattern_is_the_documents() {
        let text = document();
        for pattern in crate::wire::patterns::ALL {
            let quoted = serde_json::to_string(pattern).unwrap();
            assert!(
                text.contains(&quoted),
                "the document has no field with the pattern {pattern}: the annotation and wire::patterns differ"
            );
        }
    }

    #[test]
    fn problems_are_problem_json_and_every_operation_has_the_layers_statuses() {
        let document = parsed();
        let paths = document["paths"].as_object().unwrap();
        assert!(paths.len() > 25, "{:?}", paths.keys());
        for (path, item) in paths {
            for (method, operation) in item.as_object().unwrap() {
                let responses = operation["responses"].as_object().unwrap();
                for status in ["405", "500", "503"] {
                    assert!(responses.contains_key(status), "{method} {path}: {status}");
                }
                for (status, response) in responses {
                    let content = response.get("content").and_then(Value::as_object);
                    let problem_as_json = content
                        .and_then(|c| c.get("application/json"))
                        .is_some_and(|m| m.to_string().contains("Problem"));
                    assert!(!problem_as_json, "{method} {path} {status}");
                    if status.starts_with('4') || status.starts_with('5') {
                        assert!(
                            content.is_some_and(|c| c.contains_key(PROBLEM)),
                            "{method} {path} {status}: not a problem document"
                        );
                    }
                }
            }
        }
        let enroll = &document["paths"]["/v1/enroll"]["post"]["responses"];
        for status in ["400", "413", "415", "429"] {
            assert!(enroll.get(status).is_some(), "enroll {status}");
        }
        assert_eq!(enroll["429"]["headers"]["Retry-After"]["required"], true);
        let admin = &document["paths"]["/v1/admin/certificates"]["get"]["responses"];
        assert_eq!(
            admin["401"]["headers"]["WWW-Authenticate"]["required"],
            true
        );
        assert_eq!(
            admin["200"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/CertificatePage"
        );
    }
}
