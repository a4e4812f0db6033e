#!/usr/bin/env bash
# tests/system/harness.sh BUILDDIR SCENARIO — run one system-tier scenario.
#
# Boots a throwaway systemd container from the host's root over a tmpfs
# overlay (container.sh), installs BUILDDIR into it (meson install), runs the
# SCENARIO script inside (it sources lib.sh and prints TAP), passes its TAP
# through, prints the container's journal if anything failed, and tears
# everything down on every exit path. Never skips: a container that cannot
# boot is a failure.
#
# Used by tests/system/meson.build (one meson test per scenario, protocol tap).
# By hand:  tests/system/harness.sh build tests/system/scenarios/boot.sh
# Env: RSM_SYSTEST_KEEP_JOURNAL=1 prints the journal even on success;
# RSM_SYSTEST_ONLY=WORD is passed to the scenario (scenarios that have
# several check modules run only those whose name contains WORD).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=container.sh
. "$here/container.sh"

if [[ $# -ne 2 ]]; then
    echo "usage: $0 BUILDDIR SCENARIO" >&2; exit 2
fi
builddir=$(realpath -e -- "$1") || { echo "1..1"; echo "not ok 1 - build dir $1 exists"; exit 1; }
scenario=$(realpath -e -- "$2") || { echo "1..1"; echo "not ok 1 - scenario $2 exists"; exit 1; }
name=$(basename "$scenario")

_h_done=0
_h_cleanup() {
    [[ $_h_done == 1 ]] && return
    _h_done=1
    ct_teardown
}
trap '_h_cleanup' EXIT
trap '_h_cleanup; exit 130' INT
trap '_h_cleanup; exit 143' TERM

# A harness-level failure: one failing TAP point with the reason, then exit.
_h_fail() {
    echo "# $name: harness failure: $1" >&2
    echo "not ok 1 - $1"
    echo "1..1"
    exit 1
}

echo "# scenario: $name"
echo "# build dir: $builddir"
# A scenario that starts a masked unit itself (xrdp.sh: Debian's xrdp units)
# says so in a line "# systest-unmask: UNIT..."; every other container keeps
# them masked.
unmask=$(sed -n 's/^# systest-unmask: *//p' "$scenario" | head -n 1)
if [[ -n $unmask ]]; then
    kept=()
    for u in $CT_MASK_UNITS; do [[ " $unmask " == *" $u "* ]] || kept+=("$u"); done
    CT_MASK_UNITS="${kept[*]}"
fi
# Containers share the host's network: a scenario that listens on fixed TCP
# ports (xrdp's 3350/3389, the gateway's 5900, the broker's 8080) says so in
# a line "# systest-lock: ports" and runs only while no other such scenario
# does, whichever checkout or CI run it comes from (ct_ports_lock in
# container.sh; an outer `flock` on another file by hand is not needed).
if grep -q '^# systest-lock: ports' "$scenario"; then
    echo "# taking the ports lock ($CT_PORTS_LOCK)"
    ct_ports_lock
fi
bootlog=$(mktemp /tmp/rsm-boot.XXXXXXXX)
ct_boot >"$bootlog"; boot_rc=$?
cat "$bootlog"
[[ $boot_rc == 0 ]] || cat "$bootlog" >&2
rm -f "$bootlog"
[[ $boot_rc == 0 ]] || _h_fail "the systemd container boots (systemctl is-system-running)"
ct_install "$builddir" || { ct_journal 100; _h_fail "rsm installs into the container"; }

# The scenario and lib.sh go into the overlay (the container's /tmp is private).
ct_put "$here/lib.sh" /var/lib/rsm-systest/lib.sh || _h_fail "copy lib.sh into the container"
ct_put "$scenario" "/var/lib/rsm-systest/$name" || _h_fail "copy $name into the container"
# The Python checks and helpers the scenarios run (the source tree itself may
# live where the container cannot see it, e.g. under the host's /tmp).
source_root=/var/lib/rsm-systest/src
ct_put "$here/.." "$source_root/tests" || _h_fail "copy the test sources into the container"

out=$CT_STATE/scenario.tap
echo "# running $name inside $CT_NAME"
# In the background + wait, so that INT/TERM run the teardown at once.
(
    ct_exec RSM_SYSTEST_LIB=/var/lib/rsm-systest/lib.sh RSM_SOURCE_ROOT="$source_root" \
        RSM_SYSTEST_ONLY="${RSM_SYSTEST_ONLY:-}" \
        timeout --kill-after=10 "${RSM_SYSTEST_TIMEOUT:-240}" \
        bash "/var/lib/rsm-systest/$name" </dev/null 2>&1 | tee "$out"
    exit "${PIPESTATUS[0]}"
) &
wait $!
rc=$?

failed=0
if [[ $rc != 0 ]]; then
    echo "# scenario exited with status $rc"
    failed=1
fi
if grep -q '^not ok' "$out"; then failed=1; fi
if ! grep -qE '^1\.\.[0-9]+' "$out"; then
    echo "# scenario printed no TAP plan"
    failed=1
fi

if [[ $failed == 1 ]]; then
    # meson --print-errorlogs shows only stderr of TAP tests: repeat there.
    { echo "# $name failed:"; grep -A8 '^not ok' "$out"; } >&2
    # Not `tee /dev/stderr`: when stdout and stderr are one file, reopening
    # it through /dev/stderr truncates it and loses the TAP printed so far.
    journal=$(ct_journal 300)
    printf '%s\n' "$journal"
    printf '%s\n' "$journal" >&2
elif [[ ${RSM_SYSTEST_KEEP_JOURNAL:-0} == 1 ]]; then
    ct_journal 300
fi
[[ $failed == 0 ]] || exit 1
exit 0
