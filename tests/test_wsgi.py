"""The WSGI entry: the same application as create_app, its start-up objects frozen out of the GC."""

from __future__ import annotations

import gc

from dinamis.wsgi import make_app


def test_make_app_freezes_the_start_up_objects_and_serves(database_url, tmp_path):
    gc.unfreeze()
    try:
        app = make_app(
            {
                "env": "test",
                "storage_root": str(tmp_path),
                "database_url": database_url,
                "secret_key": "test-secret-key-" + "x" * 32,
                "log_json": False,
                "log_level": "WARNING",
            }
        )
        assert gc.get_freeze_count() > 10_000
        gc.collect()  # a full collection still runs, over what came after
        response = app.test_client().get("/login")
        assert response.status_code == 200
        # Staff pages still ask for a login through this entry.
        assert app.test_client().get("/reports/stats").status_code == 302
    finally:
        gc.unfreeze()
