"""``graders``: thin commands over the functions of ``graders.grading`` (Otter's pattern).

    graders demo                       the whole loop on the embedded default
    graders release [ASSIGNMENT ...]   release/ from source/ (nbgrader generate_assignment)
    graders autograde ASSIGNMENT       grade submitted/ in parallel (resumes; --force regrades all;
                                       --engine slurm|kubernetes: on a cluster)
    graders grade-task ASSIGNMENT S..  grade these submissions here (what a cluster task runs)
    graders feedback ASSIGNMENT        nbgrader generate_feedback
    graders export [CSV] [--canvas R]  the gradebook as CSV, and for Canvas (ungraded work says why)
    graders report [ASSIGNMENT ...]    instructor analytics, reports/analytics.html
    graders similarity ASSIGNMENT      most similar submissions, side by side
    graders due|extend|override        due dates, per-student extensions and score overrides
    graders verify [ASSIGNMENT ...]    reference = full marks, stub = 0, wrong answers lose exactly
    graders calibrate NOTEBOOK         metric thresholds over many secret seeds, devices, thread counts
    graders check-devices              every reference with its hidden checks on CPU and CUDA, side by side
    graders bench [ASSIGNMENT ...]     a class graded by serial nbgrader and by us; the in-cell limit
    graders bench-slurm [ASSIGNMENT]   the Slurm engine against the local one on this node: overhead per submission
    graders k8s-jobs ASSIGNMENT        one grading Job per submission, as YAML for kubectl
    graders hub                        JupyterHub on this machine, a credential per person (no Docker)
    graders hub-load [--users N]       spawn N servers at once on an embedded hub: latency percentiles
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _course(args):
    from .grading.course import Course

    return Course.find(args.course)


def cmd_demo(args) -> int:
    from .grading.demo import run_demo

    result = run_demo(_course(args), args.assignments or None, workers=args.workers, progress=not args.quiet,
                      everything=args.all)
    print()
    print(result.table)
    print()
    print(f"Gradebook CSV: {result.csv}")
    print(f"Feedback:      {result.feedback}/<student>/<assignment>/*.html")
    for path in result.reports:
        print(f"Report:        {path}")
    example = sorted(result.feedback.glob("bob/*/*.html"))
    print(f"\nOpen in a browser: {example[0] if example else result.feedback} (bob's feedback) and "
          f"{next((p for p in result.reports if p.name == 'analytics.html'), 'reports/analytics.html')} "
          f"(the instructor's report); {sum(result.seconds.values()):.0f} s in all.")
    return 0


def cmd_release(args) -> int:
    from .grading.release import generate_release

    for name in generate_release(_course(args), args.assignments or None):
        print(f"released {name}")
    return 0


def cmd_autograde(args) -> int:
    from .grading.autograde import main

    if args.unconfined:  # the instructor's explicit choice: student code may run as the grader
        os.environ["GRADERS_ALLOW_UNCONFINED"] = "1"
    return main(_course(args), args.assignment, args.students or None, workers=args.workers, force=args.force,
                progress=not args.quiet, engine=args.engine)


def cmd_grade_task(args) -> int:
    from .grading.engine import task_main

    return task_main(_course(args), args.assignment, args.students, outcomes=args.outcomes)


def cmd_bench_slurm(args) -> int:
    from .grading.engine_bench import main

    return main(_course(args), args.assignment, students=args.students, cpus=args.cpus,
                per_task=tuple(args.per_task), one_node=args.one_node, progress=not args.quiet)


def cmd_feedback(args) -> int:
    result = _course(args).api.generate_feedback(args.assignment, force=True)
    print(result.get("log", ""))
    return 0 if result["success"] else 1


def cmd_export(args) -> int:
    from .grading.gradebook import export_canvas, export_csv, format_table, submission_rows

    course = _course(args)
    path = export_csv(course, Path(args.csv) if args.csv else course.root / "reports" / "grades.csv")
    print(format_table(submission_rows(course)))
    print(f"\nwrote {path}")
    if args.canvas:
        ids = {}
        if args.canvas_ids:
            import csv

            with open(args.canvas_ids, newline="") as fh:
                ids = {r["assignment"]: r["canvas_assignment_id"] for r in csv.DictReader(fh)}
        canvas = export_canvas(course, Path(args.canvas), course.root / "reports" / "canvas.csv",
                               canvas_assignment_ids=ids)
        print(f"wrote {canvas} (Canvas: Grades > Import)")
    return 0


def cmd_report(args) -> int:
    from .grading.analytics import write_report

    print(f"wrote {write_report(_course(args), args.assignments or None)}")
    return 0


def cmd_similarity(args) -> int:
    from .grading.similarity import write_report

    path, pairs = write_report(_course(args), args.assignment, top=args.top)
    for p in pairs[:args.top]:
        print(f"{p.similarity:5.2f}  {p.a} — {p.b}  ({p.shared} shared n-grams)")
    print(f"wrote {path}")
    return 0


def cmd_due(args) -> int:
    import datetime as dt

    from nbgrader.api import Gradebook

    due = dt.datetime.fromisoformat(args.date)
    if due.tzinfo is not None:  # nbgrader stores naive UTC
        due = due.astimezone(dt.timezone.utc).replace(tzinfo=None)
    with Gradebook(_course(args).db_url) as gb:
        gb.update_or_create_assignment(args.assignment, duedate=due)
    print(f"{args.assignment} is due {due:%Y-%m-%d %H:%M} UTC (regrade to apply the late policy)")
    return 0


def cmd_extend(args) -> int:
    from .grading.adjustments import grant_extension

    grant_extension(_course(args).db_url, args.assignment, args.student, args.hours, args.reason)
    print(f"{args.student} has {args.hours:g} extra hours on {args.assignment} (applied at the next autograde)")
    return 0


def cmd_override(args) -> int:
    from .grading.adjustments import Override, set_override

    set_override(_course(args).db_url, Override(args.assignment, args.student, args.notebook, args.cell,
                                                args.score, args.reason))
    print(f"{args.student}/{args.assignment}/{args.notebook}/{args.cell} = {args.score:g} "
          "(kept across regrades)")
    return 0


def cmd_verify(args) -> int:
    from .grading.verify import format_report, verify_assignment

    course = _course(args)
    failures = 0
    for name in args.assignments or course.assignments():
        variants = verify_assignment(course, name, args.notebook or None, workers=args.workers,
                                     progress=not args.quiet, bundle=args.bundle)
        print(f"== {name}")
        print(format_report(variants))
        failures += sum(bool(v.problems()) for v in variants)
    print(f"\n{'all variants graded as expected' if not failures else f'{failures} variant(s) graded unexpectedly'}")
    return 1 if failures else 0


def cmd_calibrate(args) -> int:
    from .grading.calibrate import main

    return main(Path(args.notebook), seeds=args.seeds, devices=args.device or (), perturb=args.perturb,
                workers=args.workers, margin=args.margin, progress=not args.quiet,
                reseed=args.reseed, first_seed=args.first_seed)


def cmd_check_devices(args) -> int:
    from .grading.devices import main   # light: no nbgrader, runs on a bare GPU machine

    return main(args.notebooks, devices=args.device or (), secret=args.secret, workers=args.workers,
                timeout=args.timeout, quiet=args.quiet,
                source=Path(args.course) / "source" if args.course else None)


def cmd_bench(args) -> int:
    from .grading.benchmark import main

    return main(_course(args), args.assignments or None, students=args.students, workers=args.workers,
                progress=not args.quiet)


def cmd_k8s_jobs(args) -> int:
    import yaml

    from .grading.autograde import submitted_students
    from .grading.kubernetes import manifests, tier_for

    course = _course(args)
    tier = tier_for(course, args.assignment, gpu=args.gpu, **({"kernel_image": args.image} if args.image else {}),
                    **({"namespace": args.namespace} if args.namespace else {}))
    students = args.students or submitted_students(course, args.assignment)
    print(yaml.safe_dump_all(manifests(tier, args.assignment, students), sort_keys=False), end="")
    return 0


def _embedded_hub(args, state: Path):
    from .hub.embedded import EmbeddedHub, team_from_roster

    course = _course(args)
    team = team_from_roster(Path(args.roster), course.root) if getattr(args, "roster", None) else None
    return EmbeddedHub(course.root, state, port=args.port, ip=args.ip, **({"team": team} if team else {}))


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def cmd_hub(args) -> int:
    import signal

    hub = _embedded_hub(args, Path(args.state) if args.state else _course(args).root / ".hub")
    signal.signal(signal.SIGTERM, _interrupt)      # stop the hub and its servers on SIGTERM too
    hub.start(new_credentials=tuple(args.new_credentials or ()))
    print(hub.banner())
    print(f"  log:      {hub.log_path}")
    try:
        return hub.process.wait()                  # the hub stopped by itself: its exit status
    except KeyboardInterrupt:
        print("\nstopping JupyterHub and the servers it started ...")
        return 0
    finally:
        hub.stop()


def cmd_hub_authorize(args) -> int:
    import os

    from .hub.auth import authorize_signup

    db_url = args.db_url or f"sqlite:///{Path(os.environ.get('GRADERS_HUB_STATE', '/srv/jupyterhub')) / 'jupyterhub.sqlite'}"
    if not authorize_signup(db_url, args.name):
        print(f"nobody signed up as {args.name!r} in {db_url}: sign up at /hub/signup first, then run this again")
        return 1
    print(f"{args.name} may log in now")
    return 0


def cmd_hub_load(args) -> int:
    import tempfile

    from .hub.load import spawn_many

    with tempfile.TemporaryDirectory(prefix="graders-hub-load-") as state, _embedded_hub(args, Path(state)) as hub:
        print(f"embedded hub up in {hub.started_in_s:.1f} s; spawning {args.users} servers at once ...", flush=True)
        report = spawn_many(hub.ops(), args.users, timeout_s=args.timeout)
        print(report.format())
    return 1 if report.failures else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="graders", description=__doc__.split("\n\n")[0])
    parser.add_argument("--course", help="course folder (default: found from the current folder)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)

    def workers(p):
        p.add_argument("-j", "--workers", type=int, default=None, help="parallel graders (default: cores)")

    p = sub.add_parser("demo", help="release, demo submissions, autograde, feedback, gradebook")
    p.add_argument("assignments", nargs="*", help="default: one quick assignment per part of the course")
    p.add_argument("--all", action="store_true", help="every assignment of the course")
    workers(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("release", help="generate release/ from source/")
    p.add_argument("assignments", nargs="*")
    p.set_defaults(func=cmd_release)

    p = sub.add_parser("autograde", help="grade the submissions of an assignment")
    p.add_argument("assignment")
    p.add_argument("students", nargs="*")
    p.add_argument("--force", action="store_true",
                   help="regrade everything (default: skip submissions graded since they were submitted)")
    p.add_argument("--engine", choices=("local", "slurm", "kubernetes"), default="local",
                   help="where: forked workers here (default), a Slurm job array, Kubernetes Jobs "
                        "(c.GradingResources, c.SlurmGrading, c.KubernetesGrading in nbgrader_config.py)")
    p.add_argument("--unconfined", action="store_true",
                   help="grade without a sandbox where none is available (student code runs as you: "
                        "only for code you trust)")
    workers(p)
    p.set_defaults(func=cmd_autograde)

    p = sub.add_parser("grade-task", help="grade these submissions here and record them (what a cluster task runs)")
    p.add_argument("assignment")
    p.add_argument("students", nargs="+")
    p.add_argument("--outcomes", help="folder where the driver of a cluster run reads each outcome")
    p.set_defaults(func=cmd_grade_task)

    p = sub.add_parser("feedback", help="generate feedback for an assignment")
    p.add_argument("assignment")
    p.set_defaults(func=cmd_feedback)

    p = sub.add_parser("export", help="export the gradebook as CSV (and for Canvas)")
    p.add_argument("csv", nargs="?")
    p.add_argument("--canvas", metavar="ROSTER", help="also write reports/canvas.csv; ROSTER: CSV with "
                   "student_id,name,canvas_id,sis_user_id,sis_login_id,section")
    p.add_argument("--canvas-ids", metavar="CSV", help="assignment,canvas_assignment_id: update those Canvas assignments")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("report", help="instructor analytics: reports/analytics.html with plots")
    p.add_argument("assignments", nargs="*")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("similarity", help="most similar pairs of submissions, code side by side")
    p.add_argument("assignment")
    p.add_argument("--top", type=int, default=10)
    p.set_defaults(func=cmd_similarity)

    p = sub.add_parser("due", help="set an assignment's due date (ISO, e.g. 2026-12-01T23:59+01:00)")
    p.add_argument("assignment")
    p.add_argument("date")
    p.set_defaults(func=cmd_due)

    p = sub.add_parser("extend", help="give a student extra hours before the late policy applies")
    p.add_argument("student")
    p.add_argument("assignment")
    p.add_argument("--hours", type=float, required=True)
    p.add_argument("--reason", default="")
    p.set_defaults(func=cmd_extend)

    p = sub.add_parser("override", help="set one cell's score for one student (survives regrades)")
    p.add_argument("student")
    p.add_argument("assignment")
    p.add_argument("notebook")
    p.add_argument("cell", help="the graded cell's grade_id")
    p.add_argument("score", type=float)
    p.add_argument("--reason", required=True, help="shown to the student")
    p.set_defaults(func=cmd_override)

    p = sub.add_parser("verify", help="check an assignment's tests against reference, stub and wrong answers")
    p.add_argument("assignments", nargs="*")
    p.add_argument("--notebook", action="append", help="only this notebook (repeatable)")
    p.add_argument("--bundle", action="store_true", help="grade independent wrong answers together (faster; "
                   "a bundle that does not add up is regraded one by one)")
    workers(p)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("calibrate", help="metrics of the reference over many secret seeds")
    p.add_argument("notebook")
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--margin", type=float, default=0.02, help="target = worst seed minus this")
    p.add_argument("--device", action="append", choices=("cpu", "cuda"),
                   help="calibrate on this device (repeatable; default: every device here)")
    p.add_argument("--perturb", choices=("spread", "all", "none"), default="spread",
                   help="threads 1/2/4 x deterministic algorithms on/off: one setting per seed in turn "
                        "(spread, default), every setting for every seed (all, 6x the runs), or none")
    p.add_argument("--reseed", action="store_true",
                   help="run i adds i to every torch.manual_seed: another random stream (dropout masks, "
                        "initial weights), as on another device; finds thresholds that hold for one lucky draw only")
    p.add_argument("--first-seed", type=int, default=0, help="secrets calibration-N from this N on")
    workers(p)
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("check-devices", help="every reference notebook with its hidden checks on each device "
                       "(CPU, CUDA when visible): time and score side by side; exit 1 if any loses points")
    p.add_argument("notebooks", nargs="*", help="assignments or assignment/notebook (default: all)")
    p.add_argument("--device", action="append", help="cpu, cuda (repeatable; default: every device here)")
    p.add_argument("--secret", default="check-devices", help="the grading secret (the same on every machine)")
    p.add_argument("--timeout", type=float, default=1200, help="seconds a notebook may take")
    workers(p)
    p.set_defaults(func=cmd_check_devices)
    p = sub.add_parser("k8s-jobs", help="Kubernetes Job manifests: one grading Job per submission")
    p.add_argument("assignment")
    p.add_argument("students", nargs="*")
    p.add_argument("--namespace", help="default: c.KubernetesGrading.namespace")
    p.add_argument("--image", help="the notebook image the kernels run in")
    p.add_argument("--gpu", action="store_true", help="grade on a GPU (nvidia.com/gpu: 1 per Job; default: "
                   "the assignment's c.GradingResources)")
    p.set_defaults(func=cmd_k8s_jobs)

    def hub_address(p, port):
        p.add_argument("--port", type=int, default=port)
        p.add_argument("--ip", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")

    p = sub.add_parser("hub", help="JupyterHub on this machine: demo accounts, formgrader, no Docker")
    hub_address(p, 8000)
    p.add_argument("--state", help="hub database, credentials, exchange, homes, log (default: COURSE/.hub)")
    p.add_argument("--roster", help="who teaches and takes the course (YAML as docker/roster.yaml; "
                   "default: demo accounts instructor, ta, alice, bob, carol)")
    p.add_argument("--new-credentials", nargs="+", metavar="NAME", help="replace these people's credentials")
    p.set_defaults(func=cmd_hub)

    p = sub.add_parser("hub-authorize", help="Docker/Kubernetes tiers: approve a pending sign-up from the machine "
                       "(the first instructor's; the instructors approve everyone else at /hub/authorize)")
    p.add_argument("name")
    p.add_argument("--db-url", help="the hub's database (default: $GRADERS_HUB_STATE/jupyterhub.sqlite)")
    p.set_defaults(func=cmd_hub_authorize)

    p = sub.add_parser("hub-load", help="spawn-latency percentiles: N servers at once on an embedded hub")
    hub_address(p, 8765)
    p.add_argument("--users", type=int, default=24)
    p.add_argument("--timeout", type=float, default=300.0, help="seconds a server may take to be ready")
    p.set_defaults(func=cmd_hub_load)

    p = sub.add_parser("bench", help="a class graded by serial stock nbgrader and by us, against the in-cell limit")
    p.add_argument("assignments", nargs="*", help="default: the demo's subset (one assignment per part)")
    p.add_argument("--students", type=int, default=24, help="submissions per assignment (the reference's)")
    workers(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("bench-slurm", help="the Slurm engine against the local engine, same submissions, this node")
    p.add_argument("assignment", nargs="?", help="default: the first assignment")
    p.add_argument("--students", type=int, default=12, help="copies of the reference submission")
    p.add_argument("--cpus", type=int, default=1, help="cores per submission (both engines run cores/cpus at once)")
    p.add_argument("--per-task", type=int, nargs="+", default=[1, 4], help="submissions per array task, each tried")
    p.add_argument("--one-node", action="store_true", help="start a throwaway one-node cluster and PostgreSQL "
                   "here (root; apt-get install slurm-wlm slurmdbd munge mariadb-server postgresql)")
    p.set_defaults(func=cmd_bench_slurm)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        print(f"graders {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
