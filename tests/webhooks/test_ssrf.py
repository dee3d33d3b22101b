"""Server-side request forgery: URLs the server must never call, refused when saved."""

from __future__ import annotations

import pytest
from flask_babel import force_locale

from dinamis.config import WebhookSettings
from dinamis.core.errors import ServiceError
from dinamis.extensions import db
from dinamis.webhooks import service, transport
from dinamis.webhooks.models import Webhook
from tests.factories import make_user
from tests.webhooks.conftest import set_webhook_settings

STRICT = WebhookSettings()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://127.1/hook",  # short form of 127.0.0.1
        "http://2130706433/hook",  # 127.0.0.1 as one decimal number
        "http://0x7f000001/hook",  # and in hexadecimal
        "http://0.0.0.0/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped IPv6
        "http://[::ffff:a9fe:a9fe]/latest",  # 169.254.169.254, mapped
        "http://10.0.0.5/hook",
        "http://172.16.3.4/hook",
        "http://192.168.1.10:8080/hook",
        "http://100.64.0.1/hook",  # carrier-grade NAT
        "http://169.254.169.254/latest/meta-data/",  # a cloud's metadata service
        "http://[fe80::1]/hook",  # link-local
        "http://[fd12:3456::1]/hook",  # unique local
        "http://224.0.0.1/hook",  # multicast
        "http://localhost:5106/hook",
        "http://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
    ],
)
def test_addresses_of_the_servers_own_networks_are_refused(url):
    with pytest.raises(transport.AddressRefused, match="private, loopback or reserved"):
        transport.check_url(url, STRICT, production=False)


def test_a_name_resolving_to_a_private_address_is_refused(monkeypatch):
    def resolve(host, port, *args, **kwargs):
        addresses = {"intranet.example.org": ["93.184.216.34", "10.1.2.3"]}[host]
        return [(2, 1, 6, "", (a, port)) for a in addresses]

    monkeypatch.setattr(transport.socket, "getaddrinfo", resolve)
    # One private address among public ones is enough to refuse.
    with pytest.raises(transport.AddressRefused, match=r"10\.1\.2\.3"):
        transport.check_url("https://intranet.example.org/h", STRICT, production=True)


def test_a_name_that_does_not_resolve_is_refused():
    with pytest.raises(transport.AddressRefused, match="does not resolve"):
        transport.check_url("https://no-such-host.invalid/h", STRICT, production=False)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://93.184.216.34/h", "Only http:// and https://"),
        ("file:///etc/passwd", "Only http:// and https://"),
        ("gopher://93.184.216.34:70/", "Only http:// and https://"),
        ("https://user:pass@93.184.216.34/h", "user name or password"),
        ("https://93.184.216.34/h#frag", "#fragment"),
        ("https://93.184.216.34/a b", "spaces or control characters"),
        ("https://93.184.216.34:99999/h", "not a valid URL"),
        ("https:///nohost", "not a valid URL"),
        ("https://93.184.216.34/" + "a" * 2000, "At most 2000 characters"),
    ],
)
def test_malformed_urls_are_refused(url, words):
    with pytest.raises(transport.AddressRefused, match=words):
        transport.check_url(url, STRICT, production=False)


def test_production_takes_https_only_and_a_public_address_passes():
    with pytest.raises(transport.AddressRefused, match="Only https://"):
        transport.check_url("http://93.184.216.34/h", STRICT, production=True)
    target = transport.check_url("https://93.184.216.34:8443/in?a=1", STRICT, production=True)
    assert (target.address, target.port, target.path) == ("93.184.216.34", 8443, "/in?a=1")


def test_the_development_setting_allows_loopback():
    allowing = WebhookSettings(allow_private_addresses=True)
    target = transport.check_url("http://127.0.0.1:5106/h", allowing, production=False)
    assert target.address == "127.0.0.1"


def test_a_refused_url_is_named_at_its_field_and_nothing_is_written(app, strict):
    with app.app_context(), force_locale("en"):
        owner = make_user("ssrf@labo.test")
        with pytest.raises(ServiceError) as refused:
            service.create(owner, url="http://169.254.169.254/", description="x" * 201)
        assert set(refused.value.fields) == {"url", "description"}
        assert "private, loopback or reserved" in refused.value.fields["url"]
        assert db.session.query(Webhook).count() == 0


def test_production_refuses_the_development_setting(app):
    from dinamis.config import ConfigError, finalise

    settings = app.config["DINAMIS_SETTINGS"]
    with pytest.raises(ConfigError, match="ALLOW_PRIVATE_ADDRESSES"):
        finalise(
            settings,
            env="production",
            secret_key="k" * 40,
            ratelimit_storage_uri="redis://127.0.0.1:6379/0",
            webhooks=WebhookSettings(allow_private_addresses=True),
        )


def test_settings_from_the_environment():
    from dinamis.config import ConfigError, from_env

    settings = from_env(
        {"DINAMIS_WEBHOOKS_MAX_FAILURES": "3", "DINAMIS_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES": "true"}
    )
    assert settings.webhooks.max_failures == 3 and settings.webhooks.allow_private_addresses
    with pytest.raises(ConfigError, match="DINAMIS_WEBHOOKS_TIMEOUT"):
        from_env({"DINAMIS_WEBHOOKS_TIMEOUT": "600"})


def test_switching_on_checks_the_url_again(app, strict, monkeypatch):
    with app.app_context(), force_locale("en"):
        set_webhook_settings(app, allow_private_addresses=True)
        owner = make_user("again@labo.test")
        webhook, _secret = service.create(owner, url="http://127.0.0.1:9/h")
        service.switch_off(owner, webhook)
        set_webhook_settings(app, allow_private_addresses=False)
        with pytest.raises(ServiceError, match="private, loopback or reserved"):
            service.switch_on(owner, webhook)
        assert not webhook.active
