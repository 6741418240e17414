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
from flask_appbuilder.api import BaseApi
from flask_appbuilder.api.manager import OpenApi as FabOpenApi


def openapi_document(version: str) -> dict | None:
    """The OpenAPI document of every API of this version, or None when there is none."""
    spec = FabOpenApi._create_api_spec(version)
    found = False
    for view in current_app.appbuilder.baseviews:
        if isinstance(view, BaseApi) and view.version == version:
            view.add_api_spec(spec)
            found = True
    return spec.to_dict() if found else None


class OpenApi(FabOpenApi):
    """``/api/<version>/_openapi``, for token holders whose role may read the API documentation."""

    allow_browser_login = False


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
