"""The alerts' background tasks (declared on the one queue, scheduled in jobs.tasks).

`match_alerts` runs every minute: it matches the scenes added since its last run
(the trigger's batches) with the saved searches, then writes the messages of the
searches that ask to be told at once. `alert_digests` runs every morning: the
daily digests, and on Mondays the weekly ones. Neither runs in an ingest's or a
request's transaction; each commits once, so a worker that dies half-way leaves
the batches, matches and notices as they were, and a retry does the rest.
"""

from __future__ import annotations

from procrastinate import JobContext

from dinamis.jobs.queue import jobs, run_job
from dinamis.jobs.tasks import CRON, RETRY, day_of

# The tasks that write notices take the same lock: one writer at a time.
LOCK = "alerts"


@jobs.periodic(cron=CRON["match_alerts"])
@jobs.task(name="match_alerts", pass_context=True, lock=LOCK, queueing_lock="match_alerts")
def match_alerts(context: JobContext, timestamp: int) -> str:
    from dinamis.alerts import service
    from dinamis.alerts.models import Frequency

    def work() -> str:
        matched = service.match_new_scenes()
        told = service.prepare(Frequency.AT_ONCE, day_of(timestamp))
        return f"{matched} match(es), {told} message(s) at once"

    return run_job(context, work)


@jobs.periodic(cron=CRON["alert_digests"])
@jobs.task(name="alert_digests", pass_context=True, lock=LOCK, retry=RETRY)
def alert_digests(context: JobContext, timestamp: int) -> str:
    from dinamis.alerts import service
    from dinamis.alerts.models import Frequency

    def work() -> str:
        day = day_of(timestamp)
        daily = service.prepare(Frequency.DAILY, day)
        weekly = service.prepare(Frequency.WEEKLY, day) if day.isoweekday() == 1 else 0
        return f"{daily} daily and {weekly} weekly digest(s)"

    return run_job(context, work)
