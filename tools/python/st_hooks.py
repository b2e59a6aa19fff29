"""Schemathesis hooks of the test command (tools/check-api-schema loads them with
SCHEMATHESIS_HOOKS): one more check, that every error of the JSON API is RFC 9457
application/problem+json whose `status` is the response's status.

The consent callback and the approval page are pages for a person; their errors are HTML
pages, as documented in openapi/openapi.json, and are checked by content_type_conformance
instead.
"""

import json

import schemathesis

HTML_PAGES = {"/api/consent/callback", "/api/approval", "/api/delegation/done"}


def _header(response, name):
    value = response.headers.get(name.lower()) or response.headers.get(name) or ""
    if isinstance(value, (list, tuple)):
        value = value[0] if value else ""
    return value


@schemathesis.check
def problem_json_for_every_error(ctx, response, case):
    if response.status_code < 400 or case.operation.path in HTML_PAGES:
        return None
    if case.method.upper() != case.operation.method.upper():
        # A method the function does not declare never reaches the handler: the Functions host
        # answers it (404, as in Azure), so it is not the app's error document.
        return None
    content_type = _header(response, "content-type")
    if not content_type.startswith("application/problem+json"):
        raise AssertionError(
            f"a {response.status_code} answer is {content_type or 'without a content type'}, "
            "not application/problem+json"
        )
    problem = json.loads(response.content)
    for member in ("type", "title", "status", "detail"):
        if member not in problem:
            raise AssertionError(f"the problem document has no '{member}'")
    if problem["status"] != response.status_code:
        raise AssertionError(
            f"the problem's status {problem['status']} is not the response's {response.status_code}"
        )
    return None
