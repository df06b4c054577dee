-- A company of unknown size has no employee-size bucket: NULL, which search shows as the one
-- "no value" every facet uses (""), rather than a bucket of its own named 'unknown'.
CREATE OR REPLACE FUNCTION employee_size_bucket(min_employees integer, max_employees integer)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN coalesce(min_employees, max_employees) IS NULL THEN NULL
        WHEN coalesce(min_employees, max_employees) <= 10 THEN '1-10'
        WHEN coalesce(min_employees, max_employees) <= 50 THEN '11-50'
        WHEN coalesce(min_employees, max_employees) <= 200 THEN '51-200'
        WHEN coalesce(min_employees, max_employees) <= 1000 THEN '201-1000'
        WHEN coalesce(min_employees, max_employees) <= 5000 THEN '1001-5000'
        ELSE '5001+'
    END
$$;
