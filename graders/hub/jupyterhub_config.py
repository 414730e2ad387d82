"""JupyterHub configuration of the embedded hub (`graders hub`): processes on this machine.

docker/jupyterhub_config.py is the same with tier "docker"; Zero to JupyterHub's hub.extraConfig
calls it with tier "kubernetes".
"""

from graders.hub.config import configure_hub
from graders.hub.settings import settings_from_env

configure_hub(get_config(), settings_from_env(), "local")  # noqa: F821
