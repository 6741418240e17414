"""Emails the scheduled work sends to staff (crm/jobs/schedule.py): deadlines near, the retention list.

A request's handler is reminded 7 and 2 days before its deadline, once each; a
reminder not sent on its day (no worker that day) goes at the next run. A
request with no handler reminds the data protection officers, who also get the
weekly count of clients past the retention period. The emails name requests by
number, kind and deadline, never a person.
"""

from __future__ import annotations

from flask import current_app
from flask_appbuilder.security.sqla.models import Group, User
from flask_babel import force_locale, gettext
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from crm.gdpr.choices import OPEN_STATUSES, REQUEST_KIND_LABELS
from crm.gdpr.models import DataSubjectRequest, DeadlineReminder
from crm.security.grants import account_roles
from crm.security.mail import public_url, send_mail
from crm.security.roles import DATA_PROTECTION_OFFICER
from crm.timeutil import office_today, shown_time

#: days before the deadline, the earliest first
DAYS_BEFORE = (7, 2)


def _officers(session) -> list[str]:
    """The addresses of the active accounts holding the officer's role, their own or a group's."""
    active = session.scalars(select(User).where(User.active).options(
        selectinload(User.roles), selectinload(User.groups).selectinload(Group.roles)))
    return sorted({user.email for user in active
                   if any(role.name == DATA_PROTECTION_OFFICER for role in account_roles(user))})


def _link(endpoint: str, where, **values) -> str:
    """The screen's address under CRM_PUBLIC_URL; without it, where to find the screen."""
    return public_url(endpoint, **values) or str(where)


def _reminder(request: DataSubjectRequest, left: int) -> tuple[str, str]:
    """The subject and body of one reminder, in the office's language."""
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        where = gettext("In Kartoteka: Data protection, Data-subject requests, no. %(id)d.", id=request.id)
        subject = gettext("Kartoteka: request no. %(id)d, days to its deadline: %(days)d", id=request.id,
                          days=max(left, 0))
        body = gettext(
            "Request no. %(id)d (%(kind)s) must be answered by %(deadline)s (days left: %(days)d).\n\n%(link)s\n",
            id=request.id, kind=REQUEST_KIND_LABELS[request.kind], deadline=shown_time(request.deadline),
            days=max(left, 0), link=_link("DataSubjectRequestModelView.show", where, pk=request.id),
        )
    return subject, body


def _claim(session, request_id: int, due: list[int]) -> bool:
    """Record the reminders before sending them: the unique key lets one of several runs at once send."""
    session.add_all(DeadlineReminder(request_id=request_id, days=days) for days in due)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return True


def send_due_reminders(session, today=None) -> int:
    """Email each open request's handler once its deadline is 7, then 2, days away or less; returns emails sent."""
    today = today or office_today()
    requests = session.scalars(
        select(DataSubjectRequest).options(selectinload(DataSubjectRequest.handler))
        .where(DataSubjectRequest.status.in_(OPEN_STATUSES))
    ).all()
    done = set(session.execute(select(DeadlineReminder.request_id, DeadlineReminder.days)).all())
    officers = None
    reminders = []
    for request in requests:
        left = (request.deadline - today).days
        # the nearer threshold covers the farther one: a request found 2 days before is not reminded twice
        due = [days for days in DAYS_BEFORE if left <= days and (request.id, days) not in done]
        if not due:
            continue
        if request.handler is not None and request.handler.active:
            recipients = [request.handler.email]
        else:
            officers = _officers(session) if officers is None else officers
            recipients = officers
        if recipients:
            reminders.append((request.id, due, recipients, *_reminder(request, left)))
    sent = 0
    for request_id, due, recipients, subject, body in reminders:
        if not _claim(session, request_id, due):
            continue
        if all(send_mail(recipient, subject, body) for recipient in recipients):
            sent += len(recipients)
            continue
        # not sent: forget the record, so that the next run tries again
        session.execute(delete(DeadlineReminder).where(
            DeadlineReminder.request_id == request_id, DeadlineReminder.days.in_(due)))
        session.commit()
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
