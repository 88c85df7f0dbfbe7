"""``breastmri <stage>``: run one pipeline stage with its ``params.yaml`` sections; ``breastmri profile <name>``.

    breastmri orient                          # the stage's default sections of ./params.yaml
    breastmri train --sections train_lesion   # another section set (dvc.yaml names each stage's)
    breastmri infer --params my_params.yaml --report   # through the stage's notebook: executed copy + HTML report
    dvc exp run $(breastmri profile gpu)      # a named profile as `dvc exp run -S` options

Errors end as one line ``error: <file>: <problem>`` and exit status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys
from pathlib import Path

from breastmri.data.errors import DataError
from breastmri.stages import STAGES


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="breastmri", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    commands = parser.add_subparsers(dest="command", required=True, metavar="<stage>")
    for name in STAGES:
        module = importlib.import_module(f"breastmri.stages.{name}")
        sub = commands.add_parser(name, help=module.__doc__.splitlines()[0], description=module.__doc__)
        sub.add_argument("--params", type=Path, default=Path("params.yaml"), help="default: %(default)s")
        sub.add_argument("--sections", nargs="+", help=f"params sections, merged in order (default: "
                                                       f"{' '.join(module.Config.SECTIONS)})")
        sub.add_argument("--report", action="store_true",
                         help=f"run through {module.NOTEBOOK}: executed notebook and HTML report under --reports")
        sub.add_argument("--reports", type=Path, default=Path("reports"), help="default: %(default)s")
        sub.add_argument("--name", help="name of the report copies (default: the notebook's stem)")
    profile = commands.add_parser("profile", help="a named set of overrides as `dvc exp run -S` options")
    profile.add_argument("name", help="profile name, e.g. gpu")
    profile.add_argument("--params", type=Path, default=Path("params.yaml"))
    return parser


def run_stage(name: str, params: Path, sections: list[str] | None = None, report: bool = False,
              reports: Path = Path("reports"), report_name: str | None = None) -> str:
    """Run stage ``name``; return the line the command prints."""
    module = importlib.import_module(f"breastmri.stages.{name}")
    config = module.Config.from_params(params, sections)
    if report:
        from breastmri.pipeline.notebook import run_notebook

        out_nb, out_html = run_notebook(module.NOTEBOOK, config.as_dict(), params, reports, report_name)
        return f"wrote {out_nb} and {out_html}"
    return module.describe(module.run(config))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "profile":
            from breastmri.pipeline.params import load_params
            from breastmri.pipeline.profile import profile_overrides, set_options

            line = shlex.join(set_options(profile_overrides(load_params(args.params), args.name, args.params)))
        else:
            line = run_stage(args.command, args.params, args.sections, args.report, args.reports, args.name)
    except DataError as exc:  # a failed report notebook too (StageError)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
