#!/bin/sh
# Runs once, when the postgres container initialises its data folder. The gateway runs
# its migrations as the URL's user (carrier, the database owner) and then works as
# carrier_app, the role with no UPDATE/DELETE on the ledgers, logging in with the same
# password; the migrations grant carrier_app its rights.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  --set pw="$POSTGRES_PASSWORD" <<'SQL'
CREATE ROLE carrier_app LOGIN PASSWORD :'pw';
SQL
