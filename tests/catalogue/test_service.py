"""The catalogue's service and permissions without a request: an anonymous visitor's
licences and basket live in the `Visit` the service is given (the views keep it in
the Flask session), and the access rules answer for each kind of person."""

from __future__ import annotations

import pytest
from flask_login import AnonymousUserMixin

from dinamis.accounts import service as accounts
from dinamis.catalogue import service
from dinamis.catalogue.models import Collection
from dinamis.catalogue.permissions import may_download, may_see
from dinamis.core.errors import Forbidden
from dinamis.extensions import db
from tests.catalogue.test_downloads import library  # noqa: F401 - the fixture

pytestmark = pytest.mark.usefixtures("library")


def test_a_visitors_licence_and_basket_change_only_their_visit(app):
    with app.app_context():  # no request: there is no Flask session to reach
        visitor = AnonymousUserMixin()
        visit = service.Visit()
        opened = db.session.get(Collection, "open-data")
        assert not service.licence_accepted(visitor, opened, visit)
        service.accept_licence(visitor, opened, visit)
        assert visit.licences == [f"{opened.licence_code}:{opened.licence_version}"]
        assert service.licence_accepted(visitor, opened, visit)
        assert not service.licence_accepted(visitor, opened, service.Visit())

        assert service.basket_add(visitor, visit, ["OPEN_1", "MEMB_1", "OPEN_1"]) == [
            "OPEN_1",
            "MEMB_1",
        ]
        assert visit.basket == ["OPEN_1", "MEMB_1"]
        lines = {line.file.scene.id: line for line in service.basket_lines(visitor, visit)}
        assert lines["OPEN_1"].token is not None
        assert lines["MEMB_1"].token is None
        service.basket_remove(visitor, visit, "OPEN_1")
        assert visit.basket == ["MEMB_1"]
        service.basket_clear(visitor, visit)
        assert visit.basket == []


def test_a_visitor_cannot_accept_a_members_licence(app):
    with app.app_context():
        visit = service.Visit()
        with pytest.raises(Forbidden):
            service.accept_licence(
                AnonymousUserMixin(), db.session.get(Collection, "members-only"), visit
            )
        assert visit.licences == []


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        # open, members, research-only (profiles: research-fr)
        ("visitor", (True, False, False)),
        ("user_a", (True, True, True)),  # an entity of the research profile
        ("user_b", (True, True, False)),  # an entity of another profile
        ("staff", (True, True, True)),
    ],
)
def test_who_may_see_and_download_each_collection(app, cast, who, expected):
    with app.app_context():
        user = (
            AnonymousUserMixin()
            if who == "visitor"
            else accounts.get_user_by_email(getattr(cast, who))
        )
        collections = [
            db.session.get(Collection, cid)
            for cid in ("open-data", "members-only", "research-only")
        ]
        assert all(may_see(user, c) for c in collections)
        assert tuple(may_download(user, c) for c in collections) == expected
