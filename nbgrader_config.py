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

# Feedback: nbgrader's, minus the hidden tests (restored for grading, they would otherwise be
# printed in every student's feedback: jupyter/nbgrader#917). The checks' own outputs never
# quote them (graders.checks.runner).
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import ClearHiddenTests, GetGrades  # noqa: E402

from graders.grading.feedback import FeedbackSummary  # noqa: E402

# FeedbackSummary: a table and chart at the top of each feedback notebook (score per cell,
# the checks that failed with their messages, timeouts and crashes, TA comments).
c.GenerateFeedback.preprocessors = [GetGrades, FeedbackSummary, ClearHiddenTests, CSSHTMLHeaderPreprocessor]

# TA review in the formgrader: the model answer and rubric from source/ under each answer.
c.HTMLExporter.preprocessors = ["graders.grading.review.RubricForTAs", "graders.grading.sanitize.SanitizeOutputs"]
c.RubricForTAs.course_root = here
# No student HTML or JavaScript runs in the formgrader or in feedback: both render with this
# exporter; sanitised with our stricter filter (graders/grading/sanitize.py).
c.HTMLExporter.sanitize_html = True
c.HTMLExporter.filters = {"clean_html": "graders.grading.sanitize.clean_html",
                          "markdown2html": "graders.grading.sanitize.markdown2html"}

# Late policy: 10 % of the notebook's score per started day late (after a 15-minute grace and the
# student's extension, `graders extend`), at most 50 %. Due dates: `graders due ASSIGNMENT DATE`.
c.AssignLatePenalties.plugin_class = "graders.grading.adjustments.LatePenalty"
c.LatePenalty.percent_per_day = 10
c.LatePenalty.max_percent = 50
c.LatePenalty.grace_minutes = 15

# Grading on a cluster (graders autograde ASSIGNMENT --engine slurm|kubernetes): what grading one
# submission may use, per assignment (graders/grading/engine.py); a GPU assignment's tasks ask for
# --gres=gpu:N (Slurm) or nvidia.com/gpu: N (Kubernetes). Time: each notebook's budget below, plus a margin.
c.GradingResources.cpus = 2
c.GradingResources.memory_gb = 8
c.GradingResources.per_assignment = {}   # e.g. {"class09_project": {"gpus": 1, "cpus": 4, "memory_gb": 16}}
# Slurm (graders/grading/slurm.py): c.SlurmGrading.partition, account, qos, submissions_per_task (4),
# max_running (64), gpu_gres ("gpu:{gpus}"), python (the nodes' Python with graders installed).
# Kubernetes (graders/grading/kubernetes.py): c.KubernetesGrading.namespace, images, course claim, secrets.

# Grading runs student code through our Execute step instead of nbgrader's: the kernel in a
# sandbox, a time budget per cell and per notebook, recovery from a dead or hung kernel,
# tamper evidence (graders/grading/execute.py).  The rest of nbgrader's pipeline is unchanged.
# GRADERS_PLAIN_NBGRADER=1 keeps nbgrader's own pipeline (the benchmark's baseline).
if os.environ.get("GRADERS_PLAIN_NBGRADER") != "1":
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (
        AssignLatePenalties, CheckCellMetadata, IgnorePattern, LimitOutput, SaveAutoGrades,
    )

    from graders.grading.execute import SandboxedExecute

    c.Autograde.autograde_preprocessors = [
        SandboxedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
        AssignLatePenalties, CheckCellMetadata,
    ]
    # auto: the local sandbox (bubblewrap, limits, no network) where the host can run it.
    c.SandboxedExecute.sandbox = os.environ.get("GRADERS_SANDBOX", "auto")
    # Without a sandbox, student code is refused unless told explicitly (graders autograde
    # --unconfined; the demo, whose students are our own code, says so when it does).
    c.SandboxedExecute.allow_unconfined = os.environ.get("GRADERS_ALLOW_UNCONFINED") == "1"
    c.SandboxedExecute.course_root = here
    c.SandboxedExecute.check_timeout = 120     # a tests cell
    c.SandboxedExecute.cell_timeout = 300      # student code and training cells
    c.SandboxedExecute.submission_timeout = 1200
else:
    c.Execute.timeout = 300
