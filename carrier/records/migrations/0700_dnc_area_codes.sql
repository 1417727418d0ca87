-- The national registry copy per area code, as the FTC hands it out (one file each): an
-- import of area code X replaces X's numbers only, and each area code's copy has its own
-- date (64.1200(c)(2): no older than 31 days at dial time).
-- Rows imported before this carry no area code (the blind index hides it): they stay
-- listed (a number is never dropped by the upgrade) until a number is imported again;
-- no area code counts as covered until it is imported again, because the old single
-- date may belong to another area code's file (the defect this fixes).
ALTER TABLE dnc_national ADD COLUMN area_code text CHECK (area_code ~ '^[2-9][0-9]{2}$');
CREATE INDEX dnc_national_area ON dnc_national (area_code);
CREATE TABLE dnc_national_areas (
    area_code    text        PRIMARY KEY CHECK (area_code ~ '^[2-9][0-9]{2}$'),
    import_id    bigint      NOT NULL REFERENCES dnc_national_imports (id),
    imported_at  timestamptz NOT NULL
);
