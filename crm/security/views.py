"""Account screens: FAB's, with the password policy, lockout controls and the login history."""

from __future__ import annotations

from flask import current_app, flash, g, redirect, request, session, url_for
from flask_appbuilder import BaseView, ModelView, SimpleFormView, expose, has_access, permission_name
from flask_appbuilder.actions import action
from flask_appbuilder.fields import QuerySelectMultipleField
from flask_appbuilder.fieldwidgets import (
    BS3PasswordFieldWidget,
    BS3TextAreaFieldWidget,
    BS3TextFieldWidget,
    Select2ManyWidget,
)
from flask_appbuilder.forms import DynamicForm
from flask_appbuilder.models.sqla.filters import FilterNotEqual
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security import views as fab
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import inspect
from werkzeug.security import check_password_hash
from wtforms import BooleanField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, ValidationError

from crm.errors import refusal
from crm.navigation import back_to_start
from crm.modelviews import NoFileDownload, PostedSearch, RequestFilters, ShownColumns
from crm.privacy.crypto import DecryptionError, decrypt, encrypt
from crm.privacy.filters import PrivacyAwareInterface
from crm.security import grants
from crm.clients.choices import label_of
from crm.security.choices import CHANNEL_LABELS, LOGIN_RESULT_LABELS, RIGHT_PASSWORD_RESULTS
from crm.security.models import LoginEvent, RoleSecurityPolicy
from crm.security.roles import PUBLIC


class PasswordPolicy:
    """WTForms validator: the password policy for the account the form sets a password of.

    ``account()`` gives that account (None for a new one, whose names come from the form).
    """

    def __init__(self, account=lambda: None):  # pragma: no mutate block (runs at import or app creation)
        self.account = account

    def __call__(self, form, field):
        from crm.security.service import password_problems_for

        user = self.account()
        if user is not None:
            problems = password_problems_for(field.data or "", user=user)
        else:
            values = {name: getattr(form, name).data for name in ("username", "email", "first_name", "last_name") if hasattr(form, name)}
            problems = password_problems_for(
                field.data or "",
                username=values.get("username"),
                email=values.get("email"),
                names=(values.get("first_name"), values.get("last_name")),
            )
        if problems:
            raise ValidationError(" ".join(str(problem) for problem in problems))


class CurrentPassword:
    """WTForms validator: the signed-in user's present password."""

    def __call__(self, form, field):
        if not check_password_hash(g.user.password or "", field.data or ""):
            raise ValidationError(gettext("This is not your current password."))


def _own_account():
    return g.user


def _account_in_address():
    from crm.extensions import appbuilder

    pk = request.args.get("pk", "")
    return appbuilder.sm.get_user_by_id(int(pk)) if pk.isdigit() and len(pk) < 12 else None


def _new_password_fields(account):  # pragma: no mutate block (runs at import or app creation)
    """The "new password" and "confirm" fields of a form setting ``account``'s password."""
    return (
        PasswordField(
            _l("New password"),
            description=_l("A phrase of several unrelated words is easy to remember and hard to guess."),
            validators=[DataRequired(), PasswordPolicy(account)],
            widget=BS3PasswordFieldWidget(),
        ),
        PasswordField(
            _l("Confirm the new password"),
            validators=[DataRequired(), EqualTo("password", message=_l("Passwords must match"))],
            widget=BS3PasswordFieldWidget(),
        ),
    )


class ResetMyPasswordForm(DynamicForm):
    current_password = PasswordField(
        _l("Current password"), validators=[DataRequired(), CurrentPassword()], widget=BS3PasswordFieldWidget()
    )
    password, conf_password = _new_password_fields(_own_account)


class AdminResetPasswordForm(DynamicForm):
    password, conf_password = _new_password_fields(_account_in_address)


class AuthDBView(fab.AuthDBView):
    """FAB's form login; signing out is a POST with the CSRF token (a link elsewhere cannot sign anyone out)."""

    @property
    def invalid_login_message(self) -> str:
        """One message for every refused login (crm.security.lockout.refusal_message)."""
        from crm.security.lockout import refusal_message

        return refusal_message(current_app.config)

    @expose("/logout/", methods=["GET", "POST"])
    def logout(self):
        """GET asks to confirm; POST signs out and ends the session on the server."""
        if request.method == "POST":
            return super().logout()
        if not (g.user is not None and g.user.is_authenticated):
            return redirect(self.appbuilder.get_url_for_login)
        return self.render_template("security/logout.html", title=_l("Sign out"))


class ResetMyPasswordView(fab.ResetMyPasswordView):
    """Changing your own password asks for the current one; other sessions end, this one stays."""

    form = ResetMyPasswordForm
    form_title = _l("Change my password")
    message = _l("Your password has been changed.")

    def form_post(self, form):
        from crm.security.sessions import adopt_current_epoch

        self.appbuilder.sm.reset_password(g.user.id, form.password.data, must_change_password=False)
        adopt_current_epoch(g.user.id)
        flash(str(self.message), "info")


def _active_users():
    """Active accounts the signed-in administrator may manage (a forged other id is not a valid choice)."""
    from crm.extensions import appbuilder, db

    model = appbuilder.sm.user_model
    # sorted here, not by the database: its collation may order underscores and digits otherwise
    accounts = db.session.query(model).filter(model.active.is_(True))
    return sorted((user for user in accounts if grants.can_manage(g.user, user)), key=lambda user: user.username)


class RequestPasswordChangeForm(DynamicForm):
    users = QuerySelectMultipleField(
        _l("Accounts"),
        query_func=_active_users,
        get_pk_func=lambda user: user.id,
        get_label="username",
        validators=[DataRequired()],
        widget=Select2ManyWidget(),
    )
    message = TextAreaField(
        _l("Message to show them"), validators=[Optional(), Length(max=500)], widget=BS3TextAreaFieldWidget()
    )


class RequestPasswordChangeView(SimpleFormView):
    """An administrator asks accounts to choose a new password at their next login."""

    route_base = "/password-change-requests"
    form = RequestPasswordChangeForm
    form_title = _l("Ask for a password change")
    redirect_url = "/users/list/"

    def form_post(self, form):
        from crm.security.mail import send_mail
        from crm.security.service import request_password_change

        users = list(form.users.data)
        request_password_change(users, form.message.data)
        emailed = 0
        for user in users:
            body = gettext(
                "An administrator of Kartoteka asks you to change your password at your next login.%(message)s",
                message=f"\n\n{form.message.data}" if form.message.data else "",
            )
            emailed += send_mail(user.email, gettext("Kartoteka: please change your password"), body)
        flash(gettext("%(count)d accounts must change their password at the next login.", count=len(users)), "info")
        if emailed:
            flash(gettext("%(count)d of them were told by email.", count=emailed), "info")


class ResetPasswordView(fab.ResetPasswordView):
    """An administrator sets another account's password, under the same policy.

    Not of an account holding more than the administrator, nor of their own
    (that is "Change my password", which asks for the current one).
    """

    form = AdminResetPasswordForm
    form_title = _l("Set a new password")
    message = _l("The password has been changed.")

    @staticmethod
    def _require_account():
        account = _account_in_address()
        if account is None:
            raise refusal(404, UNKNOWN_ACCOUNT_MESSAGE)
        _refuse_beyond_own_permissions(lambda: grants.require_manage(g.user, account))

    @expose("/form", methods=["GET"])
    @has_access
    def this_form_get(self):
        self._require_account()
        return super().this_form_get()

    @expose("/form", methods=["POST"])
    @has_access
    def this_form_post(self):
        self._require_account()
        return super().this_form_post()


UNKNOWN_ACCOUNT_MESSAGE = _l("There is no such account.")


def _within_own_permissions(check) -> None:
    """Run a grant check; on refusal nothing stays changed and the GrantError (a ValueError) goes on.

    In FAB's save hooks it is shown on the form's page like any refused save.
    """
    from crm.extensions import db

    try:
        # reading the roles' permissions must not write the half-made account
        with db.session.no_autoflush:
            check()
    except grants.GrantError:
        db.session.rollback()
        raise


def _refuse_beyond_own_permissions(check) -> None:
    """Run a grant check before anything is shown or done; its refusal answers 403 with its message."""
    try:
        _within_own_permissions(check)
    except grants.GrantError as error:
        raise refusal(403, error) from None


def _accounts(items) -> list:
    return items if isinstance(items, list) else [items]


def roles_offered(relation: str) -> dict:  # pragma: no mutate block (runs at import or app creation)
    """A form's choice of roles (FAB's query_rel_fields): every role but that of anonymous requests, nobody's role."""
    return {relation: [["name", FilterNotEqual, PUBLIC]]}


class UserDBModelView(RequestFilters, NoFileDownload, ShownColumns, PostedSearch, fab.UserDBModelView):
    """Staff accounts: new passwords follow the policy; accounts can be locked and unlocked.

    Bounded (crm.security.grants): an account holding more than the acting one
    is not changed by it, roles beyond its own are not given, and nobody
    changes their own roles, groups or activity here.
    """

    label_columns = {
        **fab.UserDBModelView.label_columns,
        "is_locked": _l("Locked"),
        "lock_ends_at": _l("Locked until"),
    }
    # FAB's own help texts speak of LDAP and OpenID, and its Polish catalog lacks them
    description_columns = {
        "first_name": _l("First name or names, as colleagues know them."),
        "username": _l("The name typed to sign in."),
        "active": _l("An inactive account cannot sign in. Deactivate an account instead of deleting it: "
                     "its changes keep their author."),
        "email": _l("The work email address of the account."),
        "roles": _l("What the account may see and do: the permissions its roles hold in the permission matrix."),
        "groups": _l("The account also holds the roles of its groups."),
        "conf_password": _l("Type the password again."),
        "lock_ends_at": _l("Empty while the account is not locked or is locked until an administrator unlocks it."),
    }
    add_form_query_rel_fields = edit_form_query_rel_fields = roles_offered("roles")
    list_columns = [*fab.UserDBModelView.list_columns, "is_locked"]
    # newest first: the account just added is the one most often looked for
    base_order = ("id", "desc")
    search_columns = [*fab.UserDBModelView.search_columns, "is_locked"]
    # FAB cannot build a form field for a computed column; ticked means "locked"
    search_form_extra_fields = {"is_locked": BooleanField(_l("Locked"))}
    show_fieldsets = [
        (title, {**options, "fields": [*options["fields"], "is_locked", "lock_ends_at"]}) if index == 0 else (title, options)
        for index, (title, options) in enumerate(fab.UserDBModelView.show_fieldsets)
    ]

    add_form_extra_fields = {
        "conf_password": PasswordField(
            _l("Confirm Password"),
            description=_l("Type the password again."),
            validators=[DataRequired(), EqualTo("password", message=_l("Passwords must match"))],
            widget=BS3PasswordFieldWidget(),
        ),
        "password": PasswordField(
            _l("Password"),
            description=_l("A phrase of several unrelated words is easy to remember and hard to guess."),
            validators=[DataRequired(), PasswordPolicy()],
            widget=BS3PasswordFieldWidget(),
        ),
    }

    def _edit(self, pk):
        item = self.datamodel.get(pk, self._base_filters)
        if item is not None:
            # the form itself is not shown for an account one may not manage
            _refuse_beyond_own_permissions(lambda: grants.require_manage(g.user, item, allow_self=True))
        return super()._edit(pk)

    def pre_add(self, item):
        _within_own_permissions(lambda: grants.require_grant(g.user, grants.account_roles(item)))
        super().pre_add(item)

    def pre_update(self, item):
        from crm.extensions import db
        from crm.security.matrix import keep_an_administrator

        _within_own_permissions(lambda: (
            grants.require_own_grants_unchanged(g.user, item),
            grants.require_grant(g.user, grants.account_roles(item)),
        ))
        super().pre_update(item)
        # the edited roles and "active" flag are flushed by the check's query
        keep_an_administrator(db.session)

    def pre_delete(self, item):
        from crm.extensions import db
        from crm.security.matrix import keep_an_administrator

        _within_own_permissions(lambda: grants.require_manage(g.user, item))
        keep_an_administrator(db.session, deleting_user_id=item.id)

    def _delete(self, pk):
        """Delete an account, or deactivate it when history names it (its changes keep their author)."""
        from crm.extensions import db
        from crm.security.service import has_acted

        item = self.datamodel.get(pk, self._base_filters)
        if item is None or not has_acted(db.session, item.id):
            return super()._delete(pk)
        try:
            self.pre_delete(item)
        except ValueError as error:
            flash(str(error), "danger")
            return None
        item.active = False
        db.session.commit()
        flash(gettext("The account is named in the history or in the accountability records (logins, openings of data), so it was deactivated instead of deleted."), "info")
        self.update_redirect()
        return None

    def post_add(self, item):
        from crm.security.service import remember_password

        # chosen by the administrator: the new colleague replaces it at the first login
        remember_password(item, must_change=True)

    @staticmethod
    def _require_managing(items) -> None:
        """Refuse an action on several accounts when any of them may not be managed: nothing is changed."""
        for user in _accounts(items):
            _refuse_beyond_own_permissions(lambda user=user: grants.require_manage(g.user, user))

    @action("unlock", _l("Unlock"), _l("Unlock the selected accounts?"), "fa-unlock")
    def unlock(self, items):
        from crm.extensions import db
        from crm.security import lockout

        self._require_managing(items)
        for user in _accounts(items):
            lockout.unlock(db.session, user.id)
        flash(gettext("The accounts are unlocked."), "info")
        return back_to_start(url_for(f"{self.endpoint}.list"))

    @action("reset_two_factor", _l("Reset two-factor login"), _l("Remove the authenticator app of the selected accounts? They set it up again at the next login."), "fa-mobile")
    def reset_two_factor(self, items):
        from crm.extensions import db
        from crm.security.two_factor import forget_authenticator

        self._require_managing(items)
        for user in _accounts(items):
            forget_authenticator(db.session, user.id)
        flash(gettext("Two-factor login was reset."), "info")
        return back_to_start(url_for(f"{self.endpoint}.list"))

    @action("lock", _l("Lock"), _l("Lock the selected accounts until an administrator unlocks them?"), "fa-lock")
    def lock(self, items):
        from crm.extensions import db
        from crm.security import lockout

        self._require_managing(items)
        for user in _accounts(items):
            lockout.lock(db.session, user.id)
        flash(gettext("The accounts are locked."), "info")
        return back_to_start(url_for(f"{self.endpoint}.list"))


class RoleModelView(RequestFilters, NoFileDownload, fab.RoleModelView):
    """Roles, read only: permissions change in the matrix (crm.security.matrix_views), which records them."""

    base_permissions = ["can_list", "can_show"]
    #: FAB's "copy role" action; the matrix clones roles and records it
    copy_role = None


class UserGroupModelView(RequestFilters, NoFileDownload, ShownColumns, fab.UserGroupModelView):
    """Groups of staff accounts: a group's roles give permissions, so they are bounded like an account's."""

    label_columns = {
        "name": _l("Name"),
        "label": _l("Label"),
        "description": _l("Description"),
        "users": _l("Accounts"),
        "roles": _l("Roles"),
    }
    description_columns = {
        "name": _l("A short name of the group, unique."),
        "label": _l("The name shown on screens."),
        "roles": _l("Every account of the group holds these roles."),
    }
    add_form_query_rel_fields = edit_form_query_rel_fields = roles_offered("roles")

    def _edit(self, pk):
        """The checks read the members and roles before and after from the session's history.

        Filling the form loads related records (the other side of a relation), and with autoflush
        that load flushed the fields filled before it: a member added looked like one the group
        always had. A new group is in no session until it is saved, so adding needs no such care.
        """
        from crm.extensions import db

        with db.session.no_autoflush:
            return super()._edit(pk)

    def pre_add(self, item):
        _within_own_permissions(lambda: grants.require_group_change(g.user, item))

    def pre_update(self, item):
        _within_own_permissions(lambda: grants.require_group_change(g.user, item))

    def pre_delete(self, item):
        super().pre_delete(item)
        _within_own_permissions(lambda: grants.require_group_change(g.user, item))


def _result_label(key):
    # the table's check constraint admits only the results that have a label
    return str(LOGIN_RESULT_LABELS[key])


class LoginEventModelView(RequestFilters, NoFileDownload, ShownColumns, PostedSearch, ModelView):
    """Every login attempt, for administrators and auditors; read only, masked per category like any personal data."""

    datamodel = PrivacyAwareInterface(LoginEvent)
    base_permissions = ["can_list", "can_show"]
    list_title = _l("Login history")
    show_title = _l("Login attempt")
    label_columns = {
        "occurred_at": _l("Time"),
        "username_tried": _l("User name typed"),
        "user": _l("Account"),
        "result": _l("Result"),
        "channel": _l("Through"),
        "ip_address": _l("IP address"),
        "user_agent": _l("Browser"),
    }
    list_columns = ["occurred_at", "username_tried", "user", "result", "channel", "ip_address"]
    show_columns = [*list_columns, "user_agent"]
    search_columns = ["occurred_at", "username_tried", "user", "result", "channel"]
    order_columns = ["occurred_at", "result"]
    base_order = ("occurred_at", "desc")
    formatters_columns = {"result": _result_label, "channel": lambda key: label_of(CHANNEL_LABELS, key)}


class MyLoginsView(BaseView):
    """Each user's own recent logins and last failed attempt."""

    route_base = "/my-logins"
    default_view = "index"

    @expose("/")
    @has_access
    @permission_name("list")
    def index(self):
        from crm.extensions import db

        recent = list(
            db.session.scalars(
                db.select(LoginEvent).where(LoginEvent.user_id == g.user.id).order_by(LoginEvent.occurred_at.desc()).limit(20)
            )
        )
        last_failure = db.session.scalars(
            db.select(LoginEvent)
            .where(LoginEvent.user_id == g.user.id, LoginEvent.result.not_in(RIGHT_PASSWORD_RESULTS))
            .order_by(LoginEvent.occurred_at.desc())
            .limit(1)
        ).first()
        return self.render_template(
            "security/my_logins.html", title=_l("My logins"), recent=recent, last_failure=last_failure, label=_result_label,
            channel=lambda key: label_of(CHANNEL_LABELS, key),
        )


class OneTimeCodeForm(DynamicForm):
    code = StringField(
        _l("One-time code"),
        description=_l("Six digits from your authenticator app."),
        validators=[DataRequired(), Length(max=10)],
        widget=BS3TextFieldWidget(),
    )


class TwoFactorView(BaseView):
    """The second step of signing in, and setting up an authenticator app."""

    route_base = "/two-factor"
    default_view = "verify"

    def _state(self):
        from crm.extensions import db
        from crm.security import lockout

        return lockout.state_of(db.session, g.user.id)

    @expose("/verify", methods=["GET", "POST"])
    @has_access
    def verify(self):
        """Ask for the code of an account that has an authenticator app."""
        import time

        from crm.extensions import db
        from crm.security import lockout
        from crm.security.sessions import SECOND_FACTOR_PENDING, end_session
        from crm.security.two_factor import accepted_step, current_step
        from crm.timeutil import utcnow

        state = self._state()
        if state is None or not state.totp_secret:
            return redirect(self.appbuilder.get_url_for_index)
        form = OneTimeCodeForm()
        if form.validate_on_submit():
            step = accepted_step(state.totp_secret, form.code.data, state.totp_last_step, current_step(time.time()))
            if step is not None:
                state.totp_last_step = step
                db.session.commit()
                session.pop(SECOND_FACTOR_PENDING, None)
                return redirect(self.appbuilder.get_url_for_index)
            lockout.record_login(db.session, username_tried=g.user.username, user=g.user, result="bad_code")
            policy = lockout.LockoutPolicy.from_config(current_app.config)
            if lockout.register_failure(db.session, g.user.id, policy, utcnow()):
                return end_session(gettext("Too many wrong codes: the account is locked."))
            flash(gettext("That code is not valid. Enter the current code from your app."), "danger")
        return self.render_template("security/two_factor.html", title=_l("One-time code"), form=form, qr=None, secret=None)

    @expose("/setup", methods=["GET", "POST"])
    @has_access
    def setup(self):
        """Enrol an authenticator app: scan the code, then confirm with one code."""
        import time

        from crm.extensions import db
        from crm.security.sessions import SECOND_FACTOR_PENDING
        from crm.security.two_factor import accepted_step, current_step, enrol, enrolment_qr, is_required, new_secret

        state = self._state()
        if state is not None and state.totp_secret:
            return redirect(url_for("TwoFactorView.verify"))
        secret = _enrolment_secret() or new_secret()
        # the cookie is signed, not encrypted: the secret being enrolled is kept sealed
        session[ENROLMENT_KEY] = encrypt(secret, ENROLMENT_KEY)
        form = OneTimeCodeForm()
        if form.validate_on_submit():
            step = accepted_step(secret, form.code.data, None, current_step(time.time()))
            if step is not None:
                enrol(db.session, g.user.id, secret, step)
                session.pop(ENROLMENT_KEY, None)
                session.pop(SECOND_FACTOR_PENDING, None)
                flash(gettext("Two-factor login is on: from now on you sign in with a code from your app."), "info")
                return redirect(self.appbuilder.get_url_for_index)
            flash(gettext("That code is not valid. Enter the current code from your app."), "danger")
        return self.render_template(
            "security/two_factor.html",
            title=_l("Set up two-factor login"),
            form=form,
            qr=enrolment_qr(secret, g.user.username),
            secret=secret,
            required=is_required(db.session, g.user),
        )


ENROLMENT_KEY = "crm_totp_enrolment"


def _enrolment_secret() -> str | None:
    sealed = session.get(ENROLMENT_KEY)
    try:
        return decrypt(sealed, ENROLMENT_KEY) if isinstance(sealed, str) else None
    except DecryptionError:
        return None


class RoleSecurityPolicyView(RequestFilters, NoFileDownload, ModelView):
    """Which roles must sign in with a one-time code."""

    datamodel = SQLAInterface(RoleSecurityPolicy)
    list_title = _l("Two-factor login per role")
    add_title = _l("Require two-factor login for a role")
    edit_title = _l("Two-factor login for a role")
    show_title = _l("Two-factor login for a role")
    label_columns = {"role": _l("Role"), "requires_totp": _l("Requires a one-time code")}
    add_form_query_rel_fields = edit_form_query_rel_fields = roles_offered("role")
    list_columns = ["role", "requires_totp"]
    show_columns = list_columns
    add_columns = list_columns
    edit_columns = list_columns
    search_columns = ["role", "requires_totp"]
    order_columns = ["requires_totp"]
    # a check box left empty means "no"; FAB's form would call the not-null column required
    add_form_extra_fields = edit_form_extra_fields = {
        "requires_totp": BooleanField(_l("Requires a one-time code")),
    }

    @staticmethod
    def _require_roles_within(item):
        """A role's two-factor policy is part of its protection: only within one's own permissions."""
        before = inspect(item).attrs.role.history.deleted
        for role in (*before, item.role):
            if role is not None:
                _within_own_permissions(lambda role=role: grants.require_role_within(g.user, role))

    def pre_add(self, item):
        self._require_roles_within(item)

    def pre_update(self, item):
        self._require_roles_within(item)

    def pre_delete(self, item):
        self._require_roles_within(item)
