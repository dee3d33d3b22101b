"""Migrations: the head matches the models; every revision goes up and down."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from dinamis.core.migrate import alembic_config
from dinamis.core.models import metadata
from tests.conftest import create_database, drop_database, unique_db_name


@pytest.fixture(scope="module")
def scratch_url():
    name = unique_db_name("migrations")
    url = create_database(name)
    try:
        yield url
    finally:
        drop_database(name)


def _config(url):
    config = alembic_config(url)
    config.attributes["configure_logging"] = False
    return config


def _include(obj, name, type_, reflected, compare_to):
    # PostGIS's own tables are not ours; GeoAlchemy2 names its spatial indexes itself.
    from geoalchemy2 import alembic_helpers

    if type_ == "table" and reflected and compare_to is None:
        return False
    return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)


def test_one_head():
    script = ScriptDirectory.from_config(_config("postgresql+psycopg://unused/x"))
    assert len(script.get_heads()) == 1, script.get_heads()


def test_head_matches_the_models(scratch_url):
    command.upgrade(_config(scratch_url), "heads")
    engine = create_engine(scratch_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": _include, "compare_type": True}
        )
        diff = compare_metadata(context, metadata)
    engine.dispose()
    assert diff == []


def test_every_revision_goes_down_and_up(scratch_url):
    config = _config(scratch_url)
    script = ScriptDirectory.from_config(config)
    revisions = list(reversed(list(script.walk_revisions())))  # base first
    command.upgrade(config, "heads")
    for revision in reversed(revisions):
        command.downgrade(config, revision.down_revision or "base")
    engine = create_engine(scratch_url)
    with engine.connect() as connection:
        tables = (
            connection.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
            .scalars()
            .all()
        )
    assert set(tables) <= {"alembic_version", "spatial_ref_sys"}
    for revision in revisions:
        command.upgrade(config, revision.revision)
    with engine.connect() as connection:
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    assert version == revisions[-1].revision
