"""Every route, tried as every role: deny by default, no entity sees another's data.

The table below must name every endpoint of the application: a new route
without a row fails `test_every_route_is_in_the_table`. Each row says who may
reach the route; everyone else must be refused (anonymous visitors sent to
the login page or answered 401, signed-in users answered 403).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest
from flask.testing import FlaskClient
from shapely.geometry import MultiPolygon, box

from dinamis.accounts import service as accounts
from dinamis.alerts import service as alerts
from dinamis.core.dates import today as scheme_today
from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.membership.models import Entity
from dinamis.orders import service as orders
from dinamis.quota import service as quota
from dinamis.quota.models import PriceRule
from dinamis.reports import service as reports
from dinamis.support import service as support
from tests.conftest import login
from tests.helpers import csrf_token

ANON, OWNER, REFERENT, OTHER_USER, OTHER_REFERENT, STAFF = (
    "anonymous",
    "owner",  # user.a: made the order, the ticket; member of entity A
    "referent",  # referent.a: Referent of entity A
    "other_user",  # user.b: member of entity B
    "other_referent",  # referent.b: Referent of entity B
    "staff",
)
ROLES = (ANON, OWNER, REFERENT, OTHER_USER, OTHER_REFERENT, STAFF)
SIGNED_IN = frozenset(ROLES) - {ANON}
EVERYONE = frozenset(ROLES)
ENTITY_A = frozenset({OWNER, REFERENT, STAFF})
MEMBERS = frozenset({OWNER, REFERENT, OTHER_USER, OTHER_REFERENT})


@dataclass(frozen=True)
class Route:
    method: str
    path: Callable[[dict[str, object]], str]
    allowed: frozenset[str]
    api: bool = False


ROUTES: dict[str, Route] = {
    "core.home": Route("GET", lambda o: "/", EVERYONE),
    "core.healthz": Route("GET", lambda o: "/healthz", EVERYONE),
    "core.switch_language": Route("POST", lambda o: "/language", EVERYONE),
    "accounts.login": Route("GET", lambda o: "/login", EVERYONE),
    "accounts.logout": Route("POST", lambda o: "/logout", EVERYONE),
    "accounts.forgot_password": Route("GET", lambda o: "/forgot-password", EVERYONE),
    "accounts.reset_password": Route("GET", lambda o: "/reset-password/bad-token", EVERYONE),
    "accounts.profile": Route("GET", lambda o: "/account", SIGNED_IN),
    "accounts.change_password": Route("POST", lambda o: "/account/password", SIGNED_IN),
    "accounts.create_token": Route("POST", lambda o: "/account/tokens", SIGNED_IN),
    "accounts.revoke_token": Route(
        "POST", lambda o: f"/account/tokens/{o['token']}/revoke", frozenset({OWNER})
    ),
    "api.openapi_document": Route("GET", lambda o: "/api/v1/openapi.json", EVERYONE, api=True),
    "api_docs.reference": Route("GET", lambda o: "/api", EVERYONE),
    "api.me": Route("GET", lambda o: "/api/v1/me", SIGNED_IN, api=True),
    "orders.index": Route("GET", lambda o: "/orders/", SIGNED_IN),
    "orders.new_tasking": Route("GET", lambda o: "/orders/tasking/new", MEMBERS),
    "orders.coverage": Route("POST", lambda o: "/orders/coverage", MEMBERS),
    "orders.show": Route("GET", lambda o: f"/orders/{o['order']}", ENTITY_A),
    "orders.quote_pdf": Route("GET", lambda o: f"/orders/{o['order']}/quote.pdf", ENTITY_A),
    "orders.cancel": Route("POST", lambda o: f"/orders/{o['order']}/cancel", {OWNER, REFERENT}),
    "orders.decide_quote": Route(
        "POST", lambda o: f"/orders/{o['order']}/quote/decline", frozenset({REFERENT})
    ),
    "orders.review": Route("POST", lambda o: f"/orders/{o['order']}/review/reject", {STAFF}),
    "orders.deliver": Route("POST", lambda o: f"/orders/{o['order']}/deliveries", {STAFF}),
    "orders.close": Route("POST", lambda o: f"/orders/{o['order']}/close", {STAFF}),
    "quota.mine": Route("GET", lambda o: "/quota/", MEMBERS),
    "quota.entity": Route("GET", lambda o: f"/quota/{o['entity']}", ENTITY_A),
    "quota.statement_export": Route(
        "GET", lambda o: f"/quota/{o['entity']}/statement.csv", ENTITY_A
    ),
    "quota.adjust": Route("POST", lambda o: f"/quota/{o['entity']}/adjust", {STAFF}),
    "support.new": Route("GET", lambda o: "/support/new", EVERYONE),
    "support.index": Route("GET", lambda o: "/support/", SIGNED_IN),
    "support.show": Route("GET", lambda o: f"/support/{o['ticket']}", {OWNER, STAFF}),
    "support.reply": Route("POST", lambda o: f"/support/{o['ticket']}/reply", {OWNER, STAFF}),
    "support.close": Route("POST", lambda o: f"/support/{o['ticket']}/close", {OWNER, STAFF}),
    "support.assign": Route("POST", lambda o: f"/support/{o['ticket']}/assign", {STAFF}),
    "support.by_key": Route("GET", lambda o: f"/support/t/{o['ticket_key']}", EVERYONE),
    "support.reply_by_key": Route(
        "POST", lambda o: f"/support/t/{o['ticket_key']}/reply", EVERYONE
    ),
    "membership.start": Route("GET", lambda o: "/join", EVERYONE),
    "membership.details": Route("GET", lambda o: "/join/details/not-a-token", EVERYONE),
    "membership.withdraw": Route("POST", lambda o: "/join/details/not-a-token/withdraw", EVERYONE),
    "membership.legal": Route("GET", lambda o: "/join/legal/not-a-token", EVERYONE),
    "membership.verify": Route("GET", lambda o: "/verify/unknown-code", EVERYONE),
    "membership.request_account": Route("GET", lambda o: "/join/account?q=labo", EVERYONE),
    "membership.confirm_account": Route("GET", lambda o: "/join/account/confirm/x", EVERYONE),
    "membership_admin.queue": Route("GET", lambda o: "/admin/memberships", {STAFF}),
    "membership_admin.review": Route(
        "GET", lambda o: f"/admin/memberships/{o['membership']}", {STAFF}
    ),
    "membership_admin.approve": Route(
        "POST", lambda o: f"/admin/memberships/{o['membership']}/approve", {STAFF}
    ),
    "membership_admin.reject": Route(
        "POST", lambda o: f"/admin/memberships/{o['membership']}/reject", {STAFF}
    ),
    "membership_admin.audit_trail": Route("GET", lambda o: "/admin/audit", {STAFF}),
    "referent.certificate_pdf": Route(
        "GET", lambda o: f"/entities/{o['entity']}/certificate.pdf", {REFERENT, STAFF}
    ),
    "referent.entity_space": Route("GET", lambda o: "/entity", {REFERENT, OTHER_REFERENT}),
    "referent.decide": Route(
        "POST", lambda o: f"/entity/requests/{o['account_request']}/refuse", {REFERENT}
    ),
    "referent.member_action": Route(
        "POST", lambda o: f"/entity/members/{o['owner']}/suspended", {REFERENT}
    ),
    "referent.request_renewal": Route(
        "POST", lambda o: "/entity/renewal", {REFERENT, OTHER_REFERENT}
    ),
    "referent.offer_handover": Route(
        "POST", lambda o: "/entity/handover", {REFERENT, OTHER_REFERENT}
    ),
    # Everyone signed in may try; only the member named by a hand-over succeeds (403 otherwise).
    "referent.accept_handover": Route("POST", lambda o: "/entity/handover/accept", set()),
    "membership_admin.entity_list": Route("GET", lambda o: "/admin/entities", {STAFF}),
    "membership_admin.renew": Route(
        "POST", lambda o: f"/admin/entities/{o['entity']}/renew", {STAFF}
    ),
    "membership_admin.change_profile": Route(
        "POST", lambda o: f"/admin/entities/{o['entity']}/profile", {STAFF}
    ),
    "jobs.index": Route("GET", lambda o: "/admin/jobs/", {STAFF}),
    "jobs.run_now": Route("POST", lambda o: "/admin/jobs/prune_jobs/run", {STAFF}),
    "referent.edit_details": Route("GET", lambda o: "/entity/details", {REFERENT, OTHER_REFERENT}),
    "membership_admin.entity_changes": Route("GET", lambda o: "/admin/entity-changes", {STAFF}),
    "membership_admin.decide_change": Route(
        "POST", lambda o: "/admin/entity-changes/999999/approve", {STAFF}
    ),
    "catalogue.index": Route("GET", lambda o: "/catalogue/", EVERYONE),
    "catalogue.scene": Route("GET", lambda o: "/catalogue/scenes/none", EVERYONE),
    # Files are authorised per collection inside the view (tests/catalogue/test_downloads.py).
    "catalogue.quicklook": Route("GET", lambda o: "/catalogue/scenes/none/quicklook", EVERYONE),
    "catalogue.download": Route("GET", lambda o: "/catalogue/scenes/none/files/data", EVERYONE),
    "catalogue.aoi_upload": Route("POST", lambda o: "/catalogue/aoi", EVERYONE),
    "catalogue.licence": Route("GET", lambda o: "/catalogue/licences/none", EVERYONE),
    "catalogue.signed_download": Route("GET", lambda o: "/catalogue/dl/forged", EVERYONE),
    "catalogue.basket": Route("GET", lambda o: "/catalogue/basket", EVERYONE),
    "catalogue.basket_add": Route("POST", lambda o: "/catalogue/basket/add", EVERYONE),
    "catalogue.basket_remove": Route("POST", lambda o: "/catalogue/basket/remove", EVERYONE),
    "catalogue.basket_clear": Route("POST", lambda o: "/catalogue/basket/clear", EVERYONE),
    "catalogue.basket_links": Route("GET", lambda o: "/catalogue/basket/links.txt", EVERYONE),
    "catalogue.basket_script": Route("GET", lambda o: "/catalogue/basket/download.sh", EVERYONE),
    "stac.landing": Route("GET", lambda o: "/stac", EVERYONE, api=True),
    "stac.conformance": Route("GET", lambda o: "/stac/conformance", EVERYONE, api=True),
    "stac.service_desc": Route("GET", lambda o: "/stac/api", EVERYONE, api=True),
    "stac.service_doc": Route("GET", lambda o: "/stac/api.html", EVERYONE),
    "stac.collections": Route("GET", lambda o: "/stac/collections", EVERYONE, api=True),
    "stac.collection": Route("GET", lambda o: "/stac/collections/none", EVERYONE, api=True),
    "stac.items": Route("GET", lambda o: "/stac/collections/none/items", EVERYONE, api=True),
    "stac.item": Route("GET", lambda o: "/stac/collections/none/items/none", EVERYONE, api=True),
    "stac.search_items": Route("GET", lambda o: "/stac/search", EVERYONE, api=True),
    "stac.queryables_all": Route("GET", lambda o: "/stac/queryables", EVERYONE, api=True),
    "stac.collection_queryables": Route(
        "GET", lambda o: "/stac/collections/none/queryables", EVERYONE, api=True
    ),
    "api.get_entity": Route(
        "GET", lambda o: f"/api/v1/entities/{o['entity']}", {REFERENT, STAFF}, api=True
    ),
    "api.get_members": Route(
        "GET", lambda o: f"/api/v1/entities/{o['entity']}/members", {REFERENT, STAFF}, api=True
    ),
    "orders.new_archive": Route("GET", lambda o: "/orders/archive/new", MEMBERS),
    "reports.index": Route("GET", lambda o: "/reports/", SIGNED_IN),
    "reports.start": Route("POST", lambda o: "/reports/start", MEMBERS),
    "reports.show": Route("GET", lambda o: f"/reports/{o['report']}", ENTITY_A),
    "reports.dashboard": Route("GET", lambda o: "/reports/stats", {STAFF}),
    "reports.dashboard_csv": Route("GET", lambda o: "/reports/stats/ledger.csv", {STAFF}),
    "reports.programme_pdf": Route("GET", lambda o: "/reports/yearly/2025.pdf", {STAFF}),
    "reports.entity_pdf": Route(
        "GET", lambda o: f"/reports/yearly/2025/entities/{o['entity']}.pdf", {REFERENT, STAFF}
    ),
    "reports.entity_usage": Route("GET", lambda o: "/reports/entity", {REFERENT, OTHER_REFERENT}),
    "reports.yearly_page": Route(
        "GET", lambda o: f"/reports/yearly/2025?entity={o['entity']}", {REFERENT, STAFF}
    ),
    "reports.make_yearly": Route("POST", lambda o: "/reports/yearly/2025/make", {STAFF}),
    "reports.yearly_document": Route(
        "GET", lambda o: f"/reports/yearly/documents/{o['yearly_pdf']}.pdf", {REFERENT, STAFF}
    ),
    "reports.review": Route("POST", lambda o: f"/reports/{o['report']}/review", {STAFF}),
    "api.create_tasking": Route("POST", lambda o: "/api/v1/tasking-requests", MEMBERS, api=True),
    "api.create_archive": Route("POST", lambda o: "/api/v1/archive-orders", MEMBERS, api=True),
    "api.list_orders": Route("GET", lambda o: "/api/v1/tasking-requests", SIGNED_IN, api=True),
    "api.get_order": Route(
        "GET", lambda o: f"/api/v1/tasking-requests/{o['order']}", ENTITY_A, api=True
    ),
    "api.quote_document": Route(
        "GET", lambda o: f"/api/v1/tasking-requests/{o['order']}/quote.pdf", ENTITY_A, api=True
    ),
    "api.decide_quote": Route(
        "POST",
        lambda o: f"/api/v1/tasking-requests/{o['order']}/quote/accept",
        {REFERENT},
        api=True,
    ),
    "api.cancel_order": Route(
        "POST",
        lambda o: f"/api/v1/tasking-requests/{o['order']}/cancel",
        {OWNER, REFERENT},
        api=True,
    ),
    "api.staff_step": Route(
        "POST", lambda o: f"/api/v1/tasking-requests/{o['order']}/accept", {STAFF}, api=True
    ),
    "api.add_delivery": Route(
        "POST", lambda o: f"/api/v1/tasking-requests/{o['order']}/deliveries", {STAFF}, api=True
    ),
    "api.list_reports": Route("GET", lambda o: "/api/v1/reports", SIGNED_IN, api=True),
    "api.create_report": Route("POST", lambda o: "/api/v1/reports", MEMBERS, api=True),
    "api.get_stats": Route("GET", lambda o: "/api/v1/stats", {STAFF}, api=True),
    "api.quota_balances": Route("GET", lambda o: "/api/v1/quota", SIGNED_IN, api=True),
    "api.quota_ledger": Route("GET", lambda o: "/api/v1/quota/ledger", SIGNED_IN, api=True),
    "alerts.index": Route("GET", lambda o: "/alerts/", SIGNED_IN),
    "alerts.new": Route("GET", lambda o: "/alerts/new", SIGNED_IN),
    "alerts.show": Route("GET", lambda o: f"/alerts/{o['saved_search']}", {OWNER}),
    "alerts.edit": Route("GET", lambda o: f"/alerts/{o['saved_search']}/edit", {OWNER}),
    "alerts.set_active": Route("POST", lambda o: f"/alerts/{o['saved_search']}/active", {OWNER}),
    "alerts.delete": Route("POST", lambda o: f"/alerts/{o['saved_search']}/delete", {OWNER}),
    # The signed token is the authorisation (tests/alerts); a forged one is a 404 for all.
    "alerts.unsubscribe": Route("GET", lambda o: "/alerts/unsubscribe/forged", EVERYONE),
    "alerts_admin.activity": Route("GET", lambda o: "/admin/alerts/", {STAFF}),
    "api.create_saved_search": Route(
        "POST", lambda o: "/api/v1/saved-searches", SIGNED_IN, api=True
    ),
    "api.list_saved_searches": Route(
        "GET", lambda o: "/api/v1/saved-searches", SIGNED_IN, api=True
    ),
    "api.get_saved_search": Route(
        "GET", lambda o: f"/api/v1/saved-searches/{o['saved_search']}", {OWNER}, api=True
    ),
    "api.update_saved_search": Route(
        "PATCH", lambda o: f"/api/v1/saved-searches/{o['saved_search']}", {OWNER}, api=True
    ),
    "api.delete_saved_search": Route(
        "DELETE", lambda o: f"/api/v1/saved-searches/{o['saved_search']}", {OWNER}, api=True
    ),
    "support.attachment": Route(
        "GET", lambda o: f"/support/attachments/{o['attachment']}", {OWNER, STAFF}
    ),
    # Webhooks: each account its own; staff see failures and switch off (and on again).
    "webhooks.index": Route("GET", lambda o: "/webhooks/", SIGNED_IN),
    "webhooks.show": Route("GET", lambda o: f"/webhooks/{o['webhook']}", {OWNER}),
    "webhooks.rotate_secret": Route("POST", lambda o: f"/webhooks/{o['webhook']}/secret", {OWNER}),
    "webhooks.send_test": Route("POST", lambda o: f"/webhooks/{o['webhook']}/test", {OWNER}),
    "webhooks.switch_off": Route("POST", lambda o: f"/webhooks/{o['webhook']}/off", {OWNER}),
    "webhooks.switch_on": Route("POST", lambda o: f"/webhooks/{o['webhook']}/on", {OWNER, STAFF}),
    "webhooks.delete": Route("POST", lambda o: f"/webhooks/{o['doomed']}/delete", {OWNER}),
    "webhooks.admin": Route("GET", lambda o: "/admin/webhooks/", {STAFF}),
    "webhooks.admin_switch_off": Route(
        "POST", lambda o: f"/admin/webhooks/{o['webhook']}/off", {STAFF}
    ),
    "api.list_webhooks": Route("GET", lambda o: "/api/v1/webhooks", SIGNED_IN, api=True),
    "api.create_webhook": Route("POST", lambda o: "/api/v1/webhooks", SIGNED_IN, api=True),
    "api.get_webhook": Route(
        "GET", lambda o: f"/api/v1/webhooks/{o['webhook']}", {OWNER}, api=True
    ),
    "api.update_webhook": Route(
        "PATCH", lambda o: f"/api/v1/webhooks/{o['webhook']}", {OWNER}, api=True
    ),
    "api.delete_webhook": Route(
        "DELETE", lambda o: f"/api/v1/webhooks/{o['doomed']}", {OWNER}, api=True
    ),
    "api.rotate_secret": Route(
        "POST", lambda o: f"/api/v1/webhooks/{o['webhook']}/secret", {OWNER}, api=True
    ),
    "api.send_test": Route(
        "POST", lambda o: f"/api/v1/webhooks/{o['webhook']}/test", {OWNER}, api=True
    ),
    "dsm.index": Route("GET", lambda o: "/dsm/", SIGNED_IN),
    "dsm.new": Route("GET", lambda o: "/dsm/new?scene=PHR_PAIR_1", MEMBERS),
    "dsm.show": Route("GET", lambda o: f"/dsm/{o['dsm']}", ENTITY_A),
    "dsm.progress": Route("GET", lambda o: f"/dsm/{o['dsm']}/progress", ENTITY_A),
    "dsm.cancel": Route("POST", lambda o: f"/dsm/{o['dsm']}/cancel", ENTITY_A),
    "dsm.decide_quote": Route("POST", lambda o: f"/dsm/{o['dsm']}/quote/accept", {REFERENT}),
    "dsm.quote_pdf": Route("GET", lambda o: f"/dsm/{o['dsm']}/quote.pdf", ENTITY_A),
    "api.dsm_quote_document": Route(
        "GET", lambda o: f"/api/v1/dsm-requests/{o['dsm']}/quote.pdf", ENTITY_A, api=True
    ),
    "api.create_dsm_request": Route("POST", lambda o: "/api/v1/dsm-requests", MEMBERS, api=True),
    "api.list_dsm_requests": Route("GET", lambda o: "/api/v1/dsm-requests", SIGNED_IN, api=True),
    "api.get_dsm_request": Route(
        "GET", lambda o: f"/api/v1/dsm-requests/{o['dsm']}", ENTITY_A, api=True
    ),
    "api.cancel_dsm_request": Route(
        "POST", lambda o: f"/api/v1/dsm-requests/{o['dsm']}/cancel", ENTITY_A, api=True
    ),
    "api.decide_dsm_quote": Route(
        "POST", lambda o: f"/api/v1/dsm-requests/{o['dsm']}/quote/accept", {REFERENT}, api=True
    ),
}


def test_every_route_is_in_the_table(app):
    endpoints = {e for e in app.view_functions if e != "static"}
    assert endpoints - set(ROUTES) == set(), "routes without an authorisation row"
    assert set(ROUTES) - endpoints == set(), "rows for routes that no longer exist"


@pytest.fixture
def objects(app, cast) -> dict[str, object]:
    """An order (with a pending quote), a ticket with an attachment, a token: all of entity A."""
    from dinamis.accounts.models import User

    with app.app_context():
        entity = db.session.get(Entity, cast.entity_a)
        db.session.add(
            PriceRule(
                profile_id=entity.profile_id,
                sensor="pleiades",
                order_kind="tasking",
                eur_per_km2=Decimal("1.80"),
            )
        )
        quota.grant(entity, "tasking", quota.period_for(scheme_today()), Decimal("10"))
        owner = accounts.get_user_by_email(cast.user_a)
        assert isinstance(owner, User)
        start = scheme_today() + dt.timedelta(days=10)
        order = orders.submit_tasking(
            owner,
            orders.TaskingRequest(
                aoi=MultiPolygon([box(2, 45, 2.15, 45.15)]),
                sensor="pleiades",
                window_start=start,
                window_end=start + dt.timedelta(days=30),
                max_cloud_cover=20,
                max_incidence=30,
                mode="mono",
                spectral_mode="pms",
                project_title="P",
                project_description="D",
                justification="J",
                theme="coast",
            ),
        )
        ticket = support.open_ticket(
            owner,
            support.Draft(subject="S", category="other", body="B"),
            upload=support.Upload("note.txt", b"hello"),
        )
        token, _clear = accounts.create_api_token(owner, "t")
        from dinamis.membership.models import AccountRequest, MembershipRequest

        membership = MembershipRequest(
            referent_email="new@lab-n.test", status="awaiting_review", entity_name="Lab N"
        )
        account_request = AccountRequest(
            entity_id=entity.id,
            email="new@labo-a.test",
            first_name="N",
            last_name="W",
            status="pending",
        )
        db.session.add_all([membership, account_request])
        db.session.flush()
        report = reports.start_annual(owner, scheme_today().year - 1)
        saved = alerts.save(owner, alerts.Criteria(name="Zone", area=box(2, 45, 2.5, 45.5)))
        from dinamis.webhooks import service as webhooks

        webhook, _secret = webhooks.create(owner, url="https://93.184.216.34/hook")
        doomed, _secret = webhooks.create(owner, url="https://93.184.216.34/doomed")
        from dinamis.dsm import service as dsm
        from tests.dsm.helpers import make_world

        world = make_world([entity.id], allowance=Decimal("10"))  # the request needs a quote
        surface = dsm.submit(owner, dsm.DsmAsk(world.pair[0], None, None, "P", "D"))
        from dinamis.reports.models import YearlyPdf

        yearly_pdf = YearlyPdf(
            year=2025,
            entity_id=entity.id,
            requested_by_id=owner.id,
            language="fr",
            status="ready",
            progress=100,
            attempts=1,
            content=b"%PDF-1.4",
            size=8,
        )
        db.session.add(yearly_pdf)
        db.session.flush()
        commit()
        return {
            "entity": entity.id,
            "order": order.id,
            "ticket": ticket.id,
            "ticket_key": ticket.access_key,
            "attachment": ticket.messages[0].attachment.id,
            "token": token.id,
            "membership": membership.id,
            "account_request": account_request.id,
            "owner": owner.id,
            "report": report.id,
            "saved_search": saved.id,
            "webhook": webhook.id,
            "doomed": doomed.id,
            "dsm": surface.id,
            "yearly_pdf": yearly_pdf.id,
        }


def _bearer(app, email: str) -> str:
    with app.app_context():
        user = accounts.get_user_by_email(email)
        _token, clear = accounts.create_api_token(user, "matrix")
        commit()
        return clear


def _client(app, cast, role: str) -> FlaskClient:
    client = app.test_client()
    email = {
        OWNER: cast.user_a,
        REFERENT: cast.referent_a,
        OTHER_USER: cast.user_b,
        OTHER_REFERENT: cast.referent_b,
        STAFF: cast.staff,
    }.get(role)
    if email:
        login(client, email)
    return client


def _refused(role: str, route: Route, response) -> bool:
    if route.api:
        # No token: who are you (401); a token: not yours to do (403).
        return response.status_code == (401 if role == ANON else 403)
    if role == ANON:
        location = response.headers.get("Location", "")
        return (response.status_code == 302 and "/login" in location) or response.status_code == 403
    return response.status_code == 403


@pytest.mark.parametrize("role", ROLES)
def test_each_role_on_each_route(app, cast, objects, role):
    client = _client(app, cast, role)
    bearer = (
        None
        if role == ANON
        else _bearer(
            app,
            getattr(
                cast,
                {
                    OWNER: "user_a",
                    REFERENT: "referent_a",
                    OTHER_USER: "user_b",
                    OTHER_REFERENT: "referent_b",
                    STAFF: "staff",
                }[role],
            ),
        )
    )
    token = csrf_token(client, "/support/new")
    wrong = []
    for endpoint, route in sorted(ROUTES.items()):
        path = route.path(objects)
        headers = {"Authorization": f"Bearer {bearer}"} if route.api and bearer else {}
        if route.method == "GET":
            response = client.get(path, headers=headers)
        else:
            response = client.open(
                path, method=route.method, data={"csrf_token": token}, headers=headers
            )
        assert response.status_code < 500, (endpoint, role, response.status_code)
        refused = _refused(role, route, response)
        if refused == (role in route.allowed):
            wrong.append((endpoint, response.status_code))
        if endpoint == "accounts.logout":
            client = _client(app, cast, role)  # the session was cleared: start a new one
            token = csrf_token(client, "/support/new")
    assert wrong == [], f"{role}: allowed/refused differs from the table: {wrong}"


def test_the_api_ignores_the_session_cookie(app, cast):
    client = _client(app, cast, OWNER)
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert json.loads(response.data)["error"]["code"] == "unauthorized"
