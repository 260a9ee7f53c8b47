"""Work-arounds for known packaging traps, each in one named place.

- :func:`mediapipe_metadata_writers`: mediapipe ≥ 0.10.30 wheels lack the small native module
  ``mediapipe.tasks.cc.metadata.python._pywrap_metadata_version`` that the metadata writers import
  (``No module named 'mediapipe.tasks.cc'``). It only reports the minimum metadata-parser version
  for the features a model's metadata uses; for the image-classifier metadata the course writes
  (labels and normalization) that version is "1.0.0". We install a stand-in module returning it.
"""
from __future__ import annotations

import sys
import types

STANDIN_METADATA_PARSER_VERSION = "1.0.0"
_MISSING = "mediapipe.tasks.cc.metadata.python._pywrap_metadata_version"


def install_mediapipe_metadata_standin() -> bool:
    """Put the stand-in in ``sys.modules`` if the real module is missing. Returns True if installed."""
    try:
        __import__(_MISSING)
        return False
    except ImportError:
        pass
    parts = _MISSING.split(".")
    for i in range(len(parts) - 1, 0, -1):  # parent packages the wheel lacks
        name = ".".join(parts[:i])
        if name in sys.modules:
            break
        try:
            __import__(name)
            break
        except ImportError:
            pkg = types.ModuleType(name)
            pkg.__path__ = []  # mark as a package
            sys.modules[name] = pkg
    mod = types.ModuleType(_MISSING)
    mod.GetMinimumMetadataParserVersion = lambda *args, **kwargs: STANDIN_METADATA_PARSER_VERSION
    mod.__doc__ = "Stand-in installed by tinyml_utils.core.compat (the mediapipe wheel lacks this module)."
    sys.modules[_MISSING] = mod
    parent = sys.modules.get(".".join(parts[:-1]))
    if parent is not None:
        setattr(parent, parts[-1], mod)
    return True


def mediapipe_metadata_writers():
    """``mediapipe.tasks.python.metadata.metadata_writers`` with the stand-in installed if needed."""
    install_mediapipe_metadata_standin()
    from mediapipe.tasks.python.metadata import metadata_writers

    return metadata_writers
