"""A person's jobs: the list of theirs, each one's page with a progress bar, and its progress as JSON."""

from __future__ import annotations

from flask import g, jsonify
from flask_appbuilder import BaseView, expose, has_access, permission_name
from flask_babel import lazy_gettext as _l

from crm.errors import refusal
from crm.extensions import db
from crm.jobs import service
from crm.jobs.models import FINISHED, Job

NO_SUCH_JOB_MESSAGE = _l("There is no such job among yours.")
KIND_LABELS = {"import": _l("Import of clients")}
STATUS_LABELS = {
    "queued": _l("waiting for a worker"), "running": _l("running"), "done": _l("finished"), "failed": _l("failed"),
}
STEP_LABELS = {"check": _l("Checking rows"), "write": _l("Writing clients")}
#: jobs shown on the list
LISTED = 50


def own_job(pk: int) -> Job:
    """The signed-in person's job (404 for another's: they may not learn it exists)."""
    job = service.owned(pk, g.user)
    if job is None:
        raise refusal(404, NO_SUCH_JOB_MESSAGE)
    return job


class JobView(BaseView):
    """Jobs a person started: their progress, and their result kept for them."""

    route_base = "/jobs"
    default_view = "mine"
    class_permission_name = "JobView"

    @expose("/")
    @has_access
    @permission_name("show")
    def mine(self):
        jobs = db.session.scalars(
            db.select(Job).where(Job.started_by_id == g.user.id).order_by(Job.id.desc()).limit(LISTED)
        ).all()
        return self.render_template("jobs/list.html", title=_l("My jobs"), jobs=jobs, kinds=KIND_LABELS,
                                    statuses=STATUS_LABELS)

    @expose("/<int:pk>")
    @has_access
    @permission_name("show")
    def show(self, pk):
        job = own_job(pk)
        state = service.live(job)
        return self.render_template(
            "jobs/show.html", title=KIND_LABELS.get(job.kind, job.kind), job=job, state=state,
            finished=job.status in FINISHED, report=service.report(job), params=service.params(job),
            statuses=STATUS_LABELS, steps=STEP_LABELS,
        )

    @expose("/<int:pk>/progress")
    @has_access
    @permission_name("show")
    def progress(self, pk):
        state = service.live(own_job(pk))
        state.update(finished=state["status"] in FINISHED, status_label=str(STATUS_LABELS[state["status"]]),
                     step_label=str(STEP_LABELS.get(state.get("step"), "")))
        return jsonify(state)
