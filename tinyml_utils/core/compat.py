"""Work-arounds for known packaging traps, each in one named place.

Trap: mediapipe ≥ 0.10.30 wheels lack ``_pywrap_metadata_version``, which the metadata writers import; a
stand-in returns "1.0.0", the minimum parser version of the image-classifier metadata the course writes.
"""
from __future__ import annotations

import sys
import types

_MISSING = "mediapipe.tasks.cc.metadata.python._pywrap_metadata_version"


def mediapipe_metadata_writers():
    """``mediapipe.tasks.python.metadata.metadata_writers``, with the stand-in installed if needed."""
    try:
        __import__(_MISSING)
    except ImportError:
        _install_standin()
    from mediapipe.tasks.python.metadata import metadata_writers

    return metadata_writers


def _install_standin() -> None:
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
    mod.GetMinimumMetadataParserVersion = lambda *args, **kwargs: "1.0.0"
    sys.modules[_MISSING] = mod
    parent = sys.modules.get(".".join(parts[:-1]))
    if parent is not None:
        setattr(parent, parts[-1], mod)
