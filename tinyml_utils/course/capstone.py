"""The capstone's budget (``book/capstone.md``) and the self-check that says which line a keyword spotter meets.
Trap: a hop's time is estimated from the measured instruction count at an ASSUMED cycles per instruction."""
from __future__ import annotations

from dataclasses import dataclass

from ..deploy import devices


@dataclass(frozen=True)
class Budget:
    """What the keyword pipeline (front end for one hop + one inference) must meet on ``device``."""

    device: str = "Cortex-M4 MCU"      # a name in deploy.devices.DEVICE_PROFILES
    hop_ms: float = 40.0               # a new decision every 40 ms (chapter 08's stream)
    max_duty: float = 0.5              # at most half the core: the rest is the application's
    cpi: float = 1.0                   # ASSUMED cycles per instruction (a board measures the real one)
    min_int8_accuracy: float = 0.85    # clip accuracy of the deployed int8 file on unseen voices


BUDGET = Budget()


def check_budget(*, instructions_per_hop: int, flash_bytes: int, sram_bytes: int, int8_accuracy: float,
                 budget: Budget = BUDGET) -> bool:
    """Print one ✓/✗ line per budget line; True when all hold.

    ``instructions_per_hop``: averaged per hop (a model run every k-th hop counts 1/k); ``flash_bytes``
    (the ELF's: generated C needs no interpreter) and ``sram_bytes`` from ``ModelOnCore.memory()``."""
    dev = devices.profile(budget.device)
    busy_ms = 1e3 * instructions_per_hop * budget.cpi / dev.clock_hz
    duty = busy_ms / budget.hop_ms
    lines = [
        (duty <= budget.max_duty,
         f"time (estimated, CPI {budget.cpi:g} assumed): {instructions_per_hop:,} instructions a hop = "
         f"{busy_ms:.1f} ms at {dev.clock_hz / 1e6:.0f} MHz = {duty:.0%} of each {budget.hop_ms:g} ms hop "
         f"(budget {budget.max_duty:.0%})",
         "run the model every second hop, prune channels, or use the SIMD kernels"),
        (flash_bytes <= dev.flash_bytes,
         f"flash: {flash_bytes:,} B of {dev.flash_bytes:,} B", "fewer or int8 weights"),
        (sram_bytes <= dev.sram_bytes, f"SRAM: {sram_bytes:,} B of {dev.sram_bytes:,} B",
         "smaller activations (fewer channels, larger strides)"),
        (int8_accuracy >= budget.min_int8_accuracy,
         f"int8 clip accuracy: {int8_accuracy:.1%} (budget ≥ {budget.min_int8_accuracy:.0%})",
         "prune less, fine-tune after pruning, or calibrate on more clips"),
    ]
    for ok, text, fix in lines:
        print(("✓ " if ok else "✗ ") + text + ("" if ok else f" — try: {fix}"))
    ok = all(ok for ok, _, _ in lines)
    print(f"{'✓ within' if ok else '✗ over'} the budget of the {dev.name}")
    return ok
