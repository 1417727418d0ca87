-- Whether the last change applied to a source appointment ended it (cancelled, deleted,
-- no-show): a booking or update sent in the same second (MSH-7 has second precision) and
-- arriving after it is stale; at the same sending time an ending wins.
ALTER TABLE feed_appointments ADD COLUMN ended boolean NOT NULL DEFAULT false;
