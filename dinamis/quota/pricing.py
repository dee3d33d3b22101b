"""Co-funding prices: the part of an order beyond the free allowance."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import gettext as _
from sqlalchemy import select

from dinamis.core.errors import ServiceError
from dinamis.extensions import db
from dinamis.quota.models import PriceRule

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Price:
    """A priced co-funded area: exact euros, excluding and including tax."""

    km2: Decimal
    eur_per_km2: Decimal
    excluding_tax: Decimal
    tax_rate: Decimal
    tax: Decimal
    including_tax: Decimal

    def quoted(self) -> dict[str, Decimal]:
        """The figures a quote keeps, by name (columns of an order's Quote and of a surface
        model's request): all but the km², which each keeps in its own words."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "km2"}


def euros(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def unit_price(profile_id: int, sensor: str, order_kind: str) -> Decimal:
    """The grid's €/km² for this profile, sensor and kind of order, or a clear refusal."""
    rule = db.session.scalar(
        select(PriceRule).where(
            PriceRule.profile_id == profile_id,
            PriceRule.sensor == sensor,
            PriceRule.order_kind == order_kind,
        )
    )
    if rule is None:
        raise ServiceError(
            _(
                "No co-funding price is set for %(sensor)s (%(kind)s) for this profile; "
                "ask the Dinamis team.",
                sensor=sensor,
                kind=order_kind,
            )
        )
    return rule.eur_per_km2


def price(
    profile_id: int, sensor: str, order_kind: str, cofunded_km2: Decimal, tax_rate: Decimal
) -> Price:
    """Price `cofunded_km2` (already multiplied for stereo / tri-stereo) from the grid."""
    unit = unit_price(profile_id, sensor, order_kind) if cofunded_km2 > 0 else Decimal("0.00")
    excluding = euros(cofunded_km2 * unit)
    tax = euros(excluding * tax_rate)
    return Price(
        km2=cofunded_km2,
        eur_per_km2=unit,
        excluding_tax=excluding,
        tax_rate=tax_rate,
        tax=tax,
        including_tax=excluding + tax,
    )


def quote_valid_until(issued: dt.date, validity_days: int) -> dt.date:
    """The last day a co-funding quote issued on `issued` may be accepted."""
    return issued + dt.timedelta(days=validity_days)


def quote_expired(valid_until: dt.date | None, today: dt.date) -> bool:
    """The one expiry rule of co-funding quotes (orders' and surface models'): a quote may be
    decided until the end of its `valid_until` day, not after. An expired quote cancels what
    it priced and releases its km² (`expire_orders`, every night, or the decision refused)."""
    return valid_until is not None and today > valid_until
