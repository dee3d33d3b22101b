"""Every mapped model, imported so that the metadata is complete (Alembic, tests)."""

from dinamis.accounts.models import ApiToken, User
from dinamis.core.db import Base
from dinamis.core.mail import OutboxAttachment, OutboxMessage
from dinamis.membership.models import Entity, Profile
from dinamis.quota.models import (
    AllowanceRule,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    PriceRule,
)

metadata = Base.metadata

__all__ = [
    "AllowanceRule",
    "ApiToken",
    "Entity",
    "LedgerAccount",
    "LedgerEntry",
    "LedgerTransaction",
    "OutboxAttachment",
    "OutboxMessage",
    "PriceRule",
    "Profile",
    "User",
    "metadata",
]
