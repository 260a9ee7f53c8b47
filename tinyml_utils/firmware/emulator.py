"""Run a built Cortex-M ELF on Unicorn: buffers by symbol, exact instruction counts, stack high-water.

Traps: ``UC_HOOK_CODE`` skips condition-failed IT-block instructions, so :meth:`Emulator.count` sums basic
blocks. Unicorn's M0 also runs Armv7-M code: only the compiler flags keep an M0+ build to its instruction
set. The System Control Space (0xE000E000) is plain RAM here.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .toolchain import Firmware

_RAM_BASE = 0x20000000
_SCS_BASE = 0xE000E000
_PAINT = 0xA5
_MAX_INSTRUCTIONS = 2_000_000_000     # a run past this is a hang


@dataclass
class Count:
    """Instructions between the markers; ``per_layer[i]``: from ``marker_layer(i)`` to the next one."""

    instructions: int
    per_layer: list[int]
    stack_high_water: int


def _page(n: int) -> int:
    return (int(n) + 0xFFF) & ~0xFFF


class Emulator:
    """One ELF on a Unicorn Cortex-M (M0 for ``cortex-m0plus``, M4 for ``cortex-m4``), reset once, run many times."""

    _CPU = {"cortex-m0plus": "UC_CPU_ARM_CORTEX_M0", "cortex-m4": "UC_CPU_ARM_CORTEX_M4"}

    def __init__(self, firmware: Firmware):
        from elftools.elf.elffile import ELFFile
        from unicorn import UC_ARCH_ARM, UC_MODE_MCLASS, UC_MODE_THUMB, Uc, arm_const

        if firmware.core not in self._CPU:
            raise ValueError(f"{firmware.core} is build-only: Unicorn models no core that runs its instruction "
                             f"set (flash/SRAM from the ELF still hold); emulated cores: {sorted(self._CPU)}")
        self.firmware = firmware
        self.uc = uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB | UC_MODE_MCLASS)
        uc.ctl_set_cpu_model(getattr(arm_const, self._CPU[firmware.core]))
        with open(firmware.elf, "rb") as f:
            elf = ELFFile(f)
            self.symbols = {s.name: (int(s["st_value"]), int(s["st_size"]))
                            for s in elf.get_section_by_name(".symtab").iter_symbols() if s.name}
            segments = [(int(s["p_paddr"]), s.data()) for s in elf.iter_segments()
                        if s["p_type"] == "PT_LOAD" and s["p_filesz"]]
            flash_end = max(a + len(d) for a, d in segments if a < _RAM_BASE)
        uc.mem_map(0, _page(flash_end))
        top = self.symbols["__stack_top"][0]
        uc.mem_map(_RAM_BASE, _page(top - _RAM_BASE))
        uc.mem_map(_SCS_BASE, 0x1000)
        for addr, data in segments:
            if addr < _RAM_BASE:        # .data's load image sits in flash; the reset handler copies it
                uc.mem_write(addr, data)
        self.stack_limit, self.stack_top = self.symbols["__stack_limit"][0], top
        self._reg = arm_const
        self._sizes: dict[tuple[int, int], int] = {}
        self.stack_high_water = 0
        uc.reg_write(arm_const.UC_ARM_REG_SP, top)       # memory initialised, FPU on: that state is kept
        self._start(self._addr("Reset_Handler"), self._addr("fw_init_done"))

    def _addr(self, name: str) -> int:
        return self.symbols[name][0] & ~1

    def _start(self, begin: int, until: int) -> None:
        self.uc.emu_start(begin | 1, until, count=_MAX_INSTRUCTIONS)
        pc = self.uc.reg_read(self._reg.UC_ARM_REG_PC) & ~1
        if pc != until:
            raise RuntimeError(f"{self.firmware.elf.name}: stopped at 0x{pc:08x}, not at 0x{until:08x} "
                               f"(ran past {_MAX_INSTRUCTIONS:,} instructions, or faulted)")

    def write(self, symbol: str, values, dtype=np.int8) -> None:
        """Write ``values`` as ``dtype`` into the global ``symbol``; raises if it does not fit."""
        buf = np.ascontiguousarray(np.asarray(values).astype(dtype, copy=False)).tobytes()
        addr, size = self.symbols[symbol]
        if len(buf) > size:
            raise ValueError(f"{len(buf)} bytes do not fit {symbol!r} ({size} bytes)")
        self.uc.mem_write(addr, buf)

    def read(self, symbol: str, dtype=np.int8) -> np.ndarray:
        addr, size = self.symbols[symbol]
        return self.read_at(addr, size, dtype)

    def call(self, function: str, *args: int) -> int:
        """Call a C function with up to four int arguments (r0–r3); its int result. Trap: ``--gc-sections``
        drops a function nothing calls unless it is ``__attribute__((used, retain))``."""
        r = self._reg
        for reg, a in zip((r.UC_ARM_REG_R0, r.UC_ARM_REG_R1, r.UC_ARM_REG_R2, r.UC_ARM_REG_R3), args):
            self.uc.reg_write(reg, int(a) & 0xFFFFFFFF)
        self.uc.reg_write(r.UC_ARM_REG_SP, self.stack_top)
        self.uc.reg_write(r.UC_ARM_REG_LR, self._addr("fw_halt") | 1)
        self._start(self._addr(function), self._addr("fw_halt"))
        return int(np.int32(np.uint32(self.uc.reg_read(r.UC_ARM_REG_R0))))

    def read_at(self, address: int, nbytes: int, dtype=np.int8) -> np.ndarray:
        """``nbytes`` of memory at ``address`` as ``dtype`` (e.g. through a pointer)."""
        return np.frombuffer(bytes(self.uc.mem_read(int(address), int(nbytes))), dtype=dtype).copy()

    def run(self, x, *, input_symbol: str = "g_input", output_symbol: str = "g_output",
            dtype=np.int8) -> np.ndarray:
        """One inference without any hook: write ``x`` to ``input_symbol``, run, read ``output_symbol``."""
        self.write(input_symbol, np.asarray(x).ravel(), dtype)
        self.call("fw_run")
        return self.read(output_symbol, dtype)

    def count(self, x, *, input_symbol: str = "g_input", dtype=np.int8) -> Count:
        """One inference with the counting hook. Stack high-water: the deepest byte of the painted stack
        that changed (bytes, including the few fw_run uses)."""
        from unicorn import UC_HOOK_BLOCK

        self.write(input_symbol, np.asarray(x).ravel(), dtype)
        start, stop = self._addr("marker_start"), self._addr("marker_stop")
        layer = self._addr("marker_layer") if "marker_layer" in self.symbols else None
        st = {"on": False, "n": 0, "marks": []}
        r0 = self._reg.UC_ARM_REG_R0

        def hook(uc, address, size, _):
            if address == start:
                st["on"] = True
            elif address == stop:
                st["on"] = False
            elif address == layer and st["on"]:
                st["marks"].append((uc.reg_read(r0), st["n"]))
            if st["on"]:
                st["n"] += self.block_instructions(address, size)

        depth = self.stack_top - self.stack_limit
        self.uc.mem_write(self.stack_limit, bytes([_PAINT]) * depth)
        h = self.uc.hook_add(UC_HOOK_BLOCK, hook)
        self.uc.ctl_flush_tb()       # blocks translated before the hook was added would not call it
        try:
            self.call("fw_run")
        finally:
            self.uc.hook_del(h)
            self.uc.ctl_flush_tb()
        stack = np.frombuffer(bytes(self.uc.mem_read(self.stack_limit, depth)), np.uint8)
        touched = np.flatnonzero(stack != _PAINT)
        high = int(depth - touched[0]) if touched.size else 0
        self.stack_high_water = max(self.stack_high_water, high)
        per_layer = [b - a for (_, a), (_, b) in zip(st["marks"], st["marks"][1:])]
        return Count(int(st["n"]), per_layer, high)

    def block_instructions(self, address: int, size: int) -> int:
        """Instructions in the basic block at ``address`` of ``size`` bytes (Thumb: 2- or 4-byte)."""
        key = (address, size)
        n = self._sizes.get(key)
        if n is None:
            code = bytes(self.uc.mem_read(address, size))
            n, i = 0, 0
            while i < size:
                hw = code[i] | (code[i + 1] << 8)
                i += 4 if (hw >> 11) in (0b11101, 0b11110, 0b11111) else 2
                n += 1
            self._sizes[key] = n
        return n
