#!/bin/sh
# Install infotrafic's third-party requirements into the image's virtualenv (/opt/venv):
#
#   sh docker/install_requirements.sh              # the core dependencies (+ setuptools, wheel)
#   sh docker/install_requirements.sh api mlflow   # what these extras add
#
# The ``archive`` extra (zipfile-deflate64, for the yearly deflate64 ZIPs) needs a C compiler: it
# ships no wheel for Python >= 3.11. The compiler is installed with apt only for that step and
# removed in the same layer, so images stay small; the core and other extras need none.
set -eu
cd "$(dirname "$0")/.."
python docker/requirements.py "$@" > /tmp/requirements.txt
echo "installing: $(tr '\n' ' ' < /tmp/requirements.txt)"

if ! grep -qi '^zipfile-deflate64' /tmp/requirements.txt; then
    if [ $# -gt 0 ]; then
        pip install -c docker/constraints.txt -r /tmp/requirements.txt
    else
        pip install -c docker/constraints.txt "setuptools>=69" wheel -r /tmp/requirements.txt
    fi
    rm -f /tmp/requirements.txt
    exit 0
fi

build_deps="gcc libc6-dev"
if ! python -c "import os, sysconfig; raise SystemExit(not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))"; then
    build_deps="$build_deps python3-dev"  # Debian's python3 keeps its headers apart
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends $build_deps
pip install -c docker/constraints.txt "setuptools>=69" wheel -r /tmp/requirements.txt
apt-get purge -y -q --auto-remove $build_deps
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /tmp/requirements.txt
