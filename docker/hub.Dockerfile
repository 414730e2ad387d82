# The hub of the Docker tier: JupyterHub, DockerSpawner, the idle culler, NativeAuthenticator (and LTI 1.3),
# configurable-http-proxy, and nbgrader with `graders` for the courses' formgrader services.
# Build from the repository root: docker compose -f docker/compose.yaml build
FROM python:3.11.14-slim-bookworm

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Debian's stable Node.js for the proxy: security updates come with the release, not a pin.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm tini \
 && npm install -g --no-audit --no-fund configurable-http-proxy@5.3.0 \
 && npm cache clean --force \
 && apt-get purge -y npm && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*

WORKDIR /srv/graders
COPY requirements.txt pyproject.toml README.md ./
COPY graders/ graders/
# The exact versions of requirements.txt but torch (with NativeAuthenticator and the LTI 1.3
# authenticator): student code runs in the notebook image (the formgrader grades with
# GRADERS_SANDBOX=docker), never in the hub.
RUN grep -v '^torch==' requirements.txt > /tmp/requirements-hub.txt \
 && pip install --no-cache-dir -r /tmp/requirements-hub.txt \
 && pip install --no-cache-dir --no-deps .

COPY docker/jupyterhub_config.py /srv/jupyterhub/jupyterhub_config.py
WORKDIR /srv/jupyterhub
EXPOSE 8000
ENTRYPOINT ["tini", "--"]
CMD ["jupyterhub", "-f", "/srv/jupyterhub/jupyterhub_config.py"]
