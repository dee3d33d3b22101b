"""A reply sent twice (a double click on Send, Back and Send again) is added once: it was
added twice, and staff were told twice (found by the edges sweep of the portal)."""

from __future__ import annotations

from sqlalchemy import func, select

from dinamis.accounts import service as accounts
from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.support import service as support
from dinamis.support.models import TicketMessage
from tests.conftest import login
from tests.helpers import form_tokens


def _messages(app, ticket_id: int) -> int:
    with app.app_context():
        query = select(func.count()).where(TicketMessage.ticket_id == ticket_id)
        return db.session.scalar(query) or 0


def test_a_reply_sent_twice_is_added_once(app, client, cast):
    with app.app_context():
        user = accounts.get_user_by_email(cast.user_a)
        ticket = support.open_ticket(user, support.Draft(category="other", subject="S", body="B"))
        commit()
        ticket_id, key = ticket.id, ticket.access_key
    login(client, cast.user_a)
    data = {**form_tokens(client, f"/support/{ticket_id}"), "body": "Any news?"}
    first = client.post(f"/support/{ticket_id}/reply", data=data)
    assert first.status_code == 302
    again = client.post(f"/support/{ticket_id}/reply", data=data, follow_redirects=True)
    assert again.status_code == 200
    assert _messages(app, ticket_id) == 2  # the request and one reply
    # by the ticket's key (no account) as well
    anonymous = app.test_client()
    data = {**form_tokens(anonymous, f"/support/t/{key}"), "body": "Still there?"}
    assert anonymous.post(f"/support/t/{key}/reply", data=data).status_code == 302
    assert anonymous.post(f"/support/t/{key}/reply", data=data).status_code == 302
    assert _messages(app, ticket_id) == 3
