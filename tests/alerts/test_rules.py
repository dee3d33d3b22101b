"""The alerts' rules: what a new scene triggers, who is told of what, once, in their language."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from dinamis.accounts import service as accounts
from dinamis.alerts import service
from dinamis.alerts.models import AlertMatch, AlertNotice, AlertSceneBatch, Frequency
from dinamis.catalogue.models import Collection
from dinamis.catalogue.permissions import may_download
from dinamis.core.errors import ServiceError
from dinamis.core.mail import OutboxMessage
from dinamis.core.transaction import commit, rollback
from dinamis.extensions import db
from dinamis.membership.models import Entity
from tests.alerts.conftest import ELSEWHERE, add_scenes, item, save_for
from tests.factories import make_user


def matched(saved_id: int) -> set[str]:
    return set(
        db.session.scalars(
            select(AlertMatch.scene_id).where(AlertMatch.saved_search_id == saved_id)
        )
    )


def messages(to: str) -> list[OutboxMessage]:
    return list(
        db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.template == "alert_scenes", OutboxMessage.to_address == to)
            .order_by(OutboxMessage.id)
        )
    )


def test_no_batch_while_no_search_is_active(app, collections):
    with app.app_context():
        add_scenes(item("S0"))
        assert db.session.scalar(select(func.count()).select_from(AlertSceneBatch)) == 0


def test_a_reingested_scene_is_not_new(app, cast, collections):
    with app.app_context():
        add_scenes(item("S1"))
        save_for(cast.user_a)
        add_scenes(item("S1", cloud=20))  # the same scene updated: no new batch
        assert db.session.scalar(select(func.count()).select_from(AlertSceneBatch)) == 0
        add_scenes(item("S2"), item("S3"))  # one statement: one batch of both
        batches = list(db.session.scalars(select(AlertSceneBatch.scene_ids)))
        assert [sorted(b) for b in batches] == [["S2", "S3"]]


def test_only_scenes_the_member_may_see(app, cast, collections):
    """Research-only scenes reach the research member and staff, not a public actor;
    nothing reaches a member of a suspended entity but open scenes. The SQL rule
    agrees with catalogue.permissions.may_download for every pair."""
    with app.app_context():
        suspended = db.session.get(Entity, cast.entity_b)
        lonely = make_user("user.c@lab-c.test")
        searches = {
            email: save_for(email).id
            for email in (cast.user_a, cast.user_b, cast.staff, lonely.email)
        }
        lonely.entity.status = "suspended"
        db.session.flush()
        add_scenes(item("O1", "open-col"), item("M1", "members-col"), item("R1", "research-col"))
        assert service.match_new_scenes() > 0
        assert matched(searches[cast.user_a]) == {"O1", "M1", "R1"}
        assert matched(searches[cast.user_b]) == {"O1", "M1"}
        assert matched(searches[cast.staff]) == {"O1", "M1", "R1"}
        assert matched(searches[lonely.email]) == {"O1"}
        for email, saved_id in searches.items():
            user = accounts.get_user_by_email(email)
            for collection in db.session.scalars(select(Collection)):
                scene = {"open-col": "O1", "members-col": "M1", "research-col": "R1"}[collection.id]
                assert (scene in matched(saved_id)) == may_download(user, collection), (
                    email,
                    collection.id,
                )
        assert suspended.status == "active"


def test_the_other_criteria(app, cast, collections):
    with app.app_context():
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        strict = save_for(
            cast.user_a,
            collections=["members-col"],
            max_cloud=Decimal("20"),
            max_incidence=Decimal("15"),
            spectral_modes=["PMS"],
            stereo_only=True,
        )
        ranged = save_for(
            cast.user_a,
            name="2024",
            date_from=dt.date(2024, 1, 1),
            date_to=dt.date(2024, 12, 31),
        )
        good = {"view:incidence_angle": 10, "dinamis:spectral_mode": "PMS"}
        add_scenes(
            item("OK", **good, **{"dinamis:stereo_group": "g1"}),
            item("CLOUDY", cloud=50, **good, **{"dinamis:stereo_group": "g2"}),
            item("MONO", **good),
            item("MS", **{"view:incidence_angle": 10, "dinamis:spectral_mode": "MS"}),
            item("OTHER", "open-col", **good, **{"dinamis:stereo_group": "g3"}),
            item("FAR", footprint=ELSEWHERE, **good, **{"dinamis:stereo_group": "g4"}),
            item("OLD", when=now - dt.timedelta(days=400)),
            item("IN2024", when=dt.datetime(2024, 12, 31, 23, 0, tzinfo=dt.UTC)),
            item("IN2025", when=dt.datetime(2025, 1, 1, 0, 0, tzinfo=dt.UTC)),
        )
        service.match_new_scenes()
        assert matched(strict.id) == {"OK"}
        # "From now on" is the day it was saved: an old scene ingested today is not news.
        assert "OLD" not in matched(strict.id)
        assert matched(ranged.id) == {"IN2024"}


def test_at_once_one_message_in_the_members_language_with_a_working_unsubscribe(
    app, client, cast, collections
):
    with app.app_context():
        fr = save_for(cast.user_a, name="Littoral", frequency=Frequency.AT_ONCE)
        en = save_for(cast.user_b, name="Coast", frequency=Frequency.AT_ONCE)
        add_scenes(item("N1"), item("N2", cloud=None))
        service.match_new_scenes()
        assert service.prepare(Frequency.AT_ONCE) == 2
        assert service.prepare(Frequency.AT_ONCE) == 0  # nothing new: nothing sent
        [french] = messages(cast.user_a)
        [english] = messages(cast.user_b)
        assert french.subject == "Dinamis : 2 nouvelles scènes pour « Littoral »"
        assert english.subject == 'Dinamis: 2 new scenes for "Coast"'
        assert "acquise le" in french.body_text and "N1" in french.body_text
        assert "New scenes matched your saved search" in english.body_text
        assert "/catalogue/scenes/N1/quicklook" in english.body_html
        assert "/catalogue/scenes/N2" in english.body_text
        link = re.search(r"http\S+/alerts/unsubscribe/\S+", english.body_text).group(0)
        token = link.rsplit("/", 1)[1]
        assert en.active and fr.active
        commit()
    page = client.get(f"/alerts/unsubscribe/{token}")
    assert page.status_code == 200 and "Coast" in page.get_data(as_text=True)
    assert client.post(f"/alerts/unsubscribe/{token}").status_code == 200
    with app.app_context():
        assert not db.session.get(type(en), en.id).active
        assert db.session.get(type(fr), fr.id).active
        add_scenes(item("N3"))
        service.match_new_scenes()
        assert matched(en.id) == {"N1", "N2"}  # paused: no longer matched
        assert service.prepare(Frequency.AT_ONCE) == 1
    assert client.get("/alerts/unsubscribe/forged.token").status_code == 404
    assert client.post(f"/alerts/unsubscribe/{token[:-2]}xx").status_code == 404


def test_digests_one_per_period_and_nothing_when_nothing_is_new(app, cast, collections):
    with app.app_context():
        daily = save_for(cast.user_a, name="Daily", frequency=Frequency.DAILY)
        weekly = save_for(cast.user_a, name="Weekly", frequency=Frequency.WEEKLY)
        quiet = save_for(cast.user_b, name="Quiet", area=ELSEWHERE, frequency=Frequency.DAILY)
        monday = dt.date(2026, 12, 7)
        add_scenes(item("D1"))
        service.match_new_scenes()
        add_scenes(item("D2"))
        service.match_new_scenes()
        assert service.prepare(Frequency.AT_ONCE) == 0  # not theirs
        assert service.prepare(Frequency.DAILY, monday) == 1
        [notice] = db.session.scalars(
            select(AlertNotice).where(AlertNotice.saved_search_id == daily.id)
        )
        assert (notice.period, notice.scenes) == ("day-2026-12-07", 2)
        add_scenes(item("D3"))
        service.match_new_scenes()
        assert service.prepare(Frequency.DAILY, monday) == 0  # the day's digest is written
        assert service.prepare(Frequency.DAILY, monday + dt.timedelta(days=1)) == 1
        assert service.prepare(Frequency.WEEKLY, monday) == 1
        assert service.prepare(Frequency.WEEKLY, monday + dt.timedelta(days=3)) == 0
        assert [m.subject for m in messages(cast.user_a)].count(
            messages(cast.user_a)[0].subject
        ) == 1
        assert len(messages(cast.user_a)) == 3
        assert messages(cast.user_b) == []
        assert matched(quiet.id) == set()
        assert weekly.id != daily.id


def test_a_worker_dying_half_way_sends_nothing_twice(app, cast, collections):
    """The matches, the notice and the message are one transaction: a failure before the
    commit leaves the matches untold, and the next run writes the message once."""
    with app.app_context():
        save_for(cast.user_a, frequency=Frequency.AT_ONCE)
        add_scenes(item("X1"))
        commit()
        service.match_new_scenes()
        service.prepare(Frequency.AT_ONCE)
        rollback()  # the worker died before its commit
        assert db.session.scalar(select(func.count()).select_from(AlertMatch)) == 0
        assert db.session.scalar(select(func.count()).select_from(AlertSceneBatch)) == 1
        service.match_new_scenes()
        assert service.prepare(Frequency.AT_ONCE) == 1
        commit()
        service.match_new_scenes()
        assert service.prepare(Frequency.AT_ONCE) == 0
        assert len(messages(cast.user_a)) == 1
        # The key: a second notice for the same search and period cannot be written.
        notice = db.session.scalars(select(AlertNotice)).one()
        with (
            pytest.raises(Exception, match="uq_alert_notices_period"),
            db.session.begin_nested(),
        ):
            db.session.execute(
                text(
                    "INSERT INTO alert_notices (saved_search_id, period, channel, scenes)"
                    " VALUES (:s, :p, 'email', 1)"
                ),
                {"s": notice.saved_search_id, "p": notice.period},
            )


def test_refusals_say_which_field(app, cast, collections):
    with app.app_context():
        with pytest.raises(ServiceError) as refused:
            save_for(
                cast.user_a,
                name=" ",
                date_from=dt.date(2026, 5, 1),
                date_to=dt.date(2026, 4, 1),
                collections=["nope"],
                max_cloud=Decimal("101"),
                spectral_modes=["XX"],
                frequency="hourly",
            )
        assert set(refused.value.fields) == {
            "name",
            "date_to",
            "collections",
            "max_cloud",
            "spectral_modes",
            "frequency",
        }
        with pytest.raises(ServiceError) as area:
            service.area_from_text('{"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}')
        assert "aoi" in area.value.fields


def test_one_click_unsubscribe_header(app, client, cast, collections):
    """Every alert e-mail carries List-Unsubscribe (its signed link) and
    List-Unsubscribe-Post (RFC 8058); the mail client's POST pauses the search."""
    from dinamis.core.mail import _build

    with app.app_context():
        saved = save_for(cast.user_b, name="Coast", frequency=Frequency.AT_ONCE)
        add_scenes(item("U1"))
        service.match_new_scenes()
        assert service.prepare(Frequency.AT_ONCE) == 1
        [message] = messages(cast.user_b)
        link = re.search(r"http\S+/alerts/unsubscribe/\S+", message.body_text).group(0)
        assert message.headers == {
            "List-Unsubscribe": f"<{link}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
        email = _build(message, app.config["DINAMIS_SETTINGS"].mail)
        assert email["List-Unsubscribe"] == f"<{link}>"
        assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        commit()
    path = link.split("://", 1)[1].split("/", 1)[1]
    answer = client.post(f"/{path}", data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200
    with app.app_context():
        assert not db.session.get(type(saved), saved.id).active


def test_from_now_on_starts_on_the_utc_day_whatever_the_schemes_zone(app, cast, collections):
    """A search's dates are UTC days (as the catalogue's and STAC's): saved without a start
    date, it watches from the UTC day of this instant, and a scene acquired now is new to
    it even where the scheme's today is already another day (in Paris from 23:00 UTC in
    winter; here a zone chosen so that its day differs from UTC's at this hour)."""
    import dataclasses

    from dinamis.core import dates

    hour = dt.datetime.now(dt.UTC).hour
    zone = "Etc/GMT-14" if hour >= 12 else "Etc/GMT+12"  # UTC+14 / UTC-12
    settings = app.config["DINAMIS_SETTINGS"]
    app.config["DINAMIS_SETTINGS"] = dataclasses.replace(settings, timezone=zone)
    try:
        with app.app_context():
            assert dates.today() != dates.utc_today()
            saved = save_for(cast.user_a)
            assert saved.date_from == dates.utc_today()
            add_scenes(item("NOW"))
            service.match_new_scenes()
            assert matched(saved.id) == {"NOW"}
    finally:
        app.config["DINAMIS_SETTINGS"] = settings
