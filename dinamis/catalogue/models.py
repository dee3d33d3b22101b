"""The image catalogue: collections and their scenes (STAC names in the API)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Computed,
    Double,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dinamis.core.columns import BigIntPk, CreatedAt, IntPk, UpdatedAt, choice, within
from dinamis.core.db import Base
from dinamis.core.i18n import current_language

# Who may download a collection's files. OPEN: everyone, after accepting the licence
# (Etalab 2.0); MEMBERS: signed-in members of an active entity; PROFILES: members whose
# entity's profile is listed.
Access = StrEnum("Access", "OPEN MEMBERS PROFILES")


def quicklook_key(assets: Any) -> str | None:
    """The key of a scene's quicklook among its STAC assets: the asset whose roles name
    it `thumbnail`, else `overview`, whatever its key; else one keyed `thumbnail`."""
    if not isinstance(assets, dict):
        return None
    for role in ("thumbnail", "overview"):
        for key, asset in assets.items():
            roles = asset.get("roles") if isinstance(asset, dict) else None
            if isinstance(roles, list) and role in roles and isinstance(asset.get("href"), str):
                return str(key)
    thumbnail = assets.get("thumbnail")
    if isinstance(thumbnail, dict) and isinstance(thumbnail.get("href"), str):
        return "thumbnail"
    return None


class Collection(Base):
    __tablename__ = "collections"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))  # English, as the STAC API gives it
    title_fr: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    sensor_family: Mapped[str] = mapped_column(String(50))
    licence_code: Mapped[str] = mapped_column(String(50))
    licence_version: Mapped[str] = mapped_column(String(20))
    licence_url: Mapped[str | None] = mapped_column(String(300))
    access: Mapped[str] = choice(Access, 10, default=Access.MEMBERS)
    profiles: Mapped[list[str]] = mapped_column(ARRAY(String(40)), default=list)
    orderable: Mapped[bool] = mapped_column(default=False)
    extra: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[CreatedAt]

    def title_in(self, language: str) -> str:
        """The title in `language`; the English one while staff have given no French."""
        return (self.title_fr or self.title) if language == "fr" else self.title

    @property
    def local_title(self) -> str:
        """The title in the reader's language."""
        return self.title_in(current_language())


# A scene's cell: the CELL_DEGREES square holding the south-west corner of its footprint's
# box (x * 100 + y, x and y counted in cells from 0° east and 0° north), or BIG_CELL when
# the box is wider or taller than a cell (a long SPOT strip, a footprint cut at the
# antimeridian: 0.2 % of the generated scenes). A search with a small area walks the
# cells its area's scenes can lie in (search.CELLS), newest first, through the index
# ix_scenes_cell_datetime_id (migration 0034). Written once, as SQL: the index's
# expression and the search's must be the same for PostgreSQL to match them. Laid out as
# PostgreSQL prints it back (its line breaks included), which is what Alembic compares
# the model with (tests/core/test_migrations.py).
CELL_DEGREES = 2
BIG_CELL = -100_000
SCENE_CELL = (
    f"(\nCASE\n    WHEN (fp_east - fp_west) <= {CELL_DEGREES}"
    f" AND (fp_north - fp_south) <= {CELL_DEGREES}"
    f" THEN (floor(fp_west / {CELL_DEGREES}) * 100 + floor(fp_south / {CELL_DEGREES}))::integer"
    f"\n    ELSE {BIG_CELL}\nEND)"
)


class Scene(Base):
    """One acquisition: footprint, angles, levels; free-form properties kept as given."""

    __tablename__ = "scenes"
    __table_args__ = (
        # The search's order (newest first, then id) within a collection, and overall.
        Index("ix_scenes_collection_datetime_id", "collection_id", "datetime", "id"),
        # Both sort indexes carry what a search with an area filters on first (the
        # datetime and the footprint's bounding box): a search's walk (search.WALK) reads them
        # without reading the table, which it reads only for the rows whose box
        # meets the area (migration 0016).
        Index(
            "ix_scenes_datetime_id",
            "datetime",
            "id",
            postgresql_include=["fp_west", "fp_south", "fp_east", "fp_north"],
        ),
        # The search's sort by cloud cover: NULLs as search.LOWEST_NUMBER, then the id.
        Index(
            "ix_scenes_cloud_cover_id",
            text("coalesce(cloud_cover, -1000000)"),
            "id",
            postgresql_include=[
                "cloud_cover",
                "datetime",
                "fp_west",
                "fp_south",
                "fp_east",
                "fp_north",
            ],
        ),
        # A small area's walk (search.CELLS): the scenes of a cell, newest first, with
        # their footprint's box (migration 0034).
        Index(
            "ix_scenes_cell_datetime_id",
            text(SCENE_CELL),
            "datetime",
            "id",
            postgresql_include=["fp_west", "fp_south", "fp_east", "fp_north"],
        ),
        # A stereo group's scenes (6 % of the generated ones): every query names one
        # group or asks for any (migration 0033).
        Index(
            "ix_scenes_stereo_group",
            "stereo_group",
            postgresql_where=text("stereo_group IS NOT NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    collection_id: Mapped[str] = mapped_column(ForeignKey("collections.id", ondelete="RESTRICT"))
    platform: Mapped[str | None] = mapped_column(String(50))
    constellation: Mapped[str | None] = mapped_column(String(50))
    datetime: Mapped[dt.datetime]
    footprint = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=False
    )
    cloud_cover: Mapped[Decimal | None] = within(0, 100, Numeric(5, 2), check="cloud_range")
    incidence_angle: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    sun_elevation: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    sun_azimuth: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    gsd: Mapped[Decimal | None] = mapped_column(Numeric(8, 3))
    processing_level: Mapped[str | None] = mapped_column(String(30))
    spectral_mode: Mapped[str | None] = mapped_column(String(20))
    stereo_group: Mapped[str | None] = mapped_column(String(100))
    # The key of the quicklook among the assets (`quicklook_key`), whose href it names;
    # the href itself until migration 0033.
    quicklook: Mapped[str | None] = mapped_column(String(500))
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    assets: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # The item's stac_extensions as ingested (migration 0020), less the tail the API
    # adds again (`stac_extensions.stored`, migration 0033).
    stac_extensions: Mapped[list[str]] = mapped_column(
        JSONB, default=list, server_default=text("'[]'::jsonb")
    )
    updated_at: Mapped[UpdatedAt]
    # The footprint's bounding box, kept by PostgreSQL (PostGIS's box of a geometry
    # is rounded outwards: it always contains the footprint). Not part of the API.
    fp_west: Mapped[float | None] = mapped_column(
        Double, Computed("ST_XMin(footprint)", persisted=True)
    )
    fp_south: Mapped[float | None] = mapped_column(
        Double, Computed("ST_YMin(footprint)", persisted=True)
    )
    fp_east: Mapped[float | None] = mapped_column(
        Double, Computed("ST_XMax(footprint)", persisted=True)
    )
    fp_north: Mapped[float | None] = mapped_column(
        Double, Computed("ST_YMax(footprint)", persisted=True)
    )

    collection: Mapped[Collection] = relationship()


class IngestProgress(Base):
    """How far an NDJSON file's `dinamis catalogue ingest` has committed (migration 0030).

    Written in the same transaction as the items it counts, so a killed load
    restarts from the last checkpoint; deleted when the file is done. A file of
    another size or modification time at the same path starts again from the top.
    """

    __tablename__ = "catalogue_ingest_progress"

    path: Mapped[str] = mapped_column(Text, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    byte_offset: Mapped[int] = mapped_column(BigInteger)  # of the next line to read
    line_number: Mapped[int] = mapped_column(BigInteger)  # of the last line committed
    items: Mapped[int] = mapped_column(BigInteger)  # committed by the runs so far
    refused: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[UpdatedAt]


class LicenceAcceptance(Base):
    """A member accepted a licence version (once; anonymous visitors' live in their session)."""

    __tablename__ = "licence_acceptances"
    __table_args__ = (
        UniqueConstraint("user_id", "licence_code", "licence_version", name="uq_licence_once"),
    )

    id: Mapped[IntPk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    licence_code: Mapped[str] = mapped_column(String(50))
    licence_version: Mapped[str] = mapped_column(String(20))
    accepted_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class BasketItem(Base):
    """A scene in a member's basket: kept with the account, so it follows them from one
    browser to another (an anonymous visitor's basket lives in their session)."""

    __tablename__ = "basket_items"
    __table_args__ = (UniqueConstraint("user_id", "scene_id", name="uq_basket_items_scene"),)

    id: Mapped[BigIntPk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    scene_id: Mapped[str] = mapped_column(ForeignKey("scenes.id", ondelete="CASCADE"), index=True)
    added_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


# WEB: the file link on the portal or in a STAC asset; LINK: a basket's signed link.
DownloadVia = StrEnum("DownloadVia", "WEB LINK")


class Download(Base):
    """One file sent (or part of one, for a Range request): the log reporting reads."""

    __tablename__ = "downloads"
    __table_args__ = (
        CheckConstraint("bytes >= 0", name="bytes_positive"),
        Index("ix_downloads_created_at", "created_at"),
        Index("ix_downloads_entity_created", "entity_id", "created_at"),
    )

    id: Mapped[BigIntPk]
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    entity_id: Mapped[int | None] = mapped_column(ForeignKey("entities.id", ondelete="SET NULL"))
    scene_id: Mapped[str] = mapped_column(String(200), index=True)
    collection_id: Mapped[str] = mapped_column(String(100))
    asset: Mapped[str] = mapped_column(String(100))
    bytes: Mapped[int] = mapped_column(BigInteger)
    ranged: Mapped[bool] = mapped_column(default=False)
    via: Mapped[str] = choice(DownloadVia, 10, default=DownloadVia.WEB)
    created_at: Mapped[CreatedAt]
