"""JupyterHub configuration of the Slurm tier: students' servers are batch jobs on the cluster
(graders.hub.slurm). Run the hub on a login node: ``jupyterhub -f <this file>``, with
$GRADERS_HUB_ROSTER and the rest of graders.hub.settings in the environment; profiles, partition
and the nodes' Python environment are ``c.CourseSlurmSpawner.*`` (add them below, or in a file
that loads this one with ``load_subconfig``).
"""

from graders.hub.config import configure_hub
from graders.hub.settings import settings_from_env

configure_hub(get_config(), settings_from_env(), "slurm")  # noqa: F821
