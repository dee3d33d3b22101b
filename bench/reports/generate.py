"""Reporting benchmark data: a realistic, deterministic volume written with SQL.

    .venv/bin/python bench/reports/generate.py DATABASE_URL

Fills a freshly migrated (empty) database with two programme years, 2025 and
2026 (until 24 November 2026):

- 4 profiles, 1,000 entities (a few very large ones), 20,000 users;
- 200,000 orders (tasking and archive, three sensors, every state) with their
  AOI, quotes for the co-funded ones and deliveries for the delivered ones;
- the quota ledger these orders imply: yearly grants per profile and family,
  then reserve / cofund / consume / release postings per order, the free part
  taken from the entity's allowance in order of submission (every transaction
  balances; the database's triggers check it at commit);
- usage reports for delivered orders and a few publications;
- 2,000,000 download records over the two years, by collection.

Everything is computed in SQL (INSERT ... SELECT over generate_series) from a
hash of the row number (`hashint8extended`), never from random(): the same
numbers on every run, whatever the plan.
"""

from __future__ import annotations

import sys
import time

import psycopg
from psycopg import sql

ENTITIES = 1_000
USERS = 20_000
ORDERS = 200_000
DOWNLOADS = 2_000_000
YEARS = (2025, 2026)
END = "2026-11-24"  # the last day of generated activity
FAMILIES = ("tasking", "archive", "neo", "dsm")
ENTITY_KINDS = ("available", "reserved", "consumed", "cofunded_reserved", "cofunded_consumed")

FUNCTIONS = """
-- A uniform number in [0, 1) from a row number and a salt: deterministic.
CREATE FUNCTION bench_u(i bigint, salt bigint) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT (hashint8extended(i, salt) & 9007199254740991)::float8 / 9007199254740992.0 $$;

-- The entity of user n: users 1..1000 are the Referents of entities 1..1000;
-- the others are skewed towards the low ids, 15% of them in the five largest.
CREATE FUNCTION bench_entity(n bigint) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE
    WHEN n <= 1000 THEN n::int
    WHEN bench_u(n, 1) < 0.15 THEN 1 + floor(bench_u(n, 2) * 5)::int
    ELSE 1 + floor(1000 * power(bench_u(n, 2), 1.6))::int
END $$;

-- An account's id from its key (entity accounts first, then the programme's).
CREATE FUNCTION bench_account(e int, family text, year int, kind text) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE WHEN e IS NULL THEN
    40001 + ((array_position(ARRAY['tasking','archive','neo','dsm'], family) - 1) * 2
             + (year - 2025)) * 2
          + array_position(ARRAY['programme_grants','programme_cofunding'], kind) - 1
ELSE
    ((((e - 1) * 4 + array_position(ARRAY['tasking','archive','neo','dsm'], family) - 1) * 2
      + (year - 2025)) * 5)
    + array_position(ARRAY['available','reserved','consumed','cofunded_reserved',
                           'cofunded_consumed'], kind)
END $$;
"""

PEOPLE = """
INSERT INTO profiles (id, code, name_fr, name_en) VALUES
    (1, 'research-fr', 'Recherche française', 'French research'),
    (2, 'public-fr', 'Acteurs publics français', 'French public actors'),
    (3, 'private-fr', 'R&D privée', 'Private R&D'),
    (4, 'international', 'Science internationale', 'International science');

INSERT INTO entities (id, name, acronym, profile_id, status, national_id, national_id_type,
                      country, sector, email_domains, membership_start, created_at)
SELECT e,
       (ARRAY['Laboratoire', 'Institut', 'Agence', 'Université', 'Observatoire',
              'Bureau d''études', 'Syndicat mixte', 'Centre', 'Direction régionale',
              'Parc naturel'])[1 + e % 10]
       || ' ' || (ARRAY['des sciences de la Terre', 'de géographie', 'de l''eau',
                        'des forêts', 'du littoral', 'de l''aménagement', 'd''écologie',
                        'de télédétection', 'du climat', 'des territoires',
                        'd''agronomie', 'de cartographie'])[1 + (e / 10) % 12]
       || ' de ' || (ARRAY['Montpellier', 'Toulouse', 'Rennes', 'Grenoble', 'Strasbourg',
                           'Lyon', 'Nantes', 'Bordeaux', 'Lille', 'Paris', 'Marseille',
                           'Brest', 'Clermont-Ferrand', 'Dijon', 'Orléans', 'Nancy',
                           'Avignon'])[1 + (e / 120) % 17]
       || ' ' || lpad(e::text, 4, '0'),
       'E' || e,
       CASE WHEN e <= 3 THEN 1 WHEN e <= 5 THEN 2
            WHEN bench_u(e, 20) < 0.50 THEN 1 WHEN bench_u(e, 20) < 0.80 THEN 2
            WHEN bench_u(e, 20) < 0.92 THEN 3 ELSE 4 END,
       CASE WHEN e <= 5 OR bench_u(e, 21) < 0.94 THEN 'active'
            WHEN bench_u(e, 21) < 0.97 THEN 'suspended' ELSE 'expired' END,
       lpad(e::text, 14, '0'), 'siret', 'FR', 'research',
       ARRAY['entity' || e || '.test'],
       CASE WHEN e <= 5 OR bench_u(e, 22) < 0.70
                THEN date '2018-01-01' + floor(bench_u(e, 23) * 2557)::int
            WHEN bench_u(e, 22) < 0.85 THEN date '2025-01-01' + floor(bench_u(e, 23) * 120)::int
            ELSE date '2026-01-01' + floor(bench_u(e, 23) * 120)::int END,
       timestamptz '2018-01-01'
FROM generate_series(1, %(entities)s) e;

INSERT INTO users (id, email, first_name, last_name, language, role, status, entity_id,
                   entity_role, session_token, created_at)
SELECT n,
       'user' || n || '@entity' || bench_entity(n) || '.test',
       (ARRAY['Camille', 'Dominique', 'Claude', 'Alix', 'Sacha', 'Louise', 'Jules', 'Inès',
              'Hugo', 'Léa', 'Nour', 'Yanis'])[1 + n % 12],
       (ARRAY['Martin', 'Bernard', 'Thomas', 'Petit', 'Robert', 'Richard', 'Durand',
              'Dubois', 'Moreau', 'Laurent', 'Simon', 'Michel', 'Garcia'])[1 + (n / 12) % 13],
       CASE WHEN bench_u(n, 40) < 0.8 THEN 'fr' ELSE 'en' END,
       'user',
       CASE WHEN n <= 1000 OR bench_u(n, 41) < 0.92 THEN 'active'
            WHEN bench_u(n, 41) < 0.95 THEN 'pending'
            WHEN bench_u(n, 41) < 0.98 THEN 'suspended' ELSE 'removed' END,
       bench_entity(n),
       CASE WHEN n <= 1000 THEN 'referent' WHEN bench_u(n, 42) < 0.06 THEN 'deputy'
            ELSE 'member' END,
       md5('bench-session-' || n) || md5('bench-token-' || n),
       timestamptz '2019-01-01' + bench_u(n, 43) * interval '2500 days'
FROM generate_series(1, %(users)s) n;
"""

# Every order's figures, computed once: requester (hence entity), year, kind,
# sensor, mode, AOI, state, then its free / co-funded split against the
# entity's allowance, in order of submission.
ORDER_PLAN = """
CREATE TEMP TABLE allowance (profile_id int, family text, km2 numeric) ON COMMIT PRESERVE ROWS;
INSERT INTO allowance VALUES
    (1, 'tasking', 3000), (1, 'archive', 8000), (1, 'neo', 3000), (1, 'dsm', 2000),
    (2, 'tasking', 2000), (2, 'archive', 6000), (2, 'neo', 2000), (2, 'dsm', 1500),
    (3, 'tasking', 500), (3, 'archive', 1500), (3, 'neo', 500), (3, 'dsm', 300),
    (4, 'tasking', 1000), (4, 'archive', 3000), (4, 'neo', 1000), (4, 'dsm', 600);

CREATE TEMP TABLE plan ON COMMIT PRESERVE ROWS AS
WITH base AS (
    SELECT o, 1 + floor(%(users)s * bench_u(o, 50))::int AS requester
    FROM generate_series(1, %(orders)s) o
), placed AS (
    SELECT base.*, e.id AS entity_id, e.profile_id,
           CASE WHEN e.membership_start >= date '2026-01-01' OR bench_u(o, 51) >= 0.45
                THEN 2026 ELSE 2025 END AS year
    FROM base JOIN entities e ON e.id = bench_entity(base.requester)
), drawn AS (
    SELECT placed.*,
           CASE WHEN bench_u(o, 52) < 0.35 THEN 'tasking' ELSE 'archive' END AS kind,
           CASE WHEN bench_u(o, 53) < 0.45 THEN 'pleiades'
                WHEN bench_u(o, 53) < 0.75 THEN 'pleiades-neo' ELSE 'spot' END AS sensor,
           CASE WHEN bench_u(o, 54) < 0.75 THEN 'mono'
                WHEN bench_u(o, 54) < 0.93 THEN 'stereo' ELSE 'tristereo' END AS mode,
           -4.5 + 12 * bench_u(o, 55) AS lon,
           42.5 + 8 * bench_u(o, 56) AS lat,
           0.02 + 0.18 * power(bench_u(o, 57), 3) AS d,
           CASE WHEN year = 2025
                THEN timestamptz '2025-01-01 06:00' + bench_u(o, 58) * interval '364 days'
                ELSE timestamptz '2026-01-01 06:00' + bench_u(o, 58) * interval '326 days'
           END AS created_at,
           bench_u(o, 59) AS s
    FROM placed
)
SELECT drawn.*,
       CASE WHEN kind = 'tasking' THEN 'tasking' WHEN sensor = 'pleiades-neo' THEN 'neo'
            WHEN mode <> 'mono' THEN 'dsm' ELSE 'archive' END AS family,
       CASE WHEN year = 2025 THEN
            CASE WHEN s < 0.02 THEN 'draft' WHEN s < 0.04 THEN 'accepted'
                 WHEN s < 0.07 THEN 'partially_delivered' WHEN s < 0.52 THEN 'delivered'
                 WHEN s < 0.77 THEN 'closed' WHEN s < 0.85 THEN 'rejected'
                 WHEN s < 0.93 THEN 'cancelled' ELSE 'expired' END
       ELSE
            CASE WHEN s < 0.05 THEN 'draft' WHEN s < 0.18 THEN 'under_review'
                 WHEN s < 0.38 THEN 'accepted' WHEN s < 0.45 THEN 'partially_delivered'
                 WHEN s < 0.80 THEN 'delivered' WHEN s < 0.85 THEN 'closed'
                 WHEN s < 0.91 THEN 'rejected' WHEN s < 0.96 THEN 'cancelled'
                 ELSE 'expired' END
       END AS status,
       round((d * 111.32 * cos(radians(lat + d / 2)) * d * 110.57)::numeric, 2) AS aoi_km2,
       round((d * 111.32 * cos(radians(lat + d / 2)) * d * 110.57)::numeric, 2)
           * CASE mode WHEN 'mono' THEN 1 WHEN 'stereo' THEN 2 ELSE 3 END AS charged,
       0::numeric AS free, 0::numeric AS cofunded,
       least(created_at + (5 + 40 * bench_u(o, 60)) * interval '1 day',
             timestamptz '2026-11-24 18:00') AS delivered_at
FROM drawn;

-- The free part comes from what is left of the allowance when the order is
-- submitted (drafts reserve nothing); the rest is co-funded.
WITH running AS (
    SELECT p.o, p.charged, a.km2 AS allowance,
           sum(p.charged) OVER (PARTITION BY p.entity_id, p.family, p.year
                                ORDER BY p.created_at, p.o) - p.charged AS before
    FROM plan p JOIN allowance a USING (profile_id, family)
    WHERE p.status <> 'draft'
)
UPDATE plan SET free = greatest(least(r.allowance - r.before, r.charged), 0),
                cofunded = r.charged - greatest(least(r.allowance - r.before, r.charged), 0)
FROM running r WHERE r.o = plan.o;

-- A co-funded order under review is waiting for its quote to be accepted.
UPDATE plan SET status = 'awaiting_quote'
WHERE cofunded > 0 AND status = 'under_review';
CREATE UNIQUE INDEX ON plan (o);
ANALYZE plan;
"""

ORDERS_SQL = """
INSERT INTO orders (id, kind, status, entity_id, requester_id, sensor, aoi, aoi_km2, mode,
                    charged_km2, family, period, free_km2, cofunded_km2, window_start,
                    window_end, max_cloud_cover, max_incidence, spectral_mode, project_title,
                    project_description, justification, theme, created_at, submitted_at,
                    updated_at)
SELECT o, kind, status, entity_id, requester, sensor,
       ST_Multi(ST_MakeEnvelope(lon, lat, lon + d, lat + d, 4326)), aoi_km2, mode,
       charged, family, year::text, free, cofunded,
       CASE WHEN kind = 'tasking' THEN (created_at + interval '7 days')::date END,
       CASE WHEN kind = 'tasking' THEN (created_at + interval '97 days')::date END,
       20, 30, 'pms',
       'Projet ' || o || ' : ' || (ARRAY['suivi des cultures', 'trait de côte',
           'urbanisation', 'forêts', 'risques naturels', 'biodiversité'])[1 + o % 6],
       'Acquisition pour le projet ' || o || '.',
       'Besoin de très haute résolution.',
       (ARRAY['agriculture', 'coast', 'urban', 'forest', 'risks', 'biodiversity'])[1 + o % 6],
       created_at,
       CASE WHEN status <> 'draft' THEN created_at + interval '2 hours' END,
       least(created_at + interval '10 days', timestamptz '2026-11-24 18:00')
FROM plan ORDER BY o;

INSERT INTO quotes (order_id, status, free_km2, cofunded_km2, eur_per_km2, excluding_tax,
                    tax_rate, tax, including_tax, valid_until, decided_at, created_at)
SELECT o,
       CASE WHEN status = 'awaiting_quote' THEN 'pending'
            WHEN status IN ('rejected', 'cancelled') THEN 'declined'
            WHEN status = 'expired' THEN 'expired' ELSE 'accepted' END,
       free, cofunded, price, round(cofunded * price, 2), 0.2,
       round(round(cofunded * price, 2) * 0.2, 2),
       round(cofunded * price, 2) + round(round(cofunded * price, 2) * 0.2, 2),
       (created_at + interval '32 days')::date,
       CASE WHEN status NOT IN ('awaiting_quote', 'expired')
            THEN created_at + interval '3 days' END,
       created_at + interval '2 hours'
FROM (
    SELECT plan.*,
           CASE sensor WHEN 'pleiades' THEN 4.50 WHEN 'pleiades-neo' THEN 9.00 ELSE 1.90 END
               * CASE kind WHEN 'tasking' THEN 1 ELSE 0.6 END AS price
    FROM plan
) q
WHERE cofunded > 0 AND status <> 'draft' ORDER BY o;

INSERT INTO deliveries (order_id, scene_ref, km2, computed_km2, created_at)
SELECT o, 'DS_' || upper(replace(sensor, '-', '_')) || '_' || lpad(o::text, 7, '0'), km2, km2,
       delivered_at
FROM (SELECT *, CASE WHEN status = 'partially_delivered' THEN round(charged / 2, 2)
                     ELSE charged END AS km2
        FROM plan) AS p WHERE status IN ('partially_delivered', 'delivered', 'closed') ORDER BY o;
"""

# Transactions get computed ids: grants 1,000,000 + n; an order's postings
# 4 * order + 0 (reserve), 1 (cofund), 2 (consume), 3 (release).
LEDGER = """
INSERT INTO ledger_accounts (id, entity_id, family, period, kind, created_at)
SELECT bench_account(e.id, f, y, k), e.id, f, y::text, k, make_date(y, 1, 1)
FROM entities e,
     unnest(ARRAY['tasking', 'archive', 'neo', 'dsm']) f,
     unnest(ARRAY[2025, 2026]) y,
     unnest(ARRAY['available', 'reserved', 'consumed', 'cofunded_reserved',
                  'cofunded_consumed']) k
WHERE e.membership_start < make_date(y + 1, 1, 1)
UNION ALL
SELECT bench_account(NULL, f, y, k), NULL, f, y::text, k, make_date(y, 1, 1)
FROM unnest(ARRAY['tasking', 'archive', 'neo', 'dsm']) f,
     unnest(ARRAY[2025, 2026]) y,
     unnest(ARRAY['programme_grants', 'programme_cofunding']) k
ORDER BY 1;

CREATE TEMP TABLE grants ON COMMIT PRESERVE ROWS AS
SELECT 1000000 + row_number() OVER (ORDER BY e.id, a.family, y) AS tx,
       e.id AS entity_id, a.family, y AS year, a.km2,
       greatest(make_date(y, 1, 1), e.membership_start)::timestamptz AS at
FROM entities e JOIN allowance a ON a.profile_id = e.profile_id,
     unnest(ARRAY[2025, 2026]) y
WHERE e.membership_start < make_date(y + 1, 1, 1);

INSERT INTO ledger_transactions (id, kind, idempotency_key, reason, reference, order_id,
                                 created_at)
SELECT tx, 'grant', 'grant:' || entity_id || ':' || family || ':' || year,
       'Allowance ' || year, NULL, NULL, at
FROM grants
UNION ALL
SELECT 4 * o, 'reserve', 'reserve:order:' || o || ':' || family || ':' || year, NULL,
       'order:' || o, o, created_at + interval '2 hours'
FROM plan WHERE status <> 'draft' AND free > 0  -- as the app: no empty transaction
UNION ALL
SELECT 4 * o + 1, 'cofund', 'cofund:order:' || o || ':' || family || ':' || year, NULL,
       'order:' || o, o, created_at + interval '3 days'
FROM plan WHERE cofunded > 0
    AND status IN ('under_review', 'accepted', 'partially_delivered', 'delivered', 'closed')
UNION ALL
SELECT 4 * o + 2, 'consume', 'consume:order:' || o || ':' || family || ':' || year || ':1',
       NULL, 'order:' || o, o, delivered_at
FROM plan WHERE status IN ('partially_delivered', 'delivered', 'closed')
UNION ALL
SELECT 4 * o + 3, 'release', 'release:order:' || o || ':' || family || ':' || year || ':end',
       NULL, 'order:' || o, o, created_at + interval '15 days'
FROM plan WHERE status IN ('rejected', 'cancelled', 'expired') AND free > 0
ORDER BY 1;

INSERT INTO ledger_entries (transaction_id, account_id, amount, created_at)
SELECT tx, account, amount, at FROM (
    SELECT tx, bench_account(NULL, family, year, 'programme_grants') AS account,
           -km2 AS amount, at, 0 AS leg FROM grants
    UNION ALL
    SELECT tx, bench_account(entity_id, family, year, 'available'), km2, at, 1 FROM grants
    -- reserve: the free part, available -> reserved
    UNION ALL
    SELECT 4 * o, bench_account(entity_id, family, year, 'available'), -free,
           created_at + interval '2 hours', 0
    FROM plan WHERE status <> 'draft' AND free > 0
    UNION ALL
    SELECT 4 * o, bench_account(entity_id, family, year, 'reserved'), free,
           created_at + interval '2 hours', 1
    FROM plan WHERE status <> 'draft' AND free > 0
    -- cofund: the quote accepted, programme co-funding -> co-funded reserved
    UNION ALL
    SELECT 4 * o + 1, bench_account(NULL, family, year, 'programme_cofunding'), -cofunded,
           created_at + interval '3 days', 0
    FROM plan WHERE cofunded > 0
        AND status IN ('under_review', 'accepted', 'partially_delivered', 'delivered', 'closed')
    UNION ALL
    SELECT 4 * o + 1, bench_account(entity_id, family, year, 'cofunded_reserved'), cofunded,
           created_at + interval '3 days', 1
    FROM plan WHERE cofunded > 0
        AND status IN ('under_review', 'accepted', 'partially_delivered', 'delivered', 'closed')
    -- consume: what was delivered, free part first
    UNION ALL
    SELECT 4 * o + 2, bench_account(entity_id, family, year, k.kind), k.amount, delivered_at,
           k.leg
    FROM (
        SELECT plan.*, least(dl, free) AS f1, dl - least(dl, free) AS p1
        FROM (SELECT plan.*, CASE WHEN status = 'partially_delivered'
                                  THEN round(charged / 2, 2) ELSE charged END AS dl
              FROM plan WHERE status IN ('partially_delivered', 'delivered', 'closed')) plan
    ) plan,
    LATERAL (VALUES ('reserved', -f1, 0), ('consumed', f1, 1),
                    ('cofunded_reserved', -p1, 2), ('cofunded_consumed', p1, 3))
        AS k(kind, amount, leg)
    WHERE k.amount <> 0
    -- release: a refused or abandoned order gives its free km² back
    UNION ALL
    SELECT 4 * o + 3, bench_account(entity_id, family, year, k.kind), k.amount,
           created_at + interval '15 days', k.leg
    FROM plan, LATERAL (VALUES ('reserved', -free, 0), ('available', free, 1))
        AS k(kind, amount, leg)
    WHERE status IN ('rejected', 'cancelled', 'expired') AND free > 0
) legs
ORDER BY tx, leg;
"""

REPORTS = """
INSERT INTO usage_reports (kind, status, entity_id, author_id, order_id, year, due_on, project,
                           themes, scene_ids, products, benefit, comments, submitted_at,
                           created_at, updated_at)
SELECT 'order',
       CASE WHEN bench_u(o, 70) < 0.50 THEN 'accepted' WHEN bench_u(o, 70) < 0.70 THEN 'submitted'
            WHEN bench_u(o, 70) < 0.90 THEN 'draft' ELSE 'returned' END,
       entity_id, requester, o, year, (delivered_at + interval '90 days')::date,
       'Projet ' || o, ARRAY['agriculture'], ARRAY[]::varchar[], 'Cartes', 'Utile', '',
       CASE WHEN bench_u(o, 70) < 0.70 THEN delivered_at + interval '30 days' END,
       delivered_at + interval '20 days', delivered_at + interval '30 days'
FROM plan
WHERE status IN ('delivered', 'closed') AND bench_u(o, 71) < 0.60
ORDER BY o;

INSERT INTO report_publications (report_id, title, year, doi)
SELECT id, 'Étude ' || id || ' par imagerie très haute résolution', year,
       CASE WHEN id % 3 = 0 THEN '10.1000/dinamis.' || id END
FROM usage_reports
WHERE status = 'accepted' AND bench_u(id, 72) < 0.10
ORDER BY id;
"""

DOWNLOADS_SQL = """
INSERT INTO downloads (id, user_id, entity_id, scene_id, collection_id, asset, bytes, ranged,
                       via, created_at)
SELECT i, n, bench_entity(n),
       'S' || lpad(floor(bench_u(i, 82) * 400000)::text, 8, '0'),
       CASE WHEN c < 0.35 THEN 'spot67-ortho-france' WHEN c < 0.65 THEN 'pleiades-archive'
            WHEN c < 0.80 THEN 'pleiades-neo' WHEN c < 0.92 THEN 'spot-archive'
            ELSE 'dinamis-deliveries' END,
       CASE WHEN a < 0.70 THEN 'data' WHEN a < 0.90 THEN 'overview' ELSE 'metadata' END,
       CASE WHEN r < 0.25 THEN 1048576 + floor(bench_u(i, 84) * 63 * 1048576)::bigint
            WHEN a < 0.70 THEN 200000000 + floor(bench_u(i, 84) * 2800000000)::bigint
            WHEN a < 0.90 THEN 2000000 + floor(bench_u(i, 84) * 30000000)::bigint
            ELSE 20000 + floor(bench_u(i, 84) * 200000)::bigint END,
       r < 0.25,
       CASE WHEN bench_u(i, 85) < 0.15 THEN 'link' ELSE 'web' END,
       timestamptz '2025-01-01' + bench_u(i, 86) * (timestamptz '%(end)s 23:59' - '2025-01-01')
FROM (
    SELECT i, 1 + floor(%(users)s * bench_u(i, 80))::int AS n, bench_u(i, 81) AS c,
           bench_u(i, 83) AS a, bench_u(i, 87) AS r
    FROM generate_series(1, %(downloads)s) i
) d;
"""

SEQUENCES = [
    "profiles",
    "entities",
    "users",
    "orders",
    "quotes",
    "deliveries",
    "ledger_accounts",
    "ledger_transactions",
    "ledger_entries",
    "usage_reports",
    "report_publications",
    "downloads",
]

TABLES = [
    "entities",
    "users",
    "orders",
    "quotes",
    "deliveries",
    "ledger_accounts",
    "ledger_transactions",
    "ledger_entries",
    "usage_reports",
    "report_publications",
    "downloads",
]


def render(script: str, params: dict[str, object]) -> str:
    """The SQL with its %(name)s placeholders replaced (the SQL itself uses %)."""
    for name, value in params.items():
        script = script.replace(f"%({name})s", str(value))
    return script


def libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def generate(url: str, log=print) -> dict[str, int]:
    """Fill the (migrated, empty) database at `url`; return the row counts."""
    params = {
        "entities": ENTITIES,
        "users": USERS,
        "orders": ORDERS,
        "downloads": DOWNLOADS,
        "end": END,
    }
    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute("SET synchronous_commit = off")
        steps = [
            ("functions", FUNCTIONS),
            ("profiles, entities, users", PEOPLE),
            ("order plan", ORDER_PLAN),
            ("orders, quotes, deliveries", ORDERS_SQL),
            ("ledger", LEDGER),
            ("usage reports", REPORTS),
            ("downloads", DOWNLOADS_SQL),
        ]
        for label, script in steps:
            started = time.perf_counter()
            with conn.cursor() as cur:
                cur.execute(render(script, params))
            conn.commit()  # the ledger's balance trigger runs here
            log(f"  {label}: {time.perf_counter() - started:.1f} s")
        for table in SEQUENCES:
            conn.execute(
                sql.SQL(
                    "SELECT setval(pg_get_serial_sequence({name}, 'id'), "
                    "(SELECT coalesce(max(id), 1) FROM {table}))"
                ).format(name=sql.Literal(table), table=sql.Identifier(table))
            )
        conn.execute("DROP FUNCTION bench_account, bench_entity, bench_u")
        conn.commit()
        total = conn.execute("SELECT coalesce(sum(amount), 0) FROM ledger_entries").fetchone()[0]
        assert total == 0, f"the ledger does not balance: {total}"
        count = sql.SQL("SELECT count(*) FROM {}")
        counts = {t: conn.execute(count.format(sql.Identifier(t))).fetchone()[0] for t in TABLES}
    started = time.perf_counter()
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    log(f"  vacuum analyze: {time.perf_counter() - started:.1f} s")
    return counts


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for table, count in generate(sys.argv[1]).items():
        print(f"{table}: {count:,}")
