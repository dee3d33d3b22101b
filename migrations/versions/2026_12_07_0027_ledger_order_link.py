"""Ledger postings link to their order by a foreign key; quota owns its running totals

`ledger_transactions.order_id` (FK to orders, RESTRICT, indexed) replaces
parsing the reference text "order:<id>" in SQL. Written by hand, reviewed:

- The column is added empty, then filled from the references already there
  (the only place the text is read, once): a reference "order:<digits>"
  naming an existing order. The ledger is append-only (0004_quota), so its
  update trigger is set aside for that one statement, as 0024 did.
- A CHECK keeps the label and the link in step: a posting with an order has
  the reference "order:<id>" (other postings, DSM's or staff's, keep theirs).
- `ledger_totals` (0015_stats_totals) becomes quota's running balances: its
  trigger function finds the sensor through `order_id` instead of
  `ledger_reference_order(reference)`. Every order is now written before its
  postings (the foreign key demands it), so the trigger that moved postings
  made before their order to its sensor (`orders_ledger_totals`) has nothing
  left to do and is dropped, with the parsing function. The totals already
  there were computed with the same parse that fills `order_id`, so they
  stay as they are.

The downgrade puts the parse, the reference trigger and the order trigger
back and drops the column (the references still say which order).

Revision ID: 0027_ledger_order_link
Revises: 0026_saved_searches
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027_ledger_order_link"
down_revision: str | None = "0026_saved_searches"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


BACKFILL = """
ALTER TABLE ledger_transactions DISABLE TRIGGER ledger_transactions_append_only;
UPDATE ledger_transactions t
   SET order_id = o.id
  FROM orders o
 WHERE t.reference LIKE 'order:%'
   AND o.id = ledger_reference_order(t.reference);
ALTER TABLE ledger_transactions ENABLE TRIGGER ledger_transactions_append_only;
"""

TOTALS_BY_ORDER = """
CREATE OR REPLACE FUNCTION ledger_totals_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ledger_totals AS t
           (account_id, entity_id, family, period, kind, sensor, granted, amount)
    SELECT e.account_id, a.entity_id, a.family, a.period, a.kind, o.sensor,
           coalesce(sum(e.amount) FILTER (WHERE tx.kind IN ('grant', 'adjustment')), 0),
           sum(e.amount)
      FROM new_entries e
      JOIN ledger_accounts a ON a.id = e.account_id
      JOIN ledger_transactions tx ON tx.id = e.transaction_id
      LEFT JOIN orders o ON o.id = tx.order_id
     WHERE a.entity_id IS NOT NULL
     GROUP BY e.account_id, a.id, o.sensor
     ORDER BY e.account_id, o.sensor
    ON CONFLICT (account_id, sensor) DO UPDATE
        SET granted = t.granted + excluded.granted, amount = t.amount + excluded.amount;
    RETURN NULL;
END $$;
DROP TRIGGER orders_ledger_totals ON orders;
DROP FUNCTION ledger_totals_order_added();
DROP FUNCTION ledger_reference_order(text);
"""

# 0015's functions and trigger, as they were.
TOTALS_BY_REFERENCE = """
CREATE FUNCTION ledger_reference_order(reference text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE WHEN reference LIKE 'order:%' AND split_part(reference, ':', 2) ~ '^[0-9]{1,10}$'
            THEN CASE WHEN split_part(reference, ':', 2)::bigint <= 2147483647
                      THEN split_part(reference, ':', 2)::integer END END
$$;

CREATE OR REPLACE FUNCTION ledger_totals_add() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE FUNCTION ledger_totals_order_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH early AS (
        SELECT e.account_id, a.entity_id, a.family, a.period, a.kind, o.sensor,
               coalesce(sum(e.amount) FILTER (WHERE tx.kind IN ('grant', 'adjustment')), 0)
                   AS granted,
               sum(e.amount) AS amount
          FROM new_orders o
          JOIN ledger_transactions tx ON tx.reference = 'order:' || o.id
          JOIN ledger_entries e ON e.transaction_id = tx.id
          JOIN ledger_accounts a ON a.id = e.account_id
         WHERE a.entity_id IS NOT NULL
         GROUP BY e.account_id, a.id, o.sensor
    ), taken AS (
        UPDATE ledger_totals t
           SET granted = t.granted - early.granted, amount = t.amount - early.amount
          FROM early
         WHERE t.account_id = early.account_id AND t.sensor IS NULL
    )
    INSERT INTO ledger_totals AS t
           (account_id, entity_id, family, period, kind, sensor, granted, amount)
    SELECT account_id, entity_id, family, period, kind, sensor, granted, amount
      FROM early
     ORDER BY account_id, sensor
    ON CONFLICT (account_id, sensor) DO UPDATE
        SET granted = t.granted + excluded.granted, amount = t.amount + excluded.amount;
    RETURN NULL;
END $$;

CREATE TRIGGER orders_ledger_totals AFTER INSERT ON orders
    REFERENCING NEW TABLE AS new_orders
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_totals_order_added();
"""


def upgrade() -> None:
    op.add_column("ledger_transactions", sa.Column("order_id", sa.Integer(), nullable=True))
    op.create_foreign_key(
        op.f("fk_ledger_transactions_order_id_orders"),
        "ledger_transactions",
        "orders",
        ["order_id"],
        ["id"],
        ondelete="RESTRICT",
    )
    op.execute(BACKFILL)
    op.create_index(
        op.f("ix_ledger_transactions_order_id"), "ledger_transactions", ["order_id"], unique=False
    )
    op.create_check_constraint(
        op.f("ck_ledger_transactions_order_reference"),
        "ledger_transactions",
        "order_id IS NULL OR reference = 'order:' || order_id",
    )
    op.execute(TOTALS_BY_ORDER)


def downgrade() -> None:
    op.execute(TOTALS_BY_REFERENCE)
    op.drop_constraint(
        op.f("ck_ledger_transactions_order_reference"), "ledger_transactions", type_="check"
    )
    op.drop_index(op.f("ix_ledger_transactions_order_id"), table_name="ledger_transactions")
    op.drop_constraint(
        op.f("fk_ledger_transactions_order_id_orders"), "ledger_transactions", type_="foreignkey"
    )
    op.drop_column("ledger_transactions", "order_id")
