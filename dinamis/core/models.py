"""Every mapped model, imported so that the metadata is complete (Alembic, tests)."""

from dinamis.accounts.models import ApiToken, User
from dinamis.core.db import Base
from dinamis.core.mail import OutboxAttachment, OutboxMessage
from dinamis.membership.models import Entity, Profile

metadata = Base.metadata

__all__ = ["ApiToken", "Entity", "OutboxAttachment", "OutboxMessage", "Profile", "User", "metadata"]
