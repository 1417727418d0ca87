"""Records store: Postgres pool, migrations, encrypted patients, consent ledger, audit log,
do-not-call lists, retention and signed exports. Start with ``store.Records``."""
