#!/bin/sh
# ctest entry point: tcpmortem on every sample, compared with the recorded truth.
exec python3 "$(dirname "$0")/check_samples.py" "$@"
