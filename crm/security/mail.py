"""Email to staff and to the persons a breach affected, through the SMTP server the settings name (none: nothing is sent)."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from flask import current_app, has_request_context, url_for

log = logging.getLogger(__name__)


def send_mail(recipient: str, subject: str, body: str) -> bool:
    """Send one plain-text email; False when no SMTP host is configured or sending fails."""
    host = current_app.config.get("CRM_SMTP_HOST")
    if not host:
        return False
    message = EmailMessage()
    message["From"] = current_app.config["CRM_MAIL_FROM"]
    message["To"] = recipient
    message["Subject"] = subject
    message.set_content(body)
    try:
        with smtplib.SMTP(host, int(current_app.config["CRM_SMTP_PORT"]), timeout=10) as smtp:
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        log.warning("email not sent: %s", type(error).__name__)
        return False
    return True


def public_url(endpoint: str, **values) -> str | None:
    """A screen's address for an email: under CRM_PUBLIC_URL when set (never a Host header someone sent).

    Without it, the address the current request came to; outside a request (a worker knows no
    host) None, and the email says where to find the screen instead.
    """
    base = current_app.config.get("CRM_PUBLIC_URL")
    if not has_request_context():
        if not base:
            return None
        with current_app.test_request_context():
            return public_url(endpoint, **values)
    if base:
        return base.rstrip("/") + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values)
