"""JupyterHub configuration of the Docker tier (docker/compose.yaml): DockerSpawner, CPU and GPU
images, one card per GPU user. The same module as the embedded hub (graders/hub/config.py); only
the spawner differs. Everything else comes from the environment set in compose.yaml."""

from graders.hub.config import configure_hub
from graders.hub.settings import settings_from_env

configure_hub(get_config(), settings_from_env(), "docker")  # noqa: F821
