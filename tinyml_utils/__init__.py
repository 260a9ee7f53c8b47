"""tinyml_utils: the helper package shared by every chapter of the course, in layers that import only
the ones below them (ARCHITECTURE.md draws them)."""
from __future__ import annotations

from .core.env import seed_everything, versions

__version__ = "0.1.0"
__all__ = ["seed_everything", "versions", "__version__"]
