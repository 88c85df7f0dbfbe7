"""Network architectures."""

from breastmri.model.unet import UNet, build_model, count_parameters, published_config

__all__ = ["UNet", "build_model", "count_parameters", "published_config"]
