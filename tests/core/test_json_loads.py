"""JSONB read through orjson must give what the standard library gives."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from dinamis.core.db import json_loads
from dinamis.extensions import db

SAMPLES = [
    '{"a": 1, "b": [1.5, -2, null, true, false], "c": "été"}',
    '{"big": 18446744073709551616}',
    '{"neg": -9223372036854775809}',
    '{"long": 123456789012345678901234567890}',
    '{"edge": 9223372036854775807, "u64": 18446744073709551615}',
    '{"huge": 1e400}',
    '{"f": 0.1, "g": 1e-7, "h": 12345.678901234567}',
    '{"digits": "12345678901234567890123"}',
    "[]",
    '"text"',
]


@pytest.mark.parametrize("sample", SAMPLES)
def test_json_loads_equals_the_standard_library(sample: str) -> None:
    expected = json.loads(sample)
    for given in (sample, sample.encode(), memoryview(sample.encode())):
        got = json_loads(given)  # type: ignore[arg-type]
        assert got == expected
        assert repr(got) == repr(expected)  # same types: an int stays an int


def test_jsonb_big_integers_read_exactly(app) -> None:
    with app.app_context():
        value = db.session.scalar(
            text("SELECT CAST(:v AS jsonb)"), {"v": '{"n": 123456789012345678901234567890}'}
        )
        assert value == {"n": 123456789012345678901234567890}
        assert isinstance(value["n"], int)
