"""The webhook jobs: post one event after its transaction commits; retry what is due."""

from __future__ import annotations

from procrastinate import JobContext

from dinamis.jobs.queue import jobs, run_job
from dinamis.jobs.tasks import CRON


@jobs.task(name="deliver_webhook", pass_context=True)
def deliver_webhook(context: JobContext, delivery_id: int) -> str:
    """Queued with the event (`service.enqueue`): its first attempt, at once."""
    from dinamis.webhooks import service

    return run_job(context, lambda: f"event {delivery_id}: {service.deliver(delivery_id)}")


@jobs.periodic(cron=CRON["send_webhooks"])
@jobs.task(
    name="send_webhooks", pass_context=True, lock="send_webhooks", queueing_lock="send_webhooks"
)
def send_webhooks(context: JobContext, timestamp: int) -> str:
    """Every minute: the events whose retry time has come (and any whose job was lost)."""
    from dinamis.webhooks import service

    return run_job(context, lambda: f"{service.deliver_due()} webhook event(s) delivered")
