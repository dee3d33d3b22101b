"""One webhook per address and account: the "Add" form sent twice (a double click, Back
and send again) made two webhooks for one URL, each event then delivered twice, once
signed with a secret the member never saw (found by the edges sweep of the portal)."""

from __future__ import annotations

import threading

import pytest
from alembic import command
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import sessionmaker

from dinamis.accounts import service as accounts
from dinamis.accounts.models import User
from dinamis.core.errors import Conflict
from dinamis.core.migrate import alembic_config
from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.webhooks import service
from dinamis.webhooks.models import Webhook
from tests.conftest import create_database, drop_database, login, unique_db_name
from tests.factories import make_entity, make_user
from tests.helpers import csrf_token
from tests.webhooks.test_web_and_api import PUBLIC


def test_the_form_sent_again_is_refused_at_the_address(app, cast, strict):
    client = app.test_client()
    login(client, cast.user_a)
    data = {"csrf_token": csrf_token(client, "/webhooks/"), "url": PUBLIC, "order_events": "y"}
    assert client.post("/webhooks/", data=data).status_code == 201
    again = client.post("/webhooks/", data=data, headers={"Accept-Language": "fr"})
    assert again.status_code == 409
    page = again.get_data(as_text=True)
    assert 'id="url-error"' in page and "Vous avez déjà un webhook pour cette adresse." in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Webhook)) == 1
        other = accounts.get_user_by_email(cast.user_b)
        service.create(other, url=PUBLIC)  # another account may call the same address


@pytest.fixture
def scratch(app):
    """Real commits from two connections: a database of its own, dropped afterwards."""
    name = unique_db_name("hooks")
    url = create_database(name)
    config = alembic_config(url)
    config.attributes["configure_logging"] = False
    command.upgrade(config, "heads")
    engine = create_engine(url, pool_size=4)
    db.bind(sessionmaker(bind=engine, expire_on_commit=False), app)
    try:
        yield
    finally:
        engine.dispose()
        drop_database(name)


def test_two_sendings_at_once_make_one_webhook(app, scratch, strict):
    with app.app_context():
        user = make_user("hooks@lab.test", entity=make_entity("Lab Hooks"))
        commit()
        user_id = user.id
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def send() -> None:
        with app.app_context():
            actor = db.session.get(User, user_id)
            start.wait(5)
            try:
                service.create(actor, url=PUBLIC)
                commit()
                outcomes.append("made")
            except Conflict:
                db.session.rollback()
                outcomes.append("refused")

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(outcomes) == ["made", "refused"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Webhook)) == 1
