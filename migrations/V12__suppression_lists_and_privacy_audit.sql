-- Suppression lists (issue 19): per organization, an email or a company domain that ingest
-- refuses (policy 'refuse') or that searches leave out (policy 'hide'), and the audit log of
-- every privacy change. Only ingest-svc's role writes them (PrivacyService lives in ingest-svc).

-- Keys may carry the privacy.admin scope (svc_core::Scope).
ALTER TABLE api_key DROP CONSTRAINT api_key_known_scopes;
ALTER TABLE api_key ADD CONSTRAINT api_key_known_scopes CHECK (
    scopes <@ ARRAY['ingest.write', 'search.read', 'refresh.admin', 'privacy.admin']::text[]
);

-- The per-organization key of the email hashes: random, made by ingest-svc on first use. No
-- other role may read it, so a hash cannot be checked against a guessed address elsewhere.
CREATE TABLE suppression_secret (
    organization_id bigint PRIMARY KEY REFERENCES organization (id) ON DELETE CASCADE,
    secret          bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT suppression_secret_length CHECK (octet_length(secret) = 32)
);

-- One entry per email (HMAC-SHA256 of the normalized address under the organization's
-- secret; the address itself is never stored) or per company domain (not personal data: plain,
-- in the form company.domain holds).
CREATE TABLE suppression (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id bigint NOT NULL REFERENCES organization (id) ON DELETE CASCADE,
    email_hmac      bytea,
    domain          varchar(253),
    reason          text NOT NULL,
    reason_text     varchar(500),
    policy          text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT suppression_one_subject CHECK ((email_hmac IS NULL) <> (domain IS NULL)),
    CONSTRAINT suppression_email_hmac_length CHECK (octet_length(email_hmac) = 32),
    CONSTRAINT suppression_domain_format CHECK (
        domain ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$'
    ),
    CONSTRAINT suppression_reason_known CHECK (
        reason IN ('erased', 'opted_out', 'do_not_contact', 'competitor', 'other')
    ),
    CONSTRAINT suppression_policy_known CHECK (policy IN ('refuse', 'hide'))
);

-- Ingest looks up a batch's hashes and domains in one statement; adding an entry finds the
-- existing one of the same value; ListSuppressions pages by id.
CREATE UNIQUE INDEX suppression_email_idx ON suppression (organization_id, email_hmac)
    WHERE email_hmac IS NOT NULL;
CREATE UNIQUE INDEX suppression_domain_idx ON suppression (organization_id, domain)
    WHERE domain IS NOT NULL;
CREATE INDEX suppression_organization_idx ON suppression (organization_id, id);

-- Who changed what, in the transaction of the change: ids, hashes and domains only, never an
-- email, name or phone. Append-only for the services.
CREATE TABLE privacy_audit (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id bigint NOT NULL REFERENCES organization (id) ON DELETE CASCADE,
    at              timestamptz NOT NULL DEFAULT now(),
    -- The API key of the call (no foreign key: the record outlives the key).
    api_key_id      bigint NOT NULL,
    action          text NOT NULL,
    suppression_id  bigint,
    email_hmac      bytea,
    domain          varchar(253),
    reason          text,
    policy          text,
    CONSTRAINT privacy_audit_action_known CHECK (
        action IN ('suppression_added', 'suppression_updated', 'suppression_removed')
    )
);

CREATE INDEX privacy_audit_organization_idx ON privacy_audit (organization_id, at);

GRANT SELECT, INSERT ON suppression_secret TO lma_ingest;
GRANT SELECT, INSERT, UPDATE, DELETE ON suppression TO lma_ingest;
GRANT INSERT ON privacy_audit TO lma_ingest;
