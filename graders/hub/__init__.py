"""The hub tier: JupyterHub configured for the course on every tier (embedded, Docker, Kubernetes).

- ``settings``: the roster (courses, instructors, TAs, students) and where the hub keeps its state;
- ``config``: ``configure_hub(c, settings, tier)``, the one JupyterHub configuration;
- ``ta_guard``: the formgrader's server extension that leaves TAs grading only;
- ``gpu``: one card per GPU user under DockerSpawner;
- ``embedded``: ``graders hub``, JupyterHub on this machine; ``client`` and ``load``: its REST API.
"""
