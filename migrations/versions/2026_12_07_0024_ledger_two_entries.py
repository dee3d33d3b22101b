"""A ledger transaction has at least two entries, checked by PostgreSQL.

A fully co-funded order used to post a `reserve` transaction with no entry
(nothing free to hold), and a release or a delivery of nothing did the same:
records of moves that moved nothing. The application no longer posts them, and
a deferred constraint trigger (checked at commit, like the balance of
0004_quota) refuses any transaction that ends up with fewer than two entries.

The empty transactions already written carry no amount: they are deleted
(the append-only trigger is set aside for that statement only), so that every
transaction in the table meets the rule. The downgrade drops the check; the
deleted rows, which moved nothing, are not written back.

Revision ID: 0024_ledger_two_entries
Revises: 0023_token_expiry
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0024_ledger_two_entries"
down_revision: str | None = "0023_token_expiry"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


CHECK = """
CREATE FUNCTION ledger_check_two_entries() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    entries integer;
BEGIN
    SELECT count(*) INTO entries FROM ledger_entries WHERE transaction_id = NEW.id;
    IF entries < 2 THEN
        RAISE EXCEPTION 'ledger transaction % has % entries; a transaction moves km² '
            'from one account to another, so it has at least two', NEW.id, entries
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER ledger_transactions_two_entries AFTER INSERT ON ledger_transactions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_two_entries();
"""


def upgrade() -> None:
    op.execute("ALTER TABLE ledger_transactions DISABLE TRIGGER ledger_transactions_append_only")
    op.execute(
        "DELETE FROM ledger_transactions t "
        "WHERE NOT EXISTS (SELECT FROM ledger_entries e WHERE e.transaction_id = t.id)"
    )
    op.execute("ALTER TABLE ledger_transactions ENABLE TRIGGER ledger_transactions_append_only")
    op.execute(CHECK)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS ledger_transactions_two_entries ON ledger_transactions")
    op.execute("DROP FUNCTION IF EXISTS ledger_check_two_entries()")
