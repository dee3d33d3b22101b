"""Demo activity, so that a fresh portal shows a life: one delivered tasking request of
"Laboratoire A" with its submitted usage report, one order waiting for review, and a few
downloads. Idempotent: skipped when the demo orders already exist."""

from __future__ import annotations

import datetime as dt

from geoalchemy2.shape import to_shape
from shapely.geometry import MultiPolygon, box, mapping
from sqlalchemy import select

from dinamis.accounts.models import User
from dinamis.catalogue.ingest import Report, load
from dinamis.catalogue.models import Download, Scene
from dinamis.extensions import db
from dinamis.orders import service as orders
from dinamis.orders.models import Order
from dinamis.reports import service as reports
from seed.catalogue import with_files

TITLE = "Suivi du trait de côte (démo)"


def load_activity(today: dt.date | None = None) -> list[str]:
    today = today or dt.date.today()
    if db.session.scalar(select(Order.id).where(Order.project_title == TITLE)) is not None:
        return ["activity: demo orders already there"]
    user = db.session.scalar(select(User).where(User.email == "user.a@labo-a.test"))
    staff = db.session.scalar(select(User).where(User.email == "staff@dinamis.test"))
    other = db.session.scalar(select(User).where(User.email == "user.b@agence-b.test"))
    if user is None or staff is None or other is None:
        return ["activity: demo accounts missing, skipped"]

    def request(
        lon: float, lat: float, title: str, description: str, start: dt.date
    ) -> orders.TaskingRequest:
        return orders.TaskingRequest(
            aoi=MultiPolygon([box(lon, lat, lon + 0.15, lat + 0.12)]),
            sensor="pleiades",
            window_start=start,
            window_end=start + dt.timedelta(days=90),
            max_cloud_cover=20,
            max_incidence=30,
            mode="mono",
            spectral_mode="pms",
            project_title=title,
            project_description=description,
            justification="Pas d'image récente sans nuages.",
            theme="coast",
        )

    # The delivered order was submitted a month ago (within this year's allowance), and
    # the scene delivered for it was acquired over its area within its window.
    submitted = max(today - dt.timedelta(days=30), today.replace(month=1, day=1))
    start = submitted + dt.timedelta(days=orders.settings().lead_days)
    done = orders.submit_tasking(
        user,
        request(-1.25, 44.6, TITLE, "Érosion du littoral aquitain après les tempêtes.", start),
        today=submitted,
    )
    orders.review(staff, done, True, "Faisable.")
    scene = _acquired_for(done, max(start, today))
    orders.deliver(staff, done, scene.id)
    orders.submit_tasking(
        other,
        request(
            4.4,
            43.45,
            "Zones humides de Camargue (démo)",
            "Suivi des étangs et des sansouïres du delta du Rhône.",
            today + dt.timedelta(days=10),
        ),
    )
    report = reports.start_for_order(user, done)
    for collection, size in (("spot67-ortho-france", 2_400_000), ("pleiades-archive", 8_100_000)):
        first = db.session.scalar(select(Scene).where(Scene.collection_id == collection))
        if first is not None:
            db.session.add(
                Download(
                    user_id=user.id,
                    entity_id=user.entity_id,
                    scene_id=first.id,
                    collection_id=collection,
                    asset="data",
                    bytes=size,
                )
            )
    db.session.flush()
    reports.save(
        user,
        report,
        reports.ReportContent(
            project=TITLE,
            themes=["coast", "risks"],
            scene_ids=report.scene_ids,
            products="Cartes du trait de côte au 1:5000.",
            benefit="Plan régional de gestion de l'érosion.",
            publications=[("Recul dunaire en Aquitaine", today.year, "10.1234/demo.dunes")],
        ),
    )
    reports.submit(user, report)
    return ["activity: 2 demo orders (one delivered, one under review), 1 usage report, downloads"]


def _acquired_for(order: Order, day: dt.date) -> Scene:
    """A Pléiades scene of the demo catalogue acquired for `order` on `day`, over its AOI."""
    west, south, east, north = to_shape(order.aoi).bounds
    when = dt.datetime.combine(day, dt.time(10, 42), tzinfo=dt.UTC)
    item = {
        "type": "Feature",
        "id": f"PLEIADES-1A_{when:%Y%m%d}_DEMO",
        "collection": "pleiades-archive",
        "geometry": mapping(box(west - 0.05, south - 0.04, east + 0.05, north + 0.04)),
        "properties": {
            "datetime": when.isoformat(),
            "platform": "pleiades-1a",
            "constellation": "pleiades",
            "eo:cloud_cover": 4.0,
            "view:incidence_angle": 12.5,
            "gsd": 0.5,
            "processing:level": "primary",
            "dinamis:spectral_mode": "PMS",
        },
    }
    report = Report()
    load([("seed", with_files(item))], report)
    if report.errors:
        raise RuntimeError(f"the demo delivery's scene is refused: {report.errors}")
    return db.session.get_one(Scene, item["id"])
