"""Membership

Membership: entity details and membership period, membership and account
requests, versioned legal documents, certificates, the audit trail.
Reviewed by hand.

Revision ID: 0007_membership
Revises: 0006_support
Create Date: 2026-11-24 19:30:58.769436
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007_membership"
down_revision: str | None = "0006_support"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "legal_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("code", sa.String(length=50), nullable=False),
        sa.Column("version", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("kind IN ('charter', 'licence')", name=op.f("ck_legal_documents_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_documents")),
    )
    op.create_table(
        "account_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("job_title", sa.String(length=200), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("domain_verified", sa.Boolean(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('email_to_confirm', 'pending', 'approved', 'refused')",
            name=op.f("ck_account_requests_status"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["users.id"],
            name=op.f("fk_account_requests_decided_by_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["entity_id"],
            ["entities.id"],
            name=op.f("fk_account_requests_entity_id_entities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_account_requests_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_requests")),
    )
    op.create_index(op.f("ix_account_requests_email"), "account_requests", ["email"], unique=False)
    op.create_index(
        op.f("ix_account_requests_entity_id"), "account_requests", ["entity_id"], unique=False
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("object_type", sa.String(length=40), nullable=False),
        sa.Column("object_id", sa.Integer(), nullable=True),
        sa.Column("entity_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_audit_events_actor_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["entity_id"],
            ["entities.id"],
            name=op.f("fk_audit_events_entity_id_entities"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(op.f("ix_audit_events_action"), "audit_events", ["action"], unique=False)
    op.create_index(op.f("ix_audit_events_entity_id"), "audit_events", ["entity_id"], unique=False)
    op.create_table(
        "membership_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("referent_email", sa.String(length=254), nullable=False),
        sa.Column("referent_first_name", sa.String(length=100), nullable=False),
        sa.Column("referent_last_name", sa.String(length=100), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("email_confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("entity_name", sa.String(length=300), nullable=True),
        sa.Column("acronym", sa.String(length=50), nullable=True),
        sa.Column("national_id", sa.String(length=40), nullable=True),
        sa.Column("national_id_type", sa.String(length=20), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("sector", sa.String(length=50), nullable=True),
        sa.Column("parent_bodies", sa.String(length=500), nullable=True),
        sa.Column("website", sa.String(length=300), nullable=True),
        sa.Column("legal_rep_name", sa.String(length=200), nullable=True),
        sa.Column("legal_rep_function", sa.String(length=200), nullable=True),
        sa.Column("legal_rep_email", sa.String(length=254), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("legal_rep_accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("legal_rep_ip", sa.String(length=64), nullable=True),
        sa.Column("legal_rep_user_agent", sa.String(length=500), nullable=True),
        sa.Column("accepted_documents", postgresql.ARRAY(sa.String(length=80)), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("profile_id", sa.Integer(), nullable=True),
        sa.Column("entity_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('email_to_confirm', 'details_to_give', 'awaiting_legal_rep', 'awaiting_review', 'approved', 'rejected', 'withdrawn')",
            name=op.f("ck_membership_requests_status"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["users.id"],
            name=op.f("fk_membership_requests_decided_by_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["entity_id"],
            ["entities.id"],
            name=op.f("fk_membership_requests_entity_id_entities"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["profiles.id"],
            name=op.f("fk_membership_requests_profile_id_profiles"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_membership_requests")),
    )
    op.create_index(
        op.f("ix_membership_requests_referent_email"),
        "membership_requests",
        ["referent_email"],
        unique=False,
    )
    op.create_index(
        op.f("ix_membership_requests_status"), "membership_requests", ["status"], unique=False
    )
    op.create_table(
        "certificates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column(
            "issued_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("documents", postgresql.ARRAY(sa.String(length=80)), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entity_id"],
            ["entities.id"],
            name=op.f("fk_certificates_entity_id_entities"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["membership_requests.id"],
            name=op.f("fk_certificates_request_id_membership_requests"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificates")),
        sa.UniqueConstraint("code", name=op.f("uq_certificates_code")),
    )
    op.create_index(op.f("ix_certificates_entity_id"), "certificates", ["entity_id"], unique=False)
    op.add_column("entities", sa.Column("national_id", sa.String(length=40), nullable=True))
    op.add_column("entities", sa.Column("national_id_type", sa.String(length=20), nullable=True))
    # Existing entities (the seed's) get France and no domain; hand-added defaults.
    op.add_column(
        "entities", sa.Column("country", sa.String(length=2), nullable=False, server_default="FR")
    )
    op.add_column("entities", sa.Column("address", sa.Text(), nullable=True))
    op.add_column("entities", sa.Column("sector", sa.String(length=50), nullable=True))
    op.add_column("entities", sa.Column("parent_bodies", sa.String(length=500), nullable=True))
    op.add_column("entities", sa.Column("website", sa.String(length=300), nullable=True))
    op.add_column(
        "entities",
        sa.Column(
            "email_domains",
            postgresql.ARRAY(sa.String(length=253)),
            nullable=False,
            server_default="{}",
        ),
    )
    op.add_column("entities", sa.Column("legal_rep_name", sa.String(length=200), nullable=True))
    op.add_column("entities", sa.Column("legal_rep_function", sa.String(length=200), nullable=True))
    op.add_column("entities", sa.Column("legal_rep_email", sa.String(length=254), nullable=True))
    op.add_column("entities", sa.Column("membership_start", sa.Date(), nullable=True))
    op.add_column("entities", sa.Column("membership_end", sa.Date(), nullable=True))
    op.create_unique_constraint(op.f("uq_entities_national_id"), "entities", ["national_id"])


def downgrade() -> None:
    op.drop_constraint(op.f("uq_entities_national_id"), "entities", type_="unique")
    op.drop_column("entities", "membership_end")
    op.drop_column("entities", "membership_start")
    op.drop_column("entities", "legal_rep_email")
    op.drop_column("entities", "legal_rep_function")
    op.drop_column("entities", "legal_rep_name")
    op.drop_column("entities", "email_domains")
    op.drop_column("entities", "website")
    op.drop_column("entities", "parent_bodies")
    op.drop_column("entities", "sector")
    op.drop_column("entities", "address")
    op.drop_column("entities", "country")
    op.drop_column("entities", "national_id_type")
    op.drop_column("entities", "national_id")
    op.drop_index(op.f("ix_certificates_entity_id"), table_name="certificates")
    op.drop_table("certificates")
    op.drop_index(op.f("ix_membership_requests_status"), table_name="membership_requests")
    op.drop_index(op.f("ix_membership_requests_referent_email"), table_name="membership_requests")
    op.drop_table("membership_requests")
    op.drop_index(op.f("ix_audit_events_entity_id"), table_name="audit_events")
    op.drop_index(op.f("ix_audit_events_action"), table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_index(op.f("ix_account_requests_entity_id"), table_name="account_requests")
    op.drop_index(op.f("ix_account_requests_email"), table_name="account_requests")
    op.drop_table("account_requests")
    op.drop_table("legal_documents")
