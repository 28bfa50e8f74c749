"""Feature extractors returning stride-8 feature maps."""

from siamlightning.models.backbones.alexnet import AlexNetV1

__all__ = ["AlexNetV1"]
