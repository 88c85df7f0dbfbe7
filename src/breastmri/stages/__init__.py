"""One module per ``dvc.yaml`` stage, in pipeline order.

Each holds ``Config`` (a frozen :class:`~breastmri.stages.config.StageConfig`: exactly the keys of its
``params.yaml`` sections, no defaults), ``NOTEBOOK`` (the notebook that runs it as a report), ``run(config) ->
summary`` and ``describe(summary) -> str`` (the command's one-line result). Heavy libraries are imported inside
``run``, so listing the stages stays fast."""

STAGES = ("synthesize", "validate", "eda", "orient", "build_hdf5", "train", "threshold", "infer", "correlate",
          "infer_lesion", "real_data", "transfer")
