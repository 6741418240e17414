"""The public pages: no staff account; every answer the same whatever is held; tokens only in addresses."""

from __future__ import annotations

from flask import Response, current_app, render_template, request, url_for
from flask_appbuilder import BaseView, expose
from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Optional

from crm.accountability import reads
from crm.extensions import db
from crm.gdpr.choices import REQUEST_KIND_LABELS, REQUEST_STATUS_LABELS
from crm.privacy.crypto import blind_index
from crm.public import handover, service
from crm.security.mail import public_url, send_mail


class RequestForm(FlaskForm):
    kind = SelectField(_l("What do you ask for?"), choices=list(REQUEST_KIND_LABELS.items()), validators=[DataRequired()])
    email = EmailField(_l("Your email address"), validators=[DataRequired(), Email(), Length(max=254)])
    phone = StringField(_l("Phone number (optional)"), validators=[Optional(), Length(max=30)])
    text = TextAreaField(_l("Anything we should know (optional)"), validators=[Optional(), Length(max=2000)])


def unsubscribe_link(subscription_id: int, client_id: int, mailing_list_id: int) -> str:
    """The one-click unsubscribe address of one subscription, for the mailing tool's List-Unsubscribe header."""
    return public_url("PublicView.unsubscribe", token=service.unsubscribe_token(subscription_id, client_id, mailing_list_id))


def send_handover_link(email: str, token: str, language: str) -> bool:
    """Email the person the link to their export, in their language; False when it could not be sent."""
    with force_locale(language):
        body = render_template(
            "public/handover_email.txt", link=public_url("PublicView.download_page", token=token),
            days=current_app.config["CRM_HANDOVER_DAYS"],
        )
        return send_mail(email, gettext("Your personal data: a link to download them"), body)


def message_target_key() -> str:
    """The rate-limit key of the address a form asks to write to: a keyed hash, never the address."""
    return "to:" + (blind_index(request.form.get("email", ""), "email", "email") or "none")


class PublicView(BaseView):
    """The person's side: ask, verify by email, follow the request, leave a mailing list."""

    route_base = "/privacy"
    default_view = "request_form"

    @expose("/request", methods=["GET", "POST"])
    def request_form(self):
        """The request form; a valid one always answers the same, whether or not anything is held."""
        form = RequestForm()
        if not form.validate_on_submit():
            status = 422 if request.method == "POST" else 200
            return self.render_template("public/request.html", form=form, title=_l("Your personal data")), status
        token = service.submit(db.session, form.kind.data, form.email.data, form.phone.data, form.text.data)
        body = render_template(
            "public/verify_email.txt", link=public_url("PublicView.verify_page", token=token),
            kind=REQUEST_KIND_LABELS[form.kind.data], hours=current_app.config["CRM_PUBLIC_LINK_HOURS"],
        )
        send_mail(form.email.data, gettext("Confirm your request about your personal data"), body)
        return self.render_template("public/sent.html", title=_l("Your personal data"))

    @expose("/verify/<token>", methods=["GET"])
    def verify_page(self, token):
        """Ask to confirm: mail scanners open links, and opening alone must not register anything."""
        if service.pending(db.session, token) is None:
            return self._invalid(service.LINK_EXPIRED_MESSAGE, 410)
        return self.render_template("public/verify.html", token=token, title=_l("Confirm your request"))

    @expose("/verify/<token>", methods=["POST"])
    def verify(self, token):
        status_token = service.verify(db.session, token)
        if status_token is None:
            return self._invalid(service.LINK_EXPIRED_MESSAGE, 410)
        return self.render_template(
            "public/verified.html", title=_l("Your request is registered"),
            status_link=url_for("PublicView.status", token=status_token),
        )

    @expose("/status/<token>")
    def status(self, token):
        """The course of the request: received, due, done; no personal data."""
        found = service.status_of(db.session, token)
        if found is None:
            return self._invalid(service.UNKNOWN_LINK_MESSAGE, 404)
        return self.render_template(
            "public/status.html", title=_l("Your request"), requests=found, kinds=REQUEST_KIND_LABELS,
            statuses=REQUEST_STATUS_LABELS,
        )

    @expose("/unsubscribe/<token>", methods=["GET"])
    def unsubscribe_page(self, token):
        subscription = service.subscription_of(db.session, token)
        if subscription is None:
            return self._invalid(service.UNKNOWN_LINK_MESSAGE, 404)
        return self.render_template(
            "public/unsubscribe.html", token=token, list_name=subscription.mailing_list.name,
            title=_l("Leave a mailing list"),
        )

    @expose("/unsubscribe/<token>", methods=["POST"])
    def unsubscribe(self, token):
        """One click (RFC 8058: mail programs post ``List-Unsubscribe=One-Click`` here, without a form)."""
        subscription = service.subscription_of(db.session, token)
        if subscription is None:
            return self._invalid(service.UNKNOWN_LINK_MESSAGE, 404)
        list_name = service.unsubscribe(db.session, subscription)
        return self.render_template("public/unsubscribed.html", list_name=list_name, title=_l("Leave a mailing list"))

    @expose("/download/<token>", methods=["GET"])
    def download_page(self, token):
        """Ask for the code the person received another way (phone, letter)."""
        if handover.waiting(db.session, token) is None:
            return self._invalid(service.LINK_EXPIRED_MESSAGE, 410)
        return self.render_template("public/download.html", token=token, title=_l("Your personal data"))

    @expose("/download/<token>", methods=["POST"])
    def download(self, token):
        """The export, made now from the person's current data, for the right code; recorded as the request's export."""
        try:
            made = handover.download(db.session, token, request.form.get("code", ""))
        except handover.HandoverError as error:
            if not str(error):
                return self._invalid(service.LINK_EXPIRED_MESSAGE, 410)
            return self.render_template(
                "public/download.html", token=token, title=_l("Your personal data"), error=str(error),
            ), 403
        reads.note("export", [made.client_id])
        return Response(made.body, mimetype="application/zip", headers={
            "Content-Disposition": "attachment; filename=moje-dane.zip",
        })

    def _invalid(self, message, status):
        return self.render_template("public/invalid.html", message=message, title=_l("Your personal data")), status


def init_public_pages(app, appbuilder) -> None:
    """Rate limits of the public pages (per network address, and per email address written to) and the one-click POST."""
    from crm.extensions import csrf

    limiter = appbuilder.sm.limiter
    limiter.limit(lambda: app.config["CRM_PUBLIC_RATE_LIMIT"], methods=["POST"])(app.blueprints["PublicView"])
    limiter.limit(lambda: app.config["CRM_PUBLIC_PAGE_RATE_LIMIT"], methods=["GET"], scope="public-pages")(
        app.blueprints["PublicView"])
    # the view FAB registered is replaced by the limited one (a decorated copy alone would never be called);
    # the per-address limit of the blueprint still applies (override_defaults=False)
    endpoint = "PublicView.request_form"
    app.view_functions[endpoint] = limiter.limit(
        lambda: app.config["CRM_PUBLIC_MESSAGES_PER_ADDRESS"], key_func=message_target_key, methods=["POST"],
        scope="public-messages", override_defaults=False,
    )(app.view_functions[endpoint])
    # a mail program's one-click POST carries no form token: the signed link is the credential
    csrf.exempt(f"{PublicView.__module__}.{PublicView.unsubscribe.__name__}")
