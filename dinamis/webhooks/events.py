"""Order events on the webhook channel: a member's orders and surface models moving.

`order_changed` writes one event per webhook of the requester that carries
order events (the webhook channel, chosen per webhook), posted once its
transaction commits. An order's step is told after the request that took it,
with its e-mail, from the step as recorded (orders' `tell_steps`, run by the
outbox worker); a surface model's in the transaction that moves it (its
`_move`). Each domain mails its own requester (the e-mail channel, always on:
it is the record of the order).

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
from dinamis.core.db import utcnow
from dinamis.webhooks.service import active_webhooks, enqueue


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


def _kind(order: Any) -> str:
    if type(order).__name__ == "DsmRequest":
        return "surface_model"
    return str(order.kind)  # "tasking" or "archive"


def describe(order: Any, old_status: str | None, new_status: str) -> Step | None:
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


def _reason(
    order: Any, kind: str, new_status: str, comment: str | None
) -> tuple[str | None, str | None]:
    """(reason_code, reason_text): why the step was taken, e.g. a rejection's comment."""
    if kind == "surface_model":
        code = getattr(order, "failure_code", None) if new_status == "failed" else None
        return code, None
    code = {"rejected": "rejected_by_staff", "expired": "window_passed"}.get(new_status)
    return code, comment


def _links(order: Any, kind: str) -> dict[str, str]:
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
    """How an order's step was taken, as recorded: when, with what comment, and the
    deliveries the order had then (the step's own included)."""

    at: dt.datetime
    comment: str | None
    deliveries: Sequence[Any]


def order_payload(
    order: Any, old_status: str | None, new_status: str, step: Step, taken: Taken | None
) -> dict[str, Any]:
    """The `data` of an order event (README: Webhooks); `taken`: the recorded step of a
    tasking or archive order (a surface model's step is taken now)."""
    kind = _kind(order)
    states = DSM_STATES if kind == "surface_model" else ORDER_STATES
    comment = taken.comment if taken is not None else None
    reason_code, reason_text = _reason(order, kind, new_status, comment)
    old = states.get(old_status or "")
    at = taken.at if taken is not None else utcnow()
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
    if taken is not None and new_status in ("partially_delivered", "delivered"):
        delivered = sum((d.km2 for d in taken.deliveries), Decimal("0.00"))
        data["delivery"] = {
            "complete": new_status == "delivered",
            "delivered_km2": f"{delivered:.2f}",
            "charged_km2": f"{order.charged_km2:.2f}",
            "scenes": [d.scene_ref for d in taken.deliveries],
        }
    return data


def order_changed(
    session: Session,
    order: Any,
    old_status: str | None,
    new_status: str,
    taken: Taken | None = None,
) -> None:
    """An order (tasking, archive) or surface-model request moved: tell its requester's webhooks.

    Writes an event per webhook of the requester that carries order events,
    posted after the commit; `taken`: the recorded step of a tasking or archive
    order. Idempotent: the same step of the same order is one event.
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
    if new_status == "partially_delivered" and taken is not None:
        key += f":{len(taken.deliveries)}"
    for webhook_id in hooks:
        enqueue(session, webhook_id=webhook_id, event=step.event, data=data, key=key)
