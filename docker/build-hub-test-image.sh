#!/usr/bin/env bash
# Build a small students' server image for the hub's real-engine test, on machines that can run a
# Docker engine but cannot pull: the grading test image (build-test-image.sh) plus JupyterHub's
# single-user server, JupyterLab and nbgrader at the versions of requirements.txt, and the
# student-side Jupyter configuration of graders/hub/jupyter_config. (The course's real images are
# notebook-cpu.Dockerfile and notebook-gpu.Dockerfile.)
#
#   docker/build-test-image.sh && docker/build-hub-test-image.sh [TAG]   (default: graders-hub-test:bookworm)
#   GRADERS_TEST_DOCKER=1 .venv/bin/python -m pytest tests/test_hub_docker.py -k real_engine
set -euo pipefail
tag=${1:-graders-hub-test:bookworm}
base=${BASE:-graders-test:bookworm}
repo=$(cd "$(dirname "$0")/.." && pwd)
pip=${PIP:-$repo/.venv/bin/pip}
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
docker image inspect "$base" >/dev/null 2>&1 || { echo "needs $base: run docker/build-test-image.sh first" >&2; exit 2; }
pins() { grep -iE "^($(IFS='|'; echo "$*"))==" "$repo/requirements.txt"; }
mapfile -t packages < <(pins jupyterhub jupyterlab nbgrader notebook)
python_version=$(docker run --rm --network none "$base" python -c 'import platform; print(platform.python_version())')
# wheels are fetched by the host's pip (its index and certificates) for the image's Python,
# installed offline inside
"$pip" download -q -d "$context/wheels" --only-binary=:all: --python-version "$python_version" "${packages[@]}"
mkdir -p "$context/config"
cp -r "$repo/graders/hub/jupyter_config/common" "$repo/graders/hub/jupyter_config/student" "$context/config/"
cat > "$context/Dockerfile" <<EOF
FROM $base
COPY wheels /tmp/wheels
RUN /opt/venv/bin/pip install -q --no-index --find-links /tmp/wheels ${packages[*]} && rm -rf /tmp/wheels
COPY config/common/ /usr/local/etc/jupyter/
COPY config/student/ /etc/jupyter/
ENV PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin
CMD ["jupyterhub-singleuser", "--allow-root"]
EOF
docker build -q --network none -t "$tag" "$context" >/dev/null
echo "built $tag"
