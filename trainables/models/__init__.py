"""The paper's models: MBConv blocks, the Table 7 classifiers, the UNet denoiser and the joint models."""
from .blocks import MBConv, SqueezeExcite
from .classifier import CLASSIFIER_PRESETS, NoisyClassifier, build_classifier
from .factory import build_model, check_model_input, model_label, paper_unet_name
from .joint import JOINT_MODES, IntegratedJoint, JointOutput, SequentialJoint
from .unet import UNET_PRESETS, UNet, unet_hyperparameters

__all__ = ["MBConv", "SqueezeExcite", "CLASSIFIER_PRESETS", "NoisyClassifier", "build_classifier",
           "build_model", "check_model_input", "model_label", "paper_unet_name", "JOINT_MODES", "IntegratedJoint", "JointOutput",
           "SequentialJoint", "UNET_PRESETS", "UNet", "unet_hyperparameters"]
