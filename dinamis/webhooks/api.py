"""/api/v1/webhooks: a member's webhooks (the secret given at creation and rotation only)."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Annotated, Any

from flask import Response
from pydantic import Field

from dinamis.api.auth import api_account
from dinamis.api.openapi import Answer, Input, Output, Text, operation
from dinamis.core.loading import get_allowed
from dinamis.extensions import db
from dinamis.webhooks import service
from dinamis.webhooks.models import Webhook
from dinamis.webhooks.permissions import can_manage_own_webhooks, can_manage_webhook

CONFLICT = Answer("Not possible in the webhook's state (or too many webhooks)")
NOT_FOUND = Answer("No such webhook")


class WebhookIn(Input):
    url: Annotated[str, Text(2000, min_length=1)] = Field(
        description="https:// URL on the public Internet (http:// too outside production)",
        examples=["https://lab.example.org/dinamis/events"],
    )
    description: Annotated[str, Text(200)] = ""
    order_events: bool = Field(True, description="Post my orders' state changes to it")


class WebhookPatch(Input):
    url: Annotated[str, Text(2000, min_length=1)] | None = None
    description: Annotated[str, Text(200)] | None = None
    order_events: bool | None = None
    active: bool | None = Field(None, description="Switch the webhook on or off")


class WebhookOut(Output):
    id: int
    url: str
    description: str
    order_events: bool
    active: bool
    disabled_reason: str | None = Field(description="owner, staff or failures; null when on")
    consecutive_failures: int
    secret_created_at: dt.datetime | None
    last_success_at: dt.datetime | None
    last_failure_at: dt.datetime | None
    last_error: str | None
    created_at: dt.datetime | None


class WebhookWithSecret(WebhookOut):
    secret: str = Field(description="The signing secret: given here only, keep it")


class WebhooksOut(Output):
    webhooks: list[WebhookOut]


class Queued(Output):
    queued: bool


def _out(webhook: Webhook) -> WebhookOut:
    return WebhookOut.model_validate(webhook, from_attributes=True)


def _with_secret(webhook: Webhook, secret: str) -> WebhookWithSecret:
    return WebhookWithSecret(**_out(webhook).model_dump(), secret=secret)


def _load(webhook_id: int) -> Webhook:
    """The webhook, checked before the request's body is read (`guard`)."""
    return get_allowed(Webhook, webhook_id, api_account(), can_manage_webhook)


# Every operation here is on the caller's own webhooks; one on a given webhook loads it
# and checks that it is theirs before the body is read (`_load`).
webhook_owner_operation = partial(operation, access=can_manage_own_webhooks)
one_webhook_operation = partial(webhook_owner_operation, guard=_load)
WEBHOOK = Answer("The webhook", WebhookOut)


@webhook_owner_operation(
    "GET /webhooks", "listWebhooks", answers={200: Answer("Webhooks", WebhooksOut)}
)
def list_webhooks() -> WebhooksOut:
    """My webhooks"""
    return WebhooksOut(webhooks=[_out(w) for w in service.owned(api_account())])


@webhook_owner_operation(
    "POST /webhooks",
    "createWebhook",
    body=WebhookIn,
    answers={201: Answer("Created", WebhookWithSecret), 409: CONFLICT},
)
def create_webhook(body: WebhookIn) -> Any:
    """Set up a webhook; its signing secret is in this answer only"""
    webhook, secret = service.create(
        api_account(), url=body.url, description=body.description, order_events=body.order_events
    )
    db.session.refresh(webhook)
    return _with_secret(webhook, secret), 201


@one_webhook_operation(
    "GET /webhooks/<int:webhook_id>", "getWebhook", answers={200: WEBHOOK, 404: NOT_FOUND}
)
def get_webhook(webhook_id: int) -> WebhookOut:
    """One webhook (without its secret)"""
    return _out(_load(webhook_id))


@one_webhook_operation(
    "PATCH /webhooks/<int:webhook_id>",
    "updateWebhook",
    body=WebhookPatch,
    answers={
        200: WEBHOOK,
        403: Answer("Staff switched it off: only staff switch it on"),
        404: NOT_FOUND,
    },
)
def update_webhook(webhook_id: int, body: WebhookPatch) -> WebhookOut:
    """Change a webhook's URL, description, order events, or switch it on or off"""
    webhook, user = _load(webhook_id), api_account()
    service.update_webhook(
        user, webhook, url=body.url, description=body.description, order_events=body.order_events
    )
    if body.active is True:
        service.switch_on(user, webhook)
    elif body.active is False:
        service.switch_off(user, webhook)
    return _out(webhook)


@one_webhook_operation(
    "DELETE /webhooks/<int:webhook_id>",
    "deleteWebhook",
    answers={204: Answer("Deleted"), 404: NOT_FOUND},
)
def delete_webhook(webhook_id: int) -> Response:
    """Delete a webhook"""
    service.delete(api_account(), _load(webhook_id))
    return Response(status=204)


@one_webhook_operation(
    "POST /webhooks/<int:webhook_id>/secret",
    "rotateWebhookSecret",
    answers={200: Answer("The new secret, given here only", WebhookWithSecret), 404: NOT_FOUND},
)
def rotate_secret(webhook_id: int) -> WebhookWithSecret:
    """Replace the webhook's signing secret (the old one stops at once)"""
    webhook = _load(webhook_id)
    secret = service.rotate_secret(api_account(), webhook)
    return _with_secret(webhook, secret)


@one_webhook_operation(
    "POST /webhooks/<int:webhook_id>/test",
    "testWebhook",
    answers={202: Answer("Queued", Queued), 404: NOT_FOUND, 409: CONFLICT},
)
def send_test(webhook_id: int) -> Any:
    """Send a webhook.test event to the webhook"""
    webhook = _load(webhook_id)
    service.send_test(api_account(), webhook)
    return Queued(queued=True), 202
