#!/usr/bin/env bash
# Installs what building and testing tcpmortem needs, from Debian's packages (Debian 12).
# Safe to run again: installs only what is missing.
#
# Chromium (the HTML report's rendering test) is installed separately: when it cannot be (an
# architecture without the package, a mirror without it), everything else is still installed,
# this script says so loudly, and that one test reports itself skipped.
set -euo pipefail

# build, unit and end-to-end tests; cmark-gfm renders the Markdown report as GitHub does; groff
# checks the man page; fonts for the screenshots; cppcheck and clang-tidy for the static checks.
# zlib, zstd, lz4 and xz read compressed captures; their command-line tools make the compressed
# copies the tests read, tcpdump rotates a capture into a directory, util-linux's setpriv drops
# the capture capability and iproute2 makes the network namespaces of the live-capture test.
packages=(build-essential cmake pkg-config libpcap-dev libjansson-dev libcsv-dev
          zlib1g-dev libzstd-dev liblz4-dev liblzma-dev gzip zstd lz4 xz-utils tcpdump
          util-linux iproute2
          libcunit1-dev python3 parallel cmark-gfm groff-base man-db fonts-dejavu-core
          cppcheck clang-tidy)
optional=(chromium)

is_installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=()
for p in "${packages[@]}"; do
	is_installed "$p" || missing+=("$p")
done
missing_optional=()
for p in "${optional[@]}"; do
	is_installed "$p" || missing_optional+=("$p")
done
if [ ${#missing[@]} -eq 0 ] && [ ${#missing_optional[@]} -eq 0 ]; then
	exit 0
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || {
		echo "install-deps: need root (or sudo) to install: ${missing[*]} ${missing_optional[*]}" >&2
		exit 1
	}
	as_root=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
if [ ${#missing[@]} -ne 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ${#missing_optional[@]} -ne 0 ]; then
	echo "install-deps: installing ${missing_optional[*]}"
	if ! "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing_optional[@]}" \
		>/dev/null; then
		echo "install-deps: WARNING: could not install ${missing_optional[*]}:" \
		     "the HTML report will not be opened in a browser (test e2e_html is skipped)" >&2
	fi
fi
