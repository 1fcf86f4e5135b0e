"""torchvision's image networks by name (``resnet18``, ``mobilenet_v3_small``, …), for fine-tuning.

torchvision is optional (extra ``trainlab[vision]``) and imported only when one of these models is
built, so the names are always listed; without torchvision a recipe naming one fails with a one-line
error that gives the pip command. ``weights`` is a torchvision weights name (``DEFAULT``,
``IMAGENET1K_V1``, …): torchvision downloads the file once when a network is there and caches it
under ``$TORCH_HOME``. To start from a file already on disk, use ``model.init_from: FILE.safetensors``.
With weights the network keeps its pretrained layers and gets a new head for the data's classes
(:func:`trainlab.nn.transfer.replace_head`).

These factories only call torchvision; this module is not exercised by trainlab's test suite on
machines where torchvision cannot be installed beside the installed torch (the tests that build a
network skip there).
"""
from __future__ import annotations

from torch import nn

from trainlab.nn.transfer import head_name, replace_head
from trainlab.registry import models

INSTALL = 'pip install "trainlab[vision]" (torchvision built for your torch version)'


def _torchvision_models():
    try:
        import torchvision.models as tvm
    except Exception as e:  # noqa: BLE001  (missing, or built for another torch: any import failure)
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise ValueError(f"torchvision models need torchvision, which does not import here ({first}); {INSTALL}") from None
    return tvm


def _build(name: str, n_outputs: int, weights: str | None) -> nn.Module:
    tvm = _torchvision_models()
    if weights is None:
        return tvm.get_model(name, weights=None, num_classes=n_outputs)
    try:
        model = tvm.get_model(name, weights=weights)  # the builder checks the name (WeightsEnum.verify)
    except (ValueError, KeyError) as e:
        known = ", ".join(["DEFAULT", *(w.name for w in tvm.get_model_weights(name))])
        raise ValueError(f"weights: '{weights}' is not a weights name of {name} ({e}); known: {known}") from None
    head = model.get_submodule(head_name(model))
    if getattr(head, "out_features", n_outputs) != n_outputs:
        replace_head(model, n_outputs)
    return model


def _register(name: str, summary: str) -> None:
    def factory(input_shape: tuple[int, ...], n_outputs: int, weights: str | None = None,
                activation: str | dict = "relu") -> nn.Module:
        if activation != "relu":
            raise ValueError(f"{name} keeps torchvision's own activations; remove model.activation")
        return _build(name, n_outputs, weights)

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = (f"torchvision's {summary} (needs torchvision); inputs (3, H, W). ``weights``: a torchvision "
                       "weights name (DEFAULT, IMAGENET1K_V1, …; downloaded once), the head then replaced for the "
                       "data's classes; null: random initialization.")
    models.register(name)(factory)


for _name, _summary in (("resnet18", "ResNet-18 (He et al. 2016; 11.7 M parameters, head fc)"),
                        ("resnet34", "ResNet-34 (21.8 M parameters, head fc)"),
                        ("resnet50", "ResNet-50 (25.6 M parameters, head fc)"),
                        ("mobilenet_v3_small", "MobileNetV3-Small (Howard et al. 2019; 2.5 M parameters)"),
                        ("mobilenet_v3_large", "MobileNetV3-Large (5.5 M parameters)"),
                        ("efficientnet_b0", "EfficientNet-B0 (Tan & Le 2019; 5.3 M parameters)")):
    _register(_name, _summary)
