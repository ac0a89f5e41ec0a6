#!/usr/bin/env bash
# Installs alpha-oto as a systemd service: the binary, a system user, the configuration, the
# master key and an API token (kept when they exist), the state and log folders, the unit and
# the logrotate rule; then starts the service. Run as root from the repository:
#
#   cargo build --release --locked && sudo deploy/install.sh
#
# Options:
#   --bin FILE       the binary to install (default target/release/alpha-oto)
#   --user NAME      the service's system user and group (default alpha-oto)
#   --listen ADDR    the control API's address in a new configuration (default 127.0.0.1:8642)
#   --root DIR       install under DIR instead of /, with every path in the unit and the
#                    configuration pointing there, and start nothing (a stand-in for tests)
#   --no-start       install and enable nothing in systemd
#
# The configuration and the key are root's, readable by the service's group (0640 in a 0750
# folder); the API token (/etc/alpha-oto/api-token) is root's alone, and the configuration's
# [api] token_file names it, so `alpha-oto account ...` run as root finds it.
set -euo pipefail

bin=target/release/alpha-oto user=alpha-oto listen=127.0.0.1:8642 root= start=1
while [ $# -gt 0 ]; do
  case $1 in
    --bin) bin=$2; shift 2 ;;
    --user) user=$2; shift 2 ;;
    --listen) listen=$2; shift 2 ;;
    --root) root=${2%/}; start=0; shift 2 ;;
    --no-start) start=0; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 64 ;;
  esac
done
here=$(cd "$(dirname "$0")" && pwd)
die() { echo "install.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run it as root (it creates a system user and root-owned files)"
[ -x "$bin" ] || die "no binary at $bin: build it first (cargo build --release --locked) or pass --bin"

etc=$root/etc/alpha-oto state=$root/var/lib/alpha-oto logs=$root/var/log/alpha-oto
exe=$root/usr/local/bin/alpha-oto

# 1. The binary.
install -D -m 0755 "$bin" "$exe"

# 2. The user: a system account with no login and no home of its own.
if ! getent passwd "$user" >/dev/null; then
  useradd --system --user-group --no-create-home --home-dir /var/lib/alpha-oto \
    --shell /usr/sbin/nologin "$user"
fi

# 3. Configuration, key and token: root's, the configuration and key readable by the group.
install -d -m 0750 -o root -g "$user" "$etc"
if [ ! -e "$etc/master-key" ]; then
  "$exe" keygen | install -m 0640 -o root -g "$user" /dev/stdin "$etc/master-key"
fi
if [ ! -e "$etc/api-token" ]; then
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' | install -m 0600 -o root -g root /dev/stdin "$etc/api-token"
fi
if [ ! -e "$etc/config.toml" ]; then
  hash=$("$exe" hash-token --file "$etc/api-token")
  tmp=$(mktemp)
  cat >"$tmp" <<EOF
# alpha-oto's configuration; every key is explained in deploy/config.example.toml.
# Admin commands (migrate, keys rotate, token refresh) read this file by default, so they
# find the service's database and key: run them as the service's user
# (runuser -u $user -- alpha-oto migrate).

[daemon]
# The service gets it as \$STATE_DIRECTORY too; set here so admin commands find it.
data_dir = "$state"

[api]
listen = "$listen"
token_hashes = ["$hash"]
# For the command-line client run as root (account, halt); the daemon does not read it.
token_file = "$etc/api-token"

[log]
file = "$logs/alpha-oto.json"

[vault]
# The service reads the key as a systemd credential (LoadCredential=); admin commands here.
key_file = "$etc/master-key"
EOF
  install -m 0640 -o root -g "$user" "$tmp" "$etc/config.toml"
  rm -f "$tmp"
fi

# 4. State and logs: the service's own (systemd makes them too, with these modes).
install -d -m 0700 -o "$user" -g "$user" "$state"
install -d -m 0750 -o "$user" -g "$user" "$logs"

# 5. The unit and the log rotation, pointed at the installed paths.
sed -e "s#/usr/local/bin/alpha-oto#$exe#g" -e "s#/etc/alpha-oto/#$etc/#g" \
    -e "s#^User=alpha-oto\$#User=$user#" -e "s#^Group=alpha-oto\$#Group=$user#" \
    "$here/alpha-oto.service" | install -D -m 0644 /dev/stdin "$root/etc/systemd/system/alpha-oto.service"
sed -e "s#/var/log/alpha-oto/#$logs/#g" "$here/logrotate.conf" \
  | install -D -m 0644 /dev/stdin "$root/etc/logrotate.d/alpha-oto"

# 6. Check what was installed, as the service will read it.
runuser -u "$user" -- "$exe" config check --config "$etc/config.toml" >/dev/null
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify "$root/etc/systemd/system/alpha-oto.service"
fi

if [ "$start" = 1 ]; then
  systemctl daemon-reload
  systemctl enable --now alpha-oto
  echo "alpha-oto is running: systemctl status alpha-oto; journalctl -u alpha-oto"
fi
echo "installed: $exe, $etc/{config.toml,master-key,api-token}, $state, $logs"
echo "next: alpha-oto account list (as root, with the token in $etc/api-token)"
