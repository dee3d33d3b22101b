"""Demo activity, so that a fresh portal shows a life: one delivered tasking request of
"Laboratoire A" with its submitted usage report, one order waiting for review, and a few
downloads. Idempotent: skipped when the demo orders already exist."""

from __future__ import annotations

import datetime as dt

from shapely.geometry import MultiPolygon, box
from sqlalchemy import select

from dinamis.accounts.models import User
from dinamis.catalogue.models import Download, Scene
from dinamis.extensions import db
from dinamis.orders import service as orders
from dinamis.orders.models import Order
from dinamis.reports import service as reports

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
    scene = db.session.scalar(
        select(Scene).where(Scene.collection_id == "pleiades-archive").order_by(Scene.id)
    )

    def request(lon: float, lat: float, title: str, description: str) -> orders.TaskingRequest:
        return orders.TaskingRequest(
            aoi=MultiPolygon([box(lon, lat, lon + 0.15, lat + 0.12)]),
            sensor="pleiades",
            window_start=today + dt.timedelta(days=10),
            window_end=today + dt.timedelta(days=100),
            max_cloud_cover=20,
            max_incidence=30,
            mode="mono",
            spectral_mode="pms",
            project_title=title,
            project_description=description,
            justification="Pas d'image récente sans nuages.",
            theme="coast",
        )

    done = orders.submit_tasking(
        user, request(-1.25, 44.6, TITLE, "Érosion du littoral aquitain après les tempêtes.")
    )
    orders.review(staff, done, True, "Faisable.")
    orders.deliver(staff, done, scene.id if scene else "PHR_DEMO", done.charged_km2)
    orders.submit_tasking(
        other,
        request(
            4.4,
            43.45,
            "Zones humides de Camargue (démo)",
            "Suivi des étangs et des sansouïres du delta du Rhône.",
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
