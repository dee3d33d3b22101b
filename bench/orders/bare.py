"""The reference endpoint of the issue, for calibration: bare Flask, one row lock, one insert.

    POST /bare  ->  BEGIN; SELECT ... FROM bare_accounts WHERE id = 1 FOR UPDATE;
                    INSERT INTO bare_ledger ...; COMMIT

run.py serves it with the same gunicorn settings and clients as the orders
API (`--phases bare,...`), so that the orders figures can be read against
what the machine gives at that moment for the simplest locked write.
"""

from __future__ import annotations

import os
from functools import cache

from flask import Flask, jsonify
from sqlalchemy import Engine, create_engine, text

SCHEMA = """
CREATE TABLE IF NOT EXISTS bare_accounts (id int PRIMARY KEY, balance numeric NOT NULL);
CREATE TABLE IF NOT EXISTS bare_ledger (
    id bigserial PRIMARY KEY, account_id int NOT NULL REFERENCES bare_accounts (id),
    amount numeric NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
INSERT INTO bare_accounts VALUES (1, 0) ON CONFLICT DO NOTHING;
"""

app = Flask(__name__)


@cache
def engine() -> Engine:
    url = os.environ["DATABASE_URL"]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url)


@app.post("/bare")
def bare() -> object:
    with engine().begin() as conn:
        conn.execute(text("SELECT balance FROM bare_accounts WHERE id = 1 FOR UPDATE"))
        new_id = conn.execute(
            text("INSERT INTO bare_ledger (account_id, amount) VALUES (1, 1) RETURNING id")
        ).scalar_one()
    return jsonify({"id": new_id}), 201
