"""Seed the allowance rules, the price grid and the current period's grants."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import yaml
from sqlalchemy import select

from dinamis.extensions import db
from dinamis.membership.models import Profile
from dinamis.quota import service
from dinamis.quota.models import AllowanceRule, PriceRule


def load_quota(directory: Path, today: dt.date | None = None) -> list[str]:
    """Add missing rules and prices (existing ones are kept), then open this year."""
    with (directory / "quota.yaml").open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    session = db.session
    profiles = {p.code: p for p in session.scalars(select(Profile))}
    rules = prices = 0
    for code, families in data.get("allowances", {}).items():
        profile = profiles[code]
        for family, amount in families.items():
            exists = session.scalar(
                select(AllowanceRule).where(
                    AllowanceRule.profile_id == profile.id, AllowanceRule.family == family
                )
            )
            if exists is None:
                session.add(
                    AllowanceRule(profile_id=profile.id, family=family, km2=Decimal(str(amount)))
                )
                rules += 1
    for code, sensors in data.get("prices", {}).items():
        profile = profiles[code]
        for sensor, kinds in sensors.items():
            for kind, amount in kinds.items():
                price = session.scalar(
                    select(PriceRule).where(
                        PriceRule.profile_id == profile.id,
                        PriceRule.sensor == sensor,
                        PriceRule.order_kind == kind,
                    )
                )
                if price is None:
                    session.add(
                        PriceRule(
                            profile_id=profile.id,
                            sensor=sensor,
                            order_kind=kind,
                            eur_per_km2=Decimal(str(amount)),
                        )
                    )
                    prices += 1
    session.flush()
    period = service.period_for(today or dt.date.today())
    opened = service.open_period(period)
    return [
        f"allowance rules: {rules} added",
        f"prices: {prices} added",
        f"period {period}: {len(opened)} allowance(s) granted (or already granted)",
    ]
