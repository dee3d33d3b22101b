"""Order events on the webhook channel: a member's orders and surface models moving.

`order_changed` writes one event per webhook of the requester that carries
order events (the webhook channel, chosen per webhook), posted once its
transaction commits. A step of an order or of a surface-model request is told
after the commit that took it, with its e-mail, from the step as recorded
(each domain's `tell_steps`, run by the outbox worker: `core.mail.tell_each`).
Each domain mails its own requester (the e-mail channel, always on: it is the
record of the order).

Status names follow STAPI's order status codes (`received`, `accepted`,
`rejected`, `processing`, `completed`, `canceled`, `user_canceled`,
`expired`, `failed`); the Dinamis state is given beside them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy.orm import Session

from dinamis import config
from dinamis.dsm.models import DsmRequest
from dinamis.orders.models import Delivery, Order
from dinamis.webhooks.service import active_webhooks, enqueue

# An order (tasking request, archive order) or a surface-model request.
Ordered = Order | DsmRequest


@dataclass(frozen=True)
class Step:
    event: str  # the webhook event type
    code: str  # the STAPI-like status code


# Orders (tasking requests and archive orders): state -> (event, STAPI status code).
ORDER_STATES: dict[str, Step] = {
    "awaiting_quote": Step("order.received", "received"),
    "under_review": Step("order.received", "received"),
    "accepted": Step("order.accepted", "accepted"),
    "rejected": Step("order.rejected", "rejected"),
    "partially_delivered": Step("order.delivered", "processing"),
    "delivered": Step("order.delivered", "completed"),
    "closed": Step("order.closed", "completed"),
    "cancelled": Step("order.cancelled", "canceled"),
    "expired": Step("order.failed", "expired"),
}
# Surface-model requests: computed once accepted; running is progress, not an event.
DSM_STATES: dict[str, Step] = {
    "awaiting_quote": Step("order.received", "received"),
    "queued": Step("order.accepted", "accepted"),
    "delivered": Step("order.delivered", "completed"),
    "failed": Step("order.failed", "failed"),
    "cancelled": Step("order.cancelled", "canceled"),
}


def _kind(order: Ordered) -> str:
    if isinstance(order, DsmRequest):
        return "surface_model"
    return str(order.kind)  # "tasking" or "archive"


def describe(order: Ordered, old_status: str | None, new_status: str) -> Step | None:
    """The event a transition makes, or None when it makes none.

    A transition that keeps the STAPI code (a quote accepted: still received;
    a computation retried) makes no event, except another partial delivery.
    """
    states = DSM_STATES if _kind(order) == "surface_model" else ORDER_STATES
    new = states.get(new_status)
    if new is None:
        return None
    old = states.get(old_status or "")
    if old is not None and old.code == new.code and new_status != "partially_delivered":
        return None
    return new


def _reason(kind: str, new_status: str, taken: Taken) -> tuple[str | None, str | None]:
    """(reason_code, reason_text): why the step was taken, e.g. a rejection's comment, a
    computation's failure code."""
    if kind == "surface_model":
        return (taken.failure if new_status == "failed" else None), None
    code = {"rejected": "rejected_by_staff", "expired": "window_passed"}.get(new_status)
    return code, taken.comment


def _links(order: Ordered, kind: str) -> dict[str, str]:
    from dinamis.core.web import external_url

    if kind == "surface_model":
        # (A failing url_for inside external_url's request context would roll the session back.)
        if "dsm.show" not in current_app.view_functions:
            return {}
        return {"url": external_url("dsm.show", request_id=order.id)}
    path = "tasking-requests" if kind == "tasking" else "archive-orders"
    base = config.current().base_url
    return {
        "url": external_url("orders.show", order_id=order.id),
        "api_url": f"{base}/api/v1/{path}/{order.id}",
    }


@dataclass(frozen=True)
class Taken:
    """How a step was taken, as recorded: when, with what comment, the deliveries an
    order had then (the step's own included), a computation's failure code."""

    at: dt.datetime
    comment: str | None = None
    deliveries: Sequence[Delivery] = ()
    failure: str | None = None


def order_payload(
    order: Ordered, old_status: str | None, new_status: str, step: Step, taken: Taken
) -> dict[str, Any]:
    """The `data` of an order event (README: Webhooks), from the step as it was taken."""
    kind = _kind(order)
    states = DSM_STATES if kind == "surface_model" else ORDER_STATES
    reason_code, reason_text = _reason(kind, new_status, taken)
    old = states.get(old_status or "")
    at = taken.at
    data: dict[str, Any] = {
        "order": {
            "id": order.id,
            "number": order.number,
            "type": kind,
            "project_title": order.project_title,
            **_links(order, kind),
        },
        "status": {
            "status_code": step.code,
            "reason_code": reason_code,
            "reason_text": reason_text,
            "timestamp": at.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        },
        "previous_status_code": old.code if old else None,
        "dinamis_status": new_status,
        "previous_dinamis_status": old_status,
    }
    if isinstance(order, Order) and new_status in ("partially_delivered", "delivered"):
        delivered = sum((d.km2 for d in taken.deliveries), Decimal("0.00"))
        data["delivery"] = {
            "complete": new_status == "delivered",
            "delivered_km2": f"{delivered:.2f}",
            "charged_km2": f"{order.charged_km2:.2f}",
            "scenes": [d.scene_ref for d in taken.deliveries],
        }
    return data


def order_changed(
    session: Session, order: Ordered, old_status: str | None, new_status: str, taken: Taken
) -> None:
    """An order (tasking, archive) or surface-model request moved: tell its requester's webhooks.

    Writes an event per webhook of the requester that carries order events,
    posted after the commit, from the step as it was `taken`. Idempotent: the
    same step of the same order is one event.
    """
    step = describe(order, old_status, new_status)
    if step is None:
        return
    hooks = active_webhooks(session, order.requester_id, order_events=True)
    if not hooks:
        return
    kind = _kind(order)
    data = order_payload(order, old_status, new_status, step, taken)
    key = f"{kind}:{order.id}:{old_status}>{new_status}"
    if new_status == "partially_delivered":
        key += f":{len(taken.deliveries)}"
    for webhook_id in hooks:
        enqueue(session, webhook_id=webhook_id, event=step.event, data=data, key=key)
