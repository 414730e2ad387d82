"""nbgrader configuration of the course (embedded default: this folder, SQLite gradebook).

`graders` reads the same file, so `nbgrader …` commands and `graders …` commands agree.
"""

import os

c = get_config()  # noqa: F821  (injected by traitlets)

here = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "dl-pytorch"
c.CourseDirectory.root = here
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
# SQLite by default; a shared Postgres gradebook for several graders via $GRADERS_DB_URL.
c.CourseDirectory.db_url = os.environ.get("GRADERS_DB_URL", f"sqlite:///{os.path.join(here, 'gradebook.db')}")
# Never copy caches or checkpoints into releases or submissions.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*"]

# What students see in place of a solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Every cell of the course's reference solutions runs in seconds; training cells stay
# well under this.  A cell past it is interrupted and scores 0 on its own.
c.Execute.timeout = 120
# Cell outputs in autograded notebooks and feedback are capped (runaway prints).
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100
