"""The staff's scheduler page: scheduled tasks, their runs and failures, the workers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request, url_for
from flask_babel import gettext as _

from dinamis.accounts.forms import PostForm
from dinamis.core.permissions import current_account, requires
from dinamis.core.web import act_then
from dinamis.jobs import service
from dinamis.jobs.permissions import can_view_jobs
from dinamis.jobs.tasks import SCHEDULE

bp = Blueprint("jobs", __name__, url_prefix="/admin/jobs")


@bp.route("/")
@requires(can_view_jobs)
def index(status: int = 200) -> Any:
    """The scheduler page (`status`: a refused action's, showing the page again)."""
    task = request.args.get("task") or None
    if task is not None and task not in {s.task for s in SCHEDULE}:
        abort(404)
    return (
        render_template(
            "jobs/index.html",
            tasks=service.scheduled_tasks(),
            jobs=service.recent_jobs(task),
            workers=service.live_workers(),
            task=task,
            form=PostForm(formdata=None),
        ),
        status,
    )


@bp.route("/<task>/run", methods=["POST"])
@requires(can_view_jobs)
def run_now(task: str) -> Any:
    def run() -> str:
        job_id = service.run_now(current_account(), task)
        return _("Job %(id)s queued: a worker runs it shortly.", id=job_id)

    return act_then(run, url_for("jobs.index"), index)
