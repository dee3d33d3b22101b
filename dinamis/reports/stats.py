"""Staff statistics, computed in SQL from the ledger, the orders and the download log.

Every figure takes the same filters (period, profile, entity, sensor, family)
and can be grouped by entity, profile, sensor or family. Ledger figures are
balances of the entities' accounts (the same sums as the quota pages), so
the dashboard, the quota pages and the yearly PDFs agree by construction.
Sensor is a property of orders, not of ledger accounts: grouped by sensor,
the ledger figures come from the order postings (those linked to an order).

The ledger is read from quota's running totals (`quota.models.LedgerTotal`),
the co-funded euros and the downloads from the statistics' own totals
(reports.models); all are kept by database triggers in the same transaction
as the raw rows: the same sums, from a few thousand rows instead of a year of
entries, quotes and downloads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import TIMESTAMP, case, cast, func, literal, select, union_all

from dinamis.accounts.models import User, UserStatus
from dinamis.catalogue.models import Collection, Download
from dinamis.core import dates
from dinamis.core.errors import BadRequest
from dinamis.core.exports import csv_text
from dinamis.core.validation import digits
from dinamis.extensions import db
from dinamis.membership.models import Entity, EntityStatus, Profile
from dinamis.orders.models import Order
from dinamis.quota import service as quota
from dinamis.quota.models import AccountKind, LedgerTotal
from dinamis.reports.models import (
    EDITABLE_STATUSES,
    DownloadTotal,
    QuoteTotal,
    ReportStatus,
    UsageReport,
)

GROUPS = ("entity", "profile", "sensor", "family")
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Filters:
    period: str  # "2026" or "2026-Q2"
    profile: str | None = None  # profile code
    entity_id: int | None = None
    sensor: str | None = None
    family: str | None = None

    @property
    def dates(self) -> tuple[dt.date, dt.date]:
        """First day and the day after the last of the period."""
        year, _sep, quarter = self.period.partition("-")
        if quarter:
            first_month = (int(quarter[1]) - 1) * 3 + 1
            start = dt.date(int(year), first_month, 1)
            end = dt.date(int(year) + (first_month == 10), (first_month + 2) % 12 + 1, 1)
            return start, end
        return dt.date(int(year), 1, 1), dt.date(int(year) + 1, 1, 1)

    @property
    def year(self) -> int:
        return int(self.period[:4])


def parse_filters(args: Mapping[str, Any]) -> Filters:
    """Filters from query parameters; a 400 saying which one is wrong."""
    period = (args.get("period") or str(dates.today().year)).strip()
    if not quota.is_period(period):
        raise BadRequest(
            _("period is a year (2026) or a quarter (2026-Q2), not %(p)s.", p=period[:20])
        )
    entity = args.get("entity") or None
    if entity is not None and not digits(str(entity)):
        raise BadRequest(_("entity must be an entity id."))
    return Filters(
        period=period,
        profile=args.get("profile") or None,
        entity_id=int(entity) if entity else None,
        sensor=args.get("sensor") or None,
        family=args.get("family") or None,
    )


def _entity_filters(f: Filters, entity_column: Any) -> list[Any]:
    clauses = []
    if f.entity_id is not None:
        clauses.append(entity_column == f.entity_id)
    if f.profile:
        clauses.append(
            entity_column.in_(select(Entity.id).join(Profile).where(Profile.code == f.profile))
        )
    return clauses


@db.custom_plans()
def ledger(f: Filters, group: str) -> list[dict[str, Any]]:
    """km² granted, reserved, consumed, co-funded per group, from quota's running totals.

    `LedgerTotal` (quota's) holds, per entity account (with its key) and
    sensor of the order posted, the sums of the account's entries, kept by a
    trigger on every insert of entries, in the same transaction: the same
    sums as adding up the entries, read from a few rows per account.
    """
    if group not in GROUPS:
        raise BadRequest(_("group_by is one of %(g)s.", g=", ".join(GROUPS)))
    kind = LedgerTotal.kind
    granted = func.coalesce(
        func.sum(case((kind == AccountKind.AVAILABLE, LedgerTotal.granted), else_=0)), 0
    )

    def balance(*kinds: str) -> Any:
        return func.coalesce(func.sum(case((kind.in_(kinds), LedgerTotal.amount), else_=0)), 0)

    columns = [
        granted.label("granted"),
        balance(AccountKind.RESERVED).label("reserved"),
        balance(AccountKind.CONSUMED).label("consumed"),
        balance(AccountKind.COFUNDED_RESERVED, AccountKind.COFUNDED_CONSUMED).label("cofunded"),
    ]
    query = (
        select(*columns)
        .select_from(LedgerTotal)
        .where(LedgerTotal.period == f.period, *_entity_filters(f, LedgerTotal.entity_id))
    )
    if f.family:
        query = query.where(LedgerTotal.family == f.family)
    if group == "sensor" or f.sensor:  # only order postings carry a sensor
        query = query.where(LedgerTotal.sensor.is_not(None))
        if f.sensor:
            query = query.where(LedgerTotal.sensor == f.sensor)
    if group in ("entity", "profile"):
        query = query.join(Entity, Entity.id == LedgerTotal.entity_id)
    if group == "profile":
        query = query.join(Profile, Profile.id == Entity.profile_id)
    label = {
        "family": LedgerTotal.family,
        "sensor": LedgerTotal.sensor,
        "entity": Entity.name,
        "profile": Profile.code,
    }[group]
    rows = db.session.execute(
        query.add_columns(label.label("group")).group_by(label).order_by(label)
    )
    result = []
    euros = _cofunded_euros(f, group)
    for row in rows:
        result.append(
            {
                "group": row.group,
                "granted_km2": Decimal(row.granted).quantize(ZERO),
                "reserved_km2": Decimal(row.reserved).quantize(ZERO),
                "consumed_km2": Decimal(row.consumed).quantize(ZERO),
                "cofunded_km2": Decimal(row.cofunded).quantize(ZERO),
                "cofunded_eur": euros.get(row.group, ZERO),
            }
        )
    return result


def _order_scope(f: Filters) -> list[Any]:
    clauses = [Order.period == f.period, *_entity_filters(f, Order.entity_id)]
    if f.sensor:
        clauses.append(Order.sensor == f.sensor)
    if f.family:
        clauses.append(Order.family == f.family)
    return clauses


@db.custom_plans()
def _cofunded_euros(f: Filters, group: str) -> dict[str, Decimal]:
    """Accepted quotes (euros excluding tax) per group, from their totals.

    `quote_totals` holds the accepted quotes' euros per period, entity, sensor
    and family of their order (kept by triggers on the quotes): the orders'
    scope of `_order_scope`, summed over a few thousand rows.
    """
    clauses = [QuoteTotal.period == f.period, *_entity_filters(f, QuoteTotal.entity_id)]
    if f.sensor:
        clauses.append(QuoteTotal.sensor == f.sensor)
    if f.family:
        clauses.append(QuoteTotal.family == f.family)
    label = {
        "sensor": QuoteTotal.sensor,
        "family": QuoteTotal.family,
        "entity": Entity.name,
        "profile": Profile.code,
    }[group]
    query = select(label, func.sum(QuoteTotal.excluding_tax)).where(*clauses)
    if group in ("entity", "profile"):
        query = query.join(Entity, Entity.id == QuoteTotal.entity_id)
    if group == "profile":
        query = query.join(Profile, Profile.id == Entity.profile_id)
    return {k: Decimal(v).quantize(ZERO) for k, v in db.session.execute(query.group_by(label))}


@db.custom_plans()
def orders_by_state(f: Filters) -> list[dict[str, Any]]:
    rows = db.session.execute(
        select(Order.status, func.count(), func.coalesce(func.sum(Order.charged_km2), 0))
        .where(*_order_scope(f))
        .group_by(Order.status)
        .order_by(Order.status)
    )
    return [
        {"status": s, "orders": n, "charged_km2": Decimal(k).quantize(ZERO)} for s, n, k in rows
    ]


def _month_near(moment: dt.datetime) -> dt.datetime:
    """The start of a month (UTC) nearest to `moment` (an aware datetime)."""
    utc = moment.astimezone(dt.UTC)
    first = utc.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return first if utc - first <= following - utc else following


@db.custom_plans()
def downloads(f: Filters) -> list[dict[str, Any]]:
    """Downloads and bytes per collection in the period, from the monthly totals.

    The period's first and last days are cut in the session's time zone (as
    comparing `created_at` with a date does), the totals' months in UTC. The
    totals are summed from the UTC month nearest the period's start to the
    one nearest its end, and the downloads between each end and its month
    (nothing when the session is in UTC, a few hours of rows otherwise) are
    added or taken off, so the figures are those of the download log exactly.
    """
    start, end = f.dates
    # The period's ends as instants, as the database casts a date in this session.
    lo, hi = db.session.execute(
        select(
            cast(literal(start), TIMESTAMP(timezone=True)),
            cast(literal(end), TIMESTAMP(timezone=True)),
        )
    ).one()
    month_lo, month_hi = _month_near(lo), _month_near(hi)
    parts = [
        select(
            DownloadTotal.collection_id.label("collection"),
            DownloadTotal.downloads.label("n"),
            DownloadTotal.bytes.label("b"),
        ).where(
            DownloadTotal.month >= month_lo.date(),
            DownloadTotal.month < month_hi.date(),
            *_entity_filters(f, DownloadTotal.entity_id),
        )
    ]
    # (from, to, sign): the rows between a period end and its month, added or taken off.
    edges = [
        (lo, month_lo, 1) if lo < month_lo else (month_lo, lo, -1),
        (month_hi, hi, 1) if month_hi < hi else (hi, month_hi, -1),
    ]
    for since, until, sign in edges:
        if since < until:
            parts.append(
                select(
                    Download.collection_id,
                    literal(sign),
                    literal(sign) * Download.bytes,
                ).where(
                    Download.created_at >= since,
                    Download.created_at < until,
                    *_entity_filters(f, Download.entity_id),
                )
            )
    both = union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()
    query = (
        select(both.c.collection, func.sum(both.c.n), func.coalesce(func.sum(both.c.b), 0))
        .group_by(both.c.collection)
        .having(func.sum(both.c.n) != 0)
        .order_by(both.c.collection)
    )
    return [
        {"collection": c, "downloads": int(n), "bytes": int(b)}
        for c, n, b in db.session.execute(query)
    ]


@db.custom_plans()
def activity(f: Filters) -> dict[str, int]:
    start, end = f.dates
    entities = select(func.count()).select_from(Entity).where(Entity.status == EntityStatus.ACTIVE)
    entities = entities.where(*_entity_filters(f, Entity.id))
    users = (
        select(func.count())
        .select_from(User)
        .where(User.status == UserStatus.ACTIVE, User.entity_id.is_not(None))
        .where(*_entity_filters(f, User.entity_id))
    )
    new_members = (
        select(func.count())
        .select_from(Entity)
        .where(Entity.membership_start >= start, Entity.membership_start < end)
        .where(*_entity_filters(f, Entity.id))
    )
    reports = select(UsageReport.status, func.count()).where(
        UsageReport.year == f.year, *_entity_filters(f, UsageReport.entity_id)
    )
    by_status = dict(db.session.execute(reports.group_by(UsageReport.status)).all())
    overdue = db.session.scalar(
        select(func.count())
        .select_from(UsageReport)
        .where(
            UsageReport.year == f.year,
            UsageReport.status.in_(EDITABLE_STATUSES),
            UsageReport.due_on < dates.today(),
            *_entity_filters(f, UsageReport.entity_id),
        )
    )
    return {
        "active_entities": db.session.scalar(entities) or 0,
        "active_users": db.session.scalar(users) or 0,
        "new_members": db.session.scalar(new_members) or 0,
        "reports_submitted": by_status.get(ReportStatus.SUBMITTED, 0)
        + by_status.get(ReportStatus.ACCEPTED, 0),
        "reports_accepted": by_status.get(ReportStatus.ACCEPTED, 0),
        "reports_overdue": overdue or 0,
    }


def with_profile_names(rows: list[dict[str, Any]], group: str) -> list[dict[str, Any]]:
    """Ledger rows grouped by profile, for people: each profile by its name in the
    reader's language, not its code (CSV exports keep the code)."""
    if group != "profile":
        return rows
    from dinamis.core.i18n import current_language

    language = current_language()
    names = {p.code: p.name(language) for p in db.session.scalars(select(Profile))}
    return [{**r, "group": names.get(r["group"], r["group"])} for r in rows]


def with_titles(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Download rows for people: each with its collection's title (its id if it has none)."""
    ids = {r["collection"] for r in rows}
    found = select(Collection).where(Collection.id.in_(ids))
    titles = {c.id: c.local_title for c in db.session.scalars(found)} if ids else {}
    return [{**r, "title": titles.get(r["collection"]) or r["collection"]} for r in rows]


def to_csv(rows: list[dict[str, Any]]) -> str:
    """A table as CSV; names and reasons typed by people cannot run as formulas."""
    if not rows:
        return ""
    header = list(rows[0])
    return csv_text(header, ([row[key] for key in header] for row in rows))


def bars(
    rows: list[dict[str, Any]],
    label: str,
    value: str,
    width: int = 420,
    top: int | None = None,
) -> dict[str, Any]:
    """A horizontal bar chart (SVG geometry) of one column, drawn by the template.

    With `top`, and more rows than that, the chart draws the `top` largest
    values (largest first) and one more bar summing the others: a chart of
    1,000 entities is unreadable and slow to draw, and the table next to it
    (and its CSV) still lists every row. `others` is how many were summed.
    """
    others = 0
    if top is not None and len(rows) > top:
        ranked = sorted(rows, key=lambda r: r[value], reverse=True)
        rest = ranked[top:]
        others = len(rest)
        rows = [
            *ranked[:top],
            {
                label: _("Others (%(n)s)", n=others),
                value: sum((r[value] for r in rest), type(rest[0][value])(0)),
            },
        ]
    top_value = max((float(r[value]) for r in rows), default=0.0) or 1.0
    return {
        "height": 22 * len(rows) + 4,
        "width": width,
        "others": others,
        "bars": [
            {
                "y": 22 * i + 2,
                "w": round(float(r[value]) / top_value * (width - 200), 1),
                "label": str(r[label]),
                "value": r[value],
            }
            for i, r in enumerate(rows)
        ],
    }
