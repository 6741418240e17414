"""The API's sign-in: FAB's ``/api/v1/security/login`` with Kartoteka's accounts only.

FAB's version answers 500 to a body without ``provider`` and offers LDAP, which
Kartoteka does not use. This one takes ``provider`` as optional (``db``, the
only one), refuses anything else with a message in the caller's language, and
signs in through the same checks as the form (policy, lockout, history).
"""

from __future__ import annotations

from flask import current_app, request
from flask_appbuilder.api import safe
from flask_appbuilder.security.api import SecurityApi as FabSecurityApi
from flask_appbuilder.views import expose
from flask_babel import gettext
from flask_jwt_extended import create_access_token, create_refresh_token
from marshmallow import Schema, ValidationError, fields, validate

from crm.i18n import translated_errors
from crm.security.lockout import refusal_message


class LoginBody(Schema):
    """What the API's sign-in takes (the OpenAPI document states the same)."""

    username = fields.String(required=True, validate=validate.Length(min=1, max=256))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))
    provider = fields.String(load_default="db", validate=validate.OneOf(["db"]))
    refresh = fields.Boolean(load_default=False)


_LOGIN_BODY = LoginBody()


class SecurityApi(FabSecurityApi):
    """Named as FAB's, so its routes, permissions and rate limit stay the same."""

    @expose("/login", methods=["POST"])
    @safe
    def login(self):
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self.response_400(message=gettext("Send a JSON object."))
        try:
            credentials = _LOGIN_BODY.load(body)
        except ValidationError as error:
            return self.response_400(message=translated_errors(error.messages))
        user = self.appbuilder.sm.auth_user_db(credentials["username"], credentials["password"])
        if not user:
            return self.response(401, message=refusal_message(current_app.config))
        tokens = {"access_token": create_access_token(identity=str(user.id), fresh=True)}
        if credentials["refresh"]:
            tokens["refresh_token"] = create_refresh_token(identity=str(user.id))
        return self.response(200, **tokens)

    login.__doc__ = FabSecurityApi.login.__doc__

