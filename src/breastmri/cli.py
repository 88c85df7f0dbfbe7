"""``breastmri <stage>``: run one pipeline stage with its ``params.yaml`` sections; ``profile``; the nnU-Net bridge.

    breastmri orient                          # the stage's default sections of ./params.yaml
    breastmri train --sections train_lesion   # another section set (dvc.yaml names each stage's)
    breastmri infer --params my_params.yaml --report   # through the stage's notebook: executed copy + HTML report
    dvc exp run $(breastmri profile gpu)      # a named profile as `dvc exp run -S` options
    breastmri export-nnunet --mamamia_root DIR --out_dir nnUNet_raw    # Dataset501_MAMAMIA/ for nnU-Net v2
    breastmri score --mamamia_root DIR --predictions DIR --out_json scores.json   # <CASE>.nii.gz masks scored

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

#: The nnU-Net bridge's module, imported by name like the stages, and only by its commands: they write no stage's
#: output, so it is no stage's dependency (tests/pipeline/test_stage_deps.py follows this module's import statements).
BRIDGE = "breastmri.evaluation.nnunet"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="breastmri", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    commands = parser.add_subparsers(dest="command", required=True, metavar="<command>")
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
    export = commands.add_parser("export-nnunet", help="write a MAMA-MIA layout as an nnU-Net v2 raw dataset",
                                 description="Write the cases of a MAMA-MIA layout as an nnU-Net v2 raw dataset "
                                             "Dataset<ID>_<NAME>/ (imagesTr, labelsTr, the official test cases in "
                                             "imagesTs, dataset.json); a case's missing phases are zero-filled.")
    export.add_argument("--mamamia_root", type=Path, required=True)
    export.add_argument("--out_dir", type=Path, required=True,
                        help="folder of the dataset (nnU-Net's nnUNet_raw): Dataset<ID>_<NAME>/ is written in it")
    export.add_argument("--dataset_id", type=int, default=501, help="default: %(default)s")
    export.add_argument("--name", default="MAMAMIA", help="default: %(default)s")
    export.add_argument("--phases", type=int, nargs="+",
                        help="phase indices exported as channels 0, 1, ... (default: the lesion model's channels, "
                             "build_hdf5.lesion_channels of --params)")
    export.add_argument("--params", type=Path, default=Path("params.yaml"), help="default: %(default)s")
    export.add_argument("--overwrite", action="store_true", help="replace an existing dataset folder")
    score = commands.add_parser("score", help="score a folder of <CASE>.nii.gz lesion masks (nnU-Net's output)",
                                description="Score <CASE>.nii.gz lesion masks against the layout's expert "
                                            "segmentations as the infer_lesion stage scores (Dice, HD95 in mm, the "
                                            "MAMA-MIA challenge's scores); a case without a mask counts as empty.")
    score.add_argument("--mamamia_root", type=Path, required=True)
    score.add_argument("--predictions", type=Path, required=True, help="folder of <CASE>.nii.gz masks")
    score.add_argument("--out_json", type=Path, required=True, help="metrics; the per-case table beside it (.csv)")
    score.add_argument("--cases", default="all",
                       help="all (every case), or the official split's train or test cases (default: %(default)s)")
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


def export_nnunet(args: argparse.Namespace) -> str:
    """``breastmri export-nnunet``; return the line the command prints."""
    phases = args.phases  # else the lesion model's channels; the stage module by name, as the bridge (BRIDGE)
    if phases is None:
        phases = importlib.import_module("breastmri.stages.build_hdf5").Config.from_params(args.params).lesion_channels
    summary = importlib.import_module(BRIDGE).export_dataset(
        args.mamamia_root, args.out_dir, dataset_id=args.dataset_id, name=args.name, phases=phases,
        overwrite=args.overwrite)
    n_filled = sum(map(len, summary["zero_filled"].values()))
    return (f"wrote {summary['dataset']}: {summary['n_training']} training cases, {len(summary['test_cases'])} test "
            f"cases, {len(summary['phases'])} channels ({n_filled} file{'' if n_filled == 1 else 's'} zero-filled)")


def score(args: argparse.Namespace) -> str:
    """``breastmri score``; return the line the command prints."""
    metrics = importlib.import_module(BRIDGE).score_predictions(args.mamamia_root, args.predictions, args.out_json,
                                                                cases=args.cases)
    return (f"scored {metrics['n_cases']} cases ({metrics['n_missing']} without a prediction): Dice mean "
            f"{metrics['dice'].get('mean', float('nan')):.3f}, HD95 median "
            f"{metrics['hd95_mm'].get('median', float('nan')):.1f} mm, challenge performance "
            f"{metrics['challenge']['performance']:.3f}; wrote {args.out_json} and {args.out_json.with_suffix('.csv')}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "profile":
            from breastmri.pipeline.params import load_params
            from breastmri.pipeline.profile import profile_overrides, set_options

            line = shlex.join(set_options(profile_overrides(load_params(args.params), args.name, args.params)))
        elif args.command == "export-nnunet":
            line = export_nnunet(args)
        elif args.command == "score":
            line = score(args)
        else:
            line = run_stage(args.command, args.params, args.sections, args.report, args.reports, args.name)
    except DataError as exc:  # a failed report notebook too (StageError)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
