"""A model on a core: build a C program once, run many inputs without the counting hook, count a few.

>>> m = ModelOnCore(codegen.generate("dscnn_int8.tflite", variant="naive"), core="cortex-m4")
>>> y = m.predict(x_int8)              # (N, *output) int8, every input through the emulated core
>>> c = m.count(x_int8[:3])            # exact instruction counts (and per layer) of three inputs
>>> m.memory()                         # flash, static SRAM, stack high-water (bytes)
>>> m.record()                         # compiler, flags, core, variant: what every figure depends on

Counts are **instructions executed for the named compiler and flags, not cycles**. Converting to
time needs an assumed cycles per instruction (CPI) at an assumed clock: :func:`time_ms` does that
and says so in its name and arguments.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import toolchain
from .emulator import Count, Emulator


def time_ms(instructions: float, clock_hz: float, cycles_per_instruction: float = 1.0) -> float:
    """Estimated milliseconds: instructions × an ASSUMED cycles-per-instruction / an ASSUMED clock.

    An estimate (a Cortex-M's CPI depends on the instruction mix, flash wait states and
    branches); the instruction count is the measurement, the time is not.
    """
    return 1e3 * float(instructions) * float(cycles_per_instruction) / float(clock_hz)


@dataclass
class Counts:
    """Counts of several inputs: ``instructions`` per input, ``per_layer`` (inputs × layers)."""

    instructions: np.ndarray
    per_layer: np.ndarray
    stack_high_water: int

    @property
    def deterministic(self) -> bool:
        """True when every input took exactly the same number of instructions."""
        return bool(np.all(self.instructions == self.instructions[0]))


class ModelOnCore:
    """A generated C program (``.sources``, ``.input``, ``.output``, ``.layers``, ``.model_name``)
    built for ``core`` and loaded once into an :class:`~tinyml_utils.firmware.emulator.Emulator`.

    ``variant`` is the kernel variant the program was generated with (a label for records).
    ``device`` picks the device profile whose flash/SRAM sizes the linker script gets (default:
    the core's); a program that does not fit raises
    :class:`~tinyml_utils.firmware.toolchain.DoesNotFit` here.
    """

    def __init__(self, program, core: str = "cortex-m4", opt: str = "-O2", *, variant: str | None = None,
                 device: str | None = None, stack_bytes: int = 4096):
        self.program = program
        self.variant = variant or getattr(program, "variant", None) or "unknown"
        self.firmware = toolchain.build(program.sources, core, opt, device=device, stack_bytes=stack_bytes,
                                        name=f"{program.model_name}-{self.variant}")
        self.emulator = Emulator(self.firmware)
        self._in_n = int(np.prod(program.input.shape))
        self._out_n = int(np.prod(program.output.shape))

    @property
    def core(self) -> str:
        return self.firmware.core

    def _row(self, x) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype != np.int8:
            raise TypeError(f"the firmware takes int8 inputs (quantize first); got {x.dtype}")
        if x.size != self._in_n:
            raise ValueError(f"one input has {self._in_n} values ({tuple(self.program.input.shape)}), got {x.size}")
        return x.ravel()

    def predict(self, x: np.ndarray) -> np.ndarray:
        """int8 outputs of a batch of int8 inputs (N, ...), one emulated inference each, no hook."""
        x = np.asarray(x)
        batch = x.reshape(-1, self._in_n)
        out = np.empty((len(batch), self._out_n), np.int8)
        for i, row in enumerate(batch):
            out[i] = self.emulator.run(self._row(row))[: self._out_n]
        return out

    def count(self, x: np.ndarray) -> Counts:
        """Exact instruction counts (total and per layer) of each input in the batch ``x`` (slow: hooked)."""
        batch = np.asarray(x).reshape(-1, self._in_n)
        cs: list[Count] = [self.emulator.count(self._row(row)) for row in batch]
        n_layers = max((len(c.per_layer) for c in cs), default=0)
        per = np.array([c.per_layer + [0] * (n_layers - len(c.per_layer)) for c in cs], dtype=np.int64)
        return Counts(np.array([c.instructions for c in cs], dtype=np.int64), per,
                      max(c.stack_high_water for c in cs))

    def memory(self) -> dict:
        """Flash and static SRAM from the ELF's sections; the stack high-water of the counted runs (bytes).

        ``sram_bytes`` = static SRAM + stack high-water (0 until :meth:`count` has run).
        """
        fw, hw = self.firmware, self.emulator.stack_high_water
        return {"flash_bytes": fw.flash_bytes, "static_sram_bytes": fw.static_sram_bytes,
                "stack_high_water_bytes": hw, "sram_bytes": fw.static_sram_bytes + hw,
                "text_bytes": fw.sections.get(".text", 0), "rodata_bytes": fw.sections.get(".rodata", 0)}

    def record(self) -> dict:
        """What every figure of this model on this core depends on: model, variant, compiler, flags, core."""
        return {"model": self.program.model_name, "variant": self.variant, **self.firmware.record(),
                "emulator": "unicorn " + _unicorn_version(), "measure": "instructions executed (not cycles)"}


def _unicorn_version() -> str:
    from importlib.metadata import version

    return version("unicorn")
