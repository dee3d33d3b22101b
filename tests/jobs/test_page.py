"""The scheduler page in the per-test transaction: workers, schedule, languages, access."""

from __future__ import annotations

import html

from sqlalchemy import text

from dinamis.core.transaction import commit
from dinamis.extensions import db
from tests.conftest import login
from tests.helpers import csrf_token


def test_the_scheduler_page_in_french_with_a_live_worker(app, client, cast):
    with app.app_context():
        db.session.execute(text("INSERT INTO procrastinate_workers DEFAULT VALUES"))
        commit()
    login(client, cast.staff)  # a French-speaking account
    page = html.unescape(client.get("/admin/jobs/").get_data(as_text=True))
    assert "Tâches planifiées" in page
    assert "1 processus de travail est en marche." in page
    assert "chaque jour à 00 h 05 UTC" in page and "chaque minute" in page
    assert "Aucune exécution pour l'instant." in page
    assert 'href="/admin/jobs/"' in page  # listed in the staff menu
    token = csrf_token(client, "/admin/jobs/")
    assert client.post("/admin/jobs/send_mail/run", data={"csrf_token": token}).status_code == 302
    # send_mail has a queueing lock: a second one while the first waits is refused, in words
    again = client.post("/admin/jobs/send_mail/run", data={"csrf_token": token})
    assert again.status_code == 409
    assert "Cette tâche attend déjà un processus de travail." in html.unescape(
        again.get_data(as_text=True)
    )
    listed = html.unescape(client.get("/admin/jobs/?task=send_mail").get_data(as_text=True))
    assert "en attente" in listed


def test_members_do_not_see_the_scheduler(client, cast):
    login(client, cast.referent_a)
    assert client.get("/admin/jobs/").status_code == 403
    assert 'href="/admin/jobs/"' not in client.get("/").get_data(as_text=True)
