"""MediaPipe Tasks ``ImageClassifier`` on a classifier file with metadata."""
from __future__ import annotations

import numpy as np

from .base import Runtime


class MediaPipeClassifier(Runtime):
    """MediaPipe Tasks ``ImageClassifier`` on a file from
    :func:`tinyml_utils.convert.mediapipe.mediapipe_classifier_file`, called the way an app calls
    it: one ``mp.Image`` (uint8 RGB) per ``classify``. The course's gray [0, 1] images become uint8
    RGB (``round(255 x)`` copied to 3 channels); the scores of all categories come back in class
    order (a model without softmax gives its logits). Trap: MediaPipe's Python API has no thread
    setting, so ``threads`` is ``None``."""

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
        return np.stack([self._classify(np.ascontiguousarray(im)) for im in imgs])
