"""The REST API's OpenAPI document and the Swagger page that shows it.

FAB's own pair lets the document be fetched with the browser's session cookie
(its ``OpenApi`` allows browser login) and makes the Swagger page fetch it that
way. Kartoteka's API accepts tokens only, so the document needs a token, and
the Swagger page (a screen, behind the same permission) carries the document
inside the page instead of fetching it.
"""

from __future__ import annotations

from flask import current_app
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.api import BaseApi, protect, safe
from flask_appbuilder.api.manager import OpenApi as FabOpenApi

from crm.guards import MAX_DATABASE_INTEGER


#: what every operation may answer besides its success, and why (each with {"message": ...})
STANDARD_RESPONSES = {
    "400": "A malformed body, argument or value; the message says which",
    "401": "No valid access token (missing, malformed, expired, or ended by a password change or lock)",
    "403": "The role does not allow this (or sees the data it names masked)",
    "404": "No such record",
    "413": "The body is larger than the server takes",
    "422": "The values break a rule of the record; the message says which, by field where it can",
    "429": "Too many requests from this account or address; wait and try again",
    "503": "The database cannot be reached; nothing was saved",
}
_MESSAGE = {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}
#: a refusal by field: field -> messages, or an object's fields -> messages
_MESSAGES_BY_FIELD = {"type": "object", "additionalProperties": {"oneOf": [
    {"type": "array", "items": {"type": "string"}}, {"type": "object"},
]}}


def _standard_responses(document: dict) -> None:
    responses = document.setdefault("components", {}).setdefault("responses", {})
    for status, description in STANDARD_RESPONSES.items():
        schema = _MESSAGE
        if status in ("400", "422"):
            schema = {**_MESSAGE, "properties": {"message": {"oneOf": [{"type": "string"}, _MESSAGES_BY_FIELD]}}}
        responses[status] = {"description": description, "content": {"application/json": {"schema": schema}}}
    for operations in document.get("paths", {}).values():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for status in STANDARD_RESPONSES:
                if status == "413" and method not in ("post", "put"):
                    continue
                operation["responses"].setdefault(status, {"$ref": f"#/components/responses/{status}"})
            if any(parameter.get("in") == "query" for parameter in operation.get("parameters", [])):
                operation["responses"].setdefault("414", {
                    "description": "The address (with its query argument) is longer than the server takes",
                    "content": {"text/html": {"schema": {"type": "string"}}},
                })


def openapi_document(version: str) -> dict | None:
    """The OpenAPI document of every API of this version, or None when there is none.

    FAB's generated document is brought in line with what the API answers:
    each API states its own bodies (``conform_openapi``), every operation its
    refusals.
    """
    spec = FabOpenApi._create_api_spec(version)
    apis = [view for view in current_app.appbuilder.baseviews if isinstance(view, BaseApi) and view.version == version]
    if not apis:
        return None
    for view in apis:
        view.add_api_spec(spec)
    document = spec.to_dict()
    for view in apis:
        conform = getattr(view, "conform_openapi", None)
        if conform is not None:
            conform(document)
    _security_login(document, version)
    _record_keys(document)
    _standard_responses(document)
    return document


def _record_keys(document: dict) -> None:
    """A record's key in a path is a whole number a database column holds (crm.guards answers 404 beyond)."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else ():
                if parameter.get("in") == "path" and parameter.get("name") == "pk":
                    parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": MAX_DATABASE_INTEGER}


def _security_login(document: dict, version: str) -> None:
    """The sign-in body as crm.security.api takes it: Kartoteka's own accounts, no LDAP, nothing else."""
    login = document.get("paths", {}).get(f"/api/{version}/security/login", {}).get("post")
    if login is None:
        return
    schema = login["requestBody"]["content"]["application/json"]["schema"]
    properties = schema["properties"]
    properties["provider"]["enum"] = ["db"]
    properties["username"].update(minLength=1, maxLength=256)
    properties["password"].update(minLength=1, maxLength=1024)
    schema["required"] = ["username", "password"]
    schema["additionalProperties"] = False


class OpenApi(FabOpenApi):
    """``/api/<version>/_openapi``, for token holders whose role may read the API documentation."""

    allow_browser_login = False

    @expose("/<version>/_openapi")
    @protect()
    @safe
    def get(self, version):
        document = openapi_document(version)
        if document is None:
            return self.response_404()
        return self.response(200, **document)

    get.__doc__ = FabOpenApi.get.__doc__


class SwaggerView(BaseView):
    """``/swagger/<version>``: the API documentation, its document embedded in the page."""

    route_base = "/swagger"
    default_view = "show"

    @expose("/<version>")
    @has_access
    def show(self, version):
        document = openapi_document(version)
        if document is None:
            from werkzeug.exceptions import NotFound

            raise NotFound()
        return self.render_template("apidocs/swagger.html", document=document, title="OpenAPI")
