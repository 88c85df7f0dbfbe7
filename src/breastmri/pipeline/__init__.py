"""Running stages: parameters from ``params.yaml`` and papermill execution of the stage notebooks."""
