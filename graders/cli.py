"""``graders``: thin commands over the functions of ``graders.grading`` (Otter's pattern).

    graders demo                       the whole loop on the embedded default
    graders release [ASSIGNMENT ...]   release/ from source/ (nbgrader generate_assignment)
    graders autograde ASSIGNMENT       grade submitted/ in parallel (resumes; --force regrades all)
    graders feedback ASSIGNMENT        nbgrader generate_feedback
    graders export [CSV]               the gradebook as CSV (ungraded work says why)
    graders verify [ASSIGNMENT ...]    reference = full marks, stub = 0, wrong answers lose exactly
    graders calibrate NOTEBOOK         metric thresholds over many secret seeds
    graders bench [ASSIGNMENT ...]     notebook times, loop total, ours vs serial nbgrader
    graders k8s-jobs ASSIGNMENT        one grading Job per submission, as YAML for kubectl
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _course(args):
    from .grading.course import Course

    return Course.find(args.course)


def cmd_demo(args) -> int:
    from .grading.demo import run_demo

    result = run_demo(_course(args), args.assignments or None, workers=args.workers, progress=not args.quiet)
    print()
    print(result.table)
    print()
    print(f"Gradebook CSV: {result.csv}")
    print(f"Feedback:      {result.feedback}/<student>/<assignment>/*.html")
    return 0


def cmd_release(args) -> int:
    from .grading.release import generate_release

    for name in generate_release(_course(args), args.assignments or None):
        print(f"released {name}")
    return 0


def cmd_autograde(args) -> int:
    from .grading.autograde import autograde

    outcomes = autograde(_course(args), args.assignment, args.students or None, workers=args.workers,
                         force=args.force, progress=not args.quiet)
    for o in outcomes:
        print(f"{o.student:<24} {o.status:<8} {o.seconds:6.1f}s  {o.message.splitlines()[-1] if o.message else ''}")
    return 1 if any(not o.graded for o in outcomes) else 0


def cmd_feedback(args) -> int:
    result = _course(args).api.generate_feedback(args.assignment, force=True)
    print(result.get("log", ""))
    return 0 if result["success"] else 1


def cmd_export(args) -> int:
    from .grading.gradebook import export_csv, format_table, submission_rows

    course = _course(args)
    path = export_csv(course, Path(args.csv) if args.csv else course.root / "reports" / "grades.csv")
    print(format_table(submission_rows(course)))
    print(f"\nwrote {path}")
    return 0


def cmd_verify(args) -> int:
    from .grading.verify import format_report, verify_assignment

    course = _course(args)
    failures = 0
    for name in args.assignments or course.assignments():
        variants = verify_assignment(course, name, args.notebook or None, workers=args.workers, progress=not args.quiet)
        print(f"== {name}")
        print(format_report(variants))
        failures += sum(bool(v.problems()) for v in variants)
    print(f"\n{'all variants graded as expected' if not failures else f'{failures} variant(s) graded unexpectedly'}")
    return 1 if failures else 0


def cmd_calibrate(args) -> int:
    from .grading.calibrate import calibrate, format_calibration

    stats = calibrate(Path(args.notebook), seeds=args.seeds, workers=args.workers, progress=not args.quiet)
    print(format_calibration(stats, margin=args.margin))
    return 0


def cmd_bench(args) -> int:
    from .grading.benchmark import run_benchmark

    result = run_benchmark(_course(args), args.assignments or None, workers=args.workers, progress=not args.quiet)
    print(result.format())
    return 0


def cmd_k8s_jobs(args) -> int:
    import yaml

    from .grading.autograde import submitted_students
    from .grading.kubernetes import GradingTier, manifests

    course = _course(args)
    tier = GradingTier(namespace=args.namespace, gpu=args.gpu,
                       **({"kernel_image": args.image} if args.image else {}))
    students = args.students or submitted_students(course, args.assignment)
    print(yaml.safe_dump_all(manifests(tier, args.assignment, students), sort_keys=False), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="graders", description=__doc__.split("\n\n")[0])
    parser.add_argument("--course", help="course folder (default: found from the current folder)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)

    def workers(p):
        p.add_argument("-j", "--workers", type=int, default=None, help="parallel graders (default: cores)")

    p = sub.add_parser("demo", help="release, demo submissions, autograde, feedback, gradebook")
    p.add_argument("assignments", nargs="*")
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
    workers(p)
    p.set_defaults(func=cmd_autograde)

    p = sub.add_parser("feedback", help="generate feedback for an assignment")
    p.add_argument("assignment")
    p.set_defaults(func=cmd_feedback)

    p = sub.add_parser("export", help="export the gradebook as CSV")
    p.add_argument("csv", nargs="?")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("verify", help="check an assignment's tests against reference, stub and wrong answers")
    p.add_argument("assignments", nargs="*")
    p.add_argument("--notebook", action="append", help="only this notebook (repeatable)")
    workers(p)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("calibrate", help="metrics of the reference over many secret seeds")
    p.add_argument("notebook")
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--margin", type=float, default=0.02, help="target = worst seed minus this")
    workers(p)
    p.set_defaults(func=cmd_calibrate)
    p = sub.add_parser("k8s-jobs", help="Kubernetes Job manifests: one grading Job per submission")
    p.add_argument("assignment")
    p.add_argument("students", nargs="*")
    p.add_argument("--namespace", default="dl-pytorch")
    p.add_argument("--image", help="the notebook image the kernels run in")
    p.add_argument("--gpu", action="store_true", help="grade on a GPU (nvidia.com/gpu: 1 per Job)")
    p.set_defaults(func=cmd_k8s_jobs)

    p = sub.add_parser("bench", help="notebook times, the loop's total, ours vs serial nbgrader")
    p.add_argument("assignments", nargs="*")
    workers(p)
    p.set_defaults(func=cmd_bench)
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
