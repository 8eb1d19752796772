# Source me: start a throwaway PostgreSQL cluster for tests, export MEDSWALLOW_TEST_PG_URL,
# and define stop_test_postgres.
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$PGBIN" ]; then
  echo "PostgreSQL is not installed (apt-get install postgresql); tests marked postgres will fail" >&2
  return 1 2>/dev/null || exit 1
fi
PGDATA=$(mktemp -d /tmp/medswallow-pg.XXXX)
PGPORT=${PGPORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
if [ "$(id -u)" = 0 ]; then
  chown postgres "$PGDATA"
  PGRUN="runuser -u postgres --"
else
  PGRUN=""
fi
$PGRUN "$PGBIN/initdb" -D "$PGDATA" -U medswallow --auth=trust >/dev/null
$PGRUN "$PGBIN/pg_ctl" -D "$PGDATA" -o "-p $PGPORT -k /tmp -c listen_addresses=127.0.0.1" -l "$PGDATA/log" -w start >/dev/null
$PGRUN "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U medswallow medswallow_test
export MEDSWALLOW_TEST_PG_URL="postgresql+psycopg://medswallow@127.0.0.1:$PGPORT/medswallow_test"
echo "PostgreSQL for tests at $MEDSWALLOW_TEST_PG_URL"
stop_test_postgres() {
  $PGRUN "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$PGDATA"
}
