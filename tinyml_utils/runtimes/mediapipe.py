"""MediaPipe Tasks ``ImageClassifier``; what the installed wheel offers for language models."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from .base import Runtime


class MediaPipeClassifier(Runtime):
    """``ImageClassifier`` on a ``convert.mediapipe`` file, one ``mp.Image`` per ``classify`` as an app
    calls it: gray [0, 1] → uint8 RGB (``round(255 x)``); every category's score in class order.
    Trap: MediaPipe's Python API has no thread setting (``threads`` is ``None``)."""

    framework = "MediaPipe Tasks"
    fixed_threads = True
    imports = ("mediapipe",)

    def __init__(self, path, **kwargs):
        kwargs.setdefault("threads", None)
        super().__init__(path, **kwargs)

    def _load(self) -> None:
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        self._mp = mp
        opts = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_path=str(self.path)),
                                             max_results=-1)
        self.classifier = vision.ImageClassifier.create_from_options(opts)

    def close(self) -> None:
        """Release the MediaPipe graph (else its destructor may complain at interpreter exit)."""
        if getattr(self, "classifier", None) is not None:
            self.classifier.close()
            self.classifier = None
            self._loaded = False

    def _classify(self, img_u8: np.ndarray) -> np.ndarray:
        mp = self._mp
        res = self.classifier.classify(mp.Image(image_format=mp.ImageFormat.SRGB, data=img_u8))
        cats = res.classifications[0].categories
        out = np.full(max(len(cats), max((c.index for c in cats), default=-1) + 1), np.nan, np.float32)
        for c in cats:
            out[c.index] = c.score
        return out

    def _predict(self, x: np.ndarray) -> np.ndarray:
        u8 = np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)  # (N, C, H, W)
        if u8.shape[1] == 1:
            u8 = np.repeat(u8, 3, axis=1)
        imgs = np.ascontiguousarray(np.transpose(u8, (0, 2, 3, 1)))
        return np.stack([self._classify(im) for im in imgs])


def mediapipe_llm_status() -> dict:
    """The installed MediaPipe's LLM Inference API (``genai``) and text tasks (read, not imported)."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        return {"installed": False, "genai": False, "text_tasks": []}
    root = Path(list(spec.submodule_search_locations)[0]) / "tasks" / "python"
    text = sorted(p.stem for p in (root / "text").glob("*.py") if not p.stem.startswith("_"))
    return {"installed": True, "genai": (root / "genai").exists(), "text_tasks": text}
