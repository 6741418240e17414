"""Account screens: FAB's, with the password policy, lockout controls and the login history."""

from __future__ import annotations

from flask import flash, g, redirect, request
from flask_appbuilder import BaseView, ModelView, SimpleFormView, expose, has_access, permission_name
from flask_appbuilder.actions import action
from flask_appbuilder.fields import QuerySelectMultipleField
from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextAreaFieldWidget, Select2ManyWidget
from flask_appbuilder.forms import DynamicForm
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security import views as fab
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from werkzeug.security import check_password_hash
from wtforms import PasswordField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, ValidationError

from crm.modelviews import NoFileDownload, blank_if_none
from crm.security.choices import LOGIN_RESULT_LABELS
from crm.security.models import LoginEvent


class PasswordPolicy:
    """WTForms validator: the password policy for the account the form sets a password of.

    ``account`` gives that account (None for a new one, whose names come from the form).
    """

    def __init__(self, account=lambda form: None):
        self.account = account

    def __call__(self, form, field):
        from crm.security.service import password_problems_for

        user = self.account(form)
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


def _own_account(form):
    return g.user


def _account_in_address(form):
    from crm.extensions import appbuilder

    return appbuilder.sm.get_user_by_id(request.args.get("pk"))


def _new_password_fields(account):
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
    from crm.extensions import appbuilder, db

    model = appbuilder.sm.user_model
    return db.session.query(model).filter(model.active.is_(True)).order_by(model.username)


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
    """An administrator sets another account's password, under the same policy."""

    form = AdminResetPasswordForm
    form_title = _l("Set a new password")
    message = _l("The password has been changed.")


class UserDBModelView(NoFileDownload, fab.UserDBModelView):
    """Staff accounts: new passwords follow the policy; accounts can be locked and unlocked."""

    add_form_extra_fields = {
        **fab.UserDBModelView.add_form_extra_fields,
        "password": PasswordField(
            _l("Password"),
            description=_l("A phrase of several unrelated words is easy to remember and hard to guess."),
            validators=[DataRequired(), PasswordPolicy()],
            widget=BS3PasswordFieldWidget(),
        ),
    }

    def post_add(self, item):
        from crm.security.service import remember_password

        # chosen by the administrator: the new colleague replaces it at the first login
        remember_password(item, must_change=True)

    @action("unlock", _l("Unlock"), _l("Unlock the selected accounts?"), "fa-unlock")
    def unlock(self, items):
        from crm.extensions import db
        from crm.security import lockout

        for user in items if isinstance(items, list) else [items]:
            lockout.unlock(db.session, user.id)
        flash(gettext("The accounts are unlocked."), "info")
        return redirect(self.get_redirect())

    @action("lock", _l("Lock"), _l("Lock the selected accounts until an administrator unlocks them?"), "fa-lock")
    def lock(self, items):
        from crm.extensions import db
        from crm.security import lockout

        for user in items if isinstance(items, list) else [items]:
            lockout.lock(db.session, user.id)
        flash(gettext("The accounts are locked."), "info")
        return redirect(self.get_redirect())


class RoleModelView(NoFileDownload, fab.RoleModelView):
    """Roles."""


class UserGroupModelView(NoFileDownload, fab.UserGroupModelView):
    """Groups of staff accounts."""


class PermissionModelView(NoFileDownload, fab.PermissionModelView):
    """Base permissions."""


class ViewMenuModelView(NoFileDownload, fab.ViewMenuModelView):
    """Views and menus."""


class PermissionViewModelView(NoFileDownload, fab.PermissionViewModelView):
    """Permissions on views and menus."""


def _result_label(key):
    return str(LOGIN_RESULT_LABELS.get(key, key))


class LoginEventModelView(NoFileDownload, ModelView):
    """Every login attempt, for administrators; read only."""

    datamodel = SQLAInterface(LoginEvent)
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
    search_columns = ["occurred_at", "user", "result", "channel"]
    order_columns = ["occurred_at", "result"]
    base_order = ("occurred_at", "desc")
    formatters_columns = {"result": blank_if_none(_result_label)}


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
            .where(LoginEvent.user_id == g.user.id, LoginEvent.result != "success")
            .order_by(LoginEvent.occurred_at.desc())
            .limit(1)
        ).first()
        return self.render_template(
            "security/my_logins.html", title=_l("My logins"), recent=recent, last_failure=last_failure, label=_result_label
        )
