"""A small world for surface-model tests: a stereo pair, a tri-stereo group, a mono scene,
a collection reserved to another profile, the dsm allowance and price row."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from shapely.geometry import MultiPolygon, box
from sqlalchemy import select

from dinamis.core import dates
from dinamis.extensions import db
from dinamis.membership.models import Entity
from dinamis.quota import service as quota
from dinamis.quota.models import PriceRule
from tests.factories import make_collection, make_scene

D = Decimal
WHEN = dt.datetime(2025, 6, 1, 10, 30, tzinfo=dt.UTC)
# The pair's footprints overlap on lon 2.02-2.20, lat 45.00-45.15 (about 210 km²).
PAIR = [box(2.00, 45.0, 2.20, 45.15), box(2.02, 45.0, 2.22, 45.15)]
OVERLAP = box(2.02, 45.0, 2.20, 45.15)
TIFF = b"II*\x00" + b"\x00" * 60  # stands for an image: the fake engine only checks it exists


@dataclass(frozen=True)
class World:
    pair: list[str]
    triplet: list[str]
    mono: str
    reserved: str  # a stereo scene of a collection reserved to another profile


def aoi(west: float, south: float, east: float, north: float) -> MultiPolygon:
    return MultiPolygon([box(west, south, east, north)])


ALLOWANCE = D("300")


def make_world(entity_ids: list[int], allowance: Decimal = ALLOWANCE) -> World:
    """Scenes, and for each entity the dsm allowance of this period and its price row."""
    make_collection("phr-dsm-test", sensor_family="pleiades")
    make_collection(
        "neo-reserved", sensor_family="pleiades-neo", access="profiles", profiles=["public-fr"]
    )
    pair = []
    for n, footprint in enumerate(PAIR):
        sid = f"PHR_PAIR_{n + 1}"
        make_scene(
            sid,
            footprint,
            WHEN + dt.timedelta(seconds=25 * n),
            collection="phr-dsm-test",
            stereo_group="PAIR_G",
            data=TIFF,
        )
        pair.append(sid)
    triplet = []
    for n in range(3):
        sid = f"PHR_TRI_{n + 1}"
        make_scene(
            sid,
            box(3.0, 45.0, 3.2, 45.15),
            WHEN + dt.timedelta(seconds=25 * n),
            collection="phr-dsm-test",
            stereo_group="TRI_G",
            data=TIFF,
        )
        triplet.append(sid)
    make_scene("PHR_MONO", box(2.0, 45.0, 2.2, 45.15), WHEN, collection="phr-dsm-test", data=TIFF)
    for n in range(2):
        make_scene(
            f"NEO_PAIR_{n + 1}",
            PAIR[n],
            WHEN,
            collection="neo-reserved",
            stereo_group="NEO_G",
            data=TIFF,
        )
    period = quota.period_for(dates.today())
    for entity_id in entity_ids:
        entity = db.session.get_one(Entity, entity_id)
        quota.grant(entity, "dsm", period, allowance)
        exists = db.session.scalar(
            select(PriceRule).where(
                PriceRule.profile_id == entity.profile_id, PriceRule.order_kind == "dsm"
            )
        )
        if exists is None:
            db.session.add(
                PriceRule(
                    profile_id=entity.profile_id,
                    sensor="dsm",
                    order_kind="dsm",
                    eur_per_km2=D("0.90"),
                )
            )
    db.session.flush()
    return World(pair, triplet, "PHR_MONO", "NEO_PAIR_1")
