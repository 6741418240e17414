"""The queue jobs travel on (Huey): a SQLite file beside the database, or Redis in scale-out.

``CRM_QUEUE_URL`` chooses it: unset, a SQLite file in the instance folder
(``flask crm worker`` runs the jobs, ``make run`` starts it beside the server);
``redis://...`` for several servers and workers; ``immediate://`` runs each job
inside the request that starts it (one process, no worker: the test suite).
A message carries a job's id only; the job's row says what to do.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

from flask import Flask, current_app
from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey

EXTENSION = "crm.jobs"


@dataclass
class Jobs:
    """The app's queue, the task every job runs through, and the scheduled tasks by name."""

    queue: Huey
    run_job: Callable
    scheduled: dict[str, Callable] = field(default_factory=dict)


def build_queue(app: Flask):
    """The Huey instance the app's settings ask for."""
    url = app.config.get("CRM_QUEUE_URL") or ""
    name = app.config["CRM_QUEUE_NAME"]
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey(name, url=url)
    if url == "immediate://":
        return MemoryHuey(name, immediate=True)
    if url and not url.startswith("sqlite:///"):
        raise ValueError("CRM_QUEUE_URL must be redis://..., sqlite:///FILE or immediate://")
    path = url.removeprefix("sqlite:///") or os.path.join(app.instance_path, "queue.sqlite3")
    return SqliteHuey(name, filename=path)


def init_jobs(app: Flask) -> None:
    """Open the queue and register the task every job runs through."""
    import crm.imports.jobs  # noqa: F401  (registers its kind of job)
    from crm.jobs import service
    from crm.jobs.schedule import init_schedule

    queue = build_queue(app)

    @queue.task(name="kartoteka.run_job")
    def run_job(job_id: int) -> None:
        with app.app_context():
            service.run(job_id)

    app.extensions[EXTENSION] = Jobs(queue, run_job, init_schedule(app, queue))


def jobs() -> Jobs:
    return current_app.extensions[EXTENSION]


def queue() -> Huey:
    """The current app's Huey instance (for progress records and the worker)."""
    return jobs().queue


def send(job_id: int) -> None:
    """Put a job on the queue (in immediate mode: run it now)."""
    jobs().run_job(job_id)
