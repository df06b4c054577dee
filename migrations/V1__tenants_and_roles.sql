-- Tenants, their API keys, and the three roles the services run as. What each role may do is
-- granted in V7__grants.sql.

-- Roles are cluster-wide: another database of the same cluster (a test database, a second
-- environment) may have created them already, possibly at this very moment.
DO $$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['lma_ingest', 'lma_refresh', 'lma_search'] LOOP
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END LOOP;
END
$$;

CREATE TABLE organization (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       varchar(200) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT organization_name_unique UNIQUE (name),
    CONSTRAINT organization_name_not_blank CHECK (btrim(name) <> '')
);

-- Only the SHA-256 of a key is stored; the key itself is shown once, when it is minted.
CREATE TABLE api_key (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id bigint NOT NULL REFERENCES organization (id) ON DELETE CASCADE,
    name            varchar(200) NOT NULL,
    key_hash        bytea NOT NULL,
    key_prefix      varchar(16) NOT NULL,
    scopes          text[] NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz,
    CONSTRAINT api_key_hash_unique UNIQUE (key_hash),
    CONSTRAINT api_key_hash_length CHECK (octet_length(key_hash) = 32),
    CONSTRAINT api_key_known_scopes CHECK (
        scopes <@ ARRAY['ingest.write', 'search.read', 'refresh.admin']::text[]
    )
);

CREATE INDEX api_key_organization_idx ON api_key (organization_id);

-- The services authenticate callers through this function rather than by reading api_key, so
-- the search role can stay limited to the read models.
CREATE FUNCTION authenticate_api_key(p_key_hash bytea)
RETURNS TABLE (organization_id bigint, api_key_id bigint, scopes text[])
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
    SELECT k.organization_id, k.id, k.scopes
    FROM api_key k
    WHERE k.key_hash = p_key_hash
      AND k.revoked_at IS NULL
$$;

-- In the same transaction as the function: a SECURITY DEFINER function is never callable by
-- everyone, not even between two migrations.
REVOKE ALL ON FUNCTION authenticate_api_key(bytea) FROM PUBLIC;
