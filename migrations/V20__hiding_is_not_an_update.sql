-- Hiding or showing a prospect (suppressed_by, set by a HIDE entry) is not a change of its data:
-- it leaves updated_at alone, so a new entry does not float the prospects it hides to the top of
-- every newest-first search, where each search would step over them. (A company's hiding still
-- moves its profile time: that is what makes refresh-svc re-derive its prospects' search rows.)
CREATE FUNCTION set_prospect_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    unhidden public.prospect := NEW;
BEGIN
    unhidden.suppressed_by := OLD.suppressed_by;
    IF unhidden IS DISTINCT FROM OLD THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;

DROP TRIGGER prospect_set_updated_at ON prospect;
CREATE TRIGGER prospect_set_updated_at
    BEFORE UPDATE ON prospect
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION set_prospect_updated_at();
