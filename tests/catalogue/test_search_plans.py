"""The plan of a search with an area: walk the sort's index, or read the area first.

`search.choose` decides from `search.estimate` (a sample of the catalogue): both sides
of the choice, the plan PostgreSQL then runs (EXPLAIN), and the same results."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import event, text

from dinamis.catalogue import search
from dinamis.catalogue.ingest import ingest
from dinamis.core.transaction import commit
from dinamis.extensions import db
from tests.catalogue.test_ingest import COLLECTION, item

# 1,000,000 scenes, 1,000 of which meet the area (and as many boxes).
DENSE = search.Estimate(candidates=10_000, domain=1_000_000, matched=10_000)
SPARSE = search.Estimate(candidates=60, domain=1_000_000, matched=60)


@pytest.fixture
def spread(app, tmp_path):
    """40 scenes: 30 in a cluster over Toulouse (cloud cover n), 10 spread over Brittany."""
    lines = [json.dumps(COLLECTION)]
    for n in range(1, 41):
        scene = item(n)
        scene["properties"]["eo:cloud_cover"] = n
        if n > 30:
            x = -4.5 + (n - 30) * 0.3
            scene["geometry"] = {
                "type": "Polygon",
                "coordinates": [[[x, 48], [x + 0.1, 48], [x + 0.1, 48.1], [x, 48.1], [x, 48]]],
            }
        else:
            scene["geometry"] = {
                "type": "Polygon",
                "coordinates": [[[1.3, 43.5], [1.6, 43.5], [1.6, 43.7], [1.3, 43.7], [1.3, 43.5]]],
            }
        lines.append(json.dumps(scene))
    path = tmp_path / "p.ndjson"
    path.write_text("\n".join(lines))
    with app.app_context():
        assert ingest([path]).errors == []
        commit()


def test_choose_walks_a_dense_area_and_reads_a_sparse_one_first(app):
    with app.test_request_context():
        box = search.parse({"bbox": [1.35, 43.55, 1.55, 43.70], "limit": 20})
        # Dense: 21 of every 100 rows walked meet the area: ~2,100 index rows against
        # 10,000 footprints read at random.
        assert search.choose(box, DENSE) == search.WALK
        # Sparse: ~350,000 rows to walk for a page against 60 footprints.
        assert search.choose(box, SPARSE) == search.AREA
        assert search.choose(box, search.Estimate(0, 1_000_000, 0)) == search.AREA
        # The boundary of the rule: walk cost (limit + 1) * domain / matched * per row
        # against candidates * AREA_ROW_US.
        per_row = search.WALK_INDEX_ROW_US / search.AREA_ROW_US
        edge = ((box.limit + 1) * 1_000_000 * per_row) ** 0.5
        assert search.choose(box, search.Estimate(edge * 1.1, 1_000_000, edge * 1.1)) == "walk"
        assert search.choose(box, search.Estimate(edge * 0.9, 1_000_000, edge * 0.9)) == "area"
        # A filter the sort's index lacks makes each walked row a read of the table.
        filtered = search.parse(
            {"bbox": [1.35, 43.55, 1.55, 43.70], "collections": ["x"], "limit": 20}
        )
        middling = search.Estimate(candidates=2_000, domain=1_000_000, matched=2_000)
        assert search.choose(box, middling) == search.WALK
        assert search.choose(filtered, middling) == search.AREA
        # No area, ids, or a sort without an index (nothing to walk): the planner's plan.
        assert search.choose(search.parse({"limit": 5}), DENSE) == search.PLAIN
        ids = search.parse({"bbox": [0, 40, 5, 50], "ids": ["a"]})
        assert search.choose(ids, DENSE) == search.PLAIN
        angle = search.parse({"bbox": [0, 40, 5, 50], "sortby": "view:incidence_angle"})
        assert search.choose(angle, DENSE) == search.PLAIN


def test_the_estimate_counts_the_boxes_dates_and_filters_of_the_sample(app, spread):
    with app.test_request_context():  # 41 scenes: the sample is the whole table
        guess = search.estimate(search.parse({"bbox": [1.35, 43.55, 1.55, 43.70]}))
        assert guess is not None
        assert (guess.candidates, guess.domain, guess.matched) == (30, 40, 30)
        guess = search.estimate(
            search.parse({"intersects": {"type": "Point", "coordinates": [-4.15, 48.05]}})
        )
        assert (guess.candidates, guess.matched) == (1, 1)
        guess = search.estimate(
            search.parse({"bbox": [-5, 40, 5, 50], "max_cloud": 10, "sortby": "eo:cloud_cover"})
        )
        assert (guess.candidates, guess.domain, guess.matched) == (40, 10, 10)
        dated = search.parse(
            {"bbox": [-5, 40, 5, 50], "datetime": "2024-05-01T00:00:00Z/2024-05-10T23:59:59Z"}
        )
        in_range = sum(1 for n in range(1, 41) if 1 + n % 28 <= 10)
        assert search.estimate(dated).domain == in_range


def _explained(app, params: dict, guess: search.Estimate) -> tuple[search.Page, str]:
    """The page chosen from `guess`, and PostgreSQL's plan of the statement that read it."""
    seen: list[tuple[str, dict]] = []

    def keep(_conn, _cursor, statement, parameters, _context, _many):
        if "ORDER BY" in statement:  # a page's statement (not the sample's nor a count)
            seen.append((statement, parameters))

    with app.test_request_context():
        # 40 rows: PostgreSQL would read them all and sort them whatever the statement;
        # here each statement shows the plan it is written for (as at 1,000,000 scenes).
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            db.session.execute(text(f"SET LOCAL {setting} = off"))
        # The connection the session reads with (the test's transaction).
        connection = db.session.connection()
        event.listen(connection, "before_cursor_execute", keep)
        try:
            original = search.estimate
            search.estimate = lambda query: guess  # type: ignore[assignment]
            page = search.run_page(search.parse(params), count=False, rows=True)
        finally:
            search.estimate = original  # type: ignore[assignment]
            event.remove(connection, "before_cursor_execute", keep)
        statement, parameters = seen[-1]
        raw = db.session.connection().exec_driver_sql(f"EXPLAIN {statement}", parameters)
        plan = "\n".join(row[0] for row in raw)
        db.session.rollback()
    return page, plan


@pytest.mark.parametrize("sortby", ["-datetime", "+eo:cloud_cover"])
def test_both_sides_of_the_choice_run_their_plan_and_agree(app, spread, sortby):
    params = {"bbox": [1.35, 43.55, 1.55, 43.70], "sortby": sortby, "limit": 5}
    walked, walk_plan = _explained(app, params, DENSE)
    first, area_plan = _explained(app, params, SPARSE)
    assert walked.plan == search.WALK and first.plan == search.AREA
    index = "ix_scenes_datetime_id" if sortby == "-datetime" else "ix_scenes_cloud_cover_id"
    assert index in walk_plan and "idx_scenes_footprint" not in walk_plan
    assert "CTE matches" in area_plan and "idx_scenes_footprint" in area_plan
    assert index not in area_plan
    assert [r.id for r in walked.rows] == [r.id for r in first.rows]
    assert walked.next == first.next and walked.next is not None
    # The area read first counted its matches: numberMatched, exact, on the first page.
    assert first.matched == 30 and walked.matched is None


def test_a_walk_without_a_full_page_gives_way_to_the_area(app, spread):
    """The estimate said dense, the area is not (a point in Brittany meets one scene):
    the walk ends without a page and the area-first plan reads it."""
    params = {"intersects": {"type": "Point", "coordinates": [-4.15, 48.05]}, "limit": 5}
    page, plan = _explained(app, params, DENSE)
    assert page.plan == search.AREA and "CTE matches" in plan
    assert [r.id for r in page.rows] == ["PHR_0031"] and page.matched == 1
    # Unless the estimate says the area is too large to read whole: PostgreSQL's plan.
    huge = search.Estimate(candidates=10**6, domain=10**6, matched=10**6)
    page, plan = _explained(app, params, huge)
    assert page.plan == search.PLAIN and "CTE matches" not in plan
    assert [r.id for r in page.rows] == ["PHR_0031"]


def test_a_point_search_takes_the_plan_of_its_density(app, spread):
    """A point in the cluster (30 footprints of 40) is walked; a point meeting one
    footprint among many reads it through the spatial index."""
    with app.test_request_context():
        inside = search.parse({"intersects": {"type": "Point", "coordinates": [1.44, 43.6]}})
        lonely = search.parse({"intersects": {"type": "Point", "coordinates": [-4.15, 48.05]}})
        assert search.choose(inside, search.estimate(inside)) == search.WALK
        many = search.Estimate(candidates=1, domain=1_000_000, matched=1)
        assert search.choose(lonely, many) == search.AREA
        page = search.run_page(lonely, count=False, rows=True)
        assert [r.id for r in page.rows] == ["PHR_0031"]
        db.session.rollback()


def test_the_portal_counts_up_to_the_cap_then_says_about_how_many(client, spread, monkeypatch):
    english = {"Accept-Language": "en"}
    assert "40 scene(s) match" in client.get("/catalogue/", headers=english).get_data(as_text=True)
    monkeypatch.setattr(search, "MATCH_CAP", 5)
    big = search.Estimate(candidates=1_234_567, domain=1_234_567, matched=1_234_567)
    monkeypatch.setattr(search, "estimate", lambda query: big)
    page = client.get("/catalogue/", headers=english).get_data(as_text=True)
    assert "About 1.2 million scenes match" in page
    page = client.get("/catalogue/", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Environ 1,2 million de scènes correspondent" in page
    # Estimated 8, counted (up to the cap) beyond 5: the estimate, never below the cap.
    few = search.Estimate(candidates=8, domain=8, matched=8)
    monkeypatch.setattr(search, "estimate", lambda query: few)
    page = client.get("/catalogue/", headers=english).get_data(as_text=True)
    assert "About 8 scenes match" in page
    monkeypatch.setattr(search, "MATCH_CAP", 10)
    page = client.get("/catalogue/", headers=english).get_data(as_text=True)
    assert "About 11 scenes match" in page
    # The STAC API gives numberMatched only when it is exact (OGC API Features).
    body = client.post("/stac/search", json={"limit": 5}).get_json()
    assert "numberMatched" not in body


def test_the_sample_is_read_by_a_thread_and_searches_walk_meanwhile(app, spread, monkeypatch):
    monkeypatch.setattr(search, "SAMPLE_IN_BACKGROUND", True)
    box = {"bbox": [1.35, 43.55, 1.55, 43.70], "limit": 5}
    with app.test_request_context():
        assert search.choose(search.parse(box), None) == search.WALK
        search.estimate(search.parse(box))  # starts the reading (or it is already done)
        search.wait_for_sample()
        # Read on a connection of its own (which does not see this test's scenes, kept
        # in the test's transaction).
        assert search.estimate(search.parse(box)) is not None
        page = search.run_page(search.parse(box), count=False, rows=True)
        assert len(page.rows) == 5
        db.session.rollback()


# --- The walk through the area's cells (CELLS) ------------------------------------------------


def test_the_cells_of_a_point_a_box_and_what_does_not_walk_cells(app):
    cell = search.CELL_DEGREES
    assert cell == 2 and search.BIG_CELL == -100_000
    with app.test_request_context():
        # (1.444, 43.604) lies in cell (0, 21): a box of at most 2° holding it has its
        # south-west corner in cell x -1 or 0, y 20 or 21.
        point = search.parse({"intersects": {"type": "Point", "coordinates": [1.444, 43.604]}})
        assert search.cells(point) == [-80, -79, 20, 21, search.BIG_CELL]
        # West of 0° and south of the equator: cells count down from -1.
        south_west = search.parse({"intersects": {"type": "Point", "coordinates": [-0.5, -0.5]}})
        assert search.cells(south_west) == [-202, -201, -102, -101, search.BIG_CELL]
        # On a cell's edge, one cell more to the west and south (a box of exactly 2°).
        edge = search.parse({"intersects": {"type": "Point", "coordinates": [2.0, 44.0]}})
        assert search.cells(edge) == [x * 100 + y for x in (-1, 0, 1) for y in (20, 21, 22)] + [
            search.BIG_CELL
        ]
        box = search.parse({"bbox": [1.35, 43.55, 1.55, 43.70]})
        assert search.cells(box) == search.cells(point)
        # Too many cells, another sort, ids, no area: the whole index or no walk at all.
        for params in (
            {"bbox": [-5.2, 41.3, 9.6, 51.1]},
            {"bbox": [1.35, 43.55, 1.55, 43.70], "sortby": "+eo:cloud_cover"},
            {"bbox": [1.35, 43.55, 1.55, 43.70], "ids": ["a"]},
            {"bbox": [1.35, 43.55, 1.55, 43.70], "filter": "eo:cloud_cover < 10"},
            {"limit": 5},
        ):
            assert search.cells(search.parse(params)) == [], params


def test_choose_walks_the_cells_when_they_hold_few_of_the_rows(app):
    with app.test_request_context():
        point = search.parse(
            {"intersects": {"type": "Point", "coordinates": [1.444, 43.604]}, "limit": 20}
        )
        # 1,000,000 scenes, 7,000 under the point; its five cells hold 75,000 (Toulouse at
        # 1,000,000 generated scenes): ~225 rows walked there against ~3,000 in the index.
        dense = search.Estimate(7_000, 1_000_000, 7_000, in_cells=75_000)
        assert search.choose(point, dense) == search.CELLS
        # Cells holding nearly everything: no rows saved, five branches more to plan.
        everywhere = search.Estimate(7_000, 1_000_000, 7_000, in_cells=1_000_000)
        assert search.choose(point, everywhere) == search.WALK
        # The boundary: the rows the cells save against CELL_BRANCH_US a cell.
        per_row, branches = search.WALK_INDEX_ROW_US, 5 * search.CELL_BRANCH_US
        walk = (point.limit + 1) * 1_000_000 / 7_000 * per_row
        edge = (walk - branches) / per_row * 7_000 / (point.limit + 1)
        below = search.Estimate(7_000, 1_000_000, 7_000, in_cells=edge * 0.9)
        above = search.Estimate(7_000, 1_000_000, 7_000, in_cells=edge * 1.1)
        assert search.choose(point, below) == search.CELLS
        assert search.choose(point, above) == search.WALK
        # A sparse area is still read first, cells or not.
        assert search.choose(point, search.Estimate(3, 1_000_000, 3, in_cells=30)) == search.AREA
        # Sorted by cloud cover there are no cells to walk: the cloud cover's index.
        by_cloud = search.parse(
            {
                "intersects": {"type": "Point", "coordinates": [1.444, 43.604]},
                "sortby": "eo:cloud_cover",
            }
        )
        assert search.choose(by_cloud, dense) == search.WALK


def test_the_estimate_counts_the_rows_of_the_cells(app, spread):
    with app.test_request_context():  # 30 scenes in Toulouse's cells
        guess = search.estimate(search.parse({"bbox": [1.35, 43.55, 1.55, 43.70]}))
        assert guess is not None and (guess.domain, guess.in_cells) == (40, 30)
        brittany = search.estimate(
            search.parse({"intersects": {"type": "Point", "coordinates": [-4.15, 48.05]}})
        )
        # Brittany's scenes start at -4.2° to -1.5°: one in the point's cells (x -4 and -3).
        assert brittany is not None and brittany.in_cells == 1
        large = search.estimate(search.parse({"bbox": [-5, 40, 9, 51]}))
        assert large is not None and large.in_cells is None


@pytest.mark.parametrize(
    "params", [{"limit": 5}, {"limit": 5, "datetime": "2024-05-02T00:00:00Z/.."}]
)
def test_the_walk_through_the_cells_runs_its_plan_and_agrees_page_after_page(app, spread, params):
    point = {"intersects": {"type": "Point", "coordinates": [1.444, 43.604]}, **params}
    # 1,000 of 1,000,000 scenes under the point, 10,000 in its cells (pages of 5).
    guess = search.Estimate(1_000, 1_000_000, 1_000, in_cells=10_000)
    walked, plan = _explained(app, point, guess)
    assert walked.plan == search.CELLS
    assert "ix_scenes_cell_datetime_id" in plan and "Merge Append" in plan
    assert "ix_scenes_datetime_id" not in plan and "idx_scenes_footprint" not in plan
    # The same pages as the whole index's walk and the area read first, next and prev.
    with app.test_request_context():
        token, pages = None, []
        for _ in range(10):
            read = []
            for forced in (search.CELLS, search.WALK, search.AREA):
                query = search.parse({**point, **({"token": token} if token else {})})
                page = search.run_page(query, count=False, rows=True, plan=forced)
                read.append(([r.id for r in page.rows], page.next, page.prev))
            assert read[0] == read[1] == read[2], read
            pages.append(read[0])
            token = read[0][1]
            if token is None:
                break
        back = search.parse({**point, "token": pages[-1][2]})
        before = search.run_page(back, count=False, rows=True, plan=search.CELLS)
        assert [r.id for r in before.rows] == pages[-2][0]
        db.session.rollback()
    assert len(pages) > 1 and sum(len(p[0]) for p in pages) == len({i for p in pages for i in p[0]})


def test_the_cells_hold_every_scene_that_can_meet_the_area(app, tmp_path):
    """Scenes filed under the cells west and south of the area's, on a cell's edge, and a
    wide scene (the wide ones' cell) are all found, as the area read first finds them."""
    shapes = {
        1: [[0.9, 43.9], [1.5, 43.9], [1.5, 44.5], [0.9, 44.5]],  # in cell (0, 21), holds it
        2: [[-0.5, 42.5], [1.5, 42.5], [1.5, 44.5], [-0.5, 44.5]],  # 2° wide, cell (-1, 21)
        3: [[1.2, 41.9], [2.1, 41.9], [2.1, 44.2], [1.2, 44.2]],  # 2.3° tall: the wide ones'
        4: [[1.99, 43.99], [2.5, 43.99], [2.5, 44.5], [1.99, 44.5]],  # cell (0, 21), its edge
        5: [[0.0, 40.0], [1.0, 40.0], [1.0, 41.0], [0.0, 41.0]],  # in (0, 20), misses it
        6: [[5.0, 45.0], [5.5, 45.0], [5.5, 45.5], [5.0, 45.5]],  # far away
    }
    lines = [json.dumps(COLLECTION)]
    for n, ring in shapes.items():
        lines.append(
            json.dumps(item(n, geometry={"type": "Polygon", "coordinates": [[*ring, ring[0]]]}))
        )
    path = tmp_path / "cells.ndjson"
    path.write_text("\n".join(lines))
    with app.app_context():
        assert ingest([path]).errors == []
        commit()
    with app.test_request_context():
        for x, y, expected in (
            (1.2, 44.2, {"PHR_0001", "PHR_0002", "PHR_0003"}),
            (1.995, 43.995, {"PHR_0003", "PHR_0004"}),
            (0.5, 40.5, {"PHR_0005"}),
            (3.0, 47.0, set()),
        ):
            query = search.parse({"intersects": {"type": "Point", "coordinates": [x, y]}})
            assert search.cells(query)
            found = search.run_page(query, count=False, rows=True, plan=search.CELLS)
            first = search.run_page(query, count=False, rows=True, plan=search.AREA)
            assert {r.id for r in found.rows} == {r.id for r in first.rows} == expected, (x, y)
        db.session.rollback()


def test_a_walk_keeps_its_plan_and_the_other_statements_are_planned_each_time(app, spread):
    """A walk's statement (WALK, CELLS: its shape fixes its plan) is prepared after five
    runs on a connection, so that PostgreSQL may keep a generic plan, which reads the same
    pages; the area read first, the planner's plan, the count and a CQL2 filter's walk
    are planned for their values at every run (never prepared)."""
    prepared = text("SELECT statement, generic_plans FROM pg_prepared_statements")
    point = {"intersects": {"type": "Point", "coordinates": [1.444, 43.604]}, "limit": 5}
    filtered = {"bbox": [1.35, 43.55, 1.55, 43.70], "filter": "eo:cloud_cover < 50", "limit": 5}
    with app.test_request_context():
        # A generic plan from the first run (PostgreSQL plans five for their values first).
        db.session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))

        def pages(params: dict, plan: str, count: bool = False) -> list:
            token, read = None, []
            while True:
                query = search.parse({**params, **({"token": token} if token else {})})
                page = search.run_page(query, count=count, rows=not count, plan=plan)
                read.append([r.id for r in page.rows])
                token = page.next
                if token is None:
                    return read

        first = pages(point, search.AREA)
        assert len(first) > 1
        for _ in range(6):
            assert pages(point, search.AREA) == first
            assert pages(point, search.PLAIN, count=True) == first
            assert pages(filtered, search.WALK)
        assert not [s for s, _n in db.session.execute(prepared) if "scenes" in s]
        for _ in range(6):
            assert pages(point, search.WALK) == first
            assert pages(point, search.CELLS) == first
        kept = [(s, n) for s, n in db.session.execute(prepared) if "scenes" in s]
        # The first page's and the next pages' walk, through the date index and the cells.
        assert len(kept) == 4 and all(n > 0 for _s, n in kept), kept
        assert sum("UNION ALL" in s for s, _n in kept) == 2
        db.session.rollback()
