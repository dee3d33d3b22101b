"""Scene rows without repeated text: the database no larger than pgstac's (issue 19)

At 1,000,000 generated scenes the Dinamis database was 1.12 times pgstac's
(1,656 against 1,480 MiB). Measured column by column (bench/README.md, "Database
size"), two columns repeated what a row holds already, ~300 of its ~1,070 bytes:

- `stac_extensions` kept the item's list whole (~195 bytes), though the API adds
  its own eo, view and processing again when an item does not name them. A row now
  keeps the shortest head of the list from which the API gives back the same list
  (`dinamis.catalogue.stac_extensions.stored`): `[]` for an item declaring exactly
  those three, the common case. Here: a list ending with the three, in the API's
  order and versions, whose head names none of them, loses that tail (ingest works
  out the general case; a row this leaves whole gives back the same list too).
- `quicklook` repeated the href of an asset (~110 bytes); it now names the asset's
  key (`thumbnail`...), and the href is read from `assets`. A quicklook whose href
  no asset holds (none made by ingest or the DSM delivery) is left out.

The stereo groups' index keeps only the scenes of a group (6 % of them here); every
query of it asks for one group or for any, never for none.

Both columns are rewritten by ALTER ... TYPE ... USING: one rewrite of the table
and its indexes under an exclusive lock (as VACUUM FULL would), so the space is given
back at once, with no dead rows to vacuum. About 14 s per 100,000 scenes on the
development machine (load ~20); plan a maintenance window for a large catalogue.
Down: the API's three appended where the list does not name them (what the API
gave back, unchanged), the href read back from the asset. Reviewed by hand.

Revision ID: 0033_scene_row_size
Revises: 0032_saved_search_webhook
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0033_scene_row_size"
down_revision: str | None = "0032_saved_search_webhook"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The API's own extensions when this was written (dinamis.catalogue.stac_extensions).
EO, VIEW, PROCESSING = (
    "https://stac-extensions.github.io/eo/v2.0.0/schema.json",
    "https://stac-extensions.github.io/view/v1.0.0/schema.json",
    "https://stac-extensions.github.io/processing/v1.2.0/schema.json",
)
# Any version of one of the three (a superset of what the API takes for one of them,
# so that a head naming one is never stripped of the tail).
NAMED = r"^https://stac-extensions\\.github\\.io/{}/v[0-9]"

STRIPPED = f"""
    CASE
        WHEN jsonb_typeof(stac_extensions) <> 'array' THEN stac_extensions
        WHEN jsonb_array_length(stac_extensions) >= 3
            AND stac_extensions -> -3 = to_jsonb('{EO}'::text)
            AND stac_extensions -> -2 = to_jsonb('{VIEW}'::text)
            AND stac_extensions -> -1 = to_jsonb('{PROCESSING}'::text)
            AND NOT jsonb_path_exists(
                stac_extensions - (-1) - (-1) - (-1),
                '$[*] ? (@ like_regex "{NAMED.format("(eo|view|processing)")}")'
            )
        THEN stac_extensions - (-1) - (-1) - (-1)
        ELSE stac_extensions
    END
"""

QUICKLOOK_KEY = """
    CASE WHEN quicklook IS NOT NULL THEN
        jsonb_path_query_first(
            assets,
            '$.keyvalue() ? (@.value.href == $href).key',
            jsonb_build_object('href', quicklook),
            true
        ) #>> '{}'
    END
"""


def _given_back(name: str, url: str) -> str:
    """`[url]` unless the list names the extension already."""
    return (
        f"CASE WHEN jsonb_path_exists(stac_extensions, '$[*] ? (@ like_regex"
        f' "{NAMED.format(name)}")\', silent => true)'
        f" THEN '[]'::jsonb ELSE jsonb_build_array('{url}'::text) END"
    )


def upgrade() -> None:
    op.drop_index("ix_scenes_stereo_group", table_name="scenes")
    op.execute(
        "ALTER TABLE scenes"
        f" ALTER COLUMN stac_extensions TYPE jsonb USING ({STRIPPED}),"
        f" ALTER COLUMN quicklook TYPE varchar(500) USING ({QUICKLOOK_KEY})"
    )
    op.create_index(
        "ix_scenes_stereo_group",
        "scenes",
        ["stereo_group"],
        postgresql_where="stereo_group IS NOT NULL",
    )


def downgrade() -> None:
    op.drop_index("ix_scenes_stereo_group", table_name="scenes")
    appended = " || ".join(
        _given_back(name, url)
        for name, url in (("eo", EO), ("view", VIEW), ("processing", PROCESSING))
    )
    op.execute(
        "ALTER TABLE scenes"
        " ALTER COLUMN stac_extensions TYPE jsonb USING (CASE"
        " WHEN jsonb_typeof(stac_extensions) <> 'array' THEN stac_extensions"
        f" ELSE stac_extensions || {appended} END),"
        " ALTER COLUMN quicklook TYPE varchar(500) USING (assets -> quicklook ->> 'href')"
    )
    op.create_index("ix_scenes_stereo_group", "scenes", ["stereo_group"])
