#!/usr/bin/env bash
# Static checks of every C source the build compiles: the banned-function check, cppcheck and
# clang-tidy (the curated .clang-tidy at the top). Any finding fails.
#
# Usage: tests/lint/run-lint.sh BUILD_DIR     (BUILD_DIR holds compile_commands.json)
#
# Banned: the string and conversion functions that write or read without a bound, or cannot
# report an error: gets, strcpy, stpcpy, strcat, sprintf, vsprintf, strtok (strtok_r is
# reentrant and stays within its NUL-terminated copy), the scanf family, atoi/atol/atoll/atof,
# strncpy/strncat (they do not always terminate; say memcpy with an explicit length instead),
# tmpnam, tempnam, mktemp, alloca. Use snprintf, memcpy with a checked length, strtoul/strtod
# with an end pointer, mkstemp.
set -uo pipefail
cd "$(dirname "$0")/../.."

build=${1:?usage: run-lint.sh BUILD_DIR}
db=$build/compile_commands.json
[[ -f $db ]] || { echo "lint: no $db (configure with cmake first)" >&2; exit 2; }
jobs=$(nproc 2>/dev/null || echo 2)
failed=0

mapfile -t sources < <(python3 -c '
import json, os, sys
root = os.getcwd()
for f in sorted({e["file"] for e in json.load(open(sys.argv[1]))}):
    print(os.path.relpath(f, root))' "$db")
mapfile -t all_c < <(git ls-files -- '*.c' '*.h' 2>/dev/null || printf '%s\n' "${sources[@]}")
echo "== lint: ${#sources[@]} compiled sources, ${#all_c[@]} C files"

banned='\b(gets|strcpy|stpcpy|strcat|sprintf|vsprintf|strtok|scanf|sscanf|fscanf|vscanf|vsscanf|vfscanf|atoi|atol|atoll|atof|strncpy|strncat|tmpnam|tempnam|mktemp|alloca)[[:space:]]*\('
if grep -nE "$banned" "${all_c[@]}" | grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/?\*|//)'; then
	echo "lint: banned function (see tests/lint/run-lint.sh for the list and what to use)"
	failed=1
else
	echo "lint: no banned function"
fi

if cppcheck --version >/dev/null 2>&1; then
	if cppcheck --enable=warning,style,performance,portability --std=c11 --inline-suppr \
		--suppressions-list=tests/lint/cppcheck-suppressions.txt --error-exitcode=1 --quiet \
		-j"$jobs" --project="$db" \
		--template='{file}:{line}: {severity}: {message} [{id}]'; then
		echo "lint: cppcheck clean"
	else
		echo "lint: cppcheck found the problems above"
		failed=1
	fi
else
	echo "lint: cppcheck is not installed (tests/install-deps.sh installs it)"
	failed=1
fi

if clang-tidy --version >/dev/null 2>&1; then
	# The optimised build's commands carry gcc's link-time optimisation flags
	# (-fno-fat-lto-objects), which clang does not know: not a finding about the code.
	out=$(printf '%s\n' "${sources[@]}" |
		xargs -P "$jobs" -n 4 clang-tidy -p "$build" --quiet \
			--extra-arg=-Wno-ignored-optimization-argument 2>&1 |
		grep -vE '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$|^Suppressed [0-9]+ warnings|^Use -header-filter|^Error while processing')
	if grep -qE '(warning|error):' <<<"$out"; then
		echo "$out"
		echo "lint: clang-tidy found the problems above"
		failed=1
	else
		echo "lint: clang-tidy clean"
	fi
else
	echo "lint: clang-tidy is not installed (tests/install-deps.sh installs it)"
	failed=1
fi
exit $failed
