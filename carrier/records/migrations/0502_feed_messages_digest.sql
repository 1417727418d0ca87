-- What an inbound HL7 message said, as a keyed digest (HMAC of its segments after MSH,
-- records index key; no PHI in clear): a repeat of a control id with the same content is
-- acknowledged again, one with other content (a sender whose counter restarted) is
-- refused instead of swallowed. NULL: rows from before, and CSV/FHIR items.
ALTER TABLE feed_messages ADD COLUMN digest bytea;
