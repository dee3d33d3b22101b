"""Statistics totals

Three tables of sums that the staff statistics read instead of a year of raw
rows, kept by triggers in the same transaction as the rows they sum (so never
behind them), and filled here from the rows already there. Reviewed by hand:
the trigger functions are not in the models.

- `ledger_totals`: per entity account and sensor of the order posted (NULL for
  grants and adjustments), the sum of the entries (`amount`) and of those of
  grant and adjustment postings (`granted`), with the account's key (entity,
  family, period, kind: an account's key never changes) so that the
  statistics read one index of the period's rows without joining accounts.
  The ledger is append-only (see 0004_quota), so an AFTER INSERT trigger is
  the only one needed. It is a statement trigger that adds the statement's
  new entries grouped by key, in key order (one upsert per flush of the quota
  service, not one per entry). Writers take the entity accounts' row locks
  before posting (quota.service._entity_accounts, in a fixed order), so the
  totals rows they update add no new wait and no new deadlock. The
  programme's own accounts are not summed: every co-funded order posts on its
  family's co-funding account, and a totals row there would make all
  entities' orders queue.
- `download_totals`: per month (UTC), entity and collection, the downloads
  and bytes. Insert, update (an entity deleted sets `entity_id` to NULL),
  delete and truncate keep it; a row whose count falls to zero is deleted.
- `quote_totals`: the accepted quotes' euros (excluding tax) per period,
  entity, sensor and family of their order. Insert, update and delete of
  quotes keep it, and a delete of an order (before its quotes go, while the
  order is still there to say where they were counted). One path only
  changes whether a quote is accepted (orders.service.decide_quote); it takes
  its two locks (this row, the entity's co-funded account) in the same order
  every time: no deadlock. An order's period, entity, sensor and family never
  change once it exists.

A covering index for orders by state: the period's orders read from the
index alone instead of the 80 MB orders table (a trigger-kept total of
orders by state would lock a row per entity and state on the order path
before the ledger's account locks, which other paths take first: deadlocks).
A partial index of the accepted quotes per order, for the triggers. An index
of the usage reports by year and status, for the counts of the dashboard's
"members and reports" (stats.activity).

Revision ID: 0015_stats_totals
Revises: 0014_catalogue_search_indexes
Create Date: 2026-11-25 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_stats_totals"
down_revision: str | None = "0014_catalogue_search_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


FUNCTIONS = """
-- The order id of a transaction reference "order:<id>" (as stats.ledger reads
-- it before this revision: the text after the first colon), else NULL; never
-- an error, whatever the reference.
CREATE FUNCTION ledger_reference_order(reference text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE WHEN reference LIKE 'order:%' AND split_part(reference, ':', 2) ~ '^[0-9]{1,10}$'
            THEN CASE WHEN split_part(reference, ':', 2)::bigint <= 2147483647
                      THEN split_part(reference, ':', 2)::integer END END
$$;

-- The totals' month of a download: the first day of its month in UTC.
CREATE FUNCTION download_month(created_at timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT date_trunc('month', created_at AT TIME ZONE 'UTC')::date
$$;

CREATE FUNCTION ledger_totals_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ledger_totals AS t
           (account_id, entity_id, family, period, kind, sensor, granted, amount)
    SELECT e.account_id, a.entity_id, a.family, a.period, a.kind, o.sensor,
           coalesce(sum(e.amount) FILTER (WHERE tx.kind IN ('grant', 'adjustment')), 0),
           sum(e.amount)
      FROM new_entries e
      JOIN ledger_accounts a ON a.id = e.account_id
      JOIN ledger_transactions tx ON tx.id = e.transaction_id
      LEFT JOIN orders o ON o.id = ledger_reference_order(tx.reference)
     WHERE a.entity_id IS NOT NULL
     GROUP BY e.account_id, a.id, o.sensor
     ORDER BY e.account_id, o.sensor
    ON CONFLICT (account_id, sensor) DO UPDATE
        SET granted = t.granted + excluded.granted, amount = t.amount + excluded.amount;
    RETURN NULL;
END $$;

CREATE FUNCTION download_totals_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO download_totals AS t (month, entity_id, collection_id, downloads, bytes)
        SELECT download_month(created_at), entity_id, collection_id, count(*), sum(bytes)
          FROM new_downloads
         GROUP BY 1, 2, 3
         ORDER BY 1, 2, 3
        ON CONFLICT (month, entity_id, collection_id) DO UPDATE
            SET downloads = t.downloads + excluded.downloads, bytes = t.bytes + excluded.bytes;
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO download_totals AS t (month, entity_id, collection_id, downloads, bytes)
        SELECT month, entity_id, collection_id, sum(n), sum(b)
          FROM (SELECT download_month(created_at) AS month, entity_id, collection_id,
                       -1 AS n, -bytes AS b
                  FROM old_downloads
                UNION ALL
                SELECT download_month(created_at), entity_id, collection_id, 1, bytes
                  FROM new_downloads) AS delta
         GROUP BY 1, 2, 3
        HAVING sum(n) <> 0 OR sum(b) <> 0
         ORDER BY 1, 2, 3
        ON CONFLICT (month, entity_id, collection_id) DO UPDATE
            SET downloads = t.downloads + excluded.downloads, bytes = t.bytes + excluded.bytes;
    ELSE  -- DELETE
        INSERT INTO download_totals AS t (month, entity_id, collection_id, downloads, bytes)
        SELECT download_month(created_at), entity_id, collection_id, -count(*), -sum(bytes)
          FROM old_downloads
         GROUP BY 1, 2, 3
         ORDER BY 1, 2, 3
        ON CONFLICT (month, entity_id, collection_id) DO UPDATE
            SET downloads = t.downloads + excluded.downloads, bytes = t.bytes + excluded.bytes;
    END IF;
    DELETE FROM download_totals t
     USING (SELECT DISTINCT download_month(created_at) AS month, entity_id, collection_id
              FROM old_downloads) AS o
     WHERE t.month = o.month AND t.collection_id = o.collection_id
       AND t.entity_id IS NOT DISTINCT FROM o.entity_id AND t.downloads = 0;
    RETURN NULL;
END $$;

-- Accepted quotes' euros: + the new rows accepted, - the old rows accepted,
-- counted where their order is (period, entity, sensor, family).
CREATE FUNCTION quote_totals_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO quote_totals AS t (period, entity_id, sensor, family, excluding_tax)
        SELECT o.period, o.entity_id, o.sensor, o.family, sum(q.excluding_tax)
          FROM new_quotes q JOIN orders o ON o.id = q.order_id
         WHERE q.status = 'accepted'
         GROUP BY 1, 2, 3, 4
         ORDER BY 1, 2, 3, 4
        ON CONFLICT (period, entity_id, sensor, family) DO UPDATE
            SET excluding_tax = t.excluding_tax + excluded.excluding_tax;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO quote_totals AS t (period, entity_id, sensor, family, excluding_tax)
        SELECT o.period, o.entity_id, o.sensor, o.family, sum(d.euros)
          FROM (SELECT order_id, -excluding_tax AS euros FROM old_quotes
                 WHERE status = 'accepted'
                UNION ALL
                SELECT order_id, excluding_tax FROM new_quotes
                 WHERE status = 'accepted') AS d
          JOIN orders o ON o.id = d.order_id
         GROUP BY 1, 2, 3, 4
        HAVING sum(d.euros) <> 0
         ORDER BY 1, 2, 3, 4
        ON CONFLICT (period, entity_id, sensor, family) DO UPDATE
            SET excluding_tax = t.excluding_tax + excluded.excluding_tax;
    ELSE  -- DELETE (the quotes of a deleted order: already taken off, see below)
        INSERT INTO quote_totals AS t (period, entity_id, sensor, family, excluding_tax)
        SELECT o.period, o.entity_id, o.sensor, o.family, -sum(q.excluding_tax)
          FROM old_quotes q JOIN orders o ON o.id = q.order_id
         WHERE q.status = 'accepted'
         GROUP BY 1, 2, 3, 4
         ORDER BY 1, 2, 3, 4
        ON CONFLICT (period, entity_id, sensor, family) DO UPDATE
            SET excluding_tax = t.excluding_tax + excluded.excluding_tax;
    END IF;
    RETURN NULL;
END $$;

-- An order deleted: its accepted quotes are taken off while it is still there
-- (its quotes are then deleted by the foreign key's cascade, and the quotes'
-- trigger no longer finds the order).
CREATE FUNCTION quote_totals_order_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE quote_totals t
       SET excluding_tax = t.excluding_tax - q.euros
      FROM (SELECT sum(excluding_tax) AS euros FROM quotes
             WHERE order_id = OLD.id AND status = 'accepted') AS q
     WHERE q.euros IS NOT NULL AND t.period = OLD.period AND t.entity_id = OLD.entity_id
       AND t.sensor = OLD.sensor AND t.family = OLD.family;
    RETURN OLD;
END $$;

CREATE FUNCTION download_totals_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE download_totals;
    RETURN NULL;
END $$;
"""

TRIGGERS = """
CREATE TRIGGER ledger_entries_totals AFTER INSERT ON ledger_entries
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_totals_add();
CREATE TRIGGER downloads_totals_insert AFTER INSERT ON downloads
    REFERENCING NEW TABLE AS new_downloads
    FOR EACH STATEMENT EXECUTE FUNCTION download_totals_apply();
CREATE TRIGGER downloads_totals_update AFTER UPDATE ON downloads
    REFERENCING OLD TABLE AS old_downloads NEW TABLE AS new_downloads
    FOR EACH STATEMENT EXECUTE FUNCTION download_totals_apply();
CREATE TRIGGER downloads_totals_delete AFTER DELETE ON downloads
    REFERENCING OLD TABLE AS old_downloads
    FOR EACH STATEMENT EXECUTE FUNCTION download_totals_apply();
CREATE TRIGGER downloads_totals_truncate AFTER TRUNCATE ON downloads
    FOR EACH STATEMENT EXECUTE FUNCTION download_totals_truncate();
CREATE TRIGGER quotes_totals_insert AFTER INSERT ON quotes
    REFERENCING NEW TABLE AS new_quotes
    FOR EACH STATEMENT EXECUTE FUNCTION quote_totals_apply();
CREATE TRIGGER quotes_totals_update AFTER UPDATE ON quotes
    REFERENCING OLD TABLE AS old_quotes NEW TABLE AS new_quotes
    FOR EACH STATEMENT EXECUTE FUNCTION quote_totals_apply();
CREATE TRIGGER quotes_totals_delete AFTER DELETE ON quotes
    REFERENCING OLD TABLE AS old_quotes
    FOR EACH STATEMENT EXECUTE FUNCTION quote_totals_apply();
CREATE TRIGGER orders_quote_totals BEFORE DELETE ON orders
    FOR EACH ROW EXECUTE FUNCTION quote_totals_order_gone();
"""

# The rows already there, summed as the triggers would have. The triggers are
# created first: from then on, writers wait for this migration's commit.
BACKFILL = """
INSERT INTO ledger_totals (account_id, entity_id, family, period, kind, sensor, granted, amount)
SELECT e.account_id, a.entity_id, a.family, a.period, a.kind, o.sensor,
       coalesce(sum(e.amount) FILTER (WHERE tx.kind IN ('grant', 'adjustment')), 0),
       sum(e.amount)
  FROM ledger_entries e
  JOIN ledger_accounts a ON a.id = e.account_id
  JOIN ledger_transactions tx ON tx.id = e.transaction_id
  LEFT JOIN orders o ON o.id = ledger_reference_order(tx.reference)
 WHERE a.entity_id IS NOT NULL
 GROUP BY e.account_id, a.id, o.sensor
 ORDER BY e.account_id, o.sensor;

INSERT INTO download_totals (month, entity_id, collection_id, downloads, bytes)
SELECT download_month(created_at), entity_id, collection_id, count(*), sum(bytes)
  FROM downloads
 GROUP BY 1, 2, 3
 ORDER BY 1, 2, 3;

INSERT INTO quote_totals (period, entity_id, sensor, family, excluding_tax)
SELECT o.period, o.entity_id, o.sensor, o.family, sum(q.excluding_tax)
  FROM quotes q JOIN orders o ON o.id = q.order_id
 WHERE q.status = 'accepted'
 GROUP BY 1, 2, 3, 4
 ORDER BY 1, 2, 3, 4;
"""


def upgrade() -> None:
    op.create_table(
        "ledger_totals",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("family", sa.String(length=20), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("sensor", sa.String(length=30), nullable=True),
        sa.Column("granted", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_totals_account_id_ledger_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_totals")),
        sa.UniqueConstraint(
            "account_id",
            "sensor",
            name="uq_ledger_totals_key",
            postgresql_nulls_not_distinct=True,
        ),
    )
    op.create_index(
        "ix_ledger_totals_period",
        "ledger_totals",
        ["period"],
        postgresql_include=["entity_id", "family", "kind", "sensor", "granted", "amount"],
    )
    op.create_table(
        "download_totals",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=True),
        sa.Column("collection_id", sa.String(length=100), nullable=False),
        sa.Column("downloads", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "extract(day FROM month) = 1", name=op.f("ck_download_totals_month_first_day")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_download_totals")),
        sa.UniqueConstraint(
            "month",
            "entity_id",
            "collection_id",
            name="uq_download_totals_key",
            postgresql_nulls_not_distinct=True,
        ),
    )
    op.create_index(
        "ix_orders_period_stats",
        "orders",
        ["period"],
        postgresql_include=["id", "status", "entity_id", "sensor", "family", "charged_km2"],
    )
    op.create_table(
        "quote_totals",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("sensor", sa.String(length=30), nullable=False),
        sa.Column("family", sa.String(length=20), nullable=False),
        sa.Column("excluding_tax", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quote_totals")),
        sa.UniqueConstraint(
            "period",
            "entity_id",
            "sensor",
            "family",
            name="uq_quote_totals_key",
            postgresql_nulls_not_distinct=True,
        ),
    )
    op.create_index(
        "ix_quotes_accepted",
        "quotes",
        ["order_id"],
        postgresql_include=["excluding_tax"],
        postgresql_where=sa.text("status = 'accepted'"),
    )
    op.create_index(
        "ix_usage_reports_year_status",
        "usage_reports",
        ["year", "status"],
        postgresql_include=["entity_id", "due_on"],
    )
    op.execute(FUNCTIONS)
    op.execute(TRIGGERS)
    op.execute(BACKFILL)
    op.execute("ANALYZE ledger_totals")
    op.execute("ANALYZE download_totals")
    op.execute("ANALYZE quote_totals")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS ledger_entries_totals ON ledger_entries")
    for name in ("insert", "update", "delete", "truncate"):
        op.execute(f"DROP TRIGGER IF EXISTS downloads_totals_{name} ON downloads")
    for name in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS quotes_totals_{name} ON quotes")
    op.execute("DROP TRIGGER IF EXISTS orders_quote_totals ON orders")
    op.execute("DROP FUNCTION IF EXISTS quote_totals_apply()")
    op.execute("DROP FUNCTION IF EXISTS quote_totals_order_gone()")
    op.execute("DROP FUNCTION IF EXISTS ledger_totals_add()")
    op.execute("DROP FUNCTION IF EXISTS download_totals_apply()")
    op.execute("DROP FUNCTION IF EXISTS download_totals_truncate()")
    op.execute("DROP FUNCTION IF EXISTS ledger_reference_order(text)")
    op.execute("DROP FUNCTION IF EXISTS download_month(timestamptz)")
    op.drop_index("ix_usage_reports_year_status", table_name="usage_reports")
    op.drop_index("ix_quotes_accepted", table_name="quotes")
    op.drop_index("ix_orders_period_stats", table_name="orders")
    op.drop_table("quote_totals")
    op.drop_table("download_totals")
    op.drop_table("ledger_totals")
