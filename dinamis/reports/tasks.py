"""The job that makes a yearly PDF report (reports.documents)."""

from __future__ import annotations

from procrastinate import JobContext, RetryStrategy

from dinamis.jobs.queue import _app, jobs, record_failure
from dinamis.reports.documents import MAX_ATTEMPTS, TASK, AttemptFailed, make

# Each failed attempt (the error kept for staff) is tried again 20 s later, up to
# MAX_ATTEMPTS in all (counted on the document: `documents.fail`).
RETRY = RetryStrategy(max_attempts=MAX_ATTEMPTS, wait=20, retry_exceptions={AttemptFailed})


@jobs.task(name=TASK, pass_context=True, retry=RETRY)
def yearly_pdf(context: JobContext, document_id: int) -> str:
    """Make the asked-for yearly PDF (see reports.documents)."""
    with _app().app_context():
        try:
            return make(document_id, context.job.id)
        except Exception as exc:
            record_failure(context, exc)
            raise
