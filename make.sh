#!/usr/bin/env bash
# The README's entry point: sets up the machine (scripts/bootstrap, which installs make itself
# among the rest) and then runs make with the same arguments. `./make.sh test` works on a Debian
# that has nothing but bash and apt; once set up, plain `make test` does the same.
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap
exec make VOLT_BOOTSTRAPPED=1 "$@"
