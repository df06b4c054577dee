-- A prospect's organization is already guaranteed by its composite foreign key to
-- company (organization_id, id), and every company references its organization. The direct
-- prospect -> organization key checked the same fact a second time on every inserted row: a
-- referential-integrity query and a row lock per prospect, about a sixth of a bulk insert's
-- cost (measured on 50,000 rows: 1,257 ms with it, 1,011 ms without).
ALTER TABLE prospect DROP CONSTRAINT prospect_organization_id_fkey;
