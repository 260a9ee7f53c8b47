"""Timing claims that hold under load: the bounds the chapters assert (the stability benchmark,
:mod:`tinyml_utils.tools.stability`, checks them on stand-in models) and their shared measurements."""
from __future__ import annotations

from typing import Any

from .. import measure

#: The bounds the chapters assert (ratios: latency of the first model over the second's).
BOUNDS = {
    # ch03: a dense kernel multiplies by zeros too: the 90%-sparse .pte is not faster
    "sparse_pte_not_faster": 0.80,      # ratio sparse / dense >= this
    "sparse_tflite_not_faster": 0.75,   # ratio sparse / dense >= this (LiteRT)
    # ch03: halving the MACs of a network where compute dominates (width 32, batch 32)
    "structured_speedup": 0.80,         # ratio pruned / dense, upper end of the interval < this
    # ch11: the 8da4w language model decodes at least this many tokens/s at one thread
    "llm_decode_tok_s": 1000.0,
}


def runtime_claims(cmp: measure.Comparison, eager: str, compiled: list[str], xnnpack_pairs: dict[str, str],
                   mediapipe: str | None, litert_same_graph: str | None,
                   tflm: str | None) -> list[tuple[bool, str, str]]:
    """ch06's latency claims on one interleaved comparison, as ``(passed, text, detail)`` triples."""
    out = []
    r = {c: cmp.ratio(c, eager) for c in compiled}
    out.append((all(v.hi < 1 for v in r.values()), "compiled runtimes are faster than eager PyTorch at batch 1",
                ", ".join(f"{k}: {1 / v.estimate:.1f}x" for k, v in r.items())))
    x = {k: cmp.ratio(no, k) for k, no in xnnpack_pairs.items()}
    out.append((all(v.lo > 1 for v in x.values()), "the XNNPACK delegate makes LiteRT faster than its builtin kernels",
                ", ".join(f"{k}: {v.estimate:.1f}x" for k, v in x.items())))
    if mediapipe and litert_same_graph:
        m = cmp.ratio(mediapipe, litert_same_graph)
        out.append((m.lo > 1, "MediaPipe Tasks is slower than LiteRT on the same litert-torch graph",
                    f"{m.estimate:.1f}x slower ({m})"))
    if tflm:
        low = {n: t.low_ms for n, t in cmp.timings.items()}
        slowest = max(low, key=low.get)
        nxt = max((n for n in low if n != slowest), key=low.get)
        out.append((slowest == tflm, "TFLite Micro is the slowest runtime on this x86 host",
                    f"slowest: {slowest} ({low[slowest]:.3f} ms); next: {nxt} ({low[nxt]:.3f} ms)"))
    return out


def llm_decode(lms: dict[str, Any], **kw):
    """ch11: prefill and decode tokens/s of the exported language models, interleaved."""
    return measure.token_speed(lms, prefill_tokens=64, **{"rounds": 9, "calls": 32, **kw})
