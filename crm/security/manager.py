"""Kartoteka's security manager: FAB's, with the password policy and lockout built in."""

from __future__ import annotations

import logging

from flask import current_app, request
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_appbuilder.security.utils import is_null_password
from werkzeug.security import check_password_hash

from crm.security import lockout, views
from crm.security.passwords import must_change_password
from crm.security.two_factor import needs_second_factor
from crm.timeutil import utcnow

log = logging.getLogger(__name__)


class KartotekaSecurityManager(SecurityManager):
    """Every password set (forms, API, CLI) passes the policy; logins count, lock and are recorded."""

    userdbmodelview = views.UserDBModelView
    rolemodelview = views.RoleModelView
    groupmodelview = views.UserGroupModelView
    resetmypasswordview = views.ResetMyPasswordView
    resetpasswordview = views.ResetPasswordView
    #: FAB's login-count chart answers 500 to a malformed group index; the
    #: login history replaces it.
    userstatschartview = None

    def register_views(self):
        """FAB's security views, without its role editor in the menu: the matrix replaces it."""
        super().register_views()
        for category in self.appbuilder.menu.get_list():
            category.childs = [item for item in category.childs if item.name != "List Roles"]

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

        user = self.get_user_by_id(userid)
        if user is None:
            raise PasswordPolicyError([])
        problems = password_problems_for(password, user=user)
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
            result = "expired"
        else:
            result = "success"
        if result in ("unknown_user", "inactive", "locked"):
            lockout.spend_like_a_failure(session, policy, now)
            first_user = self.get_first_user()
            if first_user is not None:
                self.noop_user_update(first_user)  # as update_user_auth_stat does for a wrong password
        lockout.record_login(session, username_tried=username, user=user, result=result)
        if not (result == "success" or (result == "expired" and not through_api)):
            log.info("login refused (%s)", result)
            return None
        lockout.register_success(session, user.id)
        self.update_user_auth_stat(user, True)
        return user

    def load_user_jwt(self, _jwt_header, jwt_data):
        """The API token's user, unless the account is locked or must change its password.

        A token issued before a lock or a change request stops working at once,
        refresh tokens included.
        """
        user = super().load_user_jwt(_jwt_header, jwt_data)
        if user is None:
            return None
        state = lockout.state_of(self.session, user.id)
        now = utcnow()
        if lockout.is_locked(state, now) or must_change_password(state, now, int(current_app.config["CRM_PASSWORD_MAX_AGE_DAYS"])):
            return None
        return user
