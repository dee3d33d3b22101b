"""A posting's order key checked at once; no trigger on orders for the running totals

0029 let a submission reserve before writing its order (the posting named the
order's id, taken from the sequence; the key checked at commit), so the
running totals counted the reservation without a sensor and a trigger on orders
moved it to the order's sensor when the order's row arrived: per submission,
the hot entity's available and reserved totals updated twice more (away from
the NULL sensor, onto the order's), and a statement on every order written.
The submission now writes its order first, then posts its reservation
(orders.service.submit: quota.hold, the order, quota.place): the running
totals find the order's sensor as the posting is written. Nothing else posts
for an order before its row exists, so the key is checked at once again (as
0027 made it) and the trigger on orders, with its function, is dropped.

Reviewed by hand; no data changes (every key already holds, and every
posting already counted under its order's sensor by the dropped trigger).
Downgrade restores 0029's trigger and deferred key.

Revision ID: 0041_ledger_totals_at_posting
Revises: 0040_dsm_events_told
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0041_ledger_totals_at_posting"
down_revision: str | None = "0040_dsm_events_told"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = "fk_ledger_transactions_order_id_orders"

# 0029's, verbatim (a migration's SQL is frozen): restored by the downgrade.
ORDER_ADDED = """
CREATE FUNCTION ledger_totals_order_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH early AS (
        SELECT e.account_id, a.entity_id, a.family, a.period, a.kind, o.sensor,
               coalesce(sum(e.amount) FILTER (WHERE tx.kind IN ('grant', 'adjustment')), 0)
                   AS granted,
               sum(e.amount) AS amount
          FROM new_orders o
          JOIN ledger_transactions tx ON tx.order_id = o.id
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


def _key(**deferred: object) -> None:
    op.drop_constraint(KEY, "ledger_transactions", type_="foreignkey")
    op.create_foreign_key(
        KEY, "ledger_transactions", "orders", ["order_id"], ["id"], ondelete="RESTRICT", **deferred
    )


def upgrade() -> None:
    op.execute("DROP TRIGGER orders_ledger_totals ON orders")
    op.execute("DROP FUNCTION ledger_totals_order_added()")
    _key()


def downgrade() -> None:
    _key(deferrable=True, initially="DEFERRED")
    op.execute(ORDER_ADDED)
