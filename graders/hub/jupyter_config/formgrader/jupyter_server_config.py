"""The formgrader service of a course (graders.hub.config.formgrader_service).

- The lab shows the formgrader in an iframe. Since JupyterHub 4.1 every server sends
  `frame-ancestors 'none'` and the iframe stays blank (nbgrader#1870). This service, and only
  it, allows being framed by its own origin again; students' servers keep JupyterHub's default.
- A strict Content-Security-Policy on the formgrader's pages (graders.hub.formgrader_csp): only
  nbgrader's own scripts run there, never a student's.
- The TA guard: members of the course's instructors group have all of nbgrader's powers; every
  other grader (TAs) may read, grade and comment, but not change assignments, points, releases.
"""

c = get_config()  # noqa: F821
c.ServerApp.tornado_settings = {"headers": {"Content-Security-Policy": "frame-ancestors 'self'"}}
c.ServerApp.jpserver_extensions.update({"graders.hub.ta_guard": True, "graders.hub.formgrader_csp": True})
