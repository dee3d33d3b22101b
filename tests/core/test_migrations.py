"""Migrations: the head matches the models (tables, columns, indexes, and also CHECK
constraints, triggers and functions, which Alembic's comparison cannot see); every
revision goes up and down, and up again with a row in every table it finds."""

from __future__ import annotations

import re

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from dinamis.core.columns import values_of
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
                    f"(status IN ({', '.join(repr(s) for s in (*values_of(Status), 'lost'))}))"
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


# --- every revision upgraded with rows in its tables -------------------------------

SKIPPED = {"alembic_version", "spatial_ref_sys"}
SAMPLE = {  # a value of each type the tables use, for a NOT NULL column without default
    "integer": "1",
    "bigint": "1",
    "smallint": "1",
    "numeric": "1",
    "double precision": "1",
    "real": "1",
    "boolean": "false",
    "text": "'x'",
    "character varying": "'x'",
    "date": "'2026-01-01'",
    "timestamp with time zone": "'2026-01-01T00:00:00Z'",
    "timestamp without time zone": "'2026-01-01T00:00:00'",
    "jsonb": "'{}'",
    "json": "'{}'",
    "bytea": "'\\x00'",
    "ARRAY": "'{}'",
    "inet": "'127.0.0.1'",
    "uuid": "gen_random_uuid()",
    "interval": "'1 day'",
}
OVERRIDES = {("report_publications", "year"): "2026"}  # CHECK year BETWEEN 1900 AND 2200
POLYGON = "'SRID=4326;MULTIPOLYGON(((2 45,2.1 45,2.1 45.1,2 45.1,2 45)))'"


def _tables(connection):
    rows = connection.execute(
        text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename NOT LIKE 'procrastinate%'"
        )
    ).scalars()
    return sorted(set(rows) - SKIPPED)


def _allowed(connection, table, column):
    """The first value a CHECK (column IN (...)) allows, if there is one."""
    for (definition,) in connection.execute(
        text(
            "SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c"
            " WHERE c.conrelid = CAST(:t AS regclass) AND c.contype = 'c'"
        ),
        {"t": table},
    ):
        found = re.search(rf"\b{column}\)?(?:::text)? = ANY \(\(?ARRAY\['([^']*)'", definition)
        if found:
            return f"'{found.group(1)}'"
        found = re.search(rf"\b{column}\)?(?:::text)? = '([^']*)'", definition)
        if found:
            return f"'{found.group(1)}'"
    return None


def _row(connection, table, fill_nullable):
    """Column names and SQL values for one row: defaults where there are, a key of the
    referenced table for a foreign key, an allowed value for a CHECK ... IN."""
    columns = connection.execute(
        text(
            "SELECT column_name, data_type, is_nullable = 'YES', column_default IS NOT NULL,"
            " is_generated = 'ALWAYS' OR is_identity = 'YES', udt_name"
            " FROM information_schema.columns"
            " WHERE table_schema = 'public' AND table_name = :t ORDER BY ordinal_position"
        ),
        {"t": table},
    ).all()
    references = {
        r[0]: (r[1], r[2])
        for r in connection.execute(
            text(
                "SELECT a.attname, f.relname, fa.attname FROM pg_constraint c"
                " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]"
                " JOIN pg_class f ON f.oid = c.confrelid"
                " JOIN pg_attribute fa ON fa.attrelid = c.confrelid AND fa.attnum = c.confkey[1]"
                " WHERE c.conrelid = CAST(:t AS regclass) AND c.contype = 'f'"
            ),
            {"t": table},
        )
    }
    names, values = [], []
    for name, data_type, nullable, has_default, generated, udt in columns:
        if generated or has_default or (nullable and not fill_nullable):
            continue
        if name in references:
            target, key = references[name]
            value = f"(SELECT {key} FROM {target} ORDER BY 1 LIMIT 1)"
        elif (table, name) in OVERRIDES:
            value = OVERRIDES[table, name]
        elif udt == "geometry":
            value = POLYGON
        else:
            value = _allowed(connection, table, name) or SAMPLE.get(data_type)
        if value is None:
            raise AssertionError(f"{table}.{name}: no sample value for {data_type}")
        names.append(name)
        values.append(value)
    return names, values


def _fill_ledger(connection):
    """A balanced transaction of two entries: the ledger's rules (append-only, balanced,
    at least two entries) are checked at commit, which the one-row filler cannot meet."""
    if connection.execute(text("SELECT EXISTS (SELECT FROM ledger_transactions)")).scalar():
        return
    names, values = _row(connection, "ledger_transactions", False)
    connection.execute(
        text(f"INSERT INTO ledger_transactions ({', '.join(names)}) VALUES ({', '.join(values)})")
    )
    names, values = _row(connection, "ledger_entries", False)
    for amount in ("1", "-1"):
        row = [amount if n == "amount" else v for n, v in zip(names, values, strict=True)]
        connection.execute(
            text(f"INSERT INTO ledger_entries ({', '.join(names)}) VALUES ({', '.join(row)})")
        )


def _fill(engine):
    """One row in every empty table of the schema as it is at this revision."""
    filled = set()
    with engine.connect() as connection:
        tables = _tables(connection)
    pending = [t for t in tables if t not in ("ledger_transactions", "ledger_entries")]
    for _round in range(len(pending) + 1):  # referenced tables first, as they fill
        for table in list(pending):
            with engine.begin() as connection:
                if connection.execute(text(f"SELECT EXISTS (SELECT FROM {table})")).scalar():
                    pending.remove(table)
                    filled.add(table)
                    continue
            for fill_nullable in (False, True):
                try:
                    with engine.begin() as connection:
                        names, values = _row(connection, table, fill_nullable)
                        connection.execute(
                            text(
                                f"INSERT INTO {table} ({', '.join(names)})"
                                f" VALUES ({', '.join(values)})".replace(":", "\\:")
                            )
                        )
                        assert connection.execute(text(f"SELECT count(*) FROM {table}")).scalar()
                    pending.remove(table)
                    filled.add(table)
                    break
                except DBAPIError:  # tried again with every column, or once more is filled
                    continue
    if "ledger_entries" in tables:
        with engine.begin() as connection:
            _fill_ledger(connection)
        filled |= {"ledger_transactions", "ledger_entries"}
    return filled, pending


def test_every_revision_upgrades_with_rows_in_the_tables():
    name = unique_db_name("data")
    url = create_database(name)
    engine = create_engine(url)
    try:
        config = _config(url)
        script = ScriptDirectory.from_config(config)
        revisions = list(reversed(list(script.walk_revisions())))
        filled_once, unfilled = set(), {}
        for revision in revisions:
            command.upgrade(config, revision.revision)
            filled, pending = _fill(engine)
            filled_once |= filled
            unfilled[revision.revision] = pending
        with engine.connect() as connection:
            remaining = set(_tables(connection))
            empty = sorted(
                t
                for t in filled_once & remaining
                if not connection.execute(text(f"SELECT EXISTS (SELECT FROM {t})")).scalar()
            )
        assert {r: p for r, p in unfilled.items() if p} == {}
        assert len(filled_once & remaining) == len(remaining)
        assert empty == [], "tables the migrations emptied"
    finally:
        engine.dispose()
        drop_database(name)
