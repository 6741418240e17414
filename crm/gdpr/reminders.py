"""Emails the scheduled work sends to staff (crm/jobs/schedule.py): deadlines near, the retention list.

A request's handler is reminded 7 and 2 days before its deadline, once each; a
reminder not sent on its day (no worker that day) goes at the next run. A
request with no handler reminds the data protection officers, who also get the
weekly count of clients past the retention period. The emails name requests by
number, kind and deadline, never a person.
"""

from __future__ import annotations

from flask import current_app, url_for
from flask_appbuilder.security.sqla.models import Role, User
from flask_babel import force_locale, gettext
from sqlalchemy import select

from crm.gdpr.choices import OPEN_STATUSES, REQUEST_KIND_LABELS
from crm.gdpr.models import DataSubjectRequest, DeadlineReminder
from crm.security.mail import send_mail
from crm.security.roles import DATA_PROTECTION_OFFICER
from crm.timeutil import office_today, shown_time

#: days before the deadline, the earliest first
DAYS_BEFORE = (7, 2)


def _officers(session) -> list[str]:
    officers = session.scalars(select(User).join(User.roles).where(Role.name == DATA_PROTECTION_OFFICER, User.active))
    return sorted({officer.email for officer in officers})


def _recipients(session, request: DataSubjectRequest) -> list[str]:
    if request.handler is not None and request.handler.active:
        return [request.handler.email]
    return _officers(session)


def _link(endpoint: str, where, **values) -> str:
    """The screen's address under CRM_PUBLIC_URL; without it (a worker knows no host), where to find it."""
    base = current_app.config.get("CRM_PUBLIC_URL")
    if not base:
        return str(where)
    with current_app.test_request_context():
        return base.rstrip("/") + url_for(endpoint, **values)


def send_due_reminders(session, today=None) -> int:
    """Email each open request's handler once its deadline is 7, then 2, days away or less; returns emails sent."""
    today = today or office_today()
    sent = 0
    requests = session.scalars(select(DataSubjectRequest).where(DataSubjectRequest.status.in_(OPEN_STATUSES))).all()
    done = set(session.execute(select(DeadlineReminder.request_id, DeadlineReminder.days)).all())
    for request in requests:
        left = (request.deadline - today).days
        due = [days for days in DAYS_BEFORE if left <= days and (request.id, days) not in done]
        if not due:
            continue
        with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
            where = gettext("In Kartoteka: Data protection, Data-subject requests, no. %(id)d.", id=request.id)
            subject = gettext("Kartoteka: request no. %(id)d, days to its deadline: %(days)d", id=request.id,
                              days=max(left, 0))
            body = gettext(
                "Request no. %(id)d (%(kind)s) must be answered by %(deadline)s (days left: %(days)d).\n\n%(link)s\n",
                id=request.id, kind=REQUEST_KIND_LABELS[request.kind], deadline=shown_time(request.deadline),
                days=max(left, 0), link=_link("DataSubjectRequestModelView.show", where, pk=request.id),
            )
        recipients = _recipients(session, request)
        if recipients and all(send_mail(recipient, subject, body) for recipient in recipients):
            # the nearer threshold covers the farther one: a request found 2 days before is not reminded twice
            session.add_all(DeadlineReminder(request_id=request.id, days=days) for days in due)
            session.commit()
            sent += len(recipients)
    return sent


def send_retention_list(session) -> int:
    """Tell the data protection officers how many clients are past the retention period; returns emails sent."""
    from crm.gdpr.service import retention_candidates

    years = int(current_app.config["CRM_RETENTION_INACTIVE_YEARS"])
    count = len(retention_candidates(session, years))
    if not count:
        return 0
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        where = gettext("In Kartoteka: Data protection, Retention.")
        subject = gettext("Kartoteka: clients past the retention period: %(count)d", count=count)
        body = gettext(
            "Clients with no activity for %(years)d years: %(count)d. Review them and erase those whose data "
            "is no longer needed.\n\n%(link)s\n",
            count=count, years=years, link=_link("GdprView.retention", where),
        )
    return sum(send_mail(officer, subject, body) for officer in _officers(session))
