"""The default base URL of e-mailed links follows HOST and PORT (`PORT=5061 make run`)."""

from __future__ import annotations

import pytest

from dinamis import PROJECT_ROOT
from dinamis.config import ConfigError, from_env


def test_default_base_url_follows_host_and_port():
    assert from_env({}).base_url == "http://127.0.0.1:5000"
    assert from_env({"PORT": "5061"}).base_url == "http://127.0.0.1:5061"
    assert from_env({"HOST": "dinamis.local", "PORT": "8080"}).base_url == (
        "http://dinamis.local:8080"
    )
    wildcard = {"HOST": "0.0.0.0", "PORT": "5061"}  # noqa: S104
    assert from_env(wildcard).base_url == "http://127.0.0.1:5061"
    assert from_env({"HOST": "::1"}).base_url == "http://[::1]:5000"
    # an explicit DINAMIS_BASE_URL wins
    explicit = {"PORT": "5061", "DINAMIS_BASE_URL": "https://dinamis.example.org/"}
    assert from_env(explicit).base_url == "https://dinamis.example.org"


def test_an_e_mailed_link_carries_the_port(app, monkeypatch):
    from dinamis.core.web import external_url

    monkeypatch.setenv("PORT", "5061")
    monkeypatch.delenv("DINAMIS_BASE_URL", raising=False)
    monkeypatch.setitem(app.config, "DINAMIS_SETTINGS", from_env())
    with app.app_context():
        assert external_url("membership.verify", code="abc").startswith(
            "http://127.0.0.1:5061/verify/"
        )


def test_make_run_passes_host_and_port_to_the_app():
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert "export HOST PORT" in makefile


def test_allowance_mode_is_checked():
    assert from_env({}).allowance_on_joining == "prorated"
    assert from_env({"DINAMIS_ALLOWANCE_ON_JOINING": "full"}).allowance_on_joining == "full"
    with pytest.raises(ConfigError, match="DINAMIS_ALLOWANCE_ON_JOINING"):
        from_env({"DINAMIS_ALLOWANCE_ON_JOINING": "half"})
