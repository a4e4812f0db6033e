# shellcheck shell=bash
# tests/system/lib.sh — TAP helpers for system-tier scenarios.
# Sourced by scenario scripts, which run INSIDE the container as root
# (harness.sh puts this file next to them and sets RSM_SYSTEST_LIB).
#
#   ok DESC / not_ok DESC [DIAG...]   emit one TAP point
#   check DESC CMD...                 ok if CMD succeeds (its output shown as diagnostics on failure)
#   check_eq DESC EXPECTED CMD...     ok if CMD's stdout (trimmed) equals EXPECTED
#   check_match DESC REGEX CMD...     ok if CMD's stdout matches the extended REGEX
#   wait_for DESC TIMEOUT CMD...      poll CMD every 0.1 s until it succeeds (ok) or TIMEOUT s pass (not ok)
#   poll TIMEOUT CMD...               the same without a TAP point (returns 0/1)
#   skip DESC REASON                  ok N - DESC # SKIP REASON
#   diag TEXT... / diag_cmd CMD...    "# " comments
#   make_user NAME [PASSWORD]         useradd -m + chpasswd (password defaults to NAME-pw)
#   as_user NAME CMD...               run CMD as NAME through a real PAM login shell (su -)
#   unit_prop UNIT PROP               systemctl show -P PROP UNIT
# The plan ("1..N") is printed at exit; the script exits 1 if any point failed.
set -u
export SYSTEMD_PAGER= SYSTEMD_COLORS=0 LANG=C.UTF-8

_T_N=0
_T_FAILED=0

diag() { printf '%s\n' "$@" | sed -e 's/^/# /'; }
diag_cmd() { "$@" 2>&1 | sed -e 's/^/# /'; }

ok() { _T_N=$((_T_N + 1)); printf 'ok %d - %s\n' "$_T_N" "$1"; }
not_ok() {
    _T_N=$((_T_N + 1)); _T_FAILED=$((_T_FAILED + 1))
    printf 'not ok %d - %s\n' "$_T_N" "$1"; shift
    [[ $# -gt 0 ]] && diag "$@"
    return 0
}
skip() { _T_N=$((_T_N + 1)); printf 'ok %d - %s # SKIP %s\n' "$_T_N" "$1" "${2:-}"; }

# check DESC CMD...
check() {
    local desc=$1 out rc; shift
    out=$("$@" 2>&1) && rc=0 || rc=$?
    if [[ $rc == 0 ]]; then ok "$desc"; return 0; fi
    not_ok "$desc" "command: $*" "exit status: $rc" "$out"
    return 1
}

# check_eq DESC EXPECTED CMD...   (the command's exit status is ignored)
check_eq() {
    local desc=$1 want=$2 got; shift 2
    got=$("$@" 2>/dev/null) || true
    got=$(printf '%s' "$got" | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//')
    if [[ $got == "$want" ]]; then ok "$desc"; return 0; fi
    not_ok "$desc" "command: $*" "expected: '$want'" "got:      '$got'"
    return 1
}

# check_match DESC REGEX CMD...
check_match() {
    local desc=$1 re=$2 got rc; shift 2
    got=$("$@" 2>&1) && rc=0 || rc=$?
    if [[ $rc == 0 && $got =~ $re ]]; then ok "$desc"; return 0; fi
    not_ok "$desc" "command: $*" "exit status: $rc" "expected to match: $re" "got: $got"
    return 1
}

# poll TIMEOUT CMD...: 0 as soon as CMD succeeds, 1 after TIMEOUT seconds.
poll() {
    local timeout=$1; shift
    local deadline=$((SECONDS + timeout))
    while :; do
        "$@" >/dev/null 2>&1 && return 0
        ((SECONDS >= deadline)) && return 1
        sleep 0.1
    done
}

# wait_for DESC TIMEOUT CMD...
wait_for() {
    local desc=$1 timeout=$2 start=$SECONDS out; shift 2
    if poll "$timeout" "$@"; then
        ok "$desc"; return 0
    fi
    out=$("$@" 2>&1) || true
    not_ok "$desc" "timed out after ${timeout}s waiting for: $*" "last output: $out"
    return 1
}

unit_prop() { systemctl show -P "$2" "$1"; }
unit_active() { [[ $(systemctl is-active "$1" 2>/dev/null) == active ]]; }

# make_user NAME [PASSWORD]: a local user with a home and a password.
make_user() {
    local name=$1 pw=${2:-$1-pw}
    if ! id -u "$name" >/dev/null 2>&1; then
        useradd -m -s /bin/bash "$name" || return 1
    fi
    printf '%s:%s\n' "$name" "$pw" | chpasswd || return 1
}

# as_user NAME CMD...: run CMD through `su -` (PAM, login shell).
as_user() {
    local name=$1 cmd; shift
    cmd=$(printf '%q ' "$@")
    su - "$name" -c "$cmd" </dev/null
}

_t_finish() {
    local rc=$?
    if [[ $rc != 0 && $_T_FAILED == 0 ]]; then
        not_ok "scenario script exited with status $rc"
    fi
    printf '1..%d\n' "$_T_N"
    [[ $_T_FAILED == 0 && $rc == 0 ]] && exit 0
    exit 1
}
trap _t_finish EXIT
