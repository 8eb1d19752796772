# Source me: start a throwaway PostgreSQL cluster for tests and export MEDSWALLOW_TEST_PG_URL.
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PGDATA=$(mktemp -d /tmp/medswallow-pg.XXXX)
PGPORT=${PGPORT:-55432}
if [ "$(id -u)" = 0 ]; then
  chown postgres "$PGDATA"
  RUN="runuser -u postgres --"
else
  RUN=""
fi
$RUN "$PGBIN/initdb" -D "$PGDATA" -U medswallow --auth=trust >/dev/null
$RUN "$PGBIN/pg_ctl" -D "$PGDATA" -o "-p $PGPORT -k /tmp -c listen_addresses=127.0.0.1" -l "$PGDATA/log" -w start >/dev/null
$RUN "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U medswallow medswallow_test
export MEDSWALLOW_TEST_PG_URL="postgresql+psycopg://medswallow@127.0.0.1:$PGPORT/medswallow_test"
echo "PostgreSQL for tests at $MEDSWALLOW_TEST_PG_URL"
