"""Typed settings, read from the environment and validated at start.

Every setting has a development default so that `make run` works with nothing
set; in production (``DINAMIS_ENV=production``) the secret key and a real
database are required and cookies are always marked secure.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

DEFAULT_DATABASE_URL = "postgresql+psycopg://dinamis:dinamis@127.0.0.1:5432/dinamis"
ENVIRONMENTS = ("development", "test", "production")
LANGUAGES = ("fr", "en")
ALLOWANCE_MODES = ("prorated", "full")


class ConfigError(ValueError):
    """A setting is missing or wrong; the message names it and says why."""


@dataclass(frozen=True)
class MailSettings:
    backend: str = "log"  # "log" prints messages to the log, "smtp" sends them
    host: str = "localhost"
    port: int = 25
    username: str = ""
    password: str = ""
    use_tls: bool = False
    use_ssl: bool = False
    sender: str = "Dinamis <no-reply@dinamis.test>"
    timeout: float = 10.0
    max_attempts: int = 8
    # True: a request delivers its own messages once committed (simple setups);
    # False: only the `dinamis mail send --loop` worker does, so requests never wait on SMTP.
    deliver_in_request: bool = True


@dataclass(frozen=True)
class OrderSettings:
    """Rules of tasking requests and archive orders (km², days, rates)."""

    tasking_min_km2: Decimal = Decimal("100")
    # Per-sensor minimums overriding the one above: "pleiades-neo=150,spot=500".
    tasking_min_km2_by_sensor: str = ""
    tasking_max_km2: Decimal = Decimal("10000")
    archive_min_km2: Decimal = Decimal("25")
    lead_days: int = 3
    max_window_days: int = 365
    # The window starts within this many days of today: a request cannot hold
    # this year's allowance for an acquisition in a distant year.
    window_horizon_days: int = 365
    quote_validity_days: int = 30
    tax_rate: Decimal = Decimal("0.20")

    def min_km2_for_sensors(self) -> dict[str, Decimal]:
        pairs = [p for p in self.tasking_min_km2_by_sensor.split(",") if p.strip()]
        result = {}
        for pair in pairs:
            sensor, value = pair.split("=")
            result[sensor.strip()] = Decimal(value.strip())
        return result

    def tasking_min_for(self, sensor: str) -> Decimal:
        """The minimum AOI of a tasking request for this sensor, in km²."""
        return self.min_km2_for_sensors().get(sensor, self.tasking_min_km2)


@dataclass(frozen=True)
class WebhookSettings:
    """Webhook delivery: timeouts, retries, switch-off, and which addresses may be called."""

    timeout: float = 10.0  # seconds to connect, and again to read the answer
    max_attempts: int = 6  # tries of one event before it is given up
    retry_seconds: int = 30  # first retry after this, doubling each time (capped at an hour)
    # A webhook is switched off (its owner told by e-mail) after this many failed attempts in
    # a row, whatever the events.
    max_failures: int = 15
    # Development only: allow URLs on loopback, private, link-local and other non-public
    # addresses (refused in production).
    allow_private_addresses: bool = False


@dataclass(frozen=True)
class DsmSettings:
    """Surface models on demand (issue 17): the request's rules and the job's limits."""

    min_km2: Decimal = Decimal("10")
    max_km2: Decimal = Decimal("500")
    # The output resolutions offered, as multiples of the sensor's GSD; the default one.
    resolution_factors: str = "1,2,4"
    default_factor: Decimal = Decimal("2")
    # Who downloads a delivered DSM: "entity" (the requester's entity) or "collection"
    # (every member the source scenes' collection lets download them).
    download_rule: str = "entity"
    time_limit_s: int = 3600  # one attempt of a computation, then it is stopped
    max_attempts: int = 3  # attempts of a computation that fails for a transient reason
    orchestrator: str = "multiprocessing"  # CARS's: sequential, multiprocessing, local_dask
    workers: int = 1  # CARS's workers for one computation
    # "module:function" of the engine the job calls (tests name a stand-in).
    engine: str = "dinamis.dsm.engine:compute"
    workdir: str = "var/dsm-work"  # scratch directories of running computations
    # A running computation whose worker has not beaten for this long is taken back.
    stale_after_s: int = 60

    def factors(self) -> list[Decimal]:
        return [Decimal(f.strip()) for f in self.resolution_factors.split(",") if f.strip()]


DEFAULT_WEBMAIL = (
    "gmail.com,googlemail.com,yahoo.com,yahoo.fr,hotmail.com,hotmail.fr,outlook.com,outlook.fr,"
    "live.com,live.fr,msn.com,icloud.com,me.com,aol.com,free.fr,orange.fr,wanadoo.fr,sfr.fr,"
    "laposte.net,gmx.com,gmx.fr,protonmail.com,proton.me,yandex.com,mail.com"
)


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    database_url: str = DEFAULT_DATABASE_URL
    secret_key: str = ""
    base_url: str = "http://127.0.0.1:5000"
    mail: MailSettings = field(default_factory=MailSettings)
    orders: OrderSettings = field(default_factory=OrderSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    dsm: DsmSettings = field(default_factory=DsmSettings)
    tile_url: str = ""  # e.g. https://tile.example.org/{z}/{x}/{y}.png; empty: offline outline only
    tile_attribution: str = ""
    webmail_domains: frozenset[str] = frozenset(DEFAULT_WEBMAIL.split(","))
    membership_years: int = 3
    # memory:// counts per process: development only (refused in production).
    ratelimit_storage_uri: str = "memory://"
    ratelimit_enabled: bool = True
    ratelimit_key_prefix: str = "dinamis"
    # Reverse proxies in front of the app that set X-Forwarded-For/-Proto (0: none,
    # the client is the TCP peer). The client address (rate limits, the recorded
    # Legal Representative's IP) is taken that many hops from the right.
    trusted_proxies: int = 0
    login_rate_limit: str = "10 per minute"
    max_content_length: int = 16 * 1024 * 1024
    # Where scene files and quicklooks live (relative paths are from the project root).
    storage_root: str = "var/storage"
    download_link_ttl: int = 7 * 24 * 3600  # seconds a basket's signed link stays valid
    basket_max_scenes: int = 500
    # Usage reports: due this many days after a delivery; the yearly report of
    # year N is due on this month-day of N+1; the themes users pick from.
    report_due_days: int = 90
    report_annual_deadline: str = "03-31"
    report_themes: str = "agriculture,forest,coast,urban,risks,water,biodiversity,geology,other"
    password_reset_max_age: int = 3600
    # Personal API tokens: lifetime offered by default, the longest one may choose,
    # and how many days before the end the owner is reminded.
    token_default_days: int = 90
    token_max_days: int = 365
    token_reminder_days: int = 7
    session_lifetime_hours: int = 12
    default_language: str = "fr"
    # What a newly approved entity (or a profile change) gets for the current
    # period: "prorated" to the months left (the month of approval counted), or "full".
    allowance_on_joining: str = "prorated"
    # The scheme's days (deadlines, windows, membership ends) are counted in this zone.
    timezone: str = "Europe/Paris"
    log_json: bool = True
    log_level: str = "INFO"

    @property
    def themes(self) -> list[str]:
        return [t.strip() for t in self.report_themes.split(",") if t.strip()]

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def secure_cookies(self) -> bool:
        # Browsers refuse Secure cookies over plain http://127.0.0.1, which
        # `make run` serves; every other deployment runs behind HTTPS.
        return self.env == "production" or self.base_url.startswith("https://")

    def validate(self) -> Settings:
        """Check every setting; raise ConfigError naming the first bad one."""
        if self.env not in ENVIRONMENTS:
            raise ConfigError(
                f"DINAMIS_ENV must be one of {', '.join(ENVIRONMENTS)}, not {self.env!r}."
            )
        if not self.database_url.startswith(("postgresql://", "postgresql+psycopg://")):
            raise ConfigError(
                "DATABASE_URL must name a PostgreSQL database "
                "(postgresql+psycopg://user:password@host:port/name), "
                f"not {self.database_url!r}."
            )
        if self.is_production and len(self.secret_key) < 32:
            raise ConfigError(
                "DINAMIS_SECRET_KEY must be set to at least 32 random characters in production."
            )
        if (
            self.is_production
            and self.ratelimit_enabled
            and self.ratelimit_storage_uri.startswith("memory://")
        ):
            raise ConfigError(
                "DINAMIS_RATELIMIT_STORAGE_URI must name a shared storage in production "
                "(redis://host:6379/0): memory:// counts per process, so with several "
                "workers each allows the whole limit."
            )
        if not 0 <= self.trusted_proxies <= 10:
            raise ConfigError(
                f"DINAMIS_TRUSTED_PROXIES must be between 0 and 10, not {self.trusted_proxies}."
            )
        if self.mail.backend not in ("log", "smtp"):
            raise ConfigError(
                f"DINAMIS_MAIL_BACKEND must be 'log' or 'smtp', not {self.mail.backend!r}."
            )
        if not 0 < self.mail.port < 65536:
            raise ConfigError(f"DINAMIS_MAIL_PORT must be a TCP port, not {self.mail.port}.")
        if self.mail.use_tls and self.mail.use_ssl:
            raise ConfigError("DINAMIS_MAIL_USE_TLS and DINAMIS_MAIL_USE_SSL cannot both be on.")
        if self.default_language not in LANGUAGES:
            raise ConfigError(
                f"DINAMIS_DEFAULT_LANGUAGE must be one of {', '.join(LANGUAGES)}, "
                f"not {self.default_language!r}."
            )
        if self.allowance_on_joining not in ALLOWANCE_MODES:
            raise ConfigError(
                f"DINAMIS_ALLOWANCE_ON_JOINING must be one of {', '.join(ALLOWANCE_MODES)}, "
                f"not {self.allowance_on_joining!r}."
            )
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"DINAMIS_TIMEZONE must be a time zone such as Europe/Paris, not {self.timezone!r}."
            ) from None
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"DINAMIS_BASE_URL must start with http:// or https://, not {self.base_url!r}."
            )
        o = self.orders
        try:
            per_sensor = o.min_km2_for_sensors()
        except (ValueError, ArithmeticError):
            raise ConfigError(
                "DINAMIS_ORDERS_TASKING_MIN_KM2_BY_SENSOR must read sensor=km2,sensor=km2, "
                f"not {o.tasking_min_km2_by_sensor!r}."
            ) from None
        if any(not 0 < v <= o.tasking_max_km2 for v in per_sensor.values()):
            raise ConfigError("Per-sensor minimums must be positive and at most the maximum.")
        if not 0 < o.tasking_min_km2 <= o.tasking_max_km2:
            raise ConfigError(
                "DINAMIS_ORDERS_TASKING_MIN_KM2 must be positive and at most "
                "DINAMIS_ORDERS_TASKING_MAX_KM2."
            )
        if o.archive_min_km2 <= 0:
            raise ConfigError("DINAMIS_ORDERS_ARCHIVE_MIN_KM2 must be positive.")
        if (
            o.lead_days < 0
            or o.max_window_days < 1
            or o.quote_validity_days < 1
            or o.window_horizon_days <= o.lead_days
        ):
            raise ConfigError(
                "DINAMIS_ORDERS_*_DAYS must be positive numbers of days, and "
                "DINAMIS_ORDERS_WINDOW_HORIZON_DAYS more than DINAMIS_ORDERS_LEAD_DAYS."
            )
        if not 0 <= o.tax_rate < 1:
            raise ConfigError("DINAMIS_ORDERS_TAX_RATE must be a fraction such as 0.20.")
        if self.tile_url and not (
            self.tile_url.startswith(("http://", "https://", "/")) and "{z}" in self.tile_url
        ):
            raise ConfigError("DINAMIS_TILE_URL must be a tile URL template with {z}, {x} and {y}.")
        if not 1 <= self.membership_years <= 10:
            raise ConfigError("DINAMIS_MEMBERSHIP_YEARS must be between 1 and 10.")
        if not 1 <= self.report_due_days <= 730:
            raise ConfigError(
                f"DINAMIS_REPORT_DUE_DAYS must be between 1 and 730, not {self.report_due_days}."
            )
        try:
            dt.date.fromisoformat(f"2027-{self.report_annual_deadline}")
        except ValueError:
            raise ConfigError(
                "DINAMIS_REPORT_ANNUAL_DEADLINE must be a month and day (MM-DD), "
                f"not {self.report_annual_deadline!r}."
            ) from None
        if not [t for t in self.report_themes.split(",") if t.strip()]:
            raise ConfigError("DINAMIS_REPORT_THEMES must list at least one theme.")
        d = self.dsm
        try:
            factors = d.factors()
        except ArithmeticError:
            raise ConfigError(
                "DINAMIS_DSM_RESOLUTION_FACTORS must list numbers such as 1,2,4, "
                f"not {d.resolution_factors!r}."
            ) from None
        if not factors or any(not 0 < f <= 100 for f in factors) or d.default_factor not in factors:
            raise ConfigError(
                "DINAMIS_DSM_RESOLUTION_FACTORS must list positive numbers and include "
                "DINAMIS_DSM_DEFAULT_FACTOR."
            )
        if not Decimal("0.01") <= d.min_km2 <= d.max_km2:
            raise ConfigError(
                "DINAMIS_DSM_MIN_KM2 must be at least 0.01 (the ledger's unit) and at most "
                "DINAMIS_DSM_MAX_KM2."
            )
        if d.download_rule not in ("entity", "collection"):
            raise ConfigError("DINAMIS_DSM_DOWNLOAD_RULE must be entity or collection.")
        if d.orchestrator not in ("sequential", "multiprocessing", "local_dask"):
            raise ConfigError(
                "DINAMIS_DSM_ORCHESTRATOR must be sequential, multiprocessing or local_dask."
            )
        if d.time_limit_s < 10 or d.max_attempts < 1 or d.workers < 1 or d.stale_after_s < 5:
            raise ConfigError(
                "DINAMIS_DSM_TIME_LIMIT_S (10+), _MAX_ATTEMPTS, _WORKERS (1+) and "
                "_STALE_AFTER_S (5+) must be positive."
            )
        if ":" not in d.engine:
            raise ConfigError("DINAMIS_DSM_ENGINE must read module:function.")
        if not self.storage_root.strip():
            raise ConfigError("DINAMIS_STORAGE_ROOT must name a directory.")
        if not 60 <= self.download_link_ttl <= 90 * 24 * 3600:
            raise ConfigError(
                "DINAMIS_DOWNLOAD_LINK_TTL must be between 60 seconds and 90 days, "
                f"not {self.download_link_ttl}."
            )
        if not 1 <= self.basket_max_scenes <= 10_000:
            raise ConfigError(
                "DINAMIS_BASKET_MAX_SCENES must be between 1 and 10000, "
                f"not {self.basket_max_scenes}."
            )
        if not 1 <= self.token_default_days <= self.token_max_days <= 3650:
            raise ConfigError(
                "DINAMIS_TOKEN_DEFAULT_DAYS and DINAMIS_TOKEN_MAX_DAYS must be numbers of days "
                "with 1 <= default <= maximum <= 3650."
            )
        if not 0 <= self.token_reminder_days <= 90:
            raise ConfigError("DINAMIS_TOKEN_REMINDER_DAYS must be between 0 and 90.")
        if self.max_content_length < 1024:
            raise ConfigError("DINAMIS_MAX_CONTENT_LENGTH must be at least 1024 bytes.")
        w = self.webhooks
        if not 0.5 <= w.timeout <= 60:
            raise ConfigError("DINAMIS_WEBHOOKS_TIMEOUT must be between 0.5 and 60 seconds.")
        if not 1 <= w.max_attempts <= 20 or not 1 <= w.max_failures <= 1000:
            raise ConfigError(
                "DINAMIS_WEBHOOKS_MAX_ATTEMPTS (1-20) and DINAMIS_WEBHOOKS_MAX_FAILURES (1-1000) "
                "must be positive numbers."
            )
        if not 1 <= w.retry_seconds <= 3600:
            raise ConfigError("DINAMIS_WEBHOOKS_RETRY_SECONDS must be between 1 and 3600.")
        if self.is_production and w.allow_private_addresses:
            raise ConfigError(
                "DINAMIS_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES is for development: production never "
                "calls addresses on its own networks."
            )
        return self


def _bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name} must be true or false, not {value!r}.")


def _int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {value!r}.") from None


def _decimal(name: str, value: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation:
        raise ConfigError(f"{name} must be a decimal number, not {value!r}.") from None


def _float(name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {value!r}.") from None


S = TypeVar("S", bound="DataclassInstance")


def _read(name: str, value: str, default: object) -> object:
    """The variable `name`'s text `value` read as the type of the setting's `default`."""
    if isinstance(default, bool):
        return _bool(name, value)
    if isinstance(default, int):
        return _int(name, value)
    if isinstance(default, float):
        return _float(name, value)
    if isinstance(default, Decimal):
        return _decimal(name, value)
    if isinstance(default, str):
        return value
    raise TypeError(f"{name}: a setting of type {type(default).__name__} has no reader")


def _settings(cls: type[S], prefix: str, env: Mapping[str, str], **given: Any) -> S:
    """`cls`'s settings from the variables `<prefix><FIELD NAME>`, each read as the
    type of its default; a variable not set leaves its default. `given` fields are
    the caller's (read otherwise), not read from a variable."""
    defaults = cls()
    values = dict(given)
    for f in fields(cls):
        name = prefix + f.name.upper()
        if f.name not in given and name in env:
            values[f.name] = _read(name, env[name], getattr(defaults, f.name))
    return cls(**values)


# Settings fields not read from a DINAMIS_<FIELD> variable: the sections (their own
# prefixes), and the database (DATABASE_URL, as every PostgreSQL tool names it).
_SECTIONS: dict[str, tuple[str, type[DataclassInstance]]] = {
    "mail": ("DINAMIS_MAIL_", MailSettings),
    "orders": ("DINAMIS_ORDERS_", OrderSettings),
    "webhooks": ("DINAMIS_WEBHOOKS_", WebhookSettings),
    "dsm": ("DINAMIS_DSM_", DsmSettings),
}
_NOT_DINAMIS_VARIABLES = {"database_url", *_SECTIONS}
_KNOWN_PREFIXED = (
    {"DINAMIS_TEST_DATABASE_URL"}  # the test suite's (tests/conftest.py)
    | {
        f"DINAMIS_{f.name.upper()}"
        for f in fields(Settings)
        if f.name not in _NOT_DINAMIS_VARIABLES
    }
    | {prefix + f.name.upper() for prefix, cls in _SECTIONS.values() for f in fields(cls)}
)


def default_base_url(environ: Mapping[str, str]) -> str:
    """Where `make run` serves: HOST and PORT (as the Makefile passes them), else 127.0.0.1:5000.

    A wildcard address (0.0.0.0, ::) is not a place to send people to: links
    then name 127.0.0.1; set DINAMIS_BASE_URL for anything public.
    """
    host = environ.get("HOST", "").strip() or "127.0.0.1"
    port = environ.get("PORT", "").strip() or "5000"
    if host in ("0.0.0.0", "::", "[::]"):  # noqa: S104 (a comparison, not a bind)
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address in a URL
    return f"http://{host}:{port}"


def from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from DATABASE_URL and DINAMIS_* variables.

    An unknown DINAMIS_* variable is refused, since it is most often a typo
    that would otherwise silently keep a default.
    """
    env = os.environ if environ is None else environ
    unknown = sorted(k for k in env if k.startswith("DINAMIS_") and k not in _KNOWN_PREFIXED)
    if unknown:
        raise ConfigError(f"Unknown setting(s): {', '.join(unknown)}.")

    def get(name: str, default: str) -> str:
        return env.get(name, default)

    settings = _settings(
        Settings,
        "DINAMIS_",
        env,
        **{name: _settings(cls, prefix, env) for name, (prefix, cls) in _SECTIONS.items()},
        database_url=get("DATABASE_URL", "") or DEFAULT_DATABASE_URL,
        base_url=(get("DINAMIS_BASE_URL", "") or default_base_url(env)).rstrip("/"),
        webmail_domains=frozenset(
            d.strip().lower()
            for d in get("DINAMIS_WEBMAIL_DOMAINS", DEFAULT_WEBMAIL).split(",")
            if d.strip()
        ),
        allowance_on_joining=get("DINAMIS_ALLOWANCE_ON_JOINING", "prorated").strip().lower(),
        log_level=get("DINAMIS_LOG_LEVEL", "INFO").upper(),
    )
    return finalise(settings)


def finalise(settings: Settings, **overrides: Any) -> Settings:
    """Apply overrides, fill a development secret when none is set, validate."""
    settings = replace(settings, **overrides) if overrides else settings
    settings.validate()
    if not settings.secret_key:
        # Development and tests only (production is refused above): a random
        # key per process, so sessions do not survive a restart.
        settings = replace(settings, secret_key=secrets.token_urlsafe(48))
    return settings


def current() -> Settings:
    """The settings of the running application (inside its context)."""
    settings: Settings = current_app.config["DINAMIS_SETTINGS"]
    return settings
