"""Saved searches and alerts: the rules (see models.py for the path of a new scene).

Services flush, never commit: a request, a CLI command or a job commits once.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from flask import current_app, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from geoalchemy2.shape import from_shape, to_shape
from itsdangerous import BadSignature, URLSafeSerializer
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry
from sqlalchemy import BigInteger, any_, bindparam, delete, func, insert, select, text
from sqlalchemy.dialects.postgresql import ARRAY

from dinamis import config
from dinamis.accounts.models import User
from dinamis.alerts.models import (
    AlertMatch,
    AlertNotice,
    AlertSceneBatch,
    Channel,
    Frequency,
    SavedSearch,
)
from dinamis.alerts.permissions import can_manage_search, can_save_searches
from dinamis.catalogue import search
from dinamis.catalogue.models import Collection, Scene
from dinamis.catalogue.queryables import SPECTRAL_MODES
from dinamis.core import dates, formats
from dinamis.core.columns import values_of
from dinamis.core.errors import Forbidden, NotFound, ServiceError
from dinamis.core.mail import OutboxMessage, new_message, queued
from dinamis.core.mail import environment as mail_environment
from dinamis.extensions import db

MAX_PER_USER = 100  # saved searches a member may keep
MAX_LISTED = 20  # scenes listed in one message; the rest are counted, with a link
NAME_MAX = 200
UNSUBSCRIBE_SALT = "dinamis.alerts.unsubscribe"
WEBHOOK_EVENT = "saved_search.scenes"  # the event a webhook receives for new scenes


@dataclass
class Criteria:
    """A saved search as the portal, the API and the tasking form give it."""

    name: str
    area: BaseGeometry
    date_from: dt.date | None = None  # None: from now on (the day it is saved)
    date_to: dt.date | None = None
    collections: list[str] = field(default_factory=list)
    max_cloud: Decimal | None = None
    max_incidence: Decimal | None = None
    spectral_modes: list[str] = field(default_factory=list)
    stereo_only: bool = False
    frequency: str = Frequency.DAILY
    channel: str = Channel.EMAIL
    webhook_id: int | None = None  # with the webhook channel: one of the member's webhooks


# --- saving -------------------------------------------------------------------------------------


def _check(user: User, criteria: Criteria, today: dt.date) -> dict[str, str]:
    """Every problem of `criteria`, by field (all at once, as a form shows them)."""
    problems: dict[str, str] = {}
    name = criteria.name.strip()
    if not name:
        problems["name"] = _("Give the search a name.")
    elif len(name) > NAME_MAX:
        problems["name"] = _("At most %(n)d characters.", n=NAME_MAX)
    elif "\x00" in name:
        problems["name"] = _("Must not contain a NUL character.")
    start = criteria.date_from or today
    if criteria.date_to is not None and criteria.date_to < start:
        problems["date_to"] = _("The end date is before the start date.")
    if criteria.collections:
        known = set(
            db.session.scalars(select(Collection.id).where(Collection.id.in_(criteria.collections)))
        )
        unknown = [c for c in criteria.collections if c not in known]
        if unknown:
            problems["collections"] = _(
                "Unknown collection(s): %(ids)s.", ids=", ".join(unknown[:5])
            )
    for name_, value, high in (
        ("max_cloud", criteria.max_cloud, 100),
        ("max_incidence", criteria.max_incidence, 90),
    ):
        if value is not None and (not value.is_finite() or not 0 <= value <= high):
            problems[name_] = _("Enter a number between 0 and %(n)d.", n=high)
    if any(mode not in SPECTRAL_MODES for mode in criteria.spectral_modes):
        problems["spectral_modes"] = _("Choose one of the listed values.")
    if criteria.frequency not in values_of(Frequency):
        problems["frequency"] = _("Choose one of the listed values.")
    if criteria.channel not in values_of(Channel):
        problems["channel"] = _("Choose one of the listed values.")
    elif criteria.channel == Channel.WEBHOOK:
        from dinamis.webhooks import service as webhooks

        mine = {w.id: w for w in webhooks.owned(user)}
        if criteria.webhook_id is None or criteria.webhook_id not in mine:
            problems["webhook_id"] = _("Choose one of your webhooks.")
        elif not mine[criteria.webhook_id].active:
            problems["webhook_id"] = _("This webhook is switched off: switch it on first.")
    return problems


def _apply(saved: SavedSearch, criteria: Criteria, today: dt.date) -> None:
    saved.name = criteria.name.strip()
    saved.area = from_shape(criteria.area, srid=4326)
    saved.date_from = criteria.date_from or today
    saved.date_to = criteria.date_to
    saved.collections = sorted(set(criteria.collections))
    saved.max_cloud = criteria.max_cloud
    saved.max_incidence = criteria.max_incidence
    saved.spectral_modes = sorted(set(criteria.spectral_modes))
    saved.stereo_only = criteria.stereo_only
    saved.frequency = criteria.frequency
    saved.channel = criteria.channel
    saved.webhook_id = criteria.webhook_id if criteria.channel == Channel.WEBHOOK else None


def save(user: User, criteria: Criteria) -> SavedSearch:
    """Save a search for `user`; refused (422, a message per field) when a rule says no."""
    if not can_save_searches(user):
        raise Forbidden(_("Sign in to save a search."))
    # From now on: from the UTC day of this instant, as a search's dates count (the
    # scheme's today would skip the scenes of the next hour late in the evening).
    today = dates.utc_today()
    problems = _check(user, criteria, today)
    count = db.session.scalar(
        select(func.count()).select_from(SavedSearch).where(SavedSearch.user_id == user.id)
    )
    if (count or 0) >= MAX_PER_USER:
        problems.setdefault(
            "name", _("You already keep %(n)d saved searches: delete one first.", n=MAX_PER_USER)
        )
    if problems:
        raise ServiceError(next(iter(problems.values())), fields=problems)
    saved = SavedSearch(user_id=user.id, active=True)
    _apply(saved, criteria, today)
    db.session.add(saved)
    db.session.flush()
    return saved


def _ensure_owner(user: User, saved: SavedSearch) -> None:
    """Refuse (403) anyone but the saved search's owner."""
    if not can_manage_search(user, saved):
        raise Forbidden(_("This saved search is not yours."))


def change(user: User, saved: SavedSearch, criteria: Criteria) -> SavedSearch:
    """Replace a saved search's criteria (its owner); its past matches stay as they were."""
    _ensure_owner(user, saved)
    problems = _check(user, criteria, saved.date_from)
    if problems:
        raise ServiceError(next(iter(problems.values())), fields=problems)
    _apply(saved, criteria, saved.date_from)
    db.session.flush()
    return saved


def set_active(user: User | None, saved: SavedSearch, active: bool) -> None:
    """Pause or resume a saved search (its owner, or an unsubscribe link: `user` None).

    Pausing forgets the matches not told yet: resuming never sends old news.
    """
    if user is not None:
        _ensure_owner(user, saved)
    if saved.active and not active:
        db.session.execute(
            delete(AlertMatch).where(
                AlertMatch.saved_search_id == saved.id, AlertMatch.id > saved.told_through
            )
        )
    saved.active = active
    db.session.flush()


def remove(user: User, saved: SavedSearch) -> None:
    _ensure_owner(user, saved)
    db.session.delete(saved)
    db.session.flush()


def searches_of(user: User) -> list[SavedSearch]:
    return list(
        db.session.scalars(
            select(SavedSearch).where(SavedSearch.user_id == user.id).order_by(SavedSearch.id)
        )
    )


def get(user: User, saved_id: int) -> SavedSearch:
    """A saved search its owner may change: 404 when there is none, 403 when not theirs."""
    saved = db.session.get(SavedSearch, saved_id)
    if saved is None:
        raise NotFound(_("There is no saved search %(id)d.", id=saved_id))
    _ensure_owner(user, saved)
    return saved


def area_of(saved: SavedSearch) -> BaseGeometry:
    return to_shape(saved.area)


def stac_body(saved: SavedSearch) -> dict[str, Any]:
    """The POST /stac/search body that finds what this saved search watches for."""
    end = f"{saved.date_to.isoformat()}T23:59:59Z" if saved.date_to else ".."
    body: dict[str, Any] = {
        "intersects": mapping(area_of(saved)),
        "datetime": f"{saved.date_from.isoformat()}T00:00:00Z/{end}",
        "sortby": [{"field": "datetime", "direction": "desc"}],
    }
    if saved.collections:
        body["collections"] = list(saved.collections)
    terms: list[dict[str, Any]] = []
    if saved.max_cloud is not None:
        terms.append({"op": "<=", "args": [{"property": "eo:cloud_cover"}, float(saved.max_cloud)]})
    if saved.max_incidence is not None:
        terms.append(
            {"op": "<=", "args": [{"property": "view:incidence_angle"}, float(saved.max_incidence)]}
        )
    if saved.spectral_modes:
        terms.append(
            {
                "op": "in",
                "args": [{"property": "dinamis:spectral_mode"}, list(saved.spectral_modes)],
            }
        )
    if saved.stereo_only:
        terms.append(
            {
                "op": "not",
                "args": [{"op": "isNull", "args": [{"property": "dinamis:stereo_group"}]}],
            }
        )
    if terms:
        body["filter-lang"] = "cql2-json"
        body["filter"] = terms[0] if len(terms) == 1 else {"op": "and", "args": terms}
    return body


def catalogue_args(saved: SavedSearch) -> dict[str, str]:
    """The catalogue page's query string showing this saved search's scenes."""
    args = {"aoi": search_json(mapping(area_of(saved))), "start": saved.date_from.isoformat()}
    if saved.date_to:
        args["end"] = saved.date_to.isoformat()
    if len(saved.collections) == 1:
        args["collections"] = saved.collections[0]
    if saved.max_cloud is not None:
        args["max_cloud"] = str(saved.max_cloud)
    if saved.max_incidence is not None:
        args["max_incidence"] = str(saved.max_incidence)
    if len(saved.spectral_modes) == 1:
        args["spectral_mode"] = saved.spectral_modes[0]
    if saved.stereo_only:
        args["stereo"] = "1"
    return args


def search_json(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"))


# --- unsubscribing ------------------------------------------------------------------------------


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=UNSUBSCRIBE_SALT)


def unsubscribe_token(saved: SavedSearch) -> str:
    return str(_serializer().dumps([saved.id, saved.user_id]))


def from_unsubscribe_token(token: str) -> SavedSearch:
    """The saved search a signed unsubscribe link names; 404 for a forged or stale link."""
    try:
        saved_id, user_id = _serializer().loads(token)
    except (BadSignature, ValueError, TypeError):
        raise NotFound(_("This unsubscribe link is not valid.")) from None
    saved = db.session.get(SavedSearch, saved_id) if isinstance(saved_id, int) else None
    if saved is None or saved.user_id != user_id:
        raise NotFound(_("This saved search no longer exists."))
    return saved


# --- matching -----------------------------------------------------------------------------------

# The new scenes of up to :batches trigger batches (read once: MATERIALIZED), each
# joined with the active saved searches whose area it meets (LATERAL: the partial
# GiST index on saved_searches.area, never a walk of the catalogue per search), then
# the other criteria, then what the search's owner may see: the collection's rule as
# catalogue.permissions.may_download says it (open for all; members for active members
# of an active entity and staff; profiles for members whose entity's profile is
# listed, and staff). tests/alerts/test_rules.py checks that the two agree.
_MATCH = text(
    """
    WITH taken AS (
        DELETE FROM alert_scene_batches
        WHERE id IN (
            SELECT id FROM alert_scene_batches ORDER BY id LIMIT :batches
            FOR UPDATE SKIP LOCKED
        )
        RETURNING scene_ids
    ), viewers AS MATERIALIZED (
        -- what each owner of an active search may see, read once per run
        SELECT u.id, u.role = 'staff' AS staff,
            coalesce(e.status = 'active', false) AS member, p.code AS profile
        FROM users u
        LEFT JOIN entities e ON e.id = u.entity_id
        LEFT JOIN profiles p ON p.id = e.profile_id
        WHERE u.status = 'active'
          AND u.id IN (SELECT user_id FROM saved_searches WHERE active)
    ), fresh AS MATERIALIZED (
        SELECT sc.id, sc.collection_id, sc.footprint, sc.datetime, sc.cloud_cover,
            sc.incidence_angle, sc.spectral_mode, sc.stereo_group
        FROM scenes sc
        WHERE sc.id IN (SELECT unnest(scene_ids) FROM taken)
    )
    INSERT INTO alert_matches (saved_search_id, scene_id)
    SELECT s.id, f.id
    FROM fresh f
    JOIN collections c ON c.id = f.collection_id
    CROSS JOIN LATERAL (
        -- for each new scene, the active searches whose area meets it (GiST)
        SELECT s.id, s.user_id FROM saved_searches s
        WHERE s.active AND ST_Intersects(s.area, f.footprint)
          AND f.datetime >= (s.date_from::timestamp AT TIME ZONE 'UTC')
          AND (s.date_to IS NULL
               OR f.datetime <= ((s.date_to + time '23:59:59') AT TIME ZONE 'UTC'))
          AND (cardinality(s.collections) = 0 OR f.collection_id = ANY (s.collections))
          AND (s.max_cloud IS NULL OR f.cloud_cover <= s.max_cloud)
          AND (s.max_incidence IS NULL OR f.incidence_angle <= s.max_incidence)
          AND (cardinality(s.spectral_modes) = 0 OR f.spectral_mode = ANY (s.spectral_modes))
          AND (NOT s.stereo_only OR f.stereo_group IS NOT NULL)
    ) s
    JOIN viewers v ON v.id = s.user_id
    WHERE c.access = 'open'
       OR v.staff
       OR (v.member AND (c.access = 'members' OR v.profile = ANY (c.profiles)))
    ON CONFLICT (saved_search_id, scene_id) DO NOTHING
    """
)


def match_new_scenes(batches: int = 5) -> int:
    """Match the scenes of up to `batches` trigger batches (one per ingest statement,
    at most 20,000 scenes each) with every active saved search, in one statement.

    The batches are deleted in the same transaction as the matches are written:
    a worker that dies half-way leaves both as they were.
    """
    result = db.session.execute(_MATCH, {"batches": batches})
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def waiting_batches() -> int:
    return int(db.session.scalar(select(func.count()).select_from(AlertSceneBatch)) or 0)


# --- notices ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Listed:
    """A scene as a message lists it, its values already written in the reader's language
    (a scene is listed in many messages: it is written once per language)."""

    id: str
    collection: str
    when: str
    cloud_cover: str | None
    url: str
    quicklook: str | None
    text: str = ""  # its line in the text part (mail/_alert_scene.txt)
    html: str = ""  # its row in the HTML part (mail/_alert_scene.html, markup)


def period_of(frequency: str, day: dt.date) -> str:
    """The digest period a day belongs to: `day-2026-12-07`, `week-2026-W50`."""
    if frequency == Frequency.WEEKLY:
        year, week, _weekday = day.isocalendar()
        return f"week-{year}-W{week:02d}"
    return f"day-{day.isoformat()}"


def prepare(frequency: str, day: dt.date | None = None) -> int:
    """Write one notice per saved search of `frequency` with matches not yet told: the
    message (e-mail outbox) and the notice in this transaction, the search's mark moved.

    At once: a notice per search and first new match; daily and weekly: one per search
    and period of `day` (the scheme's today when not given): a second run in the same
    period finds it written and leaves the newer matches for the next period. A search
    with nothing new gets nothing. Returns the number of notices written.

    Set-based at 10,000 saved searches (bench/alerts): one statement counts what waits,
    one lists the scenes of every message, the messages and notices are written by one
    statement each, and one moves every search's mark; a scene's lines are written once
    per language. What remains per message is its two renders and its unsubscribe token.
    """
    day = day or dates.today()
    period = None if frequency == Frequency.AT_ONCE else period_of(frequency, day)
    conditions = "s.active AND s.frequency = :frequency"
    if period is not None:
        conditions += (
            " AND NOT EXISTS (SELECT FROM alert_notices n"
            " WHERE n.saved_search_id = s.id AND n.period = :period)"
        )
    # Per search: how many matches wait (after its mark), the first and the last (a
    # notice tells those up to the last read here: newer ones wait for the next notice).
    pending = db.session.execute(
        text(
            "SELECT s.id, count(*), min(m.id), max(m.id) "  # noqa: S608 (constant)
            "FROM saved_searches s JOIN alert_matches m"
            " ON m.saved_search_id = s.id AND m.id > s.told_through "
            f"WHERE {conditions} GROUP BY s.id ORDER BY s.id"
        ),
        {"frequency": frequency, "period": period},
    ).all()
    if not pending:
        return 0
    bounds = {sid: (int(total), int(first), int(last)) for sid, total, first, last in pending}
    searches = {
        s.id: s
        for s in db.session.scalars(
            select(SavedSearch).where(SavedSearch.id == any_(_ints(list(bounds))))
        )
    }
    users = {
        u.id: u
        for u in db.session.scalars(
            select(User).where(User.id == any_(_ints({s.user_id for s in searches.values()})))
        )
    }
    scenes = _listed_scenes(bounds)
    notices: list[dict[str, Any]] = []
    messages: list[OutboxMessage] = []
    events: list[tuple[SavedSearch, str, dict[str, Any]]] = []
    base = config.current().base_url
    by_language: dict[str, list[int]] = defaultdict(list)
    for sid in bounds:
        by_language[users[searches[sid].user_id].language].append(sid)
    with current_app.test_request_context(base_url=base):
        for language, sids in by_language.items():
            with force_locale(language):
                lines = _SceneLines(language)
                for sid in sids:
                    saved, (total, first, _last) = searches[sid], bounds[sid]
                    user = users[saved.user_id]
                    listed = scenes.get(sid, [])
                    key = period or f"now-{first}"
                    # A webhook deleted since: the member is told by e-mail instead.
                    by_webhook = saved.channel == Channel.WEBHOOK and saved.webhook_id is not None
                    if by_webhook:
                        events.append((saved, key, _event_data(saved, key, listed, total)))
                    else:
                        unsubscribe = url_for(
                            "alerts.unsubscribe", token=unsubscribe_token(saved), _external=True
                        )
                        messages.append(
                            new_message(
                                user.email,
                                "alert_scenes",
                                language=language,
                                # One click in the mail client (RFC 8058): the link's POST.
                                headers={
                                    "List-Unsubscribe": f"<{unsubscribe}>",
                                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                                },
                                user=user,
                                saved=saved,
                                frequency=frequency,
                                total=total,
                                scenes=[lines.of(row) for row in listed],
                                more=max(total - len(listed), 0),
                                page=url_for("alerts.show", saved_id=saved.id, _external=True),
                                unsubscribe=unsubscribe,
                            )
                        )
                    notices.append(
                        {
                            "saved_search_id": sid,
                            "period": key,
                            "channel": Channel.WEBHOOK if by_webhook else Channel.EMAIL,
                            "scenes": total,
                            "outbox_message_id": None if by_webhook else len(messages) - 1,
                        }
                    )
    _write(messages, notices)
    # The searches' marks: what each notice told (matches written since wait).
    db.session.execute(
        text(
            "UPDATE saved_searches s SET told_through = v.last_id FROM unnest("
            "CAST(:s AS integer[]), CAST(:l AS bigint[])) AS v(id, last_id) WHERE s.id = v.id"
        ),
        {"s": list(bounds), "l": [last for _total, _first, last in bounds.values()]},
    )
    if events:
        from dinamis.webhooks import service as webhooks

        for saved, key, data in events:
            assert saved.webhook_id is not None
            webhooks.enqueue(
                db.session,
                webhook_id=saved.webhook_id,
                event=WEBHOOK_EVENT,
                data=data,
                key=f"saved-search-{saved.id}-{key}",
            )
    if frequency == Frequency.AT_ONCE:
        for message in messages:
            queued(message)
    return len(notices)


def _write(messages: list[OutboxMessage], notices: list[dict[str, Any]]) -> None:
    """The messages (rendered, not in the session) and the notices, one INSERT each (their
    rows in the order given: `sort_by_parameter_order`); a notice's `outbox_message_id` is
    given as its message's place in `messages`, replaced by the message's id."""
    if messages:
        columns = ("to_address", "subject", "body_text", "body_html", "template", "headers")
        ids = db.session.scalars(
            insert(OutboxMessage).returning(OutboxMessage.id, sort_by_parameter_order=True),
            [{c: getattr(m, c) for c in columns} for m in messages],
        ).all()
        for message, message_id in zip(messages, ids, strict=True):
            message.id = message_id
        for notice in notices:
            if notice["outbox_message_id"] is not None:
                notice["outbox_message_id"] = ids[notice["outbox_message_id"]]
    if notices:
        db.session.execute(insert(AlertNotice), notices)


def _event_data(saved: SavedSearch, period: str, rows: list[Any], total: int) -> dict[str, Any]:
    """The webhook event's `data`: the saved search, the period, how many new scenes and
    the newest of them (machine formats: ISO dates, numbers, absolute links)."""
    return {
        "total": total,
        "saved_search": {
            "id": saved.id,
            "name": saved.name,
            "frequency": saved.frequency,
            "search": stac_body(saved),
        },
        "period": period,
        "scenes": [
            {
                "id": row.scene_id,
                "collection": row.collection_id,
                "datetime": row.datetime.isoformat().replace("+00:00", "Z"),
                "cloud_cover": None if row.cloud_cover is None else float(row.cloud_cover),
                "href": url_for("catalogue.scene", scene_id=row.scene_id, _external=True),
                "stac": url_for(
                    "stac.item",
                    collection_id=row.collection_id,
                    item_id=row.scene_id,
                    _external=True,
                ),
                "quicklook": (
                    url_for("catalogue.quicklook", scene_id=row.scene_id, _external=True)
                    if row.quicklook
                    else None
                ),
            }
            for row in rows
        ],
    }


_LISTED = text(
    """
    SELECT p.saved_search_id, sc.id AS scene_id, sc.collection_id, sc.datetime,
        sc.cloud_cover, sc.quicklook
    FROM unnest(CAST(:s AS integer[]), CAST(:f AS bigint[]), CAST(:l AS bigint[]))
        AS p(saved_search_id, first_id, last_id)
    CROSS JOIN LATERAL (
        SELECT sc.id, sc.collection_id, sc.datetime, sc.cloud_cover, sc.quicklook
        FROM alert_matches m JOIN scenes sc ON sc.id = m.scene_id
        WHERE m.saved_search_id = p.saved_search_id
          AND m.id BETWEEN p.first_id AND p.last_id
        ORDER BY sc.datetime DESC, sc.id
        LIMIT :listed
    ) sc
    """
)


def _listed_scenes(bounds: dict[int, tuple[int, int, int]]) -> dict[int, list[Any]]:
    """The scenes each message lists (the newest MAX_LISTED of its matches), in one
    statement for every search: a digest never carries every match through Python."""
    found: dict[int, list[Any]] = defaultdict(list)
    rows = db.session.execute(
        _LISTED,
        {
            "s": list(bounds),
            "f": [first for _total, first, _last in bounds.values()],
            "l": [last for _total, _first, last in bounds.values()],
            "listed": MAX_LISTED,
        },
    )
    for row in rows:
        found[row.saved_search_id].append(row)
    return found


def _ints(values: Any) -> Any:
    """A list of ids as one array parameter (`= ANY(...)`), whatever its length."""
    return bindparam(None, list(values), type_=ARRAY(BigInteger))


def _collection_titles(language: str) -> dict[str, str]:
    cache: dict[str, dict[str, str]] = current_app.extensions.setdefault("dinamis_alert_titles", {})
    if language not in cache:
        cache[language] = {
            c.id: c.title_in(language) for c in db.session.scalars(select(Collection))
        }
    return cache[language]


class _SceneLines:
    """The scenes as messages list them in one language (the current locale), each written
    once: at 10,000 saved searches a new scene is listed in many messages (bench/alerts),
    and writing its date, number and rows once is most of a digest's time saved."""

    def __init__(self, language: str) -> None:
        env = mail_environment(language)
        self.titles = _collection_titles(language)
        self.line = env.get_template("mail/_alert_scene.txt").module.line  # type: ignore[attr-defined]
        self.row = env.get_template("mail/_alert_scene.html").module.row  # type: ignore[attr-defined]
        self.written: dict[str, Listed] = {}

    def of(self, row: Any) -> Listed:
        written = self.written.get(row.scene_id)
        if written is not None:
            return written
        listed = Listed(
            id=row.scene_id,
            collection=self.titles.get(row.collection_id, row.collection_id),
            when=formats.moment(row.datetime),
            cloud_cover=None
            if row.cloud_cover is None
            else formats.number(row.cloud_cover.normalize()),
            url=url_for("catalogue.scene", scene_id=row.scene_id, _external=True),
            quicklook=(
                url_for("catalogue.quicklook", scene_id=row.scene_id, _external=True)
                if row.quicklook
                else None
            ),
        )
        written = self.written[row.scene_id] = replace(
            listed, text=self.line(listed), html=self.row(listed)
        )
        return written


def recent_matches(saved: SavedSearch, limit: int = 50) -> list[Any]:
    """The latest scenes a saved search matched (its page)."""
    return list(
        db.session.execute(
            select(
                Scene.id,
                Scene.collection_id,
                Scene.datetime,
                Scene.cloud_cover,
                Scene.quicklook,
                AlertMatch.matched_at,
                (AlertMatch.id <= saved.told_through).label("told"),
            )
            .join(Scene, Scene.id == AlertMatch.scene_id)
            .where(AlertMatch.saved_search_id == saved.id)
            .order_by(AlertMatch.id.desc())
            .limit(limit)
        ).all()
    )


# --- staff --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Activity:
    searches_active: int
    searches_paused: int
    by_frequency: dict[str, int]
    waiting_batches: int
    pending_matches: int
    notices_7_days: int
    notices_30_days: int
    recent: list[Any]
    failing_webhooks: list[Any]  # webhooks failing or switched off (the webhooks domain's)
    failed_events: list[Any]  # saved search events a webhook never took


def activity(actor: User) -> Activity:
    """What staff see of the alerts: saved searches, what waits, what was sent, and the
    webhooks' failures as the webhooks domain reports them."""
    from dinamis.webhooks import service as webhooks

    failing, failed = webhooks.overview(actor, limit=50)
    counts = db.session.execute(
        select(SavedSearch.active, SavedSearch.frequency, func.count()).group_by(
            SavedSearch.active, SavedSearch.frequency
        )
    ).all()
    by_frequency: dict[str, int] = dict.fromkeys(values_of(Frequency), 0)
    active = paused = 0
    for is_active, frequency, n in counts:
        if is_active:
            active += n
            by_frequency[frequency] += n
        else:
            paused += n
    now = dt.datetime.now(dt.UTC)

    def sent_since(days: int) -> int:
        return int(
            db.session.scalar(
                select(func.count())
                .select_from(AlertNotice)
                .where(AlertNotice.created_at >= now - dt.timedelta(days=days))
            )
            or 0
        )

    recent = db.session.execute(
        select(
            AlertNotice.id,
            AlertNotice.created_at,
            AlertNotice.period,
            AlertNotice.channel,
            AlertNotice.scenes,
            SavedSearch.name,
            User.email,
            OutboxMessage.status,
        )
        .join(SavedSearch, SavedSearch.id == AlertNotice.saved_search_id)
        .join(User, User.id == SavedSearch.user_id)
        .outerjoin(OutboxMessage, OutboxMessage.id == AlertNotice.outbox_message_id)
        .order_by(AlertNotice.id.desc())
        .limit(50)
    ).all()
    return Activity(
        searches_active=active,
        searches_paused=paused,
        by_frequency=by_frequency,
        waiting_batches=waiting_batches(),
        pending_matches=int(
            db.session.scalar(
                select(func.count())
                .select_from(AlertMatch)
                .join(SavedSearch, SavedSearch.id == AlertMatch.saved_search_id)
                .where(AlertMatch.id > SavedSearch.told_through)
            )
            or 0
        ),
        notices_7_days=sent_since(7),
        notices_30_days=sent_since(30),
        recent=list(recent),
        failing_webhooks=failing,
        failed_events=[d for d in failed if d.event == WEBHOOK_EVENT],
    )


def area_from_text(typed: str) -> BaseGeometry:
    """The area of a saved search as the portal gives it (drawn, uploaded or typed: the
    catalogue's own rules); refused with the area field's message."""
    if not typed.strip():
        raise ServiceError(
            _("Draw the area on the map, upload it or type it."),
            fields={"aoi": _("Draw the area on the map, upload it or type it.")},
        )
    try:
        return search.portal_area(typed)[1]
    except ServiceError as exc:
        raise ServiceError(exc.message, fields={"aoi": exc.message}) from None
