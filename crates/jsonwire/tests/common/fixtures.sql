-- Fixtures shared by the integration tests. Idempotent: every test binary loads them once.
DROP TABLE IF EXISTS jw_docs, jw_text_docs CASCADE;
CREATE TABLE jw_docs (id int PRIMARY KEY, data jsonb);
INSERT INTO jw_docs VALUES
  (1, '{"id": 1, "name": "plain", "tags": ["a", "b"], "n": 1.5}'),
  (2, '{"id": 2, "name": "café ☕ 日本語 😀", "quote": "say \"hi\"", "path": "C:\\dir\\file"}'),
  (3, '{"id": 3, "name": "controls", "s": "tab\there\nnewline\r\u0001\u001f", "big": 12345678901234567890, "neg": -0.000001e-10}'),
  (4, NULL),
  (5, '{"id": 5, "name": "nested", "a": {"b": {"c": [1, [2, [3, {"d": null}]]]}}, "t": true, "f": false}');
-- json (not jsonb) keeps the text exactly as written: spacing, key order, duplicate keys.
CREATE TABLE jw_text_docs (id int PRIMARY KEY, data json);
INSERT INTO jw_text_docs VALUES
  (1, '{ "b" : 1,   "a":2, "a" : 3 }'),
  (2, '["\u00e9", "é", "\ud83d\ude00", "\\", "\""]'),
  (3, '  42  ');
CREATE OR REPLACE VIEW jw_view AS SELECT data FROM jw_docs WHERE data IS NOT NULL;
DROP SCHEMA IF EXISTS "Odd Schema" CASCADE;
CREATE SCHEMA "Odd Schema";
CREATE VIEW "Odd Schema"."My View" AS SELECT jsonb_build_object('odd', true) AS data;
CREATE OR REPLACE FUNCTION jw_noisy(i int) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  RAISE NOTICE 'row %', i;
  RETURN to_jsonb(i);
END $$;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO PUBLIC;
GRANT USAGE ON SCHEMA "Odd Schema" TO PUBLIC;
GRANT SELECT ON ALL TABLES IN SCHEMA "Odd Schema" TO PUBLIC;
