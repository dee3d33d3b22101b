"""Migrations: the head matches the models (tables, columns, indexes, and also CHECK
constraints, triggers and functions, which Alembic's comparison cannot see); every
revision goes up and down."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from dinamis.core.migrate import alembic_config, include_object
from dinamis.core.models import metadata
from tests.conftest import create_database, drop_database, unique_db_name


@pytest.fixture(scope="module")
def modelled_url():
    """A database made from the models alone (`create_all`, with the functions and
    triggers the models declare)."""
    name = unique_db_name("models")
    url = create_database(name)
    engine = create_engine(url)
    try:
        metadata.create_all(engine)
        yield url
    finally:
        engine.dispose()
        drop_database(name)


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


def test_one_head():
    script = ScriptDirectory.from_config(_config("postgresql+psycopg://unused/x"))
    assert len(script.get_heads()) == 1, script.get_heads()


def test_head_matches_the_models(scratch_url):
    command.upgrade(_config(scratch_url), "heads")
    engine = create_engine(scratch_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": include_object, "compare_type": True}
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


# What PostgreSQL itself says of the schema's objects, whoever made them; not
# PostGIS's (an extension's) nor Procrastinate's (its own schema, applied verbatim by
# migration 0018).
SCHEMA_OBJECTS = {
    "check constraint": """
        SELECT t.relname, c.conname, pg_get_constraintdef(c.oid)
          FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
         WHERE c.contype = 'c' AND t.relnamespace = 'public'::regnamespace
           AND t.relname NOT LIKE 'procrastinate%'
    """,
    "trigger": """
        SELECT t.relname, g.tgname, pg_get_triggerdef(g.oid)
          FROM pg_trigger g JOIN pg_class t ON t.oid = g.tgrelid
         WHERE NOT g.tgisinternal AND t.relnamespace = 'public'::regnamespace
           AND t.relname NOT LIKE 'procrastinate%'
    """,
    "function": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_functiondef(p.oid)
          FROM pg_proc p
         WHERE p.pronamespace = 'public'::regnamespace AND p.proname NOT LIKE 'procrastinate%'
           AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
    """,
}


def _schema_objects(url):
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {
                kind: {(r[0], r[1]): r[2] for r in connection.execute(text(query))}
                for kind, query in SCHEMA_OBJECTS.items()
            }
    finally:
        engine.dispose()


@pytest.mark.parametrize("kind", sorted(SCHEMA_OBJECTS))
def test_head_has_the_models_checks_triggers_and_functions(scratch_url, modelled_url, kind):
    command.upgrade(_config(scratch_url), "heads")
    migrated = _schema_objects(scratch_url)[kind]
    modelled = _schema_objects(modelled_url)[kind]
    assert migrated, f"no {kind} found: the query reads nothing"
    assert sorted(set(migrated) - set(modelled)) == [], f"{kind}s only in the migrations"
    assert sorted(set(modelled) - set(migrated)) == [], f"{kind}s only in the models"
    assert {k: v for k, v in migrated.items() if modelled[k] != v} == {
        k: modelled[k] for k, v in migrated.items() if modelled[k] != v
    }


def test_a_new_value_in_a_models_tuple_is_seen(scratch_url, modelled_url):
    """The comparison above sees a status added to a model's tuple without a migration."""
    from dinamis.orders.models import Order, Status

    command.upgrade(_config(scratch_url), "heads")
    check = next(c for c in Order.__table__.constraints if c.name == "ck_orders_status")
    engine = create_engine(modelled_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE orders DROP CONSTRAINT ck_orders_status"))
            connection.execute(
                text(
                    "ALTER TABLE orders ADD CONSTRAINT ck_orders_status CHECK "
                    f"(status IN ({', '.join(repr(s) for s in (*Status.ALL, 'lost'))}))"
                )
            )
        drifted = _schema_objects(modelled_url)["check constraint"]
        migrated = _schema_objects(scratch_url)["check constraint"]
        assert drifted[("orders", "ck_orders_status")] != migrated[("orders", "ck_orders_status")]
    finally:
        with engine.begin() as connection:  # as the models make it, for the other tests
            connection.execute(text("ALTER TABLE orders DROP CONSTRAINT ck_orders_status"))
            connection.execute(
                text(f"ALTER TABLE orders ADD CONSTRAINT ck_orders_status CHECK ({check.sqltext})")
            )
        engine.dispose()
