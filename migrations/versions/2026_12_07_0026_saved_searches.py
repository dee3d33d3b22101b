"""Saved searches and alerts

`saved_searches` (an area of any geometry type, GiST-indexed while active, the
catalogue's criteria, how often and where to tell), `alert_scene_batches` (the
ids of the scenes one INSERT statement added to `scenes`, written by a
statement-level trigger with a transition table, only while a saved search is
active: the ingest does nothing more, and its rows updated in place are not
new scenes), `alert_matches` (scene x saved search, once) and `alert_notices`
(one message per saved search and period, once by its unique key). Reviewed
by hand.

Revision ID: 0026_saved_searches
Revises: 0025_webhooks
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0026_saved_searches"
down_revision: str | None = "0025_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGGER = """
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


def upgrade() -> None:
    op.create_table(
        "saved_searches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "area",
            Geometry(geometry_type="GEOMETRY", srid=4326, spatial_index=False),
            nullable=False,
        ),
        sa.Column("date_from", sa.Date(), nullable=False),
        sa.Column("date_to", sa.Date(), nullable=True),
        sa.Column(
            "collections",
            postgresql.ARRAY(sa.String(length=100)),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column("max_cloud", sa.Numeric(precision=5, scale=2), nullable=True),
        sa.Column("max_incidence", sa.Numeric(precision=5, scale=2), nullable=True),
        sa.Column(
            "spectral_modes",
            postgresql.ARRAY(sa.String(length=20)),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column("stereo_only", sa.Boolean(), nullable=False),
        sa.Column("frequency", sa.String(length=10), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "frequency IN ('at_once', 'daily', 'weekly')", name=op.f("ck_saved_searches_frequency")
        ),
        sa.CheckConstraint(
            "channel IN ('email', 'webhook')", name=op.f("ck_saved_searches_channel")
        ),
        sa.CheckConstraint(
            "date_to IS NULL OR date_to >= date_from", name=op.f("ck_saved_searches_dates")
        ),
        sa.CheckConstraint(
            "max_cloud IS NULL OR max_cloud BETWEEN 0 AND 100", name=op.f("ck_saved_searches_cloud")
        ),
        sa.CheckConstraint(
            "max_incidence IS NULL OR max_incidence BETWEEN 0 AND 90",
            name=op.f("ck_saved_searches_incidence"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_saved_searches_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_searches")),
    )
    op.create_index(op.f("ix_saved_searches_user_id"), "saved_searches", ["user_id"])
    op.create_index(
        "ix_saved_searches_area_active",
        "saved_searches",
        ["area"],
        postgresql_using="gist",
        postgresql_where=sa.text("active"),
    )
    op.create_table(
        "alert_scene_batches",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("scene_ids", postgresql.ARRAY(sa.String(length=200)), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_scene_batches")),
    )
    op.create_table(
        "alert_notices",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("saved_search_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("scenes", sa.Integer(), nullable=False),
        sa.Column("outbox_message_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "channel IN ('email', 'webhook')", name=op.f("ck_alert_notices_channel")
        ),
        sa.ForeignKeyConstraint(
            ["saved_search_id"],
            ["saved_searches.id"],
            name=op.f("fk_alert_notices_saved_search_id_saved_searches"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["outbox_message_id"],
            ["outbox_messages.id"],
            name=op.f("fk_alert_notices_outbox_message_id_outbox_messages"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_notices")),
        sa.UniqueConstraint("saved_search_id", "period", name="uq_alert_notices_period"),
    )
    op.create_index("ix_alert_notices_created_at", "alert_notices", ["created_at"])
    op.create_table(
        "alert_matches",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("saved_search_id", sa.Integer(), nullable=False),
        sa.Column("scene_id", sa.String(length=200), nullable=False),
        sa.Column(
            "matched_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("notice_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["saved_search_id"],
            ["saved_searches.id"],
            name=op.f("fk_alert_matches_saved_search_id_saved_searches"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scene_id"],
            ["scenes.id"],
            name=op.f("fk_alert_matches_scene_id_scenes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["alert_notices.id"],
            name=op.f("fk_alert_matches_notice_id_alert_notices"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_matches")),
        sa.UniqueConstraint("saved_search_id", "scene_id", name="uq_alert_matches_scene"),
    )
    op.create_index(op.f("ix_alert_matches_scene_id"), "alert_matches", ["scene_id"])
    op.create_index(op.f("ix_alert_matches_notice_id"), "alert_matches", ["notice_id"])
    op.create_index(
        "ix_alert_matches_pending",
        "alert_matches",
        ["saved_search_id", "id"],
        postgresql_where=sa.text("notice_id IS NULL"),
    )
    op.execute(TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER scenes_alert_batch ON scenes")
    op.execute("DROP FUNCTION alert_scene_batch()")
    op.drop_table("alert_matches")
    op.drop_table("alert_notices")
    op.drop_table("alert_scene_batches")
    op.drop_table("saved_searches")
