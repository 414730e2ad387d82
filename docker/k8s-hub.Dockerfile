# The hub image for Zero to JupyterHub (docker/kubernetes/values.yaml): the chart's own hub image
# (KubeSpawner, the chart's configuration) plus nbgrader and `graders` for the formgrader services.
FROM quay.io/jupyterhub/k8s-hub:4.4.0

USER 0
COPY pyproject.toml README.md /tmp/graders/
COPY graders/ /tmp/graders/graders/
RUN pip install --no-cache-dir nbgrader==0.9.6 jupyterlab==4.6.6 jupyterhub-nativeauthenticator==1.3.0 jupyterhub-ltiauthenticator==1.6.3 \
 && pip install --no-cache-dir --no-deps /tmp/graders \
 && rm -rf /tmp/graders
USER 1000
