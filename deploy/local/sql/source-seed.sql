-- Example source data for the `source` database: fake but realistic-looking PII with dirty rows.
-- Deterministic (setseed + single-threaded generate_series), run once by deploy/local/postgres.sh as
-- the superuser; public.aoetl_seed is the "already seeded" marker. E-mail domains are reserved
-- example domains and phone numbers use the fictional 555-01xx / Ofcom drama ranges.
\set ON_ERROR_STOP on
BEGIN;

CREATE SCHEMA crm;
CREATE SCHEMA sales;

CREATE TABLE crm.customers (
  customer_id    bigint PRIMARY KEY,
  first_name     text,
  last_name      text,
  email          text,
  phone          text,
  country        text,
  created_at     timestamptz,
  lifetime_value numeric(12,2)
);

CREATE TABLE sales.orders (
  order_id    bigint PRIMARY KEY,
  customer_id bigint,
  amount      text,          -- deliberately text: '1234.50', '1,234.50', ' 12.00 ', '$9.99', 'N/A', ...
  currency    text,
  ordered_at  timestamptz
);

SELECT setseed(0.4242);

-- 120,000 customers. Every random() call below is evaluated once per row, in order.
INSERT INTO crm.customers
WITH base AS MATERIALIZED (
  SELECT g AS id,
         (ARRAY['James','Mary','Robert','Patricia','John','Jennifer','Michael','Linda','David','Elizabeth',
                'William','Barbara','Richard','Susan','Joseph','Jessica','Thomas','Sarah','Carlos','Maria',
                'Jose','Ana','Luis','Sofia','Hans','Anna','Lukas','Lea','Pierre','Camille','Louis','Chloe',
                'Giulia','Marco','Francesca','Luca','Oliver','Amelia','Harry','Isla','Jack','Emily','Noah',
                'Olivia','Liam','Emma','Mateo','Valentina','Aiden','Zoe','Yuki','Hiro','Priya','Arjun',
                'Fatima','Omar','Chen','Mei','Lars','Ingrid'])[1 + floor(random() * 60)::int] AS first_name,
         (ARRAY['Smith','Johnson','Williams','Brown','Jones','Garcia','Miller','Davis','Rodriguez','Martinez',
                'Hernandez','Lopez','Gonzalez','Wilson','Anderson','Thomas','Taylor','Moore','Jackson','Martin',
                'Lee','Perez','Thompson','White','Harris','Sanchez','Clark','Ramirez','Lewis','Robinson',
                'Muller','Schmidt','Schneider','Fischer','Weber','Meyer','Dubois','Laurent','Bernard','Moreau',
                'Rossi','Russo','Ferrari','Esposito','Bianchi','Evans','Walker','Wright','Hughes','Green',
                'Tanaka','Sato','Patel','Sharma','Khan','Ali','Wang','Zhang','Larsen','Nilsson'])[1 + floor(random() * 60)::int] AS last_name,
         (ARRAY['US','US','US','US','US','GB','GB','DE','DE','FR','IT','ES','CA','AU','NL','SE','IN','JP',
                'usa','United States','U.K.','Germany',' DE','fr'])[1 + floor(random() * 24)::int] AS country,
         (ARRAY['example.com','example.org','example.net','mail.example.com','corp.example.org',
                'inbox.example.net'])[1 + floor(random() * 6)::int] AS domain,
         floor(random() * 4)::int AS email_style,
         random() AS r_email,
         floor(random() * 5)::int AS bad_email_kind,
         random() AS r_phone,
         lpad(floor(random() * 100)::int::text, 2, '0') AS phone_tail,
         (ARRAY['201','202','212','305','312','415','503','617','702','818'])[1 + floor(random() * 10)::int] AS area,
         date_trunc('second', timestamptz '2016-01-01 00:00:00+00' + random() * interval '3500 days') AS created_at,
         random() AS r_ltv,
         random() AS ltv
    FROM generate_series(1, 120000) AS g
), emails AS (
  SELECT b.*,
         CASE email_style
           WHEN 0 THEN lower(first_name) || '.' || lower(last_name)
           WHEN 1 THEN lower(left(first_name, 1)) || lower(last_name)
           WHEN 2 THEN lower(first_name) || '_' || lower(last_name)
           ELSE lower(last_name) || '.' || lower(first_name)
         END || id || '@' || domain AS clean_email
    FROM base b
)
SELECT id,
       first_name,
       last_name,
       CASE
         WHEN r_email < 0.015 THEN NULL                                      -- missing
         WHEN r_email < 0.027 THEN CASE bad_email_kind                       -- badly formatted
           WHEN 0 THEN replace(clean_email, '@', ' at ')
           WHEN 1 THEN replace(clean_email, '@', '@@')
           WHEN 2 THEN split_part(clean_email, '@', 1) || '@' || split_part(domain, '.', 1)
           WHEN 3 THEN clean_email || '.'
           ELSE replace(clean_email, '.', ' ')
         END
         ELSE clean_email
       END,
       CASE
         WHEN r_phone < 0.04 THEN NULL                                       -- missing
         WHEN r_phone < 0.05 THEN (ARRAY['n/a','12345','555-CALL-NOW','','000-000-0000',
                                         '+1 202 555 01'])[1 + (id % 6)::int] -- garbage
         WHEN trim(upper(country)) IN ('GB', 'U.K.') THEN
           CASE WHEN r_phone < 0.5 THEN '+44 20 7946 0' ELSE '020 7946 0' END || lpad((id % 1000)::text, 3, '0')
         WHEN trim(upper(country)) IN ('DE', 'GERMANY') THEN '+49 30 ' || (1000000 + id % 9000000)::text
         WHEN r_phone < 0.40 THEN '+1 (' || area || ') 555-01' || phone_tail
         WHEN r_phone < 0.65 THEN area || '.555.01' || phone_tail
         WHEN r_phone < 0.85 THEN area || '55501' || phone_tail
         ELSE '+1-' || area || '-555-01' || phone_tail
       END,
       country,
       created_at,
       CASE
         WHEN r_ltv < 0.01 THEN NULL
         WHEN r_ltv < 0.012 THEN -round((ltv * 500)::numeric, 2)                -- refunds gone wrong
         ELSE round((ltv ^ 3 * 25000)::numeric, 2)
       END
  FROM emails;

-- ~3% duplicates: the same person again, e-mail differing only by case or surrounding whitespace.
UPDATE crm.customers c
   SET first_name = p.first_name,
       last_name  = p.last_name,
       email = CASE c.customer_id % 4
                 WHEN 0 THEN upper(p.email)
                 WHEN 1 THEN ' ' || p.email
                 WHEN 2 THEN initcap(p.email) || '  '
                 ELSE upper(left(p.email, 1)) || substr(p.email, 2)
               END
  FROM crm.customers p
 WHERE c.customer_id % 33 = 7
   AND p.customer_id = c.customer_id - 5
   AND p.email LIKE '%@%.%' AND p.email NOT LIKE '% %';

-- 300,000 orders; a few reference customers that do not exist.
INSERT INTO sales.orders
WITH base AS MATERIALIZED (
  SELECT g AS id,
         random() AS r_orphan,
         floor(random() * 120000)::bigint AS cust,
         round((5 + random() ^ 2 * 2500)::numeric, 2) AS amount,
         random() AS r_amount,
         random() AS r_currency,
         date_trunc('second', timestamptz '2016-02-01 00:00:00+00' + random() * interval '3550 days') AS ordered_at
    FROM generate_series(1, 300000) AS g
)
SELECT id,
       CASE WHEN r_orphan < 0.004 THEN 120001 + cust % 5000 ELSE 1 + cust END,
       CASE
         WHEN r_amount < 0.88  THEN amount::text
         WHEN r_amount < 0.94  THEN to_char(amount, 'FM999,999,990.00')      -- '1,234.50'
         WHEN r_amount < 0.96  THEN ' ' || amount || ' '
         WHEN r_amount < 0.975 THEN '$' || amount
         WHEN r_amount < 0.985 THEN replace(amount::text, '.', ',')           -- '1234,50'
         WHEN r_amount < 0.99  THEN NULL
         WHEN r_amount < 0.995 THEN ''
         ELSE 'N/A'
       END,
       CASE
         WHEN r_currency < 0.60 THEN 'USD'
         WHEN r_currency < 0.85 THEN 'EUR'
         WHEN r_currency < 0.95 THEN 'GBP'
         WHEN r_currency < 0.98 THEN 'usd'
         ELSE ' eur'
       END,
       ordered_at
  FROM base;

CREATE INDEX orders_customer_id_idx ON sales.orders (customer_id);
CREATE INDEX customers_email_idx ON crm.customers (email);

CREATE TABLE public.aoetl_seed (version int NOT NULL, seeded_at timestamptz NOT NULL DEFAULT now());
INSERT INTO public.aoetl_seed (version) VALUES (1);
COMMIT;

ANALYZE crm.customers;
ANALYZE sales.orders;
