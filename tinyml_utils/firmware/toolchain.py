"""Build C sources into a Cortex-M ELF with zig's C compiler (clang), pip-installed as ``ziglang``.

The command is ``python -m ziglang cc -target thumb-freestanding-eabi[hf] -mcpu=<core> -O2
-ffreestanding -Wl,-e,Reset_Handler -T link.ld startup.c …``. The linker script is generated from a
device profile of :mod:`tinyml_utils.deploy.devices` (its flash and SRAM sizes), so a program that
does not fit fails the link, and :class:`DoesNotFit` says which region and by how many bytes.

Traps (measured here):

* The first build per target takes ~12 s: zig compiles its compiler_rt into its cache. Later builds
  take ~0.2 s. The cache lives under ``build/zig-cache`` (git-ignored), never in the repository.
* Never pass ``-nostdlib``: it drops compiler_rt, and Cortex-M0+ programs then fail to link
  (``__aeabi_uidivmod``: the M0+ has no divide instruction).
* There is no libm: a program that needs ``logf`` brings its own. zig ships no libc headers for
  freestanding targets: ``c/libc/`` holds a minimal ``string.h`` and ``math.h`` (declarations).
* Instruction counts depend on the compiler, its version and its flags: every :class:`Firmware`
  records them (:attr:`Firmware.compiler`, :attr:`Firmware.flags`).
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


@dataclass(frozen=True)
class Core:
    """A Cortex-M core: zig's target triple and CPU name, and the device profile whose memory it gets."""

    name: str
    target: str
    mcpu: str
    device: str
    fpu: bool
    dsp: bool
    emulated: bool = True

    @property
    def flags(self) -> list[str]:
        return ["-target", self.target, f"-mcpu={self.mcpu}"]


#: The cores the course builds for. The M0+ has no FPU and no DSP (SIMD) instructions. The M4F has
#: both, but zig's ``cortex_m4`` alone has no FPU (it is the M4 without F): ``+vfp4d16sp`` adds the
#: single-precision FPU (without it float code silently becomes soft-float calls, many times the
#: instructions). The M55 (Armv8.1-M) is built without Helium and low-overhead loops
#: (``-mve-mve_fp-lob``, single-precision FPU added back) but it is **build-only**: Armv8.1-M's
#: conditional selects (CSEL and friends) cannot be switched off, and Unicorn models no Armv8.1-M core,
#: so its ELF gives flash and SRAM figures but cannot be run here (``emulated=False``).
CORES: dict[str, Core] = {
    "cortex-m0plus": Core("cortex-m0plus", "thumb-freestanding-eabi", "cortex_m0plus", "Cortex-M0+ MCU",
                          fpu=False, dsp=False),
    "cortex-m4": Core("cortex-m4", "thumb-freestanding-eabihf", "cortex_m4+vfp4d16sp", "Cortex-M4 MCU",
                      fpu=True, dsp=True),
    "cortex-m55": Core("cortex-m55", "thumb-freestanding-eabihf", "cortex_m55-mve-mve_fp-lob+fp_armv8d16sp",
                       "Cortex-M55 + Ethos-U55-128", fpu=True, dsp=True, emulated=False),
}


def core(name: str) -> Core:
    """The :class:`Core` called ``name`` (``"cortex-m0plus"``, ``"cortex-m4"``, ``"cortex-m55"``)."""
    try:
        return CORES[name]
    except KeyError:
        raise KeyError(f"unknown core {name!r}; known: {sorted(CORES)}") from None


class DoesNotFit(RuntimeError):
    """The program does not fit the device. ``overflow`` maps each region that overflows ("FLASH",
    "RAM") to the bytes over; ``region`` / ``over_bytes`` name the first (flash before SRAM)."""

    def __init__(self, overflow: dict[str, int], device: str, log: str):
        self.overflow = {k: int(v) for k, v in sorted(overflow.items())}      # FLASH sorts before RAM
        self.region, self.over_bytes = next(iter(self.overflow.items()))
        self.device, self.log = device, log
        what = " and ".join(f"{'flash' if r == 'FLASH' else 'SRAM'} overflows by {n:,} bytes"
                            for r, n in self.overflow.items())
        super().__init__(f"does not fit the {device!r} memory sizes: {what}")


class BuildError(RuntimeError):
    """The compiler or linker failed for another reason than size; the message holds its output."""


@dataclass
class Firmware:
    """A built ELF and what it was built with. Sizes in bytes, read from the ELF's sections.

    ``flash_bytes`` = every allocated section but .bss and .stack: .text (with the vector table),
    .rodata, the unwind tables (.ARM.exidx/.ARM.extab) and the initial values of .data;
    ``static_sram_bytes`` = .data + .bss; ``stack_reserved_bytes`` = the stack the linker script
    sets aside (the stack actually used is measured by the emulator, see ``Emulator.stack_high_water``).
    """

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
        """The fields every measurement made on this firmware must carry (compiler, flags, core)."""
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
    """``"zig cc 0.17.1 (clang <version>)"``: the compiler name and version every record carries."""
    zig = subprocess.run([sys.executable, "-m", "ziglang", "version"], capture_output=True, text=True,
                         env=_zig_env(), check=True).stdout.strip()
    out = subprocess.run([sys.executable, "-m", "ziglang", "cc", "--version"], capture_output=True, text=True,
                         env=_zig_env()).stdout
    m = re.search(r"clang version ([0-9.]+)", out)
    return f"zig cc {zig}" + (f" (clang {m.group(1)})" if m else "")


def linker_script(flash_bytes: int, sram_bytes: int, stack_bytes: int) -> str:
    """The linker script with the given memory sizes (bytes)."""
    text = (C_DIR / "link.ld.in").read_text()
    return text.replace("@FLASH@", str(int(flash_bytes))).replace("@SRAM@", str(int(sram_bytes))) \
               .replace("@STACK@", str(int(stack_bytes)))


_OVERFLOW = re.compile(r"will not fit in region '(\w+)': overflowed by (\d+) bytes")


def build(program_sources: dict[str, str], core: str = "cortex-m4", opt: str = "-O2", *,
          device: str | None = None, stack_bytes: int = 4096, extra_c: tuple[Path, ...] = (),
          include_dirs: tuple[Path, ...] = (), defines: tuple[str, ...] = (), name: str = "firmware",
          out_dir: Path | None = None, memory: tuple[int, int] | None = None) -> Firmware:
    """Compile ``program_sources`` (file name → C text; headers are written beside) with the startup code.

    ``device`` names a profile in :data:`tinyml_utils.deploy.devices.DEVICE_PROFILES` (default: the
    core's); its flash and SRAM sizes go into the linker script, unless ``memory`` = (flash, sram)
    bytes overrides them. ``extra_c`` are C files compiled in place (CMSIS-DSP's sources). The
    program must define ``int model_invoke(void)``. The ELF is cached under ``build/firmware/``
    by a hash of everything that goes into it, so building twice is free.
    Raises :class:`DoesNotFit` when a memory region overflows, :class:`BuildError` otherwise.
    """
    c = globals()["core"](core)
    dev_name = device or c.device
    memory_given = memory
    if memory is None:
        prof = devices.profile(dev_name)
        memory = (prof.flash_bytes, prof.sram_bytes)
    flags = [*c.flags, opt, "-ffreestanding", "-std=c11", "-ffunction-sections", "-fdata-sections",
             "-Wl,--gc-sections", *[f"-D{d}" for d in defines]]
    script = linker_script(memory[0], memory[1], stack_bytes)
    startup = (C_DIR / "startup.c").read_text()
    h = hashlib.sha256(json.dumps([sorted(program_sources.items()), flags, script, startup, compiler_version(),
                                   [str(p) for p in extra_c], [str(p) for p in include_dirs]]).encode())
    for p in extra_c:
        h.update(Path(p).read_bytes())
    out = Path(out_dir or paths.build_dir() / "firmware") / f"{name}-{core}-{h.hexdigest()[:12]}"
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
                raise DoesNotFit(over, dev_name if memory_given is None else f"{memory_given[0]:,} B flash, "
                                 f"{memory_given[1]:,} B SRAM", log)
            raise BuildError(f"zig cc failed for {name} on {core}:\n{log[-4000:]}")
        (out / (elf.name + ".tmp")).rename(elf)
    return Firmware(elf=elf, core=core, opt=opt, compiler=compiler_version(), flags=flags, device=dev_name,
                    sections=section_sizes(elf), stack_reserved_bytes=int(stack_bytes))


def section_sizes(elf: Path) -> dict[str, int]:
    """Bytes of each allocated section of an ELF (``.text``, ``.rodata``, ``.data``, ``.bss``, ``.stack``…)."""
    from elftools.elf.elffile import ELFFile

    SHF_ALLOC = 0x2
    with open(elf, "rb") as f:
        return {s.name: int(s["sh_size"]) for s in ELFFile(f).iter_sections()
                if s["sh_flags"] & SHF_ALLOC and s["sh_size"]}
