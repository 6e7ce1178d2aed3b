#!/usr/bin/env bash
# The README's "Installing the Debian package" walkthrough, done for real on
# this machine: install the .deb, check what the maintainer scripts did,
# start the service as its unit would, deploy the README's example app with
# the installed client and `--wait`, see every instance RUNNING, stop the
# service (SIGTERM, exit 0) and purge the package.
#
#   packaging/test-install.sh DEB [README]
#
# Called by packaging/test-deb.sh. Needs root (it installs a package and
# switches to the tritium user); anywhere else it says so and skips. It
# refuses to run where tritium is already installed: it would replace and
# then purge that install.
#
# There is no systemd as PID 1 in CI, so the service is started the way the
# unit says, read from the installed unit file: its ExecStart (with
# systemd's $VAR expansion), User/Group (setpriv, with NoNewPrivileges and
# the empty capability bounding set), EnvironmentFile (systemd's KEY=value
# syntax, no shell), WorkingDirectory, UMask and LimitNOFILE, and a clean
# environment like systemd's. The sandboxing settings (ProtectSystem= and
# the like) are systemd's alone and are not emulated; `systemd-analyze
# verify` in test-deb.sh checks they parse. TRITIUM_LISTEN is set on top of
# the environment file (a free 127.0.0.1 port: 8080 may be taken) and the
# client is pointed at it with TRITIUM_API.
#
# Every wait is bounded; the service is stopped and the package purged on
# any exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

deb=${1:?usage: packaging/test-install.sh DEB [README]}
readme=${2:-README.md}

fail() { echo "test-install: FAIL: $*" >&2; exit 1; }
pass() { echo "test-install: ok: $*" >&2; }
say() { echo "test-install: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  say "SKIP: not root; installing the .deb and running its service needs root (CI runs as root)"
  exit 0
fi
[ -f "$deb" ] || fail "no .deb at '$deb'"
[ -f "$readme" ] || fail "no README at '$readme'"
deb=$(realpath "$deb")
if dpkg-query -W -f='${Status}' tritium 2>/dev/null | grep -q 'ok installed\|config-files'; then
  fail "tritium is already installed on this machine; this test would replace and purge it (dpkg --purge tritium first, or run it elsewhere)"
fi
need=()
command -v jq >/dev/null 2>&1 || need+=(jq)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
if [ "${#need[@]}" -gt 0 ]; then
  say "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

work=$(mktemp -d)
pid=""
installed=""
cleanup() {
  local rc=$?
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    say "cleanup: stopping the service (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  if [ -n "$installed" ] && dpkg-query -W tritium >/dev/null 2>&1; then
    say "cleanup: purging the package"
    dpkg --purge tritium >/dev/null 2>&1 || say "cleanup: dpkg --purge tritium failed"
  fi
  if [ "$rc" -ne 0 ] && [ -s "$work/service.log" ]; then
    say "the service's log (last 40 lines):"
    tail -n 40 "$work/service.log" >&2
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- Install, as the README says (apt resolves Depends such as adduser) ---
installed=yes
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >"$work/apt.log" 2>&1; then
  # A fresh machine may have no package lists to resolve Depends from.
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >"$work/apt.log" 2>&1 ||
    fail "apt-get install $deb: $(tail -n 20 "$work/apt.log")"
fi
dpkg-query -W -f='${Status}' tritium | grep -q 'install ok installed' || fail "tritium is not installed after apt-get install"
pass "installed $(dpkg-query -W -f='${Package} ${Version}' tritium)"

# --- What the maintainer scripts did, and what the unit relies on ---
unit=""
for u in /usr/lib/systemd/system/tritium.service /lib/systemd/system/tritium.service; do
  if [ -f "$u" ]; then unit=$u; break; fi
done
[ -n "$unit" ] || fail "no tritium.service under /usr/lib/systemd/system or /lib/systemd/system"
# One value of a [Service] setting (the last, as systemd takes it).
setting() {
  awk -v key="$1" '
    /^\[/ { service = ($0 == "[Service]") ; next }
    service && index($0, key "=") == 1 { v = substr($0, length(key) + 2) }
    END { print v }' "$unit"
}
user=$(setting User)
group=$(setting Group)
state_dir=$(setting StateDirectory)
state_mode=$(setting StateDirectoryMode)
state_mode=${state_mode:-0755}
workdir=$(setting WorkingDirectory)
envfile=$(setting EnvironmentFile)
exec_start=$(setting ExecStart)
umask_=$(setting UMask)
nofile=$(setting LimitNOFILE)
stop_timeout=$(setting TimeoutStopSec)
kill_signal=$(setting KillSignal)
[ -n "$user" ] && [ -n "$exec_start" ] || fail "$unit has no User= or ExecStart="
group=${group:-$user}
[ -z "$kill_signal" ] || [ "$kill_signal" = SIGTERM ] || fail "KillSignal=$kill_signal: this test stops the service with SIGTERM"

IFS=: read -r _ _ uid _ _ home shell < <(getent passwd "$user") || fail "postinst did not create the user $user"
[ "$uid" -lt 1000 ] || fail "$user is not a system user (uid $uid)"
[ "$shell" = /usr/sbin/nologin ] || fail "$user has the login shell $shell"
getent group "$group" >/dev/null || fail "postinst did not create the group $group"
[ -n "$state_dir" ] || fail "$unit has no StateDirectory="
state=/var/lib/$state_dir
[ "$home" = "$state" ] || fail "$user's home is $home, not the state directory $state"
[ -d "$state" ] || fail "$state does not exist after install"
[ "$(stat -c '%U:%G %a' "$state")" = "$user:$group ${state_mode#0}" ] ||
  fail "$state is $(stat -c '%U:%G %a' "$state"), the unit wants $user:$group ${state_mode#0}"
[ "$workdir" = "$state" ] || fail "WorkingDirectory=$workdir is not the state directory $state"
envfile_optional=""
if [ "${envfile#-}" != "$envfile" ]; then envfile_optional=yes; envfile=${envfile#-}; fi
[ -f "$envfile" ] || fail "the environment file $envfile is not installed"
[ -L /etc/systemd/system/multi-user.target.wants/tritium.service ] ||
  fail "postinst did not enable tritium.service (no multi-user.target.wants link)"
[ -x /usr/bin/tritium ] || fail "/usr/bin/tritium is not installed"
pass "postinst: system user $user ($home, $shell), $state $user:$group ${state_mode#0}, $envfile, unit enabled"

# --- Start the service the way the unit does, without systemd ---
# systemd's EnvironmentFile= syntax: KEY=VALUE lines, # or ; comments,
# optional quotes around the whole value, no shell expansion.
declare -A unit_env=()
while IFS= read -r line || [ -n "$line" ]; do
  line=${line#"${line%%[![:space:]]*}"}
  case $line in '' | '#'* | ';'*) continue ;; esac
  [[ $line =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || fail "$envfile: systemd would not read '$line'"
  key=${BASH_REMATCH[1]}
  value=${BASH_REMATCH[2]}
  if [[ $value =~ ^\"(.*)\"$ || $value =~ ^\'(.*)\'$ ]]; then value=${BASH_REMATCH[1]}; fi
  unit_env[$key]=$value
done <"$envfile"
[ -n "$envfile_optional" ] || [ -f "$envfile" ] || fail "EnvironmentFile=$envfile is missing"
# A free port: nothing accepts a connection on it. Picked below the
# kernel's ephemeral range, so no outgoing connection (of this machine's
# other processes, or of tritium itself) holds it as its local port.
read -r eph_lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || eph_lo=32768
[ "$eph_lo" -gt 11000 ] || eph_lo=32768
port=""
for _ in $(seq 50); do
  p=$((10000 + RANDOM % (eph_lo - 10000)))
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || fail "no free port on 127.0.0.1"
unit_env[TRITIUM_LISTEN]=127.0.0.1:$port
# systemd's command line expansion: $VAR splits into words, ${VAR} is one
# word, unset is nothing; ExecStart prefixes (-, @, +, !) are not used.
read -r -a words <<<"$exec_start"
argv=()
for w in "${words[@]}"; do
  if [[ $w =~ ^\$([A-Za-z_][A-Za-z0-9_]*)$ ]]; then
    read -r -a split <<<"${unit_env[${BASH_REMATCH[1]}]:-}"
    argv+=("${split[@]}")
  elif [[ $w =~ ^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$ ]]; then
    argv+=("${unit_env[${BASH_REMATCH[1]}]:-}")
  elif [[ $w == *'$'* || $w =~ ^[-@+!] ]]; then
    fail "ExecStart=$exec_start: '$w' is beyond what this test emulates"
  else
    argv+=("$w")
  fi
done
[ "${argv[0]}" = /usr/bin/tritium ] || fail "ExecStart runs ${argv[0]}, not /usr/bin/tritium"
# The environment systemd gives a service: its own, nothing inherited.
envv=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME="$home" USER="$user"
  LOGNAME="$user" SHELL="$shell" STATE_DIRECTORY="$state")
for k in "${!unit_env[@]}"; do envv+=("$k=${unit_env[$k]}"); done
privs=(--reuid="$user" --regid="$group" --init-groups)
grep -qx 'NoNewPrivileges=yes' "$unit" && privs+=(--no-new-privs)
grep -qx 'CapabilityBoundingSet=' "$unit" && privs+=(--bounding-set=-all --inh-caps=-all)
say "starting: ${argv[*]} (as $user in $workdir, TRITIUM_LISTEN=127.0.0.1:$port)"
(
  cd "$workdir"
  [ -z "$umask_" ] || umask "$umask_"
  [ -z "$nofile" ] || ulimit -n "$nofile" 2>/dev/null || echo "test-install: cannot raise the open-file limit to $nofile here" >&2
  exec env -i "${envv[@]}" setpriv "${privs[@]}" -- "${argv[@]}"
) </dev/null >"$work/service.log" 2>&1 &
pid=$!

api=http://127.0.0.1:$port
ready=""
for _ in $(seq 300); do
  kill -0 "$pid" 2>/dev/null || { rc=0; wait "$pid" || rc=$?; pid=""; fail "the service exited (code $rc) before it was ready"; }
  if curl -fsS -o /dev/null --max-time 2 "$api/ready" 2>/dev/null; then ready=yes; break; fi
  sleep 0.1
done
[ -n "$ready" ] || fail "the service was not ready ($api/ready) within 30 s"
[ "$(ps -o user= -p "$pid")" = "$user" ] || fail "the service runs as $(ps -o user= -p "$pid"), not $user"
pass "service ready at $api as $user (pid $pid)"

# --- The README's walkthrough, with the installed client ---
# The section's example app (its ```json block), the deploy command and the
# line it promises, exactly as a newcomer reads them.
section=$(awk '/^## /{on = ($0 ~ /^## Installing the Debian package/)} on' "$readme")
[ -n "$section" ] || fail "$readme has no '## Installing the Debian package' section"
grep -q 'sudo apt install \./target/debian/tritium_\*_amd64\.deb' <<<"$section" ||
  fail "$readme's install section no longer installs with 'sudo apt install ./target/debian/tritium_*_amd64.deb', which this test follows"
app_json=$(awk '/^```json$/{on=1; next} /^```$/{if (on) exit} on' <<<"$section")
[ -n "$app_json" ] || fail "no \`\`\`json example app in $readme's install section"
flat=$(tr '\n' ' ' <<<"$section")
deploy_cmd=$(grep -oE '`tritium app deploy [^`]* --wait`' <<<"$flat" | head -n 1 | tr -d '`')
[ -n "$deploy_cmd" ] || fail "no \`tritium app deploy FILE --wait\` in $readme's install section"
promised=$(grep -oE -- "${deploy_cmd}\` prints +\`[^\`]*\`" <<<"$flat" | sed -E 's/.*prints +`([^`]*)`$/\1/')
[ -n "$promised" ] || fail "$readme does not say what \`$deploy_cmd\` prints"
read -r -a deploy <<<"$deploy_cmd"
app_file=${deploy[3]}
name=$(jq -er .name <<<"$app_json") || fail "the README's example app is not JSON with a name: $app_json"
instances=$(jq -er '.instances // 1' <<<"$app_json")
mkdir "$work/newcomer"
printf '%s\n' "$app_json" >"$work/newcomer/$app_file"

# `tritium` is the installed client: PATH holds nothing else.
client() { (cd "$work/newcomer" && env -i PATH=/usr/bin:/bin HOME="$work/newcomer" TRITIUM_API="$api" "$@"); }
started=$SECONDS
rc=0
out=$(client "${deploy[@]}" --timeout 60 2>&1) || rc=$?
[ "$rc" -eq 0 ] || fail "'$deploy_cmd --timeout 60' exited $rc:
$out"
grep -qF -- "$promised" <<<"$out" || fail "'$deploy_cmd' did not print the README's '$promised':
$out"
pass "$deploy_cmd: '$promised' in $((SECONDS - started)) s"

rc=0
shown=$(client tritium app show "$name" -o json) || rc=$?
[ "$rc" -eq 0 ] || fail "tritium app show $name -o json exited $rc: $shown"
states=$(jq -r '.tasks[].state' <<<"$shown") || fail "app show -o json is not the app: $shown"
[ "$(grep -c . <<<"$states")" -eq "$instances" ] || fail "$instances instances wanted, tasks: $states"
bad=$(grep -vx TASK_RUNNING <<<"$states" || true)
[ -z "$bad" ] || fail "tasks not RUNNING: $bad"
rc=0
table=$(client tritium app show "$name") || rc=$?
[ "$rc" -eq 0 ] || fail "tritium app show $name exited $rc: $table"
[ "$(grep -c ' RUNNING ' <<<"$table")" -eq "$instances" ] || fail "tritium app show $name does not list $instances RUNNING tasks:
$table"
pass "tritium app show $name: $instances/$instances tasks RUNNING (json and table)"

# --- Stop as systemd would: SIGTERM, within TimeoutStopSec ---
bound=${stop_timeout:-90}
kill -TERM "$pid"
for _ in $(seq $((bound * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "the service did not exit within TimeoutStopSec=$bound s of SIGTERM"
rc=0
wait "$pid" || rc=$?
pid=""
[ "$rc" -eq 0 ] || fail "the service exited $rc on SIGTERM, not 0"
pass "SIGTERM: the service exited 0"
# Its stderr is what the journal would get: escape codes there turn lines
# into "[N blob data]" in `journalctl -u tritium`.
! grep -q $'\e' "$work/service.log" || fail "the service's log holds terminal escape codes (journalctl shows such lines as blob data)"
grep -q 'REST API ready' "$work/service.log" || fail "the service's log lacks 'REST API ready'"
pass "the service's log is plain text"

# --- Purge: package files, conffile, state and unit links go; the user stays ---
dpkg --purge tritium >"$work/purge.log" 2>&1 || fail "dpkg --purge tritium: $(cat "$work/purge.log")"
installed=""
left=()
for f in /usr/bin/tritium "$unit" "$envfile" "$state" /etc/systemd/system/multi-user.target.wants/tritium.service; do
  if [ -e "$f" ] || [ -L "$f" ]; then left+=("$f"); fi
done
[ "${#left[@]}" -eq 0 ] || fail "left after purge: ${left[*]}"
! dpkg-query -W tritium >/dev/null 2>&1 || fail "dpkg still knows tritium after purge"
getent passwd "$user" >/dev/null || fail "purge removed the user $user (Debian policy keeps it)"
pass "purge: binary, unit, $envfile, $state and the enable link gone; user $user kept"
say "every check passed"
