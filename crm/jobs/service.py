"""Starting, running and following jobs.

A job's row is claimed by one worker with a conditional update (queued ->
running), so a message delivered twice, or seen by two workers, runs once. The
kind's handler writes in one transaction, and the job is marked done in that
same transaction, again only while it is still "running": if its worker was
taken for dead meanwhile, the work is rolled back, not half-kept. While it runs,
the worker records its progress and a heartbeat every few seconds in the
queue's store (not the database, whose write lock the job may be holding). A
running job whose heartbeat stops is marked failed (its worker was killed or
restarted); its transaction died with the worker's connection.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import timedelta
from dataclasses import dataclass, field
from typing import Callable

from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, update

from crm.extensions import db
from crm.jobs import queue
from crm.jobs.models import DONE, FAILED, QUEUED, RUNNING, Job
from crm.timeutil import utcnow

log = logging.getLogger(__name__)

#: seconds between heartbeats of a running job
BEAT_SECONDS = 2
FAILED_MESSAGE = _l("The job stopped because of an error; nothing was written. Try again, or tell the administrator.")
QUEUE_DOWN_MESSAGE = _l("The job could not be started: the job queue does not answer. Nothing was written; try again later.")
STOPPED_MESSAGE = _l("The worker running the job stopped (it was restarted or killed); nothing was written. Start it again.")


class JobRefused(ValueError):
    """The job cannot do what was asked; nothing was written and the message says why (the report, what it found)."""

    def __init__(self, message: str, report: dict | None = None):
        super().__init__(message)
        self.report = report


class JobLost(RuntimeError):
    """The job was marked failed while it ran (its heartbeat stopped): its work is rolled back."""


@dataclass(frozen=True)
class Handler:
    """One kind of job: ``work(session, job, progress)`` writes (without committing) and returns a report
    (JSON-able); ``then(job)`` runs once the work is committed."""

    work: Callable
    then: Callable = lambda job: None


HANDLERS: dict[str, Handler] = {}


def handler(kind: str, then: Callable = lambda job: None):
    """Register the function that does one kind of job."""

    def register(function):
        HANDLERS[kind] = Handler(function, then)
        return function

    return register


def start(kind: str, params: dict, user, language: str, total: int = 0) -> Job:
    """Record a job and put it on the queue; returns it (already finished in immediate mode)."""
    job = Job(kind=kind, params=json.dumps(params), started_by_id=user.id, language=language, total=total, status=QUEUED)
    db.session.add(job)
    db.session.commit()
    try:
        queue.send(job.id)
    except Exception:  # noqa: BLE001 - the queue's store is unreachable: the job cannot start, and says so
        log.exception("job %s could not be put on the queue", job.id)
        _fail(job.id, str(QUEUE_DOWN_MESSAGE))
    db.session.refresh(job)
    return job


def _progress_key(job_id: int) -> str:
    return f"job-progress:{job_id}"


@dataclass
class Progress:
    """What a running job reports: its step, rows done and failed out of a total, and a heartbeat."""

    job_id: int
    total: int = 0
    done: int = 0
    failed: int = 0
    #: a key of STEP_LABELS (crm.jobs.views)
    step: str = ""
    #: when the step began (time left is estimated from the step's own pace)
    began: float = field(default_factory=time.time)

    def record(self) -> None:
        payload = {"total": self.total, "done": self.done, "failed": self.failed, "step": self.step,
                   "began": self.began, "beat": time.time()}
        queue.queue().put(_progress_key(self.job_id), payload)

    def begin(self, step: str, total: int) -> None:
        """Start a step over ``total`` rows (counts start again)."""
        self.step, self.total, self.done, self.failed, self.began = step, total, 0, 0, time.time()

    def advance(self, done: int = 0, failed: int = 0) -> None:
        """Count rows finished (callers count in batches: each is recorded at once)."""
        self.done += done
        self.failed += failed
        self.record()


def recorded(job_id: int) -> dict | None:
    """What a running job last recorded in the queue's store (steps, counts, heartbeat), if anything."""
    return queue.queue().get(_progress_key(job_id), peek=True)


def _claim(job_id: int) -> bool:
    claimed = db.session.execute(
        update(Job).where(Job.id == job_id, Job.status == QUEUED).values(status=RUNNING, started_at=utcnow())
    ).rowcount
    db.session.commit()
    return claimed == 1


def _beating(progress: Progress, stop: threading.Event, app) -> None:
    with app.app_context():
        while not stop.wait(BEAT_SECONDS):
            progress.record()


def run(job_id: int) -> None:
    """Run one job to its end (done or failed), if no one else has claimed it."""
    if not _claim(job_id):
        log.info("job %s was already claimed", job_id)
        return
    job = db.session.get(Job, job_id)
    progress = Progress(job_id, total=job.total)
    progress.record()
    stop = threading.Event()
    beat = threading.Thread(target=_beating, args=(progress, stop, current_app._get_current_object()), daemon=True)
    beat.start()
    try:
        kind = HANDLERS[job.kind]
        with force_locale(job.language):
            report = kind.work(db.session, job, progress)
            _finish(job_id, progress, report)
        kind.then(job)
    except Exception as error:  # noqa: BLE001 - every failure ends the job, and is told to its starter
        db.session.rollback()
        if isinstance(error, JobLost):
            return
        if isinstance(error, JobRefused):
            _fail(job_id, str(error), error.report)
        else:
            log.exception("job %s (%s) failed", job_id, job.kind)
            with force_locale(job.language):
                _fail(job_id, str(FAILED_MESSAGE))
    finally:
        stop.set()
        beat.join()
        queue.queue().delete(_progress_key(job_id))


def _finish(job_id: int, progress: Progress, report: dict) -> None:
    finished = db.session.execute(
        update(Job).where(Job.id == job_id, Job.status == RUNNING).values(
            status=DONE, finished_at=utcnow(), done=progress.done, failed=progress.failed,
            total=max(progress.total, progress.done + progress.failed), report=json.dumps(report),
        )
    ).rowcount
    if finished != 1:
        raise JobLost(job_id)
    db.session.commit()


def _fail(job_id: int, message: str, report: dict | None = None) -> None:
    values = {"status": FAILED, "finished_at": utcnow(), "error": message, "done": 0}
    if report is not None:
        values["report"] = json.dumps(report)
    db.session.execute(update(Job).where(Job.id == job_id, Job.status.in_((QUEUED, RUNNING))).values(**values))
    db.session.commit()


def live(job: Job) -> dict:
    """The job's state for its page: from the queue's record while it runs, else from its row.

    A running job whose heartbeat is older than ``CRM_JOB_STALE_SECONDS`` is marked failed here.
    """
    state = {"status": job.status, "total": job.total, "done": job.done, "failed": job.failed}
    if job.status != RUNNING:
        return state
    record = recorded(job.id)
    beat = record["beat"] if record else (job.started_at - utcnow()).total_seconds() + time.time()
    if time.time() - beat > current_app.config["CRM_JOB_STALE_SECONDS"]:
        with force_locale(job.language):
            _fail(job.id, str(STOPPED_MESSAGE))
        db.session.refresh(job)
        return live(job)
    if record:
        state.update(total=record["total"], done=record["done"], failed=record["failed"], step=record["step"])
    finished = state["done"] + state["failed"]
    if record and finished and state["total"] > finished:
        elapsed = time.time() - record["began"]
        state["seconds_left"] = round(elapsed / finished * (state["total"] - finished))
    return state


def fail_abandoned() -> int:
    """Mark failed every running job whose heartbeat stopped (a worker starting up calls this); returns how many."""
    running = db.session.scalars(db.select(Job).where(Job.status == RUNNING)).all()
    return sum(1 for job in running if live(job)["status"] == FAILED)


def purge_finished(session, now=None) -> int:
    """Delete jobs that ended more than ``CRM_JOB_KEEP_DAYS`` ago (their reports with them); returns how many."""
    cutoff = (now or utcnow()) - timedelta(days=int(current_app.config["CRM_JOB_KEEP_DAYS"]))
    removed = session.execute(delete(Job).where(Job.status.in_((DONE, FAILED)), Job.finished_at < cutoff)).rowcount
    session.commit()
    return removed


def owned(job_id: int | None, user) -> Job | None:
    """The job, if ``user`` started it: a job is seen by its starter only."""
    job = db.session.get(Job, job_id) if job_id else None
    return job if job is not None and job.started_by_id == user.id else None


def report(job: Job) -> dict:
    return json.loads(job.report) if job.report else {}


def params(job: Job) -> dict:
    return json.loads(job.params)
