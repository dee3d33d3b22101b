"""How a webhook is called: which URLs may be, the signature, and one POST.

Server-side request forgery is the danger of letting members name a URL the
server calls: it must never reach the server's own networks (loopback, private
ranges, link-local such as a cloud's metadata service at 169.254.169.254, and
every other address that is not public). A URL is checked when it is saved
and again at every send: the host name is resolved, every address it gives
must be public, and the connection goes to the address that was checked (the
Host header and TLS name stay the host name), so a name that resolves to a
public address when saved and to 127.0.0.1 later (DNS rebinding) is refused
at send time. Redirects are never followed: a 3xx answer is a failure.

The signature (the header `Dinamis-Signature: t=<unix time>,v1=<hex>`) is the
HMAC-SHA256, keyed with the webhook's secret, of the time, a dot, and the raw
body: `f"{t}.".encode() + body`. The time inside the signed part lets a
receiver refuse an old request replayed (README: Webhooks).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import certifi
import urllib3
from flask_babel import gettext as _

from dinamis.config import WebhookSettings

SIGNATURE_HEADER = "Dinamis-Signature"
USER_AGENT = "Dinamis-Webhooks/1"
MAX_URL_LENGTH = 2000


class AddressRefused(Exception):
    """The URL may not be called; the message says why, for its owner."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def sign(secret: str, timestamp: int, body: bytes, *older: str) -> str:
    """The `Dinamis-Signature` header's value for this body sent at `timestamp`: one `v1`
    per secret, the current one first (`older`: a rotated secret in its grace period)."""
    signed = f"{timestamp}.".encode() + body
    macs = [hmac.new(key.encode(), signed, hashlib.sha256).hexdigest() for key in (secret, *older)]
    return ",".join([f"t={timestamp}", *(f"v1={mac}" for mac in macs)])


def body_of(payload: dict[str, Any]) -> bytes:
    """The bytes sent (and signed): compact JSON, keys sorted, UTF-8."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def public_address(text: str) -> bool:
    """Whether an IP address is on the public Internet (not the server's own networks)."""
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv4 address written as IPv6 (::ffff:127.0.0.1, 6to4, Teredo) is that address.
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is not None:
            return public_address(str(inner))
    return ip.is_global and not ip.is_multicast


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise AddressRefused(_("The host name %(host)s does not resolve.", host=host)) from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise AddressRefused(_("The host name %(host)s does not resolve.", host=host))
    return addresses


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (an address that was checked) and what to ask for."""

    scheme: str
    host: str
    port: int
    address: str
    path: str


def check_url(url: str, settings: WebhookSettings, *, production: bool) -> Target:
    """Refuse a URL the server must not call (AddressRefused); else where to connect.

    Called when a webhook is saved and before every delivery.
    """
    if len(url) > MAX_URL_LENGTH:
        raise AddressRefused(_("At most %(n)d characters.", n=MAX_URL_LENGTH))
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise AddressRefused(_("A URL has no spaces or control characters."))
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise AddressRefused(_("This is not a valid URL.")) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or (production and scheme != "https"):
        raise AddressRefused(
            _("Only https:// URLs are accepted.")
            if production
            else _("Only http:// and https:// URLs are accepted.")
        )
    if parts.username is not None or parts.password is not None:
        raise AddressRefused(_("A webhook URL cannot carry a user name or password."))
    if parts.fragment:
        raise AddressRefused(_("A webhook URL has no #fragment."))
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise AddressRefused(_("This is not a valid URL."))
    port = port or (443 if scheme == "https" else 80)
    addresses = _resolve(host, port)
    if not settings.allow_private_addresses:
        for address in addresses:
            if not public_address(address):
                raise AddressRefused(
                    _(
                        "%(host)s leads to %(address)s, an address of a private, loopback or "
                        "reserved network: webhooks only call public addresses.",
                        host=host,
                        address=address,
                    )
                )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, host, port, addresses[0], path)


@dataclass(frozen=True)
class Answer:
    """What came of one POST: the HTTP status (None: no answer) and, on failure, why."""

    status: int | None
    error: str | None
    retry: bool  # worth trying again later (5xx, 429, timeouts, connection failures)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def post(target: Target, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    """POST `body` to the checked address, never following a redirect."""
    default_port = 443 if target.scheme == "https" else 80
    host_header = f"[{target.host}]" if ":" in target.host else target.host
    if target.port != default_port:
        host_header = f"{host_header}:{target.port}"
    pool: urllib3.HTTPConnectionPool
    limits = urllib3.Timeout(connect=timeout, read=timeout)
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            timeout=limits,
            retries=False,
            maxsize=1,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    else:
        pool = urllib3.HTTPConnectionPool(
            target.address, target.port, timeout=limits, retries=False, maxsize=1
        )
    sent = {
        **headers,
        "Host": host_header,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
    try:
        # No retry: the pool's (retries=False) holds for its one request, and a redirect is
        # not followed. The path always starts with "/": the pool's host is not asserted.
        response = pool.urlopen(
            "POST", target.path, body=body, headers=sent, redirect=False, preload_content=False
        )
        try:
            response.read(4096, decode_content=False)  # a little, so the server is not cut off
        finally:
            response.release_conn()
    except urllib3.exceptions.TimeoutError:
        return Answer(None, f"timed out after {timeout:g} s", retry=True)
    except urllib3.exceptions.HTTPError as exc:
        return Answer(None, f"{type(exc).__name__}: {exc}"[:500], retry=True)
    finally:
        pool.close()
    status = response.status
    if 200 <= status < 300:
        return Answer(status, None, retry=False)
    if 300 <= status < 400:
        return Answer(status, f"HTTP {status}: redirects are not followed", retry=False)
    return Answer(status, f"HTTP {status}", retry=status >= 500 or status in (408, 429))
