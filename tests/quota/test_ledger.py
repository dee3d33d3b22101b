"""The quota ledger: postings, idempotency, balances, append-only, balanced."""

from __future__ import annotations

from decimal import Decimal

import pytest
from flask_babel import force_locale
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from dinamis.core.errors import Conflict, Forbidden, ServiceError
from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.quota import service
from dinamis.quota.models import AllowanceRule, Family
from tests.factories import make_entity, make_profile, make_user

D = Decimal


@pytest.fixture
def ctx(app):
    # Messages are matched in English; the product's default is French.
    with app.app_context(), force_locale("en"):
        yield


def _lab(allowance: str = "100"):
    entity = make_entity("Lab Q")
    service.grant(entity, Family.TASKING, "2027", D(allowance))
    return entity


def _one(entity, period="2027", family=Family.TASKING):
    (b,) = [b for b in service.balances(entity) if b.period == period and b.family == family]
    return b


def test_grant_is_idempotent_and_balanced(ctx):
    entity = _lab("2000")
    service.grant(entity, Family.TASKING, "2027", D("2000"))
    b = _one(entity)
    assert (b.granted, b.available, b.reserved) == (D("2000.00"), D("2000.00"), D("0.00"))
    assert service.trial_balance() == 0


def test_reserve_splits_free_and_cofunded_parts(ctx):
    entity = _lab("100")
    first = service.reserve(entity, Family.TASKING, "2027", D("60.004"), "order:1")
    assert first == service.Split(free=D("60.00"), cofunded=D("0.00"))
    second = service.reserve(entity, Family.TASKING, "2027", D("75"), "order:2")
    assert second == service.Split(free=D("40.00"), cofunded=D("35.00"))
    b = _one(entity)
    assert (b.available, b.reserved) == (D("0.00"), D("100.00"))
    # a retried reservation moves nothing and reports the first answer
    again = service.reserve(entity, Family.TASKING, "2027", D("75"), "order:2")
    assert again == second
    assert _one(entity).reserved == D("100.00")


def test_preview_split_reserves_nothing(ctx):
    entity = _lab("100")
    assert service.split(entity, Family.TASKING, "2027", D("150")) == service.Split(
        D("100.00"), D("50.00")
    )
    assert _one(entity).available == D("100.00")


def test_settle_consumes_free_first_then_release_gives_back_the_rest(ctx):
    entity = _lab("100")
    service.reserve(entity, Family.TASKING, "2027", D("130"), "order:7")
    service.cofund(entity, Family.TASKING, "2027", D("30"), "order:7")
    consumed = service.settle(entity, Family.TASKING, "2027", "order:7", D("110"), "delivery:1")
    assert consumed == service.Split(free=D("100.00"), cofunded=D("10.00"))
    held = service.release(entity, Family.TASKING, "2027", "order:7", "closed")
    assert held == service.Split(free=D("0.00"), cofunded=D("20.00"))
    b = _one(entity)
    assert (b.available, b.reserved, b.consumed) == (D("0.00"), D("0.00"), D("100.00"))
    assert (b.cofunded_reserved, b.cofunded_consumed) == (D("0.00"), D("10.00"))
    assert service.trial_balance() == 0


def test_release_after_cancellation_restores_the_allowance(ctx):
    entity = _lab("100")
    service.reserve(entity, Family.TASKING, "2027", D("80"), "order:3")
    service.release(entity, Family.TASKING, "2027", "order:3", "cancelled")
    assert _one(entity).available == D("100.00")
    # releasing again (a retry, or a second step) finds nothing left to give back
    service.release(entity, Family.TASKING, "2027", "order:3", "cancelled")
    assert _one(entity).available == D("100.00")


def test_delivering_more_than_held_is_refused(ctx):
    entity = _lab("100")
    service.reserve(entity, Family.TASKING, "2027", D("50"), "order:4")
    with pytest.raises(ServiceError, match="more than"):
        service.settle(entity, Family.TASKING, "2027", "order:4", D("51"), "delivery:1")


def test_staff_adjustments_need_a_reason_and_cannot_overdraw(ctx):
    entity = _lab("100")
    staff = make_user("staff.q@dinamis.test", role="staff")
    user = make_user("u.q@lab-q.test", entity=entity)
    with pytest.raises(Forbidden):
        service.adjust(user, entity, Family.TASKING, "2027", D("10"), "gift", "adj:1")
    with pytest.raises(ServiceError, match="reason"):
        service.adjust(staff, entity, Family.TASKING, "2027", D("10"), "  ", "adj:1")
    with pytest.raises(ServiceError, match=r"100\.00 km²"):
        service.adjust(staff, entity, Family.TASKING, "2027", D("-150"), "error", "adj:2")
    service.adjust(staff, entity, Family.TASKING, "2027", D("-40"), "over-granted", "adj:3")
    service.adjust(staff, entity, Family.TASKING, "2027", D("15.5"), "extra project", "adj:4")
    b = _one(entity)
    assert (b.granted, b.available) == (D("75.50"), D("75.50"))


def test_idempotency_key_reused_for_another_posting_is_refused(ctx):
    entity = _lab("100")
    staff = make_user("staff.k@dinamis.test", role="staff")
    service.adjust(staff, entity, Family.TASKING, "2027", D("5"), "x", "same-key")
    with pytest.raises(Conflict):
        service.adjust(
            staff, entity, Family.TASKING, "2027", D("5"), "x", f"grant:{entity.id}:tasking:2027"
        )
    # the same key for the same posting is a harmless retry
    service.adjust(staff, entity, Family.TASKING, "2027", D("5"), "x", "same-key")
    assert _one(entity).available == D("105.00")


def test_open_period_grants_by_profile_once(ctx):
    profile = make_profile("research-fr")
    db.session.add_all(
        [
            AllowanceRule(profile_id=profile.id, family=Family.TASKING, km2=D("2000")),
            AllowanceRule(profile_id=profile.id, family=Family.ARCHIVE, km2=D("1000")),
        ]
    )
    a = make_entity("Lab R1")
    b = make_entity("Lab R2")
    suspended = make_entity("Lab R3", status="suspended")
    opened = service.open_period("2027")
    mine = {(o.entity_id, o.family) for o in opened}
    assert {(a.id, "tasking"), (a.id, "archive"), (b.id, "tasking")} <= mine
    assert all(o.entity_id != suspended.id for o in opened)
    service.open_period("2027")
    assert _one(a).granted == D("2000.00")
    assert _one(a, family="archive").granted == D("1000.00")
    with pytest.raises(ServiceError, match="2027-Q1"):
        service.open_period("27")


def test_the_database_refuses_updates_and_deletes(app):
    with app.app_context():
        _lab("100")
        commit()
    with app.app_context():
        for statement in (
            "UPDATE ledger_entries SET amount = amount * 2",
            "DELETE FROM ledger_entries",
            "DELETE FROM ledger_transactions",
            "UPDATE ledger_transactions SET reason = 'x'",
        ):
            nested = db.session.begin_nested()
            with pytest.raises(DBAPIError, match="append-only"):
                db.session.execute(text(statement))
            nested.rollback()


def test_the_database_refuses_an_unbalanced_transaction(app):
    with app.app_context():
        entity = _lab("100")
        account = service.get_account(entity.id, Family.TASKING, "2027", "available")
        nested = db.session.begin_nested()
        tx_id = db.session.execute(
            text(
                "INSERT INTO ledger_transactions (kind, idempotency_key) "
                "VALUES ('adjustment', 'forged') RETURNING id"
            )
        ).scalar_one()
        other = service.get_account(entity.id, Family.TASKING, "2027", "reserved")
        db.session.execute(
            text(
                "INSERT INTO ledger_entries (transaction_id, account_id, amount) "
                "VALUES (:t, :a, 500), (:t, :b, -400)"
            ),
            {"t": tx_id, "a": account.id, "b": other.id},
        )
        with pytest.raises(DBAPIError, match="does not balance"):
            db.session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
        nested.rollback()


def test_co_funding_is_priced_exactly_from_the_grid(ctx):
    from dinamis.quota.models import PriceRule
    from dinamis.quota.pricing import price

    profile = make_profile("public-fr")
    db.session.add(
        PriceRule(
            profile_id=profile.id, sensor="pleiades", order_kind="tasking", eur_per_km2=D("5.22")
        )
    )
    db.session.flush()
    quote = price(profile.id, "pleiades", "tasking", D("133.33"), D("0.20"))
    assert quote.excluding_tax == D("695.98")  # 133.33 x 5.22 = 695.9826
    assert quote.tax == D("139.20")
    assert quote.including_tax == D("835.18")
    assert price(profile.id, "spot", "archive", D("0"), D("0.2")).including_tax == 0
    with pytest.raises(ServiceError, match="No co-funding price"):
        price(profile.id, "spot", "archive", D("1"), D("0.2"))


def test_the_database_refuses_a_transaction_without_two_entries(app):
    with app.app_context():
        entity = _lab("100")
        account = service.get_account(entity.id, Family.TASKING, "2027", "available")
        for entries in ([], [500]):
            nested = db.session.begin_nested()
            tx_id = db.session.execute(
                text(
                    "INSERT INTO ledger_transactions (kind, idempotency_key) "
                    "VALUES ('adjustment', :key) RETURNING id"
                ),
                {"key": f"forged-{len(entries)}"},
            ).scalar_one()
            for amount in entries:
                db.session.execute(
                    text(
                        "INSERT INTO ledger_entries (transaction_id, account_id, amount) "
                        "VALUES (:t, :a, :m)"
                    ),
                    {"t": tx_id, "a": account.id, "m": amount},
                )
            with pytest.raises(DBAPIError, match="at least two"):
                db.session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
            nested.rollback()


def _empty_transactions() -> int:
    return db.session.scalar(
        text(
            "SELECT count(*) FROM ledger_transactions t WHERE NOT EXISTS "
            "(SELECT FROM ledger_entries e WHERE e.transaction_id = t.id)"
        )
    )


def test_a_fully_co_funded_order_posts_no_empty_transaction(ctx):
    entity = _lab("0")  # nothing free: the whole order is co-funded
    split = service.reserve(entity, Family.TASKING, "2027", D("75"), "order:9")
    assert split == service.Split(free=D("0.00"), cofunded=D("75.00"))
    service.cofund(entity, Family.TASKING, "2027", D("75"), "order:9")
    service.settle(entity, Family.TASKING, "2027", "order:9", D("0"), "nothing-yet")
    service.settle(entity, Family.TASKING, "2027", "order:9", D("75"), "1")
    service.release(entity, Family.TASKING, "2027", "order:9", "end")  # nothing left to give back
    assert service.held_by(entity, Family.TASKING, "2027", "order:9") == service.Split(
        free=D("0.00"), cofunded=D("0.00")
    )
    assert _empty_transactions() == 0
    db.session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))  # every deferred check holds
    assert service.trial_balance() == 0
