"""Feature extractors returning stride-8 feature maps."""

from siamlightning.models.backbones.mobilenet_v2 import MobileNetV2
from siamlightning.models.backbones.pysot_alexnet import PysotAlexNet, PysotAlexNetLegacy
from siamlightning.models.backbones.resnet_atrous import ResNet50Atrous
from siamlightning.models.backbones.siamfc_alexnet import SiamFCAlexNet

__all__ = ["MobileNetV2", "PysotAlexNet", "PysotAlexNetLegacy", "ResNet50Atrous", "SiamFCAlexNet"]
