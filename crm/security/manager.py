"""Kartoteka's security manager: FAB's, with the password policy and lockout built in."""

from __future__ import annotations

import logging

from flask import current_app, g, has_app_context, request
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_appbuilder.security.sqla.models import assoc_permissionview_role
from flask_appbuilder.security.utils import is_null_password
from sqlalchemy import event
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash

from crm.security import lockout, views
from crm.security.api import SecurityApi
from crm.security.passwords import must_change_password
from crm.security.two_factor import needs_second_factor
from crm.timeutil import utcnow

log = logging.getLogger(__name__)
#: where a request keeps the (view, permission) pairs its roles were granted
GRANTED_CACHE = "_kartoteka_granted_pairs"


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_soft_rollback")
def _forget_granted_pairs(session, *args):
    # a commit may have changed the matrix: the next check reads it again
    if has_app_context():
        g.pop(GRANTED_CACHE, None)


class KartotekaSecurityManager(SecurityManager):
    """Every password set (forms, API, CLI) passes the policy; logins count, lock and are recorded."""

    security_api = SecurityApi
    authdbview = views.AuthDBView
    userdbmodelview = views.UserDBModelView
    rolemodelview = views.RoleModelView
    groupmodelview = views.UserGroupModelView
    resetmypasswordview = views.ResetMyPasswordView
    resetpasswordview = views.ResetPasswordView
    #: FAB's login-count chart answers 500 to a malformed group index; the
    #: login history replaces it.
    userstatschartview = None

    def register_views(self):  # pragma: no mutate block (runs at import or app creation)
        """FAB's security views, without its role editor in the menu: the matrix replaces it."""
        super().register_views()
        for category in self.appbuilder.menu.get_list():
            category.childs = [item for item in category.childs if item.name != "List Roles"]

    def exist_permission_on_roles(self, view_name: str, permission_name: str, role_ids: list[int]) -> bool:
        """FAB's check, answered from the roles' pairs read once a request.

        FAB asks the database once per menu item, button and tab: about 40
        queries for one page of Kartoteka's menu.
        """
        return (view_name, permission_name) in self.granted_pairs(tuple(sorted(role_ids)))

    def granted_pairs(self, role_ids: tuple[int, ...]) -> frozenset[tuple[str, str]]:
        """The (view, permission) pairs these roles hold, read once a request (forgotten on commit)."""
        cache = g.setdefault(GRANTED_CACHE, {}) if has_app_context() else {}
        if role_ids not in cache:
            rows = (
                self.session.query(self.viewmenu_model.name, self.permission_model.name)
                .select_from(self.permissionview_model)
                .join(assoc_permissionview_role,
                      self.permissionview_model.id == assoc_permissionview_role.c.permission_view_id)
                .join(self.permission_model)
                .join(self.viewmenu_model)
                .filter(assoc_permissionview_role.c.role_id.in_(role_ids))
            )
            cache[role_ids] = frozenset((view, permission) for view, permission in rows)
        return cache[role_ids]

    def add_user(
        self, username, first_name, last_name, email, role=None, password="", hashed_password="",
        groups=None, commit=True, must_change_password=True,
    ):
        """FAB's add_user, refusing a password the policy refuses (raises PasswordPolicyError).

        A new account chooses its own password at the first login, unless told otherwise.
        """
        from crm.security.service import PasswordPolicyError, password_problems_for, remember_password

        if password:
            problems = password_problems_for(password, username=username, email=email, names=(first_name, last_name))
            if problems:
                raise PasswordPolicyError(problems)
        user = super().add_user(
            username, first_name, last_name, email, role=role, password=password,
            hashed_password=hashed_password, groups=groups, commit=commit,
        )
        if user and commit and user.password:
            remember_password(user, must_change=must_change_password)
        return user

    def reset_password(self, userid, password, must_change_password=True):
        """FAB's reset_password, refusing a password the policy refuses (raises PasswordPolicyError).

        A password set by someone else (an administrator, the CLI) must be
        replaced at the next login; the account's own change passes False.
        """
        from crm.security.service import PasswordPolicyError, password_problems_for, remember_password

        # both callers (the form and `flask crm set-password`) find the account first
        problems = password_problems_for(password, user=self.get_user_by_id(userid))
        if problems:
            raise PasswordPolicyError(problems)
        super().reset_password(userid, password)
        remember_password(self.get_user_by_id(userid), must_change=must_change_password)

    def auth_user_db(self, username, password):
        """Check a login; the same answer (None) for every failure, after the same work.

        Unknown user, wrong password, locked or inactive account all cost one
        password-hash check and are told apart only in the login history. FAB's
        own version logs the user name typed; this one logs none.
        """
        if not username:
            return None
        session = self.session
        config = current_app.config
        user = self.find_user(username=username) or self.find_user(email=username)
        stored_hash = user.password if user is not None and user.password else config["AUTH_DB_FAKE_PASSWORD_HASH_CHECK"]
        password_ok = check_password_hash(stored_hash, password or "") and not is_null_password(password)
        state = lockout.state_of(session, user.id) if user is not None else None
        through_api = request.path.startswith("/api/")
        now = utcnow()
        policy = lockout.LockoutPolicy.from_config(config)
        if user is None:
            result = "unknown_user"
        elif not user.is_active:
            result = "inactive"
        elif lockout.is_locked(state, now):
            result = "locked"
        elif not password_ok:
            result = "bad_password"
            self.update_user_auth_stat(user, False)
            lockout.register_failure(session, user.id, policy, now)
        elif through_api and needs_second_factor(session, user, state):
            result = "second_factor"
        elif must_change_password(state, now, int(config["CRM_PASSWORD_MAX_AGE_DAYS"])):
            # Signs in to change the password and nothing else; the API has no such screen.
            result = "must_change" if state.must_change_password else "expired"
        else:
            result = "success"
        if result in ("unknown_user", "inactive", "locked"):
            lockout.spend_like_a_failure(session, policy, now)
            first_user = self.get_first_user()
            if first_user is not None:
                self.noop_user_update(first_user)  # as update_user_auth_stat does for a wrong password
        lockout.record_login(session, username_tried=username, user=user, result=result)
        if not (result == "success" or (result in ("expired", "must_change") and not through_api)):
            log.info("login refused (%s)", result)
            return None
        lockout.register_success(session, user.id)
        self.update_user_auth_stat(user, True)
        return user

    def create_jwt_manager(self, app):  # pragma: no mutate block (runs at import or app creation)
        """FAB's JWT manager; tokens carry the account's session epoch, every refusal is a 401 with a message."""
        jwt_manager = super().create_jwt_manager(app)
        jwt_manager.additional_claims_loader(_epoch_claim)
        for register in (jwt_manager.invalid_token_loader, jwt_manager.unauthorized_loader):
            register(lambda reason: _token_refused())
        for register in (jwt_manager.expired_token_loader, jwt_manager.user_lookup_error_loader,
                         jwt_manager.revoked_token_loader, jwt_manager.needs_fresh_token_loader):
            register(lambda header, data: _token_refused())
        return jwt_manager

    def load_user_jwt(self, _jwt_header, jwt_data):
        """The API token's user, unless the account is locked, must change its password, or its sessions were ended.

        A token issued before a lock, a change request or a password change
        (which bump the account's session epoch) stops working at once,
        refresh tokens included.
        """
        user = super().load_user_jwt(_jwt_header, jwt_data)
        if user is None:
            return None
        state = lockout.state_of(self.session, user.id)
        now = utcnow()
        if jwt_data.get(EPOCH_CLAIM) != (state.session_epoch if state else 0):
            return None
        if lockout.is_locked(state, now) or must_change_password(state, now, int(current_app.config["CRM_PASSWORD_MAX_AGE_DAYS"])):
            return None
        return user


#: the claim of an API token naming the account's session epoch when it was issued
EPOCH_CLAIM = "crm_epoch"


def _epoch_claim(identity) -> dict:
    from crm.extensions import db

    state = lockout.state_of(db.session, int(identity)) if str(identity).isdigit() else None
    return {EPOCH_CLAIM: state.session_epoch if state else 0}


def _token_refused():
    from flask import jsonify

    from crm.errors import TOKEN_MESSAGE

    return jsonify(message=str(TOKEN_MESSAGE)), 401
