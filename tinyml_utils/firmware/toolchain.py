"""Build C sources into a Cortex-M ELF with ``zig cc`` (pip ``ziglang``) for a device profile's flash and SRAM.

Traps: the first build per target is slow (zig compiles compiler_rt into ``build/zig-cache``). Never
pass ``-nostdlib``: M0+ programs then miss compiler_rt's division. No libm (``c/libc/`` has the headers).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..core import paths
from ..deploy import devices

C_DIR = Path(__file__).resolve().parent / "c"
STACK_BYTES = 4096          # the stack the linker script reserves


@dataclass(frozen=True)
class Core:
    """zig's target triple and CPU name, and the device profile whose memory the core gets."""

    name: str
    target: str
    mcpu: str
    device: str
    fpu: bool
    dsp: bool


#: Traps: zig's ``cortex_m4`` has no FPU (``+vfp4d16sp`` adds it; without it float code silently
#: becomes soft-float calls). The M55 is built without Helium and low-overhead loops but is
#: build-only: Unicorn models no Armv8.1-M core.
CORES: dict[str, Core] = {
    "cortex-m0plus": Core("cortex-m0plus", "thumb-freestanding-eabi", "cortex_m0plus", "Cortex-M0+ MCU",
                          fpu=False, dsp=False),
    "cortex-m4": Core("cortex-m4", "thumb-freestanding-eabihf", "cortex_m4+vfp4d16sp", "Cortex-M4 MCU",
                      fpu=True, dsp=True),
    "cortex-m55": Core("cortex-m55", "thumb-freestanding-eabihf", "cortex_m55-mve-mve_fp-lob+fp_armv8d16sp",
                       "Cortex-M55 + Ethos-U55-128", fpu=True, dsp=True),
}


def core(name: str) -> Core:
    return CORES[name]


class DoesNotFit(RuntimeError):
    """``overflow``: bytes over per region ("FLASH", "RAM")."""

    def __init__(self, overflow: dict[str, int], device: str):
        self.overflow = {k: int(v) for k, v in sorted(overflow.items())}      # FLASH sorts before RAM
        what = " and ".join(f"{'flash' if r == 'FLASH' else 'SRAM'} overflows by {n:,} bytes"
                            for r, n in self.overflow.items())
        super().__init__(f"does not fit the {device!r} memory sizes: {what}")


class BuildError(RuntimeError):
    """The compiler or linker failed for another reason than size; the message has its output."""


@dataclass
class Firmware:
    """A built ELF. Flash: allocated sections but .bss and .stack (.data's initial values count);
    static SRAM: .data + .bss (the stack used is measured apart)."""

    elf: Path
    core: str
    opt: str
    compiler: str
    flags: list[str]
    device: str
    sections: dict[str, int] = field(default_factory=dict)
    stack_reserved_bytes: int = 0

    @property
    def flash_bytes(self) -> int:
        return sum(n for s, n in self.sections.items() if s not in (".bss", ".stack"))

    @property
    def static_sram_bytes(self) -> int:
        return self.sections.get(".data", 0) + self.sections.get(".bss", 0)

    def record(self) -> dict:
        """The fields every measurement on this firmware must carry."""
        return {"compiler": self.compiler, "flags": " ".join(self.flags), "core": self.core, "opt": self.opt,
                "device_profile": self.device, "flash_bytes": self.flash_bytes,
                "static_sram_bytes": self.static_sram_bytes, "stack_reserved_bytes": self.stack_reserved_bytes}


def _zig_env() -> dict:
    env = dict(os.environ)
    cache = paths.build_dir() / "zig-cache"
    env.setdefault("ZIG_GLOBAL_CACHE_DIR", str(cache / "global"))
    env.setdefault("ZIG_LOCAL_CACHE_DIR", str(cache / "local"))
    return env


@lru_cache(maxsize=1)
def compiler_version() -> str:
    """``"zig cc <version> (clang <version>)"``."""
    zig = subprocess.run([sys.executable, "-m", "ziglang", "version"], capture_output=True, text=True,
                         env=_zig_env(), check=True).stdout.strip()
    out = subprocess.run([sys.executable, "-m", "ziglang", "cc", "--version"], capture_output=True, text=True,
                         env=_zig_env()).stdout
    m = re.search(r"clang version ([0-9.]+)", out)
    return f"zig cc {zig}" + (f" (clang {m.group(1)})" if m else "")


_OVERFLOW = re.compile(r"will not fit in region '(\w+)': overflowed by (\d+) bytes")


def build(program_sources: dict[str, str], core: str = "cortex-m4", opt: str = "-O2", *,
          extra_c: tuple[Path, ...] = (), include_dirs: tuple[Path, ...] = (), defines: tuple[str, ...] = (),
          name: str = "firmware", memory: tuple[int, int] | None = None) -> Firmware:
    """Compile ``program_sources`` (file name → C text defining ``int model_invoke(void)``) with the startup
    code, for the core's device profile or ``memory`` = (flash, SRAM) bytes; cached by a hash of every input."""
    c = CORES[core]
    where = f"{memory[0]:,} B flash, {memory[1]:,} B SRAM" if memory else c.device
    if memory is None:
        prof = devices.profile(c.device)
        memory = (prof.flash_bytes, prof.sram_bytes)
    flags = ["-target", c.target, f"-mcpu={c.mcpu}", opt, "-ffreestanding", "-std=c11", "-ffunction-sections",
             "-fdata-sections", "-Wl,--gc-sections", *[f"-D{d}" for d in defines]]
    script = (C_DIR / "link.ld.in").read_text()
    for key, value in (("@FLASH@", memory[0]), ("@SRAM@", memory[1]), ("@STACK@", STACK_BYTES)):
        script = script.replace(key, str(int(value)))
    startup = (C_DIR / "startup.c").read_text()
    h = hashlib.sha256(json.dumps([sorted(program_sources.items()), flags, script, startup, compiler_version(),
                                   [str(p) for p in extra_c], [str(p) for p in include_dirs]]).encode())
    for p in extra_c:
        h.update(Path(p).read_bytes())
    out = paths.build_dir() / "firmware" / f"{name}-{core}-{h.hexdigest()[:12]}"
    elf = out / f"{name}.elf"
    if not elf.exists():
        out.mkdir(parents=True, exist_ok=True)
        (out / "link.ld").write_text(script)
        (out / "startup.c").write_text(startup)
        for fname, text in program_sources.items():
            (out / fname).write_text(text)
        c_files = ["startup.c", *[f for f in program_sources if f.endswith(".c")]]
        cmd = [sys.executable, "-m", "ziglang", "cc", *flags, "-Wl,-e,Reset_Handler", "-T", "link.ld",
               "-I", ".", *[f"-I{d}" for d in include_dirs], f"-I{C_DIR / 'libc'}", *c_files,
               *[str(p) for p in extra_c], "-o", elf.name + ".tmp"]
        proc = subprocess.run(cmd, cwd=out, capture_output=True, text=True, env=_zig_env())
        if proc.returncode != 0:
            log = proc.stdout + proc.stderr
            over: dict[str, int] = {}
            for region, n in _OVERFLOW.findall(log):   # lld names each section that overflows: keep the largest
                over[region] = max(over.get(region, 0), int(n))
            if over:
                raise DoesNotFit(over, where)
            raise BuildError(f"zig cc failed for {name} on {core}:\n{log[-4000:]}")
        (out / (elf.name + ".tmp")).rename(elf)
    return Firmware(elf=elf, core=core, opt=opt, compiler=compiler_version(), flags=flags, device=c.device,
                    sections=section_sizes(elf), stack_reserved_bytes=STACK_BYTES)


def section_sizes(elf: Path) -> dict[str, int]:
    """Bytes of each allocated section of an ELF."""
    from elftools.elf.constants import SH_FLAGS
    from elftools.elf.elffile import ELFFile

    with open(elf, "rb") as f:
        return {s.name: int(s["sh_size"]) for s in ELFFile(f).iter_sections()
                if s["sh_flags"] & SH_FLAGS.SHF_ALLOC and s["sh_size"]}
