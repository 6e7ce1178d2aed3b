#!/usr/bin/env bash
# The .deb, built and checked: what it holds (binary, systemd unit,
# /etc/default file as a conffile, man pages, completions, maintainer
# scripts creating the tritium user), that the packaged binary runs and
# generates what was packaged, that systemd accepts the unit
# (`systemd-analyze verify`), and, as root, that it installs and runs:
# packaging/test-install.sh follows the README's install walkthrough (the
# service started as its unit says, the README's app deployed with --wait
# and RUNNING, stopped, purged). Called by scripts/test; installs
# systemd-analyze when missing (packaging/build-deb.sh installs cargo-deb).
#
# It packages the debug binary the tests already built (no release build
# in CI); packaging/build-deb.sh without --binary makes the release .deb.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "test-deb: installing systemd (for systemd-analyze)" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq systemd >/dev/null
fi

fail() { echo "test-deb: FAIL: $*" >&2; exit 1; }
pass() { echo "test-deb: ok: $*" >&2; }

bin=$(scripts/debug-binary)
deb=$(packaging/build-deb.sh --binary "$bin" -- --fast)
[ -f "$deb" ] || fail "no .deb at '$deb'"
pass "built $deb"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -c "$deb" | awk '{print $1, $NF}' >"$work/contents"
has() {
  grep -qE "^$1 \./$2\$" "$work/contents" || fail "$2 ($1) not in the package:
$(cat "$work/contents")"
}
has '-rwxr-xr-x' usr/bin/tritium
has '-rw-r--r--' usr/lib/systemd/system/tritium.service
has '-rw-r--r--' etc/default/tritium
for page in tritium tritium-app tritium-app-deploy tritium-app-scale tritium-app-why tritium-events; do
  has '-rw-r--r--' "usr/share/man/man1/$page.1.gz"
done
has '-rw-r--r--' usr/share/bash-completion/completions/tritium
has '-rw-r--r--' usr/share/zsh/vendor-completions/_tritium
has '-rw-r--r--' usr/share/fish/vendor_completions.d/tritium.fish
pass "contents: binary, unit, default file, man pages, completions"

dpkg-deb -e "$deb" "$work/control"
grep -qx /etc/default/tritium "$work/control/conffiles" || fail "/etc/default/tritium is not a conffile"
grep -q 'adduser --system' "$work/control/postinst" || fail "postinst does not create the tritium user"
grep -q 'deb-systemd-helper enable tritium.service' "$work/control/postinst" || fail "postinst does not enable the unit"
for s in postinst postrm prerm; do sh -n "$work/control/$s" || fail "$s is not valid sh"; done
dpkg-deb -f "$deb" Depends | grep -q adduser || fail "Depends lacks adduser"
pass "control: conffile, user, unit enabled, scripts parse"

root=$work/root
dpkg-deb -x "$deb" "$root"
unit=$root/usr/lib/systemd/system/tritium.service
for want in '^User=tritium$' '^StateDirectory=tritium$' '^EnvironmentFile=-/etc/default/tritium$' \
  '^Restart=always$' '^LimitNOFILE=65536$' '^ExecStart=/usr/bin/tritium '; do
  grep -qE "$want" "$unit" || fail "the unit lacks $want"
done
"$root/usr/bin/tritium" --version | grep -q '^tritium ' || fail "the packaged binary does not run"
"$root/usr/bin/tritium" app --help | grep -q 'Exit codes' || fail "app --help lacks the exit codes"
zcat "$root/usr/share/man/man1/tritium-app.1.gz" | grep -q '^\.TH' || fail "tritium-app.1 is not a man page"
bash -n "$root/usr/share/bash-completion/completions/tritium" || fail "bash completion does not parse"
grep -q 'deploy' "$root/usr/share/bash-completion/completions/tritium" || fail "bash completion lacks app deploy"
# Every setting in the default file is commented out: an install changes
# nothing until the operator says so.
if grep -vE '^(#|$)' "$root/etc/default/tritium"; then fail "/etc/default/tritium sets something"; fi
pass "unit settings, binary, man page, completions"

# systemd's own check, on a copy whose ExecStart is the extracted binary
# (verify wants it to exist); --man=no: the man page is not installed here.
mkdir "$work/units"
sed "s#^ExecStart=/usr/bin/tritium#ExecStart=$root/usr/bin/tritium#" "$unit" >"$work/units/tritium.service"
if ! out=$(systemd-analyze verify --man=no "$work/units/tritium.service" 2>&1) || [ -n "$out" ]; then
  fail "systemd-analyze verify: $out"
fi
pass "systemd-analyze verify"

# The README's walkthrough on this machine: install, the service started as
# its unit says, the example app deployed with --wait and RUNNING, SIGTERM,
# purge. Root only (CI is root); it says so and skips otherwise.
packaging/test-install.sh "$deb" README.md || fail "the install walkthrough (packaging/test-install.sh)"
echo "test-deb: every check passed" >&2
