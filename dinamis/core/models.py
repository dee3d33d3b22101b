"""Every mapped model, imported so that the metadata is complete (Alembic, tests)."""

from dinamis.accounts.models import ApiToken, User
from dinamis.alerts.models import AlertMatch, AlertNotice, AlertSceneBatch, SavedSearch
from dinamis.catalogue.models import Collection, Download, LicenceAcceptance, Scene
from dinamis.core.db import Base
from dinamis.core.idempotency import IdempotencyKey
from dinamis.core.mail import OutboxAttachment, OutboxMessage
from dinamis.dsm.models import DsmEvent, DsmRequest
from dinamis.jobs.models import JobFailure
from dinamis.membership.models import (
    AccountRequest,
    AuditEvent,
    Certificate,
    Entity,
    EntityChange,
    LegalDocument,
    MembershipRequest,
    Profile,
)
from dinamis.orders.models import (
    Delivery,
    Order,
    OrderEvent,
    OrderItem,
    Quote,
)
from dinamis.quota.models import (
    AllowanceRule,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    PriceRule,
)
from dinamis.reports.models import Publication, UsageReport
from dinamis.support.models import Ticket, TicketAttachment, TicketMessage
from dinamis.webhooks.models import Webhook, WebhookDelivery

metadata = Base.metadata

__all__ = [
    "AccountRequest",
    "AlertMatch",
    "AlertNotice",
    "AlertSceneBatch",
    "AllowanceRule",
    "ApiToken",
    "AuditEvent",
    "Certificate",
    "Collection",
    "Delivery",
    "Download",
    "DsmEvent",
    "DsmRequest",
    "Entity",
    "EntityChange",
    "IdempotencyKey",
    "JobFailure",
    "LedgerAccount",
    "LedgerEntry",
    "LedgerTransaction",
    "LegalDocument",
    "LicenceAcceptance",
    "MembershipRequest",
    "Order",
    "OrderEvent",
    "OrderItem",
    "OutboxAttachment",
    "OutboxMessage",
    "PriceRule",
    "Profile",
    "Publication",
    "Quote",
    "SavedSearch",
    "Scene",
    "Ticket",
    "TicketAttachment",
    "TicketMessage",
    "UsageReport",
    "User",
    "Webhook",
    "WebhookDelivery",
    "metadata",
]
