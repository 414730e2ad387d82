# Students' CPU server: Jupyter's pytorch-notebook (CPU build), nbgrader's student side, `graders`.
# Build from the repository root: docker compose -f docker/compose.yaml --profile images build
ARG BASE_IMAGE=quay.io/jupyter/pytorch-notebook:2026-08-24
FROM ${BASE_IMAGE}

# nbgrader and the hub's single-user server at the versions the hub runs
RUN pip install --no-cache-dir nbgrader==0.9.6 jupyterhub==6.1.1 \
 && jupyter labextension disable @jupyter/nbgrader:formgrader @jupyter/nbgrader:create-assignment \
      @jupyter/nbgrader:course-list \
 && fix-permissions "${CONDA_DIR}"

# The check library and data generators, without their dependencies (the image has them).
COPY --chown=${NB_UID}:${NB_GID} pyproject.toml README.md /tmp/graders/
COPY --chown=${NB_UID}:${NB_GID} graders/ /tmp/graders/graders/
RUN pip install --no-cache-dir --no-deps /tmp/graders && rm -rf /tmp/graders

# nbgrader on the hub (the exchange service's client, JupyterHub groups, student id) and the student
# server's settings:
# two folders of Jupyter's config path, as JUPYTER_CONFIG_PATH gives them to the embedded hub's servers
COPY graders/hub/jupyter_config/common/ /usr/local/etc/jupyter/
COPY graders/hub/jupyter_config/student/ /etc/jupyter/

WORKDIR /home/${NB_USER}
