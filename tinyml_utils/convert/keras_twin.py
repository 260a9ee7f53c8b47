"""The one torch → Keras weight copy: a trained :class:`~tinyml_utils.models.VisionCNN` (any
channel counts, e.g. channel-pruned) as a Keras model with the same numbers, for the TFLite route.

Traps handled here: conv kernels are OIHW in PyTorch and HWIO in Keras; batch norm needs γ, β,
the running mean and variance *and* PyTorch's ε (1e-5; Keras defaults to 1e-3); the dense kernel
is transposed.
"""
from __future__ import annotations

from ..models.keras import vision_cnn_keras


def keras_from_torch(torch_model, keras_model):
    """Copy a VisionCNN's weights into its Keras twin (layers named ``conv{i}``, ``bn{i}``,
    ``logits``; Keras 3 or tf_keras). Returns ``keras_model``."""
    from torch import nn

    convs = [m for m in torch_model.modules() if isinstance(m, nn.Conv2d)]
    bns = [m for m in torch_model.modules() if isinstance(m, nn.BatchNorm2d)]
    lin = [m for m in torch_model.modules() if isinstance(m, nn.Linear)][-1]
    for i, (c, b) in enumerate(zip(convs, bns)):
        keras_model.get_layer(f"conv{i + 1}").set_weights([c.weight.detach().permute(2, 3, 1, 0).numpy()])
        bn = keras_model.get_layer(f"bn{i + 1}")
        bn.epsilon = b.eps
        bn.set_weights([t.detach().numpy() for t in (b.weight, b.bias, b.running_mean, b.running_var)])
    keras_model.get_layer("logits").set_weights([lin.weight.detach().T.numpy(), lin.bias.detach().numpy()])
    return keras_model


def keras_twin(model, keras=None, batch_size: int | None = 1, image_hw=(28, 28)):
    """A Keras twin of a trained VisionCNN (any width or channel counts) with its weights copied;
    NHWC input, logits out. ``keras``: the Keras module (default Keras 3; ``tf_keras`` for tfmot).
    ``batch_size=1`` fixes the batch, what a TFLite file for a device wants."""
    from torch import nn

    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linear = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    km = vision_cnn_keras(convs[0].out_channels, num_classes=linear.out_features, keras=keras,
                          batch_size=batch_size, input_shape=(*image_hw, convs[0].in_channels),
                          channels=[c.out_channels for c in convs])
    return keras_from_torch(model, km)
