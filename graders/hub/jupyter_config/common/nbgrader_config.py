"""nbgrader on the hub, for students' servers and the formgrader alike: the shared exchange, with
a folder per course (students may take several courses)."""

import os

c = get_config()  # noqa: F821
c.Exchange.root = os.environ.get("GRADERS_HUB_EXCHANGE", "/srv/nbgrader/exchange")
c.Exchange.path_includes_course = True
