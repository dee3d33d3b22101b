"""Saved searches, the scenes they matched, and the notices (messages) sent about them.

How a new scene reaches a member (README, "Saved searches and alerts"):
1. A statement-level trigger on `scenes` (migration) writes the ids of the rows
   a statement inserted, as one array per statement, into `alert_scene_batches`,
   only while some saved search is active. The ingest itself does nothing more.
2. The `match_alerts` task takes those batches and joins their scenes with the
   saved searches' areas (GiST) and criteria, and the members' rights, in one
   statement: the pairs land in `alert_matches` (unique per search and scene).
3. `prepare_alerts` (at once) and the daily and weekly digests write one notice
   per saved search and period (`alert_notices`, unique key), the e-mail in the
   mail outbox (or the webhook's outbox row), and move the search's mark of the
   matches told (`told_through`), in one transaction: a worker that dies half-way
   leaves nothing half-done.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Numeric,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dinamis.accounts.models import User
from dinamis.core.columns import BigIntPk, CreatedAt, IntPk, OwnedByUser, UpdatedAt, choice, within
from dinamis.core.db import Base, database_objects

Frequency = StrEnum("Frequency", "AT_ONCE DAILY WEEKLY")
Channel = StrEnum("Channel", "EMAIL WEBHOOK")


class SavedSearch(Base):
    """A member's search kept to be told of the new scenes that match it."""

    __tablename__ = "saved_searches"
    __table_args__ = (
        CheckConstraint("date_to IS NULL OR date_to >= date_from", name="dates"),
        # The matcher's join: the active searches' areas (GiST, partial).
        Index(
            "ix_saved_searches_area_active",
            "area",
            postgresql_using="gist",
            postgresql_where=text("active"),
        ),
    )

    id: Mapped[IntPk]
    user_id: Mapped[OwnedByUser]
    name: Mapped[str] = mapped_column(String(200))
    # Any GeoJSON geometry the catalogue searches by (a polygon, a point, a line).
    area = mapped_column(Geometry("GEOMETRY", srid=4326, spatial_index=False), nullable=False)
    # Acquisition dates: from `date_from` (the day it was saved, for "from now on"),
    # until `date_to` when given (a range).
    date_from: Mapped[dt.date] = mapped_column(Date)
    date_to: Mapped[dt.date | None] = mapped_column(Date)
    collections: Mapped[list[str]] = mapped_column(
        ARRAY(String(100)), default=list, server_default=text("'{}'")
    )
    max_cloud: Mapped[Decimal | None] = within(0, 100, Numeric(5, 2), check="cloud")
    max_incidence: Mapped[Decimal | None] = within(0, 90, Numeric(5, 2), check="incidence")
    spectral_modes: Mapped[list[str]] = mapped_column(
        ARRAY(String(20)), default=list, server_default=text("'{}'")
    )
    stereo_only: Mapped[bool] = mapped_column(default=False)
    frequency: Mapped[str] = choice(Frequency, 10, default=Frequency.DAILY)
    channel: Mapped[str] = choice(Channel, 10, default=Channel.EMAIL)
    # The webhook of the webhook channel (dinamis.webhooks); deleted: back to e-mail.
    webhook_id: Mapped[int | None] = mapped_column(
        ForeignKey("webhooks.id", ondelete="SET NULL"), index=True
    )
    active: Mapped[bool] = mapped_column(default=True)
    # The last match a message told (its id): the matches after it wait for the next one.
    told_through: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]

    user: Mapped[User] = relationship()


class AlertSceneBatch(Base):
    """The ids of the scenes one statement inserted, written by the trigger on `scenes`."""

    __tablename__ = "alert_scene_batches"

    id: Mapped[BigIntPk]
    scene_ids: Mapped[list[str]] = mapped_column(ARRAY(String(200)))
    created_at: Mapped[CreatedAt]


class AlertNotice(Base):
    """One message about one saved search for one period: its key makes it once only."""

    __tablename__ = "alert_notices"
    __table_args__ = (
        UniqueConstraint("saved_search_id", "period", name="uq_alert_notices_period"),
        Index("ix_alert_notices_created_at", "created_at"),
    )

    id: Mapped[BigIntPk]
    saved_search_id: Mapped[int] = mapped_column(
        ForeignKey("saved_searches.id", ondelete="CASCADE")
    )
    # "now-<first match id>", "day-2026-12-07", "week-2026-W50"
    period: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = choice(Channel, 10)
    scenes: Mapped[int]
    outbox_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbox_messages.id", ondelete="SET NULL")
    )
    created_at: Mapped[CreatedAt]

    saved_search: Mapped[SavedSearch] = relationship()


class AlertMatch(Base):
    """A new scene one saved search matched; told once its id is at most the search's
    `told_through` (a digest moves that mark: one row per search, not one per match)."""

    __tablename__ = "alert_matches"
    __table_args__ = (
        UniqueConstraint("saved_search_id", "scene_id", name="uq_alert_matches_scene"),
        # A search's matches after its mark (the untold ones), in order.
        Index("ix_alert_matches_search", "saved_search_id", "id"),
    )

    id: Mapped[BigIntPk]
    saved_search_id: Mapped[int] = mapped_column(
        ForeignKey("saved_searches.id", ondelete="CASCADE")
    )
    # No foreign key on the scene: every match is written by the matcher (hundreds of
    # thousands per ingest batch at scale), and a key check per row cost more than the
    # insert; a scene deleted since is skipped by the joins that read it.
    scene_id: Mapped[str] = mapped_column(String(200))
    matched_at: Mapped[CreatedAt]


# New scenes are batched for matching by a trigger, as migration 0026 creates it
# (tests/core/test_migrations.py compares it with the migrated schema).
SCENE_BATCH = """
CREATE FUNCTION alert_scene_batch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM saved_searches WHERE active) THEN
        INSERT INTO alert_scene_batches (scene_ids)
        SELECT array_agg(id) FROM new_scenes HAVING count(*) > 0;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER scenes_alert_batch AFTER INSERT ON scenes
    REFERENCING NEW TABLE AS new_scenes
    FOR EACH STATEMENT EXECUTE FUNCTION alert_scene_batch();
"""

database_objects(SCENE_BATCH)
