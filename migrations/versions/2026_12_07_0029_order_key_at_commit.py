"""A posting's order key checked at commit; its reservation moved to the order's sensor

0027 linked postings to their order by a foreign key checked at once, so a
submission wrote its order as a draft before reserving and then updated it.
Measured (bench/orders), that INSERT then UPDATE cost a second flush of the
ORM per submission. The submission now reserves first (its posting names the
order's id, taken from the sequence) and writes the order once, with its
outcome: the key is checked at commit (DEFERRABLE INITIALLY DEFERRED).

A reservation posted before its order's row is counted in `ledger_totals`
without a sensor; the trigger on orders that moves such postings to the
order's sensor (0015's, dropped by 0027) is back, joining on `order_id`.
Reviewed by hand; no data changes (every key already holds).

Revision ID: 0029_order_key_at_commit
Revises: 0028_alert_matches_lean
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0029_order_key_at_commit"
down_revision: str | None = "0028_alert_matches_lean"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = "fk_ledger_transactions_order_id_orders"

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
    _key(deferrable=True, initially="DEFERRED")
    op.execute(ORDER_ADDED)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS orders_ledger_totals ON orders")
    op.execute("DROP FUNCTION IF EXISTS ledger_totals_order_added()")
    _key()
