"""Scheduled work, run by the workers of the job queue (times in UTC, the queue's clock).

Each task is a plain function of a service module, so a command or a test can run
it too; here it only gets its time. Huey's scheduler runs in every worker
process, so with several processes a task is enqueued once by each. The purges
do their work once (what was purged is gone); a deadline reminder is recorded
before it is sent, and its unique key lets one run send it; the weekly retention
list is claimed in the queue's store for its week, so the officers get it once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from flask import Flask
from huey import crontab

log = logging.getLogger(__name__)


def _purge_uploads(app: Flask) -> None:
    from crm.imports.uploads import purge_expired

    purge_expired(app.instance_path)


def _deadline_reminders(app: Flask) -> None:
    from crm.extensions import db
    from crm.gdpr.reminders import send_due_reminders

    send_due_reminders(db.session)


def _purge_records(app: Flask) -> None:
    from crm.accountability.service import purge_read_log
    from crm.extensions import db
    from crm.jobs.service import purge_finished
    from crm.security.lockout import purge_login_events
    from crm.security.sessions import purge_sessions

    purge_login_events(db.session)
    purge_sessions(db.session)
    purge_read_log(db.session)
    purge_finished(db.session)


def _retention_list(app: Flask) -> None:
    from crm.extensions import db
    from crm.gdpr.reminders import send_retention_list

    send_retention_list(db.session)


def _this_week() -> str:
    year, week, _day = datetime.now(timezone.utc).isocalendar()
    return f"{year}-W{week:02d}"


#: name -> (when, what, the period it is done once in; None: done by every run)
SCHEDULE = {
    "purge-uploads": (crontab(minute="7"), _purge_uploads, None),
    "deadline-reminders": (crontab(hour="6", minute="0"), _deadline_reminders, None),
    "purge-records": (crontab(hour="2", minute="30"), _purge_records, None),
    "retention-list": (crontab(day_of_week="1", hour="6", minute="15"), _retention_list, _this_week),
}


def init_schedule(app: Flask, queue) -> dict:
    """Register each scheduled task on the queue; returns them by name (calling one enqueues it now)."""
    tasks = {}
    for name, (when, work, period) in SCHEDULE.items():

        def run(work=work, name=name, period=period):
            if period is not None and not queue.put_if_empty(f"kartoteka.done.{name}.{period()}", True):
                log.info("scheduled work %s already done in this period", name)
                return
            with app.app_context():
                log.info("scheduled work %s", name)
                work(app)

        tasks[name] = queue.periodic_task(when, name=f"kartoteka.{name}")(run)
    return tasks
