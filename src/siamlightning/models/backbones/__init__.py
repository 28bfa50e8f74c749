"""Feature extractors returning stride-8 feature maps."""

from siamlightning.models.backbones.alexnet import AlexNetV1
from siamlightning.models.backbones.mobilenet_v2 import MobileNetV2
from siamlightning.models.backbones.pysot_alexnet import AlexNet, AlexNetLegacy
from siamlightning.models.backbones.resnet_atrous import ResNet50Atrous

__all__ = ["AlexNet", "AlexNetLegacy", "AlexNetV1", "MobileNetV2", "ResNet50Atrous"]
