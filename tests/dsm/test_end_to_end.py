# ruff: noqa: F811  (the scratch database fixtures, imported from test_worker)
"""End to end, with CARS: a DSM requested through the API on a generated pair, computed by
a real worker process (`dinamis worker`, the real engine), delivered into the catalogue,
downloaded through the licensed downloads, and compared with the heights the pair was
rendered from (the same measures as the engine's accuracy test)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import time
from decimal import Decimal

import numpy as np
import rasterio

from dinamis.accounts import service as accounts
from dinamis.catalogue.ingest import Report, load
from dinamis.core import dates
from dinamis.core.transaction import commit
from dinamis.dsm import raster, service, synthetic
from dinamis.extensions import db as database
from dinamis.quota import service as quota
from tests.conftest import login
from tests.dsm.test_worker import (  # noqa: F401  (fixtures)
    _burst,
    _ledger_balanced,
    scratch_engine,
    scratch_url,
)
from tests.factories import make_collection, make_entity, make_user
from tests.helpers import csrf_token

SITE = synthetic.Site("endtoend", lon0=1.4442, lat0=43.6045, ground_m=196.0, seed=7)
EDGE_M, WALL_M = 25.0, 4.0


def test_an_api_request_is_computed_by_cars_and_downloaded(
    app,
    client,
    scratch_url,
    scratch_engine,
    tmp_path,
):
    from sqlalchemy.orm import sessionmaker

    database.bind(sessionmaker(bind=scratch_engine, expire_on_commit=False), app)
    with app.app_context():
        entity = make_entity("Labo E2E", profile_code="research-fr")
        user = make_user("e2e.user@labo-e2e.test", entity=entity)
        _token, clear = accounts.create_api_token(user, "e2e")
        quota.grant(entity, "dsm", quota.period_for(dates.today()), Decimal("10"))
        make_collection("phr-e2e", sensor_family="pleiades")
        folder = service.local_path("scenes/e2e/x").parent
        folder.mkdir(parents=True, exist_ok=True)
        spec = synthetic.write_stereo(folder, SITE)
        items = []
        for k, view in enumerate(spec.views):
            data = view.path.read_bytes()
            items.append(
                (
                    "e2e",
                    {
                        "type": "Feature",
                        "id": f"E2E_{view.view.upper()}",
                        "collection": "phr-e2e",
                        "geometry": view.footprint_wgs84.__geo_interface__,
                        "properties": {
                            "datetime": (
                                dt.datetime(2026, 6, 1, 10, 30, tzinfo=dt.UTC)
                                + dt.timedelta(seconds=25 * k)
                            ).isoformat(),
                            "gsd": 0.5,
                            "dinamis:stereo_group": "E2E_PAIR",
                        },
                        "assets": {
                            "data": {
                                "href": f"scenes/e2e/{view.path.name}",
                                "type": "image/tiff; application=geotiff",
                                "roles": ["data"],
                                "file:size": len(data),
                                "file:checksum": "1220" + hashlib.sha256(data).hexdigest(),
                            }
                        },
                    },
                )
            )
        report = Report()
        load(items, report)
        assert report.errors == []
        commit()
    bearer = {"Authorization": f"Bearer {clear}"}
    rules = app.config["DINAMIS_SETTINGS"].dsm
    rules.__dict__["min_km2"] = Decimal("0.01")  # the generated pair covers 0.1 km²
    try:
        created = client.post(
            "/api/v1/dsm-requests",
            json={
                "scene_id": "E2E_FORWARD",
                "resolution_m": "0.5",
                "project": {"title": "E2E", "description": "CARS on a generated pair."},
            },
            headers=bearer,
        )
    finally:
        rules.__dict__["min_km2"] = Decimal("10")
    assert created.status_code == 201, created.get_json()
    request = created.get_json()
    assert request["status"] == "queued"

    started = time.monotonic()
    ran = _burst(
        scratch_url, app, tmp_path, timeout=1200, DINAMIS_DSM_ENGINE="dinamis.dsm.engine:compute"
    )
    print(f"\nend to end: the worker took {time.monotonic() - started:.0f} s")
    assert ran.returncode == 0, ran.stderr[-3000:]
    done = client.get(f"/api/v1/dsm-requests/{request['id']}", headers=bearer).get_json()
    assert done["status"] == "delivered", (done, ran.stderr[-3000:])
    assert done["progress"] == 100 and done["product"]["item_id"].startswith("DSM_D-")
    _ledger_balanced(app, request["id"], Decimal(done["charged_km2"]))

    login(client, "e2e.user@labo-e2e.test")
    token = csrf_token(client, "/catalogue/licences/dsm")
    client.post("/catalogue/licences/dsm", data={"csrf_token": token})
    got = client.get(f"/catalogue/scenes/{done['product']['item_id']}/files/dsm")
    assert got.status_code == 200
    scene = synthetic.make_scene(SITE)
    with rasterio.open(io.BytesIO(got.data)) as src:
        z = src.read(1).astype(np.float64)
        valid = z != src.nodata
        epsg = raster.horizontal_epsg(src.crs)
        truth, wall, x, y = scene.truth_on_grid(tuple(src.transform), z.shape, epsg)
        assert src.tags()["VERTICAL_REFERENCE"] == "EGM96"
    truth = truth - raster.geoid_undulation(SITE.lon0, SITE.lat0)
    inner_half = SITE.half_extent_m - EDGE_M
    inner = (np.abs(x) <= inner_half) & (np.abs(y) <= inner_half)
    error = z - truth
    checked = inner & valid
    smooth = checked & (wall > WALL_M)
    valid_fraction = float(valid[inner].mean())
    rmse = float(np.sqrt(np.mean(error[smooth] ** 2)))
    median = float(np.median(np.abs(error[checked])))
    print(f"\nend to end: valid {valid_fraction:.1%}, RMSE {rmse:.3f} m, median {median:.3f} m")
    assert valid_fraction >= 0.90 and rmse <= 0.5 and median <= 0.3
