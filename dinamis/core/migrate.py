"""Alembic, driven from the application (CLI and tests)."""

from __future__ import annotations

from collections.abc import Callable

from alembic.config import Config
from geoalchemy2 import alembic_helpers

from dinamis import PROJECT_ROOT


def alembic_config(database_url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """What Alembic compares of the schema: not PostGIS's own tables (spatial_ref_sys...),
    and GeoAlchemy2's spatial indexes as GeoAlchemy2 names them."""
    if type_ == "table" and reflected and compare_to is None:
        return False
    spatial: Callable[..., object] = alembic_helpers.include_object  # GeoAlchemy2: untyped
    return bool(spatial(obj, name, type_, reflected, compare_to))
