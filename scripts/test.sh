#!/usr/bin/env bash
# The whole test suite: format check, dependency audit, clippy with warnings denied, then every test twice, on
# SQLite and on PostgreSQL. PostgreSQL and Redis are used where they answer, started (or
# installed, when running as root on Debian) where they do not; a database test is never
# skipped. Settings:
#   ALPHA_OTO_TEST_PG_URL     admin URL of a PostgreSQL server (default postgres://postgres@127.0.0.1:5432/postgres)
#   ALPHA_OTO_TEST_REDIS_URL  Redis URL (default redis://127.0.0.1:6379)
#   ALPHA_OTO_TEST_PROMTOOL   Prometheus's promtool (default: from the PATH, installed when missing)
#   ALPHA_OTO_TEST_ECS        an unpacked @elastic/ecs npm package (default target/ecs/package,
#                             fetched with npm when missing)
#   ALPHA_OTO_TEST_PYTHON     a Python with the OpenAPI tools (default target/py/bin/python, a
#                             virtual environment made and filled from PyPI when missing)
#   ALPHA_OTO_TEST_CHROMIUM   a Chromium for the dashboard's browser test (default /usr/bin/chromium)
#   ALPHA_OTO_ADVISORY_DB     RustSec advisory database for `cargo audit`, a git bundle or a
#                             checkout (default ../shared/advisory-db.bundle; none: skipped)
set -euo pipefail
cd "$(dirname "$0")/.."

PG_URL=${ALPHA_OTO_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
REDIS_URL=${ALPHA_OTO_TEST_REDIS_URL:-redis://127.0.0.1:6379}
start_all=$SECONDS

say() { printf '\n==> %s\n' "$*"; }
die() { printf '\nFAILED: %s\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }

# host and port of a URL like scheme://[user[:pw]@]host[:port][/...]
url_host() { local r=${1#*://}; r=${r#*@}; r=${r%%/*}; echo "${r%%:*}"; }
url_port() { local r=${1#*://}; r=${r#*@}; r=${r%%/*}; [[ $r == *:* ]] && echo "${r##*:}" || echo "$2"; }
answers() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }
wait_for() { # host port what
  for _ in $(seq 1 60); do answers "$1" "$2" && return 0; sleep 0.5; done
  return 1
}
apt_install() {
  is_root && command -v apt-get >/dev/null || return 1
  say "installing $*"
  [ -n "${APT_UPDATED:-}" ] || { DEBIAN_FRONTEND=noninteractive apt-get update -qq; APT_UPDATED=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Connects and runs a query where psql is installed (it catches refused logins too), else only
# checks that the port answers.
pg_ok() {
  if command -v psql >/dev/null; then PGCONNECT_TIMEOUT=3 psql -w "$1" -Atqc 'select 1' >/dev/null 2>&1
  else answers "$(url_host "$1")" "$(url_port "$1" 5432)"; fi
}

ensure_postgres() {
  local host port
  host=$(url_host "$PG_URL"); port=$(url_port "$PG_URL" 5432)
  if pg_ok "$PG_URL"; then echo "PostgreSQL answers at $host:$port"; return; fi
  case $host in 127.0.0.1|localhost|::1) ;; *) die "PostgreSQL at $PG_URL does not answer (ALPHA_OTO_TEST_PG_URL)";; esac
  if ! command -v pg_ctlcluster >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    apt_install postgresql || die "PostgreSQL is not installed: run 'apt-get install postgresql' as root, or set ALPHA_OTO_TEST_PG_URL to a server"
  fi
  if is_root && command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    say "starting the PostgreSQL service"
    for v in $(ls /etc/postgresql); do pg_ctlcluster --skip-systemctl-redirect "$v" main start || true; done
    wait_for "$host" "$port" && sleep 1
    if pg_ok "$PG_URL"; then return; fi
    echo "the PostgreSQL service does not accept $PG_URL (password auth?): using a private instance"
  fi
  # A private, throwaway instance from the installed binaries, trust auth on loopback only.
  local bindir; bindir=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
  local dir=$PWD/target/pg-test port2=55432
  say "starting a private PostgreSQL in $dir on port $port2"
  local run=(); is_root && run=(runuser -u postgres --)
  if [ -f "$dir/data/postmaster.pid" ]; then "${run[@]}" "$bindir/pg_ctl" -D "$dir/data" stop -m fast >/dev/null 2>&1 || true; fi
  rm -rf "$dir"; mkdir -p "$dir"; is_root && chown postgres "$dir"
  "${run[@]}" "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust >/dev/null
  "${run[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -o "-p $port2 -k $dir -c listen_addresses=127.0.0.1" start >/dev/null
  PG_URL="postgres://postgres@127.0.0.1:$port2/postgres"
  wait_for 127.0.0.1 "$port2" && pg_ok "$PG_URL" || die "the private PostgreSQL did not start: see $dir/log"
}

ensure_redis() {
  local host port
  host=$(url_host "$REDIS_URL"); port=$(url_port "$REDIS_URL" 6379)
  # One test runs a private redis-server of its own (to take it away mid-test).
  command -v redis-server >/dev/null || apt_install redis-server \
    || die "redis-server is not installed: run 'apt-get install redis-server' as root"
  if answers "$host" "$port"; then echo "Redis answers at $host:$port"; return; fi
  case $host in 127.0.0.1|localhost|::1) ;; *) die "Redis at $host:$port does not answer (ALPHA_OTO_TEST_REDIS_URL)";; esac
  say "starting Redis on port $port"
  mkdir -p target/redis-test
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --dir "$PWD/target/redis-test" --logfile "$PWD/target/redis-test/redis.log"
  wait_for "$host" "$port" || die "Redis did not start: see target/redis-test/redis.log"
}

ensure_toolchain() {
  command -v cargo >/dev/null || die "cargo is not installed: install Rust from rustup.rs"
  if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    command -v rustup >/dev/null || die "rustfmt and clippy are needed: install them with your Rust toolchain"
    rustup component add rustfmt clippy
  fi
  command -v cc >/dev/null || apt_install gcc libc6-dev || die "a C compiler is needed (SQLite and libpq are built from source): install gcc"
}

ensure_browser() {
  # The dashboard's end-to-end test drives a headless Chromium (Debian's package).
  local chromium=${ALPHA_OTO_TEST_CHROMIUM:-/usr/bin/chromium}
  [ -x "$chromium" ] || apt_install chromium \
    || die "Chromium is not installed: run 'apt-get install chromium' as root, or set ALPHA_OTO_TEST_CHROMIUM"
  echo "browser: $("$chromium" --version 2>/dev/null || echo "$chromium")"
  # Only the screenshot needs it: Chinese text without a CJK font draws as boxes.
  if command -v fc-list >/dev/null && [ -z "$(fc-list :lang=zh 2>/dev/null)" ]; then
    apt_install fonts-wqy-zenhei || echo "no CJK font: the screenshot's Chinese draws as boxes"
  fi
}

ensure_promtool() {
  # Prometheus's promtool lints /metrics and checks and unit-tests the shipped alert rules.
  local promtool=${ALPHA_OTO_TEST_PROMTOOL:-promtool}
  command -v "$promtool" >/dev/null || apt_install prometheus \
    || die "promtool is not installed: run 'apt-get install prometheus' as root, or set ALPHA_OTO_TEST_PROMTOOL"
  echo "promtool: $("$promtool" --version 2>&1 | head -1)"
}

ensure_ecs() {
  # Elastic's own ECS field definitions (the @elastic/ecs package), read through Node: every
  # field of the daemon's log lines is checked against them.
  local version=8.11.5
  export ALPHA_OTO_TEST_ECS=${ALPHA_OTO_TEST_ECS:-$PWD/target/ecs/package}
  if [ -f "$ALPHA_OTO_TEST_ECS/build/commonjs/ecs_flat.js" ]; then echo "ECS definitions: $ALPHA_OTO_TEST_ECS"; return; fi
  command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm \
    || die "Node.js and npm are needed for the ECS field check: run 'apt-get install nodejs npm' as root, or set ALPHA_OTO_TEST_ECS"
  say "fetching the ECS field definitions (@elastic/ecs@$version)"
  rm -rf target/ecs; mkdir -p target/ecs
  (cd target/ecs && npm pack --silent "@elastic/ecs@$version" >/dev/null && tar xzf elastic-ecs-$version.tgz) \
    || die "cannot fetch @elastic/ecs@$version from the npm registry (set ALPHA_OTO_TEST_ECS to an unpacked copy)"
  export ALPHA_OTO_TEST_ECS=$PWD/target/ecs/package
}

ensure_python_tools() {
  # The OpenAPI document's checks: openapi-spec-validator, openapi-schema-validator and a
  # client generated by openapi-python-client, in a virtual environment of their own.
  export ALPHA_OTO_TEST_PYTHON=${ALPHA_OTO_TEST_PYTHON:-$PWD/target/py/bin/python}
  local pins="openapi-spec-validator==0.9.0 openapi-schema-validator==0.9.0 openapi-python-client==0.29.1"
  if [ -x "$ALPHA_OTO_TEST_PYTHON" ] && "$ALPHA_OTO_TEST_PYTHON" -m pip freeze 2>/dev/null | grep -q '^openapi-python-client==0.29.1$'; then
    echo "python tools: $ALPHA_OTO_TEST_PYTHON"; return
  fi
  command -v python3 >/dev/null || apt_install python3 python3-venv || die "python3 is needed for the OpenAPI checks"
  say "installing the OpenAPI tools into target/py"
  python3 -m venv target/py || { apt_install python3-venv && python3 -m venv target/py; } \
    || die "cannot make a Python virtual environment (apt-get install python3-venv)"
  target/py/bin/pip install --quiet --disable-pip-version-check $pins \
    || die "cannot install $pins from PyPI (or set ALPHA_OTO_TEST_PYTHON to a Python that has them)"
  export ALPHA_OTO_TEST_PYTHON=$PWD/target/py/bin/python
}

ensure_toolchain
ensure_browser
ensure_promtool
ensure_ecs
ensure_python_tools
say "services"
ensure_postgres
ensure_redis
export ALPHA_OTO_TEST_PG_URL=$PG_URL ALPHA_OTO_TEST_REDIS_URL=$REDIS_URL

# Known vulnerabilities in the dependencies, against an advisory database read offline:
# ALPHA_OTO_ADVISORY_DB (a git bundle or a checkout of RustSec's advisory-db), by default the
# workspace's ../shared/advisory-db.bundle. Without one the check is skipped, with a message.
audit() {
  local db=${ALPHA_OTO_ADVISORY_DB:-../shared/advisory-db.bundle}
  if [ ! -e "$db" ]; then
    echo "no advisory database at $db (set ALPHA_OTO_ADVISORY_DB): dependency audit SKIPPED"
    return 0
  fi
  if ! cargo audit --version >/dev/null 2>&1; then
    say "installing cargo-audit"
    cargo install cargo-audit --locked --quiet || die "cannot install cargo-audit"
  fi
  local dir=target/advisory-db
  rm -rf "$dir"
  if [ -d "$db" ]; then cp -r "$db" "$dir"; else git -c init.defaultBranch=main clone -q "$db" "$dir"; fi
  # Ignored advisories and why: .cargo/audit.toml.
  cargo audit --db "$dir" --no-fetch --stale
}

step() { local t=$SECONDS; say "$1"; shift; "$@"; echo "($(( SECONDS - t )) s)"; }
step "format" cargo fmt --all -- --check
step "dependency audit" audit
step "clippy" cargo clippy --all-targets --locked -- -D warnings
step "tests on SQLite" env ALPHA_OTO_TEST_BACKEND=sqlite cargo test --locked
step "tests on PostgreSQL" env ALPHA_OTO_TEST_BACKEND=postgres cargo test --locked --test it
say "all checks passed in $(( SECONDS - start_all )) s"
