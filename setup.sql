-- =============================================================================
-- jsonwire benchmark dataset
-- =============================================================================
--
-- Load (re-runnable; drops and recreates everything it owns):
--
--     psql -v ON_ERROR_STOP=1 -f setup.sql            (plus -h/-p/-U/-d as needed)
--
-- Measured load time (2-core VM shared with other jobs, Postgres 15):
-- 33-61 s, typically 35-45 s, both with a stock durable config (fsync on,
-- shared_buffers 128MB) and with fsync=off.  About 24 s of it is generating
-- the 1M orders, ~5 s computing bench_expected, ~1 s VACUUM.
-- Needs a UTF8 database (checked below).  Disk: ~710 MB (tables + PKs).
--
-- Every benchmark view has exactly one column, `data jsonb`; the client runs
-- `SELECT data FROM <view>`.  All values are derived deterministically from the
-- row id (hashtext()/arithmetic; no random()), so every load is byte-identical
-- and `bench_expected` is the same on every machine (hashtext() is stable for
-- a given Postgres major version and byte order; bench_expected is computed
-- from the loaded data anyway, so checks never depend on that).  Row order is
-- unspecified (plain seq scans; in practice id order, but a synchronized seq
-- scan may start mid-table) -- benchmarks must not depend on it.  Only
-- v_test_slow has a defined order.
--
-- Views (rows / average JSON text bytes per row, i.e. octet_length(data::text));
-- 1,111,260 stored rows in all:
--
--   v_test_1k           1,000 rows      480 B/row   (0.48 MB)
--   v_test_10k          10,000 rows     480 B/row   (4.8 MB)
--   v_test_100k         100,000 rows    480 B/row   (48 MB)
--   v_test_1m           1,000,000 rows  481 B/row   (482 MB)
--       "order" documents as an e-commerce API would return them: 386-893
--       bytes, median 445, 90% below 615.  Each size is its own table (bench_orders_1k,
--       _10k, _100k, _1m): the small tables hold exactly rows 1..N of the big
--       one (same bytes), but a scan of v_test_1k really reads 1k rows' worth
--       of pages instead of filtering / index-scanning the 1m table, so the
--       sizes measure scan + transfer honestly.
--
--   v_test_sel          100,000 rows  480 B/row        (= all of bench_orders_100k)
--   v_test_sel_1        1,000 rows       bucket < 1    ->  exactly  1 %
--   v_test_sel_10       10,000 rows      bucket < 10   ->  exactly 10 %
--   v_test_sel_50       50,000 rows      bucket < 50   ->  exactly 50 %
--   v_test_sel_90       90,000 rows      bucket < 90   ->  exactly 90 %
--       Selectivity.  Every order document has an integer field "bucket" in
--       0..99, bucket = (id * 37) % 100.  37 is coprime to 100, so every block
--       of 100 consecutive ids holds each bucket exactly once: over the 100k
--       table each bucket has exactly 1000 rows, spread evenly over the table.
--       THE PREDICATE (SQL pushdown form), for P in {1, 10, 50, 90}:
--
--           SELECT data FROM v_test_sel WHERE (data->>'bucket')::int < P
--
--       and the client-side equivalent ("stream v_test_sel, filter in Rust"):
--       keep a row iff its top-level JSON field "bucket" (an integer) is < P.
--       v_test_sel_P is exactly that query as a view (same rows, same bytes).
--       There is no index on bucket: pushdown = seq scan + jsonb filter on the
--       server, which is the realistic case for ad-hoc JSON predicates.
--
--   v_test_large        260 rows  (17.6 MB of JSON in all)
--   v_test_large_10k    200 rows  ~10.2 KB/row
--   v_test_large_100k   50 rows   ~102 KB/row
--   v_test_large_1m     10 rows    ~1.05 MB/row
--       Big documents: a "bulk order" with many detailed line items, in three
--       size classes (field "size_class": "10k" / "100k" / "1m"; also a plain
--       column on bench_large so the per-class views filter without
--       detoasting).  200 x ~10 KB, 50 x ~100 KB, 10 x ~1 MB.  These are
--       TOASTed (pglz-compressed, Postgres' default), so reading them
--       includes server-side detoast + decompression, as in real life.
--
--   v_test_slow         1,000 rows  ~765 B/row
--       Time-to-first-row test: "the 1000 most valuable orders",
--       ORDER BY (data->>'total')::numeric DESC, id LIMIT 1000 over the whole
--       1m table.  The server has to read and evaluate all 1M documents
--       (top-N sort) before it can send the first row, so first-row latency
--       is dominated by server work (~0.4-0.6 s here with 2 parallel
--       workers, vs a few ms for the first row of v_test_1m); the 1000 rows
--       themselves are small (~0.77 MB).
--
-- Order document shape (jsonb sorts keys; values vary per row):
--
--   {"id": 3,                                   -- int
--    "note": "Leave at the door\n\"fragile\" ...",  -- only in ~12% of rows:
--                                                   escapes \n \t \" \\, emoji,
--                                                   and \u0001 in ~2.5% of rows
--    "tags": ["new-customer", "promo:SUMMER\"24"],  -- 0-3 strings
--    "items": [{"qty": 3, "sku": "SKU-4786", "name": "Notebook \"A5\"",
--               "price": 186.99}, ...],          -- 1-6 items (mostly 1-2)
--    "score": 0.000000084923,                    -- tiny float (see below)
--    "total": 560.97,                            -- decimal, = sum(qty*price)
--    "bucket": 11,                               -- 0..99, selectivity field
--    "status": "shipped",
--    "customer": {"vip": false, "name": "Back\\slash & Sons",
--                 "address": {"zip": "12766", "city": "Zürich",
--                             "country": "CH"}},  -- accents, CJK, Greek,
--                                                   Cyrillic, Arabic, emoji
--    "currency": "USD",
--    "discount": -0.39,                          -- negative decimal, or null
--    "trace_id": 9007199257741002,               -- > 2^53: not exact in f64
--    "created_at": "2023-01-01T00:01:33"}
--
--   Large documents additionally carry "kind", "size_class", "item_count",
--   "mass_g" (~1e23..1e26) and "trace_id" near 2^63-1, and richer items
--   ("line", "attrs" object, "in_stock", "backorder_eta" date-or-null,
--   "comment" with escapes).
--
--   jsonb stores numbers as numeric and prints them without exponents, so the
--   "exponent-ish" floats appear as 0.000000084923 / 6020000...000 in the
--   text; parsers still have to handle them as floats / big numbers.
--
-- bench_expected(view text PRIMARY KEY, row_count bigint, text_bytes bigint):
--   one row per view above, computed at the end of the load from the real
--   data: row_count = count(*), text_bytes = sum(octet_length(data::text)),
--   i.e. the JSON text bytes (no row delimiters).  For a binary-format jsonb
--   transfer, add 1 version byte per row.  Benchmarks check every
--   iteration's received rows/bytes against it.
--
-- Design notes:
--   * Everything (drops, creates, inserts, views, bench_expected) happens in
--     ONE transaction, so a failed or interrupted load leaves the previous
--     dataset intact; readers never see a half-built dataset.  After COMMIT a
--     VACUUM (FREEZE, ANALYZE) sets hint bits / visibility map and collects
--     stats, so the FIRST benchmark scan does not pay for hint-bit writes
--     (VACUUM cannot run inside a transaction block).
--   * Tables are ordinary LOGGED tables, not UNLOGGED: UNLOGGED would save
--     only ~5-10 s of load time (measured 31-42 s), reads are identical
--     either way, and UNLOGGED tables are silently emptied after any crash
--     or immediate shutdown, which would make benchmark runs fail in
--     confusing ways.
--   * No indexes besides primary keys (added after the bulk insert).
-- =============================================================================

\set ON_ERROR_STOP 1
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SET client_min_messages = warning;

DO $$
BEGIN
  IF current_setting('server_encoding') <> 'UTF8' THEN
    RAISE EXCEPTION 'jsonwire setup.sql needs a UTF8 database (found %)',
      current_setting('server_encoding');
  END IF;
END $$;

BEGIN;

-- ---------------------------------------------------------------------------
-- Drop (views first for clarity; CASCADE catches anything else built on top)
-- ---------------------------------------------------------------------------
DROP VIEW IF EXISTS
  v_test_1k, v_test_10k, v_test_100k, v_test_1m,
  v_test_sel, v_test_sel_1, v_test_sel_10, v_test_sel_50, v_test_sel_90,
  v_test_large, v_test_large_10k, v_test_large_100k, v_test_large_1m,
  v_test_slow
  CASCADE;
DROP TABLE IF EXISTS
  bench_orders_1k, bench_orders_10k, bench_orders_100k, bench_orders_1m,
  bench_large, bench_expected
  CASCADE;

CREATE TABLE bench_orders_1m   (id int NOT NULL, data jsonb NOT NULL);
CREATE TABLE bench_orders_100k (id int NOT NULL, data jsonb NOT NULL);
CREATE TABLE bench_orders_10k  (id int NOT NULL, data jsonb NOT NULL);
CREATE TABLE bench_orders_1k   (id int NOT NULL, data jsonb NOT NULL);

-- ---------------------------------------------------------------------------
-- 1,000,000 order documents.
-- g: per-row hashes h1..h4 (non-negative int4), computed once per row
--    (OFFSET 0 keeps the subquery from being flattened, which would
--    re-evaluate hashtext() at every use).
-- li: the line items of the row and their total.
-- ---------------------------------------------------------------------------
INSERT INTO bench_orders_1m (id, data)
SELECT g.i,
  jsonb_build_object(
    'id',         g.i,
    'bucket',     (g.i * 37) % 100,
    'status',     (ARRAY['pending','paid','paid','shipped','shipped',
                         'delivered','delivered','delivered','cancelled',
                         'refunded'])[1 + (g.h1 >> 12) % 10],
    'created_at', to_jsonb(timestamp '2023-01-01 00:00:00'
                           + g.i * interval '31 seconds'),
    'customer',   jsonb_build_object(
        'name',    (ARRAY['José Müller', 'Zoë Ångström', '李小龍', '山田 太郎',
                          'Björk Guðmundsdóttir', 'Conan "Bob" O''Brien',
                          'Renée 🍕 Dubois', 'Łukasz Żółć',
                          'Νίκος Παπαδόπουλος', 'Иван Петров', 'محمد علي',
                          'Back\slash & Sons', 'John Smith', 'Jane Doe',
                          'María-José García', 'Søren Kierkegaard', '김민준',
                          'Ngọc Trần', 'Amélie Poulain', 'Chris 😀 Evans'
                         ])[1 + g.h2 % 20],
        'vip',     (g.h2 >> 7) % 7 = 0,
        'address', jsonb_build_object(
            'zip',     lpad(((g.h3 >> 3) % 100000)::text, 5, '0'),
            'city',    (ARRAY['Berlin','München','Paris','Madrid','東京',
                              'Roma','São Paulo','Zürich'])[1 + (g.h3 >> 4) % 8],
            'country', (ARRAY['DE','DE','FR','ES','JP','IT','BR','CH'])
                         [1 + (g.h3 >> 4) % 8])),
    'items',      li.items,
    'total',      li.total,
    'currency',   (ARRAY['EUR','USD','JPY','GBP'])[1 + g.h3 % 4],
    'discount',   CASE WHEN g.h1 % 4 = 0
                       THEN -round((g.h4 % 2000) / 100.0, 2) END,
    'tags',       (ARRAY['[]', '["gift"]', '["express", "fragile"]', '["b2b"]',
                         '["new-customer", "promo:SUMMER\"24"]', '[]',
                         '["repeat"]', '["priority", "eco", "gift"]'
                        ])[1 + (g.h4 >> 3) % 8]::jsonb,
    'trace_id',   9007199254740993 + g.i::bigint * 1000003,
    'score',      ((g.h1 >> 8) % 99999 + 1) * 1e-12
  )
  -- "note" only on ~12% of the orders (absent, not null, elsewhere)
  || CASE (g.h4 >> 6) % 40
       WHEN 0 THEN jsonb_build_object('note',
                     E'Leave at the door\n"fragile" \\ handle with care\tthanks!')
       WHEN 1 THEN jsonb_build_object('note',
                     'Bitte beim Nachbarn abgeben – Danke! 🙏')
       WHEN 2 THEN jsonb_build_object('note', E'ring bell\u0001twice')
       WHEN 3 THEN jsonb_build_object('note', '配達前に電話してください')
       WHEN 4 THEN jsonb_build_object('note', E'C:\\Users\\orders\\new')
       ELSE '{}'::jsonb
     END
FROM (SELECT i,
             hashtext(i::text)      & 2147483647 AS h1,
             hashtext('c' || i)     & 2147483647 AS h2,
             hashtext('a' || i)     & 2147483647 AS h3,
             hashtext('x' || i)     & 2147483647 AS h4
      FROM generate_series(1, 1000000) AS i
      OFFSET 0) AS g
CROSS JOIN LATERAL (
  SELECT jsonb_agg(jsonb_build_object(
             'sku',   'SKU-' || lpad(it.p::text, 4, '0'),
             'name',  (ARRAY['Mug ☕', 'Pizza Stone 🍕', 'Tea Set 茶具', 'Mouse',
                             'USB-C Cable', 'Crème Brûlée Torch',
                             'Notebook "A5"', 'Keycap \', 'Yoga Mat',
                             'Café Beans'])[1 + it.p % 10],
             'qty',   it.q,
             'price', it.price) ORDER BY it.k) AS items,
         sum(it.q * it.price) AS total
  FROM (SELECT k,
               x % 5000                    AS p,      -- product
               1 + (x >> 13) % 4           AS q,      -- quantity
               (x % 5000) % 200 + 0.99     AS price   -- 0.99 .. 199.99
        FROM (SELECT k, hashtext(g.i || ':' || k) & 2147483647 AS x
              -- 1..6 items: 60% 1, 22% 2, 8% 3, 5% 4, 3% 5, 2% 6
              FROM generate_series(1, CASE
                     WHEN (g.h1 >> 5) % 100 < 60 THEN 1
                     WHEN (g.h1 >> 5) % 100 < 82 THEN 2
                     WHEN (g.h1 >> 5) % 100 < 90 THEN 3
                     WHEN (g.h1 >> 5) % 100 < 95 THEN 4
                     WHEN (g.h1 >> 5) % 100 < 98 THEN 5
                     ELSE 6 END) AS k) AS s) AS it
) AS li;

ALTER TABLE bench_orders_1m ADD PRIMARY KEY (id);

-- The smaller tables are exact prefixes (ids 1..N) of the 1m table.
INSERT INTO bench_orders_100k SELECT id, data FROM bench_orders_1m WHERE id <= 100000 ORDER BY id;
INSERT INTO bench_orders_10k  SELECT id, data FROM bench_orders_1m WHERE id <= 10000  ORDER BY id;
INSERT INTO bench_orders_1k   SELECT id, data FROM bench_orders_1m WHERE id <= 1000   ORDER BY id;
ALTER TABLE bench_orders_100k ADD PRIMARY KEY (id);
ALTER TABLE bench_orders_10k  ADD PRIMARY KEY (id);
ALTER TABLE bench_orders_1k   ADD PRIMARY KEY (id);

-- ---------------------------------------------------------------------------
-- Large documents: ids 1..200 ~10 KB, 201..250 ~100 KB, 251..260 ~1 MB.
-- ---------------------------------------------------------------------------
CREATE TABLE bench_large (
  id         int  PRIMARY KEY,
  size_class text NOT NULL CHECK (size_class IN ('10k', '100k', '1m')),
  data       jsonb NOT NULL
);

INSERT INTO bench_large (id, size_class, data)
SELECT d.id, d.size_class,
  jsonb_build_object(
    'id',         d.id,
    'kind',       'bulk_order',
    'size_class', d.size_class,
    'status',     (ARRAY['paid','shipped','delivered'])[1 + d.id % 3],
    'created_at', to_jsonb(timestamp '2024-06-01 08:00:00'
                           + d.id * interval '1 hour 7 seconds'),
    'customer',   jsonb_build_object(
        'id', 900000 + d.id, 'vip', d.id % 2 = 0,
        'name', (ARRAY['ACME Großhandel GmbH', '株式会社サンプル商事',
                       'Café "Le Coin" SARL', 'Back\slash Supplies 🛠'])[1 + d.id % 4],
        'address', jsonb_build_object('zip', lpad((d.id * 7919 % 100000)::text, 5, '0'),
                                      'city', 'Zürich', 'country', 'CH')),
    'items',      li.items,
    'item_count', li.n,
    'total',      li.total,
    'currency',   'EUR',
    'discount',   NULL,
    'tags',       '["bulk", "b2b", "net-30"]'::jsonb,
    'trace_id',   9223372036854775807 - d.id,
    'score',      d.id * 1e-15,
    'mass_g',     d.id * 6.02214076e23
  )
FROM (SELECT id,
             CASE WHEN id <= 200 THEN '10k' WHEN id <= 250 THEN '100k' ELSE '1m' END AS size_class,
             -- item counts tuned for ~10 KB / ~100 KB / ~1 MB of JSON text
             CASE WHEN id <= 200 THEN 46 + id % 5
                  WHEN id <= 250 THEN 496 + id % 11
                  ELSE 5121 + id % 13 END AS n
      FROM generate_series(1, 260) AS id) AS d
CROSS JOIN LATERAL (
  SELECT jsonb_agg(jsonb_build_object(
             'line',        it.k,
             'sku',         'SKU-' || lpad(it.p::text, 4, '0'),
             'name',        (ARRAY['Mug ☕', 'Pizza Stone 🍕', 'Tea Set 茶具', 'Mouse',
                                   'USB-C Cable', 'Crème Brûlée Torch',
                                   'Notebook "A5"', 'Keycap \', 'Yoga Mat',
                                   'Café Beans'])[1 + it.p % 10],
             'qty',         it.q,
             'price',       it.price,
             'in_stock',    (it.x >> 20) % 5 <> 0,
             'backorder_eta', CASE WHEN (it.x >> 20) % 5 = 0
                                   THEN to_jsonb(date '2024-07-01' + it.x % 60) END,
             'attrs',       jsonb_build_object(
                              'color', (ARRAY['red','green','blue','schwarz','白'])[1 + (it.x >> 17) % 5],
                              'size',  (ARRAY['S','M','L','XL'])[1 + (it.x >> 3) % 4]),
             'comment',     (ARRAY[E'hand wash only\n"no dryer"',
                                   'Lieferung ab Lager Zürich ✓',
                                   E'path: C:\\data\\skus\\tab\there',
                                   '',
                                   'ok 👍'])[1 + (it.x >> 5) % 5]
           ) ORDER BY it.k) AS items,
         count(*) AS n,
         sum(it.q * it.price) AS total
  FROM (SELECT k, x,
               x % 5000                AS p,
               1 + (x >> 13) % 40      AS q,
               (x % 5000) % 200 + 0.99 AS price
        FROM (SELECT k, hashtext('L' || d.id || ':' || k) & 2147483647 AS x
              FROM generate_series(1, d.n) AS k) AS s) AS it
) AS li;

-- ---------------------------------------------------------------------------
-- Views: exactly one column, data jsonb.
-- ---------------------------------------------------------------------------
CREATE VIEW v_test_1k   AS SELECT data FROM bench_orders_1k;
CREATE VIEW v_test_10k  AS SELECT data FROM bench_orders_10k;
CREATE VIEW v_test_100k AS SELECT data FROM bench_orders_100k;
CREATE VIEW v_test_1m   AS SELECT data FROM bench_orders_1m;

-- Selectivity: predicate (data->>'bucket')::int < P, P in {1,10,50,90}.
CREATE VIEW v_test_sel    AS SELECT data FROM bench_orders_100k;
CREATE VIEW v_test_sel_1  AS SELECT data FROM v_test_sel WHERE (data->>'bucket')::int < 1;
CREATE VIEW v_test_sel_10 AS SELECT data FROM v_test_sel WHERE (data->>'bucket')::int < 10;
CREATE VIEW v_test_sel_50 AS SELECT data FROM v_test_sel WHERE (data->>'bucket')::int < 50;
CREATE VIEW v_test_sel_90 AS SELECT data FROM v_test_sel WHERE (data->>'bucket')::int < 90;

CREATE VIEW v_test_large      AS SELECT data FROM bench_large;
CREATE VIEW v_test_large_10k  AS SELECT data FROM bench_large WHERE size_class = '10k';
CREATE VIEW v_test_large_100k AS SELECT data FROM bench_large WHERE size_class = '100k';
CREATE VIEW v_test_large_1m   AS SELECT data FROM bench_large WHERE size_class = '1m';

-- Slow first row: top-N over all 1M orders before anything can be sent.
CREATE VIEW v_test_slow AS
  SELECT data
  FROM bench_orders_1m
  ORDER BY (data->>'total')::numeric DESC, id
  LIMIT 1000;

COMMENT ON VIEW v_test_sel IS
  'bench_orders_100k; filter with (data->>''bucket'')::int < P for exactly P% of rows';
COMMENT ON VIEW v_test_slow IS
  'the 1000 most valuable orders of v_test_1m: first row needs a top-N sort over all 1M rows';

-- ---------------------------------------------------------------------------
-- Expected results, from the real data.
-- ---------------------------------------------------------------------------
CREATE TABLE bench_expected (
  view       text PRIMARY KEY,
  row_count  bigint NOT NULL,
  text_bytes bigint NOT NULL   -- sum(octet_length(data::text))
);

INSERT INTO bench_expected (view, row_count, text_bytes)
          SELECT 'v_test_1k',         count(*), coalesce(sum(octet_length(data::text)), 0) FROM v_test_1k
UNION ALL SELECT 'v_test_10k',        count(*), coalesce(sum(octet_length(data::text)), 0) FROM v_test_10k
UNION ALL SELECT 'v_test_100k',       count(*), coalesce(sum(octet_length(data::text)), 0) FROM v_test_100k
UNION ALL SELECT 'v_test_1m',         count(*), coalesce(sum(octet_length(data::text)), 0) FROM v_test_1m
UNION ALL SELECT 'v_test_sel',        count(*), coalesce(sum(octet_length(data::text)), 0) FROM v_test_sel
UNION ALL SELECT 'v_test_sel_1',      count(*), coalesce(sum(octet_length(data::text)), 0) FROM v_test_sel_1
UNION ALL SELECT 'v_test_sel_10',     count(*), coalesce(sum(octet_length(data::text)), 0) FROM v_test_sel_10
UNION ALL SELECT 'v_test_sel_50',     count(*), coalesce(sum(octet_length(data::text)), 0) FROM v_test_sel_50
UNION ALL SELECT 'v_test_sel_90',     count(*), coalesce(sum(octet_length(data::text)), 0) FROM v_test_sel_90
UNION ALL SELECT 'v_test_large',      count(*), coalesce(sum(octet_length(data::text)), 0) FROM v_test_large
UNION ALL SELECT 'v_test_large_10k',  count(*), coalesce(sum(octet_length(data::text)), 0) FROM v_test_large_10k
UNION ALL SELECT 'v_test_large_100k', count(*), coalesce(sum(octet_length(data::text)), 0) FROM v_test_large_100k
UNION ALL SELECT 'v_test_large_1m',   count(*), coalesce(sum(octet_length(data::text)), 0) FROM v_test_large_1m
UNION ALL SELECT 'v_test_slow',       count(*), coalesce(sum(octet_length(data::text)), 0) FROM v_test_slow;

-- Sanity checks: fail the whole load (and roll back) if the data is off.
DO $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT * FROM (VALUES
      ('v_test_1k', 1000), ('v_test_10k', 10000), ('v_test_100k', 100000),
      ('v_test_1m', 1000000), ('v_test_sel', 100000), ('v_test_sel_1', 1000),
      ('v_test_sel_10', 10000), ('v_test_sel_50', 50000), ('v_test_sel_90', 90000),
      ('v_test_large', 260), ('v_test_large_10k', 200), ('v_test_large_100k', 50),
      ('v_test_large_1m', 10), ('v_test_slow', 1000)) AS want(view, n)
    LEFT JOIN bench_expected e USING (view)
    WHERE e.row_count IS DISTINCT FROM want.n
  LOOP
    RAISE EXCEPTION 'bench_expected: % has % rows, expected %', r.view, r.row_count, r.n;
  END LOOP;
END $$;

COMMIT;

-- Outside the transaction (VACUUM cannot run inside one): set hint bits and
-- the visibility map, freeze, and collect planner statistics.
VACUUM (FREEZE, ANALYZE) bench_orders_1m, bench_orders_100k, bench_orders_10k,
                         bench_orders_1k, bench_large, bench_expected;

SELECT view, row_count, text_bytes, text_bytes / row_count AS avg_bytes
FROM bench_expected ORDER BY view;
