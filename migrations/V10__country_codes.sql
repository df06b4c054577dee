-- Ingest stores a known country as its ISO 3166-1 short name in `country` and its alpha-2 code
-- here (NULL when the country is not a known one and `country` is as written). The code is
-- written with the name, never alone. `lmactl normalize` fills it in for rows stored before.
ALTER TABLE company ADD COLUMN country_code text
    CONSTRAINT company_country_code_alpha2 CHECK (country_code ~ '^[A-Z]{2}$');
ALTER TABLE prospect ADD COLUMN country_code text
    CONSTRAINT prospect_country_code_alpha2 CHECK (country_code ~ '^[A-Z]{2}$');
