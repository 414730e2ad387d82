"""A student's server: nbgrader's student side only, and an idle shutdown where the hub asks one
(GPU servers: $GRADERS_IDLE_SHUTDOWN_S, so a forgotten server gives its card back)."""

import os

c = get_config()  # noqa: F821
c.ServerApp.jpserver_extensions.update({
    "nbgrader.server_extensions.formgrader": False,
    "nbgrader.server_extensions.course_list": False,
})
idle = int(os.environ.get("GRADERS_IDLE_SHUTDOWN_S") or 0)
if idle:
    c.ServerApp.shutdown_no_activity_timeout = idle
    c.MappingKernelManager.cull_idle_timeout = idle
    c.MappingKernelManager.cull_interval = 60
    c.TerminalManager.cull_inactive_timeout = idle
