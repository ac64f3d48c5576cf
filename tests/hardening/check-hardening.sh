#!/usr/bin/env bash
# Checks that an ELF executable was built hardened, as CMakeLists.txt builds tcpmortem for
# release (TM_HARDEN): position-independent (PIE), full RELRO (a GNU_RELRO segment and
# BIND_NOW, so the GOT is read-only after start-up), a non-executable stack, the stack
# protector (it calls __stack_chk_fail) and _FORTIFY_SOURCE (it calls fortified __*_chk
# functions). Prints one line per property; exits 1 if any is missing.
#
# Usage: check-hardening.sh BINARY          (readelf is in binutils, part of build-essential)
set -uo pipefail

bin=${1:?usage: check-hardening.sh BINARY}
[[ -f $bin ]] || { echo "check-hardening: no $bin" >&2; exit 2; }
failed=0

check() {
	local what=$1; shift
	if "$@"; then
		echo "ok   $what"
	else
		echo "FAIL $what"
		failed=1
	fi
}

header=$(readelf -hW "$bin") || exit 2
dynamic=$(readelf -dW "$bin")
segments=$(readelf -lW "$bin")
symbols=$(readelf --dyn-syms -W "$bin")

pie() { grep -qE 'Type:[[:space:]]+DYN' <<<"$header" && grep -qE 'FLAGS_1.*\bPIE\b' <<<"$dynamic"; }
relro() { grep -qE '^[[:space:]]*GNU_RELRO' <<<"$segments"; }
bind_now() { grep -qE '\(BIND_NOW\)|\(FLAGS\).*\bBIND_NOW\b|\(FLAGS_1\).*\bNOW\b' <<<"$dynamic"; }
nx_stack() { grep -qE '^[[:space:]]*GNU_STACK([[:space:]]+0x[0-9a-f]+){5}[[:space:]]+RW[[:space:]]' <<<"$segments"; }
stack_protector() { grep -qE '\b__stack_chk_fail\b' <<<"$symbols"; }
# No pipe into grep -q: it exits at the first match, and with pipefail the writer's SIGPIPE
# would fail the check at random.
fortify() {
	local others
	others=$(grep -vE '__stack_chk_fail' <<<"$symbols")
	grep -qE '\b__[a-z0-9_]+_chk\b' <<<"$others"
}

check "PIE (ELF type DYN, DF_1_PIE)" pie
check "RELRO (GNU_RELRO segment)" relro
check "BIND_NOW (full RELRO: GOT read-only after start)" bind_now
check "non-executable stack (GNU_STACK RW)" nx_stack
check "stack protector (__stack_chk_fail)" stack_protector
check "_FORTIFY_SOURCE (fortified __*_chk calls: $(grep -vE '__stack_chk_fail' <<<"$symbols" |
	grep -oE '\b__[a-z0-9_]+_chk\b' | sort -u | tr '\n' ' '))" fortify
exit $failed
