"""A student's courses are their JupyterHub groups nbgrader-<course> (nbgrader's JupyterHub plugin,
through the server's own token). The formgrader keeps nbgrader's default: it serves one course."""

from nbgrader.auth import JupyterHubAuthPlugin

c = get_config()  # noqa: F821
c.Authenticator.plugin_class = JupyterHubAuthPlugin

# Submissions are filed under the hub's user name, not the server's Unix account (root in the
# embedded hub, jovyan in every container).
import os  # noqa: E402

if os.environ.get("JUPYTERHUB_USER"):
    c.CourseDirectory.student_id = os.environ["JUPYTERHUB_USER"]
