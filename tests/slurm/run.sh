#!/usr/bin/env bash
# The real-Slurm test (CI step): start a one-node Slurm cluster with one GPU, run
# tests/slurm/test_slurm.py against it, stop the daemons whatever happens.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
state=$(mktemp -d /tmp/lrrsa-slurm.XXXXXX)
trap '"$here/cluster.sh" stop "$state"' EXIT
"$here/cluster.sh" start "$state"
LRRSA_SLURM_TEST=1 python -m pytest "$here/test_slurm.py" -v -p no:cacheprovider
