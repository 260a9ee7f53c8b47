"""The one torch → Keras weight copy (VisionCNN, DSCNN, MotionCNN, dense ``nn.Sequential``), for the
TFLite route. Traps: conv kernels OIHW (OIW) → HWIO (WIO), depthwise (C, 1, kh, kw) → (kh, kw, C, 1);
batch norm needs PyTorch's ε (1e-5; Keras defaults to 1e-3); dense kernels are transposed."""
from __future__ import annotations

from ..models.keras import dense_keras, ds_cnn_keras, motion_cnn_keras, vision_cnn_keras
from ..models.torch import DSCNN, MotionCNN


def keras_from_torch(torch_model, keras_model):
    """Copy a torch model's weights into its Keras twin (layers ``conv{i}``, ``bn{i}`` in module order,
    ``dense{i}``, and ``logits`` for the last ``nn.Linear``); returns ``keras_model``."""
    from torch import nn

    convs = [m for m in torch_model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d))]
    bns = [m for m in torch_model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    lins = [m for m in torch_model.modules() if isinstance(m, nn.Linear)]
    for i, (c, b) in enumerate(zip(convs, bns)):
        if c.weight.ndim == 3:
            order = (2, 1, 0)                                    # OIW → WIO
        else:
            order = (2, 3, 0, 1) if c.groups > 1 else (2, 3, 1, 0)  # depthwise (kh, kw, C, 1); OIHW → HWIO
        keras_model.get_layer(f"conv{i + 1}").set_weights([c.weight.detach().permute(*order).numpy()])
        bn = keras_model.get_layer(f"bn{i + 1}")
        bn.epsilon = b.eps
        bn.set_weights([t.detach().numpy() for t in (b.weight, b.bias, b.running_mean, b.running_var)])
    for i, lin in enumerate(lins):
        name = "logits" if i == len(lins) - 1 else f"dense{i + 1}"
        keras_model.get_layer(name).set_weights([lin.weight.detach().T.numpy(), lin.bias.detach().numpy()])
    return keras_model


def keras_twin(model, keras=None, batch_size: int | None = 1, image_hw=None, samples: int | None = None):
    """A Keras twin of a trained course model, weights copied; ``keras``: Keras 3 by default,
    ``tf_keras`` for tfmot. Inputs: VisionCNN / DSCNN NHWC of ``image_hw`` (default (28, 28) /
    (49, 10)), MotionCNN NWC of ``samples`` (required), dense (N, features)."""
    from torch import nn

    convs = [m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d))]
    lins = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if isinstance(model, MotionCNN):
        if samples is None:
            raise ValueError("keras_twin: a MotionCNN twin needs samples= (the window length, static for TFLM)")
        km = motion_cnn_keras(convs[0].in_channels, model.classifier.out_features, keras=keras,
                              batch_size=batch_size, samples=samples, channels=[c.out_channels for c in convs])
    elif isinstance(model, nn.Sequential) and all(isinstance(m, (nn.Linear, nn.ReLU)) for m in model):
        if [type(m) for m in model] != [nn.Linear, nn.ReLU] * (len(lins) - 1) + [nn.Linear]:
            raise TypeError("keras_twin: a dense Sequential must alternate Linear and ReLU, ending in Linear")
        km = dense_keras(lins[0].in_features, [m.out_features for m in lins[:-1]], lins[-1].out_features,
                         keras=keras, batch_size=batch_size)
    elif isinstance(model, DSCNN):
        km = ds_cnn_keras(num_classes=lins[-1].out_features, keras=keras, batch_size=batch_size,
                          input_shape=(*(image_hw or (49, 10)), convs[0].in_channels),
                          channels=[c.out_channels for c in convs if c.groups == 1])
    elif any(isinstance(m, nn.Conv2d) for m in model.modules()):
        km = vision_cnn_keras(convs[0].out_channels, num_classes=lins[-1].out_features, keras=keras,
                              batch_size=batch_size, input_shape=(*(image_hw or (28, 28)), convs[0].in_channels),
                              channels=[c.out_channels for c in convs])
    else:
        raise TypeError(f"keras_twin does not know {type(model).__name__}")
    return keras_from_torch(model, km)
