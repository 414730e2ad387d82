"""The hub tier: JupyterHub configured for the course on every tier (embedded, Docker, Kubernetes).

- ``settings``: the roster (courses, instructors, TAs, students) and where the hub keeps its state;
- ``config``: ``configure_hub(c, settings, tier)``, the one JupyterHub configuration;
- ``auth``: one identity per person (roster credentials, sign-up with approval, LTI 1.3);
- ``confine`` and ``spawner``: on the embedded hub, each person's server as their own account,
  confined, and the formgrader as the course folder's owner;
- ``exchange``: nbgrader's exchange as a service of the hub (no shared folder);
- ``ta_guard``: the formgrader's server extension that leaves TAs grading only;
- ``formgrader_csp``: the formgrader's strict Content-Security-Policy;
- ``gpu``: one card per GPU user under DockerSpawner;
- ``embedded``: ``graders hub``, JupyterHub on this machine; ``client`` and ``load``: its REST API.
"""
