"""The statistics totals (kept by triggers) against the raw rows they sum.

Every check recomputes the figures in Python from the ledger's entries and
the download log, independently of the SQL the triggers and stats.py run.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from dinamis.accounts import service as accounts
from dinamis.catalogue.models import Download
from dinamis.core.dates import today as scheme_today
from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.membership.models import Entity, Profile
from dinamis.orders import service as orders
from dinamis.orders.models import Order, Quote
from dinamis.quota import service as quota
from dinamis.quota.models import (
    AccountKind,
    LedgerAccount,
    LedgerEntry,
    LedgerTotal,
    LedgerTransaction,
    PriceRule,
)
from dinamis.reports import stats
from dinamis.reports.models import DownloadTotal, QuoteTotal
from tests.factories import make_collection, make_entity, make_scene
from tests.orders.helpers import square, tasking
from tests.reports.test_usage_reports import delivered  # noqa: F401 - the fixture

D = Decimal
YEAR = str(scheme_today().year)
UTC = dt.UTC


def _user(email):
    return accounts.get_user_by_email(email)


@pytest.fixture
def postings(app, cast, delivered):  # noqa: F811
    """A mix of every kind of posting, on two entities, three sensors and three families.

    Entity A: the delivered Pléiades order of `delivered`, a cancelled SPOT order,
    an adjustment, and archive reservations whose reference names no order.
    Entity B: a Pléiades Neo order co-funded beyond a small allowance, partly
    delivered, the rest released.
    """
    with app.app_context():
        today = scheme_today()
        window = {
            "window_start": today + dt.timedelta(days=10),
            "window_end": today + dt.timedelta(days=40),
        }
        staff = _user(cast.staff)
        entity_a = db.session.get(Entity, cast.entity_a)
        entity_b = db.session.get(Entity, cast.entity_b)
        quota.grant(entity_b, "neo", YEAR, D("10"))
        db.session.add(
            PriceRule(
                profile_id=entity_b.profile_id,
                sensor="pleiades-neo",
                order_kind="tasking",
                eur_per_km2=D("9.00"),
            )
        )
        order_b = orders.submit_tasking(
            _user(cast.user_b), tasking(sensor="pleiades-neo", **window)
        )
        assert order_b.cofunded_km2 > 0 and order_b.free_km2 == D("10.00")
        orders.decide_quote(_user(cast.referent_b), order_b, True)
        orders.review(staff, order_b, True, "ok")
        make_collection("neo-test", sensor_family="pleiades-neo")
        make_scene(
            "NEO_1",
            square(0.3, 1.9, 44.9),
            dt.datetime.combine(today + dt.timedelta(days=12), dt.time(10), tzinfo=dt.UTC),
            collection="neo-test",
        )
        orders.deliver(staff, order_b, "NEO_1", D("50"), "Half of the area was cloudy.")
        quota.release(
            entity_b,
            order_b.family,
            order_b.period,
            order_b.reference,
            "the rest",
            order_id=order_b.id,
        )
        order_c = orders.submit_tasking(_user(cast.user_a), tasking(sensor="spot", **window))
        orders.cancel(_user(cast.user_a), order_c)
        quota.adjust(staff, entity_a, "tasking", YEAR, D("-5.25"), "Correction", "adj-test-1")
        quota.grant(entity_a, "archive", YEAR, D("20"))
        quota.reserve(entity_a, "archive", YEAR, D("3"), "order:12abc")
        quota.reserve(entity_a, "archive", YEAR, D("4"), "order:999999999")
        commit()
        return {"a": cast.entity_a, "b": cast.entity_b}


def _sensor_of(order_id: int | None) -> str | None:
    order = db.session.get(Order, order_id) if order_id is not None else None
    return order.sensor if order is not None else None


def _entries() -> list[dict]:
    """Every entry of an entity account, with its account, posting kind and sensor."""
    rows = db.session.execute(
        select(
            LedgerEntry.account_id,
            LedgerEntry.amount,
            LedgerTransaction.kind.label("posting"),
            LedgerTransaction.order_id,
            LedgerAccount.entity_id,
            LedgerAccount.kind,
            LedgerAccount.family,
            LedgerAccount.period,
        )
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerAccount.entity_id.is_not(None))
    ).all()
    return [{**row._asdict(), "sensor": _sensor_of(row.order_id)} for row in rows]


def test_ledger_totals_equal_the_sums_of_the_entries(app, postings):
    with app.app_context():
        expected: dict[tuple, list[Decimal]] = defaultdict(lambda: [D("0"), D("0")])
        for e in _entries():
            key = (e["account_id"], e["sensor"])
            if e["posting"] in ("grant", "adjustment"):
                expected[key][0] += e["amount"]
            expected[key][1] += e["amount"]
        actual = {
            (t.account_id, t.sensor): [t.granted, t.amount]
            for t in db.session.scalars(select(LedgerTotal))
        }
        # A row summing to nothing counts for nothing (postings written before their
        # order leave their sensor-less row at zero when the order moves them).
        nonzero = {key: sums for key, sums in actual.items() if any(sums)}
        assert nonzero == {key: sums for key, sums in expected.items() if any(sums)}
        for t in db.session.scalars(select(LedgerTotal)):  # the account's key, copied
            account = db.session.get(LedgerAccount, t.account_id)
            assert (t.entity_id, t.family, t.period, t.kind) == (
                account.entity_id,
                account.family,
                account.period,
                account.kind,
            )
        sensors = {sensor for _account, sensor in actual}
        assert sensors == {None, "pleiades", "pleiades-neo", "spot"}
        # The programme's accounts are not summed (their rows would be everyone's hot spot).
        programme = select(LedgerAccount.id).where(LedgerAccount.entity_id.is_(None))
        assert not db.session.scalar(
            select(func.count()).where(LedgerTotal.account_id.in_(programme))
        )


def _ledger_reference(f: stats.Filters, group: str) -> dict[str, dict[str, Decimal]]:
    """stats.ledger's km² figures, from the raw entries, in Python."""
    names = dict(db.session.execute(select(Entity.id, Entity.name)).all())
    profiles = dict(
        db.session.execute(select(Entity.id, Profile.code).join(Profile, Entity.profile)).all()
    )
    result: dict[str, dict[str, Decimal]] = {}
    for e in _entries():
        if e["period"] != f.period or (f.family and e["family"] != f.family):
            continue
        if f.entity_id is not None and e["entity_id"] != f.entity_id:
            continue
        if f.profile and profiles[e["entity_id"]] != f.profile:
            continue
        if (group == "sensor" or f.sensor) and e["sensor"] is None:
            continue
        if f.sensor and e["sensor"] != f.sensor:
            continue
        label = {
            "entity": names[e["entity_id"]],
            "profile": profiles[e["entity_id"]],
            "sensor": e["sensor"],
            "family": e["family"],
        }[group]
        row = result.setdefault(
            label, {k: D("0.00") for k in ("granted", "reserved", "consumed", "cofunded")}
        )
        if e["kind"] == AccountKind.AVAILABLE and e["posting"] in ("grant", "adjustment"):
            row["granted"] += e["amount"]
        if e["kind"] == AccountKind.RESERVED:
            row["reserved"] += e["amount"]
        if e["kind"] == AccountKind.CONSUMED:
            row["consumed"] += e["amount"]
        if e["kind"] in (AccountKind.COFUNDED_RESERVED, AccountKind.COFUNDED_CONSUMED):
            row["cofunded"] += e["amount"]
    return result


def test_ledger_figures_equal_the_entries_for_every_grouping_and_filter(app, postings):
    with app.app_context():
        filters = [
            stats.Filters(YEAR),
            stats.Filters(YEAR, sensor="pleiades-neo"),
            stats.Filters(YEAR, sensor="spot"),
            stats.Filters(YEAR, family="archive"),
            stats.Filters(YEAR, family="neo"),
            stats.Filters(YEAR, profile="public-fr"),
            stats.Filters(YEAR, entity_id=postings["a"]),
            stats.Filters(YEAR, entity_id=postings["b"], sensor="pleiades-neo"),
            stats.Filters(str(int(YEAR) + 1)),
        ]
        for f in filters:
            for group in stats.GROUPS:
                rows = stats.ledger(f, group)
                euros = {r["group"]: r["cofunded_eur"] for r in rows}
                expected_euros = _euros_reference(f, group)
                assert euros == {g: expected_euros.get(g, D("0.00")) for g in euros}, (f, group)
                figures = {
                    r["group"]: {
                        "granted": r["granted_km2"],
                        "reserved": r["reserved_km2"],
                        "consumed": r["consumed_km2"],
                        "cofunded": r["cofunded_km2"],
                    }
                    for r in rows
                }
                assert figures == _ledger_reference(f, group), (f, group)
        by_sensor = {r["group"]: r for r in stats.ledger(stats.Filters(YEAR), "sensor")}
        assert by_sensor["pleiades-neo"]["cofunded_km2"] > 0
        assert by_sensor["pleiades-neo"]["consumed_km2"] == D("10.00")  # the free part first


def _euros_reference(f: stats.Filters, group: str) -> dict[str, Decimal]:
    """The accepted quotes' euros per group, from the quotes and their orders, in Python."""
    result: dict[str, Decimal] = defaultdict(lambda: D("0.00"))
    for quote in db.session.scalars(select(Quote).where(Quote.status == "accepted")):
        order = quote.order
        if order.period != f.period or (f.family and order.family != f.family):
            continue
        if (f.sensor and order.sensor != f.sensor) or (
            f.entity_id is not None and order.entity_id != f.entity_id
        ):
            continue
        if f.profile and order.entity.profile.code != f.profile:
            continue
        label = {
            "entity": order.entity.name,
            "profile": order.entity.profile.code,
            "sensor": order.sensor,
            "family": order.family,
        }[group]
        result[label] += quote.excluding_tax
    return dict(result)


def _quote_totals_reference() -> dict[tuple, Decimal]:
    expected: dict[tuple, Decimal] = defaultdict(lambda: D("0.00"))
    for quote in db.session.scalars(select(Quote).where(Quote.status == "accepted")):
        o = quote.order
        expected[(o.period, o.entity_id, o.sensor, o.family)] += quote.excluding_tax
    return dict(expected)


def _quote_totals() -> dict[tuple, Decimal]:
    return {
        (t.period, t.entity_id, t.sensor, t.family): t.excluding_tax
        for t in db.session.scalars(select(QuoteTotal))
        if t.excluding_tax != 0
    }


def test_quote_totals_equal_the_accepted_quotes(app, cast, postings):
    with app.app_context():
        assert _quote_totals() == _quote_totals_reference() != {}
        # A quote declined after all, one accepted with its amount changed, an order deleted.
        quote = db.session.scalars(select(Quote).where(Quote.status == "accepted")).first()
        quote.excluding_tax += D("12.34")
        db.session.flush()
        assert _quote_totals() == _quote_totals_reference()
        quote.status = "declined"
        db.session.flush()
        assert _quote_totals() == _quote_totals_reference() == {}
        quote.status = "accepted"
        db.session.flush()
        order_id = quote.order_id
        before = _quote_totals()
        db.session.expunge_all()
        # An order the ledger names (its postings link to it) cannot be deleted.
        refused = pytest.raises(IntegrityError, match="fk_ledger_transactions_order_id_orders")
        with refused, db.session.begin_nested():
            # Checked at commit; at once here (the test's transaction never commits).
            db.session.execute(
                text("SET CONSTRAINTS fk_ledger_transactions_order_id_orders IMMEDIATE")
            )
            db.session.execute(delete(Order).where(Order.id == order_id))
        assert db.session.get(Order, order_id) is not None
        assert _quote_totals() == _quote_totals_reference() == before != {}


def test_the_ledger_stays_append_only(app, postings):
    with app.app_context():
        entry = db.session.scalars(select(LedgerEntry).limit(1)).one()
        for statement in (
            update(LedgerEntry).where(LedgerEntry.id == entry.id).values(amount=D("1")),
            delete(LedgerEntry).where(LedgerEntry.id == entry.id),
            update(LedgerTransaction)
            .where(LedgerTransaction.id == entry.transaction_id)
            .values(reference="order:1"),
        ):
            with pytest.raises(DBAPIError, match="append-only"), db.session.begin_nested():
                db.session.execute(statement)


def _log(user_id, entity_id, collection, size, at):
    db.session.add(
        Download(
            user_id=user_id,
            entity_id=entity_id,
            scene_id="S1",
            collection_id=collection,
            asset="data",
            bytes=size,
            created_at=at,
        )
    )


@pytest.fixture
def download_log(app, cast):
    """Downloads around the ends of months, quarters and years (UTC), some anonymous."""
    with app.app_context():
        user_a, user_b = _user(cast.user_a), _user(cast.user_b)
        year = int(YEAR)
        gone = make_entity("Entité partie", profile_code="public-fr")
        moments = []
        for month in (1, 4, 7, 10):
            first = dt.datetime(year, month, 1, tzinfo=UTC)
            moments += [first - dt.timedelta(hours=h) for h in (0.5, 5, 13)]
            moments += [first + dt.timedelta(hours=h) for h in (0, 0.5, 5, 13)]
        moments += [dt.datetime(year + 1, 1, 1, tzinfo=UTC) - dt.timedelta(minutes=1)]
        moments += [dt.datetime(year, 2, 14, 12, tzinfo=UTC)]
        for i, at in enumerate(moments):
            _log(user_a.id, user_a.entity_id, "phr", 1000 + i, at)
            _log(user_b.id, user_b.entity_id, "spot" if i % 2 else "phr", 10 * i, at)
            _log(None, None, "open", 7, at)
            _log(None, gone.id, "spot", 3 + i, at)
        db.session.flush()
        # The log changes afterwards: an entity deleted (its downloads keep no
        # entity), a row moved, some deleted.
        db.session.delete(gone)
        db.session.flush()
        first = db.session.scalars(select(Download).order_by(Download.id).limit(1)).one()
        first.created_at = dt.datetime(year, 8, 15, tzinfo=UTC)
        first.collection_id = "moved"
        db.session.execute(delete(Download).where(Download.bytes == 20))
        commit()
        return gone.id


def _download_totals_reference() -> dict[tuple, list[int]]:
    expected: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for d in db.session.scalars(select(Download)):
        utc = d.created_at.astimezone(UTC)
        key = (dt.date(utc.year, utc.month, 1), d.entity_id, d.collection_id)
        expected[key][0] += 1
        expected[key][1] += d.bytes
    return dict(expected)


def test_download_totals_equal_the_log(app, download_log):
    with app.app_context():
        actual = {
            (t.month, t.entity_id, t.collection_id): [t.downloads, t.bytes]
            for t in db.session.scalars(select(DownloadTotal))
        }
        assert actual == _download_totals_reference()
        assert not any(entity_id == download_log for _m, entity_id, _c in actual)
        assert any(c == "moved" for _m, _e, c in actual)
        db.session.execute(text("TRUNCATE downloads"))
        assert not db.session.scalar(select(func.count()).select_from(DownloadTotal))


def _downloads_reference(f: stats.Filters) -> list[dict]:
    """stats.downloads before the totals: the raw log, the period cut in this session's zone."""
    start, end = f.dates
    query = (
        select(Download.collection_id, func.count(), func.coalesce(func.sum(Download.bytes), 0))
        .where(Download.created_at >= start, Download.created_at < end)
        .where(*stats._entity_filters(f, Download.entity_id))
        .group_by(Download.collection_id)
        .order_by(Download.collection_id)
    )
    return [
        {"collection": c, "downloads": n, "bytes": int(b)} for c, n, b in db.session.execute(query)
    ]


@pytest.mark.parametrize(
    "zone", ["UTC", "Europe/Paris", "America/Los_Angeles", "Asia/Kolkata", "Pacific/Kiritimati"]
)
def test_download_figures_equal_the_log_in_any_session_time_zone(app, cast, download_log, zone):
    with app.app_context():
        db.session.execute(text("SELECT set_config('TimeZone', :zone, true)"), {"zone": zone})
        periods = [YEAR, *(f"{YEAR}-Q{q}" for q in range(1, 5)), str(int(YEAR) + 1)]
        seen = 0
        for period in periods:
            for f in (
                stats.Filters(period),
                stats.Filters(period, entity_id=cast.entity_a),
                stats.Filters(period, profile="public-fr"),
            ):
                expected = _downloads_reference(f)
                assert stats.downloads(f) == expected, (zone, f)
                seen += sum(r["downloads"] for r in expected)
        assert seen > 0
