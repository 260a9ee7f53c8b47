"""A model on a core: build a C program once, run many inputs without the counting hook, count a few."""
from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import version

import numpy as np

from . import toolchain
from .emulator import Count, Emulator


def time_ms(instructions: float, clock_hz: float, cycles_per_instruction: float = 1.0) -> float:
    """ESTIMATED milliseconds: instructions × an assumed CPI / an assumed clock (Hz)."""
    return 1e3 * float(instructions) * float(cycles_per_instruction) / float(clock_hz)


@dataclass
class Counts:
    """Counts of several inputs: ``instructions`` per input, ``per_layer`` (inputs × layers)."""

    instructions: np.ndarray
    per_layer: np.ndarray
    stack_high_water: int


class ModelOnCore:
    """A generated C program built for ``core`` and loaded once into an :class:`~.emulator.Emulator`;
    raises ``toolchain.DoesNotFit`` here. ``variant`` labels the records (default: the program's)."""

    def __init__(self, program, core: str = "cortex-m4", opt: str = "-O2", *, variant: str | None = None):
        self.program = program
        self.variant = variant or program.variant
        self.firmware = toolchain.build(program.sources, core, opt, name=f"{program.model_name}-{self.variant}")
        self.emulator = Emulator(self.firmware)
        self._in_n = int(np.prod(program.input.shape))
        self._out_n = int(np.prod(program.output.shape))

    def _batch(self, x) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype != np.int8:
            raise TypeError(f"the firmware takes int8 inputs (quantize first); got {x.dtype}")
        return x.reshape(-1, self._in_n)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(N, output size) int8 outputs of N int8 inputs, one emulated inference each, no hook."""
        return np.stack([self.emulator.run(row)[: self._out_n] for row in self._batch(x)])

    def count(self, x: np.ndarray) -> Counts:
        """Exact instruction counts (total and per layer) of each input (slow: hooked)."""
        cs: list[Count] = [self.emulator.count(row) for row in self._batch(x)]
        return Counts(np.array([c.instructions for c in cs], dtype=np.int64),
                      np.array([c.per_layer for c in cs], dtype=np.int64), max(c.stack_high_water for c in cs))

    def memory(self) -> dict:
        """Bytes: flash and static SRAM from the ELF; ``sram_bytes`` = static SRAM + the stack high-water
        of the counted runs (0 until :meth:`count` has run)."""
        fw, hw = self.firmware, self.emulator.stack_high_water
        return {"flash_bytes": fw.flash_bytes, "static_sram_bytes": fw.static_sram_bytes,
                "stack_high_water_bytes": hw, "sram_bytes": fw.static_sram_bytes + hw}

    def record(self) -> dict:
        """What every figure of this model on this core depends on."""
        return {"model": self.program.model_name, "variant": self.variant, **self.firmware.record(),
                "emulator": "unicorn " + version("unicorn"), "measure": "instructions executed (not cycles)"}
