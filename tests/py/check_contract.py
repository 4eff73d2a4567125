#!/usr/bin/env python3
"""Checks real HTTP exchanges with paypki against its OpenAPI document.

Usage: check_contract.py OPENAPI_JSON EXCHANGES_JSON

OPENAPI_JSON is what GET /openapi.json answered. EXCHANGES_JSON is a list of exchanges
recorded by tests/api_contract.rs, each an object:

    {"case": "...", "method": "POST", "template": "/v1/enroll", "path": "/v1/enroll",
     "query": {"limit": "0"}, "request_content_type": "application/json" or null,
     "request_json": {...} or null, "request_schema_valid": true/false/null,
     "status": 201, "headers": {"content-type": "...", ...}, "body": "<text>" or null,
     "body_is_binary": false}

The document itself is checked first (openapi-spec-validator, OpenAPI 3.1). Then, for
every exchange:

* the status is documented for the operation (method + path template);
* the Content-Type is one the document gives that status (media type, parameters
  ignored), and a body comes only where the document gives content;
* a JSON body (application/json, application/problem+json) validates against the
  documented schema (jsonschema, Draft 2020-12, which OpenAPI 3.1 schemas are);
* the headers the document marks required for that status are there (Retry-After,
  WWW-Authenticate, Allow);
* when request_schema_valid is true or false, the request (body, path and query
  parameters) does or does not validate against the documented request schema: what
  the server accepted the schema must accept, and what the test sends as malformed the
  schema must refuse.

Every failure is printed, one per line; the exit status is 1 if there was any.
Shares no code with paypki: jsonschema and openapi-spec-validator are the judges.
"""

import json
import re
import sys
from urllib.parse import unquote

import jsonschema
from openapi_spec_validator import validate as validate_spec

JSON_TYPES = ("application/json", "application/problem+json")


def media_type(value):
    return (value or "").split(";")[0].strip().lower()


def validator_for(schema, document):
    # References point into the document (#/components/schemas/...): validate against a
    # root that carries the components, so that they resolve.
    root = dict(schema)
    root["components"] = document.get("components", {})
    cls = jsonschema.Draft202012Validator
    return cls(root, format_checker=cls.FORMAT_CHECKER)


def schema_errors(schema, instance, document):
    errors = sorted(
        validator_for(schema, document).iter_errors(instance), key=lambda e: list(e.path)
    )
    return [
        "{}: {}".format("/".join(str(p) for p in e.absolute_path) or "(root)", e.message)
        for e in errors
    ]


def coerce(value, schema, document):
    """A path or query parameter (text) as the JSON value its schema describes."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document.get("components", {}).get("schemas", {}).get(name, {})
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "integer" in kinds and re.fullmatch(r"-?[0-9]+", value):
        return int(value)
    if "number" in kinds:
        try:
            return float(value)
        except ValueError:
            return value
    if "boolean" in kinds and value in ("true", "false"):
        return value == "true"
    return value


def template_regex(template):
    names = re.findall(r"\{([^}]+)\}", template)
    pattern = "^" + re.escape(template) + "$"
    for name in names:
        pattern = pattern.replace(re.escape("{" + name + "}"), "(?P<%s>.+)" % name, 1)
    return re.compile(pattern)


def request_errors(exchange, operation, path_item, document):
    """Why the request does not fit the documented request (empty when it does)."""
    problems = []
    parameters = list(path_item.get("parameters", [])) + list(operation.get("parameters", []))
    match = template_regex(exchange["template"]).match(exchange["path"])
    path_values = {k: unquote(v) for k, v in match.groupdict().items()} if match else {}
    query = exchange.get("query") or {}
    for parameter in parameters:
        where, name = parameter.get("in"), parameter.get("name")
        schema = parameter.get("schema", {})
        if where == "path":
            value = path_values.get(name)
        elif where == "query":
            value = query.get(name)
        else:
            continue
        if value is None:
            if parameter.get("required"):
                problems.append("parameter {} ({}) is required".format(name, where))
            continue
        for error in schema_errors(schema, coerce(value, schema, document), document):
            problems.append("parameter {} ({}): {}".format(name, where, error))
    known_query = {p.get("name") for p in parameters if p.get("in") == "query"}
    for name in query:
        if name not in known_query:
            problems.append("query parameter {} is not documented".format(name))
    body = operation.get("requestBody")
    sent_type = media_type(exchange.get("request_content_type"))
    if body is None:
        if exchange.get("request_json") is not None:
            problems.append("a body was sent, but the operation documents none")
        return problems
    content = body.get("content", {})
    if sent_type not in {media_type(k) for k in content}:
        problems.append(
            "request Content-Type {!r} is not one of {}".format(sent_type, sorted(content))
        )
        return problems
    schema = next(v for k, v in content.items() if media_type(k) == sent_type).get("schema")
    if sent_type in JSON_TYPES and schema is not None:
        if exchange.get("request_json") is None:
            problems.append("the request body is not JSON")
        else:
            for error in schema_errors(schema, exchange["request_json"], document):
                problems.append("request body: " + error)
    return problems


def check_exchange(exchange, document):
    where = "{} {} ({}; {} {})".format(
        exchange["method"],
        exchange["path"],
        exchange["case"],
        exchange["status"],
        exchange["headers"].get("content-type", "no content type"),
    )
    path_item = document.get("paths", {}).get(exchange["template"])
    if path_item is None:
        return ["{}: path {} is not in the document".format(where, exchange["template"])]
    operation = path_item.get(exchange["method"].lower())
    failures = []
    if operation is None:
        # A method the path does not have: the 405 is documented on each of its operations.
        operations = [
            v for k, v in path_item.items() if k in ("get", "post", "put", "delete", "patch")
        ]
        responses = [op.get("responses", {}).get(str(exchange["status"])) for op in operations]
        responses = [r for r in responses if r is not None]
        if not responses:
            return ["{}: status {} is not documented for any operation of the path".format(
                where, exchange["status"])]
        response = responses[0]
    else:
        responses = operation.get("responses", {})
        response = responses.get(str(exchange["status"])) or responses.get("default")
        if response is None:
            return ["{}: status {} is not documented (documented: {})".format(
                where, exchange["status"], ", ".join(sorted(responses)))]
        expected = exchange.get("request_schema_valid")
        if expected is not None:
            errors = request_errors(exchange, operation, path_item, document)
            if expected and errors:
                failures.append("{}: the server accepted a request the document refuses: {}"
                                .format(where, "; ".join(errors)))
            if not expected and not errors:
                failures.append("{}: the request is malformed, yet the document allows it"
                                .format(where))
    headers = exchange["headers"]
    for name, header in (response.get("headers") or {}).items():
        if header.get("required") and name.lower() not in headers:
            failures.append("{}: header {} is documented as required, but missing".format(
                where, name))
    content = response.get("content") or {}
    body = exchange.get("body")
    sent = media_type(headers.get("content-type"))
    if not content:
        if body:
            failures.append("{}: a body of {!r}, but the document gives this status no content"
                            .format(where, sent))
        return failures
    documented = {media_type(k): v for k, v in content.items()}
    if sent not in documented:
        failures.append("{}: Content-Type {!r} is not documented (documented: {})".format(
            where, sent, ", ".join(sorted(documented))))
        return failures
    schema = documented[sent].get("schema")
    if sent in JSON_TYPES or sent.endswith("+json"):
        if schema is None:
            failures.append("{}: a JSON response without a schema".format(where))
            return failures
        try:
            instance = json.loads(body or "")
        except ValueError as error:
            failures.append("{}: the body is not JSON: {}".format(where, error))
            return failures
        for error in schema_errors(schema, instance, document):
            failures.append("{}: the body does not fit the schema: {}".format(where, error))
    return failures


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1], encoding="utf-8") as f:
        document = json.load(f)
    with open(sys.argv[2], encoding="utf-8") as f:
        exchanges = json.load(f)
    failures = []
    try:
        validate_spec(document)
    except Exception as error:  # the validator's own error types vary by version
        failures.append("the document is not valid OpenAPI: {}".format(error))
    for exchange in exchanges:
        failures.extend(check_exchange(exchange, document))
    for failure in failures:
        print(failure)
    print("check_contract: {} exchanges, {} failures".format(len(exchanges), len(failures)),
          file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
