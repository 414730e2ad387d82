#!/usr/bin/env bash
# Build a small grading image from scratch, for the Docker sandbox tests on machines that can
# run a Docker engine but cannot pull images: debootstrap a Debian root file system, add a
# Python venv with ipykernel, numpy, pytest, scikit-learn and this repository's `graders`,
# then `docker import` it. (The course's real notebook images are in docker/.)
#
#   docker/build-test-image.sh [TAG]        (default tag: graders-test:bookworm)
#   GRADERS_TEST_DOCKER=1 .venv/bin/python -m pytest tests/test_sandbox_docker.py
#
# A Docker engine on such a machine: apt-get install docker.io debootstrap, then
#   dockerd --iptables=false --bridge=none --storage-driver=vfs &
set -euo pipefail
tag=${1:-graders-test:bookworm}
repo=$(cd "$(dirname "$0")/.." && pwd)
pip=${PIP:-$repo/.venv/bin/pip}
rootfs=$(mktemp -d)
chmod 755 "$rootfs"   # it becomes the image's /: the kernel user must traverse it
trap 'rm -rf "$rootfs"' EXIT
command -v debootstrap >/dev/null || { echo "needs debootstrap: apt-get install debootstrap" >&2; exit 2; }
debootstrap --variant=minbase --include=python3,python3-venv bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
chroot "$rootfs" python3 -m venv /opt/venv
# wheels are fetched by the host's pip (its index and certificates), installed offline inside
packages=(ipykernel==7.4.0 numpy==2.4.6 pytest==9.2.0 scikit-learn==1.9.1)
"$pip" download -q -d "$rootfs/tmp/wheels" --only-binary=:all: "${packages[@]}"
env -u PIP_FIND_LINKS chroot "$rootfs" /opt/venv/bin/pip install -q --no-index --find-links /tmp/wheels "${packages[@]}"
cp -r "$repo/graders" "$rootfs/opt/venv/lib/python3.11/site-packages/"   # pure Python
find "$rootfs/opt/venv/lib/python3.11/site-packages/graders" -name __pycache__ -prune -exec rm -rf {} +
ln -sf /opt/venv/bin/python "$rootfs/usr/local/bin/python"
rm -rf "$rootfs/tmp/wheels"
tar -C "$rootfs" -c . | docker import -c 'ENV PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin' - "$tag" >/dev/null
echo "built $tag"
