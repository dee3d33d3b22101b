"""The background tasks and their schedule (cron, UTC).

Each task calls the same service function as its CLI command (`dinamis quota
open-period`, `orders expire`, `reports remind`, `membership remind`,
`mail send`) and commits once. Every one is idempotent, so a tick deferred
twice, a retry or a manual run changes nothing more. A `lock` per task keeps
two workers from running the same task at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from procrastinate import JobContext, RetryStrategy
from sqlalchemy import CursorResult, text

from dinamis.core import dates
from dinamis.extensions import db
from dinamis.jobs.queue import jobs, run_job

# A daily task that fails is tried again after 1, 2 then 4 minutes.
RETRY = RetryStrategy(max_attempts=4, exponential_wait=60)


def day_of(timestamp: int) -> dt.date:
    """The scheme's date (DINAMIS_TIMEZONE, not the server's zone) of a periodic tick."""
    return dates.local_day(dt.datetime.fromtimestamp(timestamp, dt.UTC))


@dataclass(frozen=True)
class Schedule:
    task: str
    cron: str
    what: object  # lazy text: what the task does
    when: object  # lazy text: the cron in words


SCHEDULE = (
    Schedule(
        "open_periods",
        "5 0 * * *",
        _l(
            "Opens the year's and the quarter's allowances of every active entity (idempotent: "
            "on the first day of a period it grants them, on other days it checks nothing is "
            "missing)"
        ),
        _l("every day at 00:05 UTC"),
    ),
    Schedule(
        "expire_orders",
        "15 0 * * *",
        _l(
            "Expires orders whose acquisition window has passed and quotes past their "
            "validity (orders' and surface models'), releasing what they held"
        ),
        _l("every day at 00:15 UTC"),
    ),
    Schedule(
        "remind_memberships",
        "0 6 * * *",
        _l("Reminds Referents 60 and 15 days before their membership ends; marks expired ones"),
        _l("every day at 06:00 UTC"),
    ),
    Schedule(
        "remind_reports",
        "30 6 * * *",
        _l("Reminds authors of usage reports due within 14 days or overdue (weekly at most)"),
        _l("every day at 06:30 UTC"),
    ),
    Schedule(
        "remind_tokens",
        "0 7 * * *",
        _l("Reminds owners of API tokens about to expire (once per token)"),
        _l("every day at 07:00 UTC"),
    ),
    Schedule(
        "send_mail",
        "* * * * *",
        _l(
            "Tells requesters of their orders' new steps (e-mail, webhooks), then delivers the "
            "outbox's waiting e-mails and retries the failed ones"
        ),
        _l("every minute"),
    ),
    Schedule(
        "match_alerts",
        "* * * * *",
        _l("Matches the new scenes with the saved searches; sends the alerts asked at once"),
        _l("every minute"),
    ),
    Schedule(
        "alert_digests",
        "15 6 * * *",
        _l("Sends the daily digests of saved searches, and the weekly ones on Mondays"),
        _l("every day at 06:15 UTC"),
    ),
    Schedule(
        "send_webhooks",
        "* * * * *",
        _l("Posts the webhook events whose retry time has come"),
        _l("every minute"),
    ),
    Schedule(
        "recover_dsm",
        "* * * * *",
        _l(
            "Takes back surface-model computations whose worker stopped: computed again while "
            "attempts are left, else failed and their km² released"
        ),
        _l("every minute"),
    ),
    Schedule(
        "prune_jobs",
        "45 0 * * *",
        _l("Removes the record of jobs that succeeded more than 14 days ago"),
        _l("every day at 00:45 UTC"),
    ),
)
CRON = {s.task: s.cron for s in SCHEDULE}


@jobs.periodic(cron=CRON["open_periods"])
@jobs.task(name="open_periods", pass_context=True, lock="open_periods", retry=RETRY)
def open_periods(context: JobContext, timestamp: int, period: str | None = None) -> str:
    """Open the periods running on the tick's day (or `period` when given)."""
    from dinamis.quota import service

    def work() -> str:
        if period:
            opened = service.open_period(period)
        else:
            opened = service.open_current_periods(day_of(timestamp))
        return f"{sum(o.new for o in opened)} allowance(s) granted, {len(opened)} checked"

    return run_job(context, work)


@jobs.periodic(cron=CRON["expire_orders"])
@jobs.task(name="expire_orders", pass_context=True, lock="expire_orders", retry=RETRY)
def expire_orders(context: JobContext, timestamp: int) -> str:
    from dinamis.orders.cli import expire_all

    return run_job(context, lambda: expire_all(day_of(timestamp)))


@jobs.periodic(cron=CRON["remind_memberships"])
@jobs.task(name="remind_memberships", pass_context=True, lock="remind_memberships", retry=RETRY)
def remind_memberships(context: JobContext, timestamp: int) -> str:
    from dinamis.membership import entities

    return run_job(context, lambda: f"{len(entities.remind(day_of(timestamp)))} reminder(s) sent")


@jobs.periodic(cron=CRON["remind_reports"])
@jobs.task(name="remind_reports", pass_context=True, lock="remind_reports", retry=RETRY)
def remind_reports(context: JobContext, timestamp: int) -> str:
    from dinamis.reports import service

    return run_job(context, lambda: f"{service.remind(day_of(timestamp))} reminder(s) queued")


@jobs.periodic(cron=CRON["remind_tokens"])
@jobs.task(name="remind_tokens", pass_context=True, lock="remind_tokens", retry=RETRY)
def remind_tokens(context: JobContext, timestamp: int) -> str:
    from dinamis.accounts import service

    return run_job(context, lambda: f"{len(service.remind_expiring_tokens())} reminder(s) queued")


@jobs.periodic(cron=CRON["send_mail"])
@jobs.task(name="send_mail", pass_context=True, lock="send_mail", queueing_lock="send_mail")
def send_mail(context: JobContext, timestamp: int) -> str:
    from dinamis.core.mail import deliver_due

    return run_job(context, lambda: f"{deliver_due()} message(s) delivered")


_PRUNE = text(
    """
    DELETE FROM procrastinate_jobs AS j
    WHERE j.status = 'succeeded'
      AND NOT EXISTS (
        SELECT FROM procrastinate_events AS e
        WHERE e.job_id = j.id AND e.at > now() - make_interval(days => :days)
      )
    """
)


@jobs.periodic(cron=CRON["prune_jobs"])
@jobs.task(name="prune_jobs", pass_context=True, lock="prune_jobs")
def prune_jobs(context: JobContext, timestamp: int) -> str:
    def work() -> str:
        result = db.session.execute(_PRUNE, {"days": 14})
        removed = result.rowcount if isinstance(result, CursorResult) else 0
        return f"{removed} old job(s) removed"

    return run_job(context, work)


@jobs.periodic(cron=CRON["recover_dsm"])
@jobs.task(name="recover_dsm", pass_context=True, lock="recover_dsm", queueing_lock="recover_dsm")
def recover_dsm(context: JobContext, timestamp: int) -> str:
    from dinamis.dsm import service

    def work() -> str:
        found = service.recover_stalled()
        retried = sum(r.retried for r in found)
        return f"{retried} computation(s) retried, {len(found) - retried} failed"

    return run_job(context, work)


# The alerts' tasks are declared in their domain (scheduled above).
import dinamis.alerts.tasks  # noqa: E402
import dinamis.dsm.tasks  # noqa: E402  (compute_dsm: every process that queues knows it)
import dinamis.reports.tasks  # noqa: E402  (yearly_pdf)
import dinamis.webhooks.tasks  # noqa: E402, F401  (the webhook tasks: registered with these)
