"""Chapter 08's MFCC front end as firmware: CMSIS-DSP's ``arm_mfcc_f32`` on a Cortex-M4 with its FPU,
with the tables :class:`tinyml_utils.data.audio.CmsisMfcc` gives the Python bindings (equal within float rounding).

Trap: the glue initialises at reset, so a counted call is one frame's work.
"""
from __future__ import annotations

import sys
import tarfile
from importlib.metadata import version
from pathlib import Path

import numpy as np

from ..core import paths
from ..data import audio
from . import toolchain

#: The CMSIS-DSP C files the f32 MFCC needs (relative to the sdist's ``Source/``).
CMSIS_SOURCES = (
    "TransformFunctions/arm_mfcc_f32.c", "TransformFunctions/arm_mfcc_init_f32.c",
    "TransformFunctions/arm_rfft_fast_f32.c", "TransformFunctions/arm_rfft_fast_init_f32.c",
    "TransformFunctions/arm_cfft_f32.c", "TransformFunctions/arm_cfft_init_f32.c",
    "TransformFunctions/arm_cfft_radix8_f32.c", "TransformFunctions/arm_bitreversal2.c",
    "TransformFunctions/arm_bitreversal.c",
    "StatisticsFunctions/arm_absmax_f32.c", "BasicMathFunctions/arm_scale_f32.c",
    "BasicMathFunctions/arm_mult_f32.c", "BasicMathFunctions/arm_dot_prod_f32.c",
    "BasicMathFunctions/arm_offset_f32.c", "ComplexMathFunctions/arm_cmplx_mag_f32.c",
    "FastMathFunctions/arm_vlog_f32.c", "MatrixFunctions/arm_mat_vec_mult_f32.c",
    "CommonTables/arm_common_tables.c", "CommonTables/arm_const_structs.c",
)


def cmsis_root() -> Path:
    """The ``cmsisdsp`` sdist ``make setup`` keeps in ``<venv>/share/sdist/``, unpacked once under ``build/``."""
    v = version("cmsisdsp")
    src = Path(sys.prefix) / "share" / "sdist" / f"cmsisdsp-{v}.tar.gz"
    if not src.exists():
        raise FileNotFoundError(
            f"CMSIS-DSP's C sources are missing ({src}). Fix: `make setup`, or by hand: "
            f"{sys.executable} -m pip download --no-binary cmsisdsp --no-deps --dest {src.parent} cmsisdsp=={v}")
    root = paths.build_dir() / src.name.removesuffix(".tar.gz")
    if not (root / "Source").exists():
        root.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(src) as tar:
            tar.extractall(root.parent, filter="data")
    return root


def _c_array(ctype: str, name: str, values, fmt: str) -> str:
    vals = ", ".join(fmt.format(v) for v in np.asarray(values).ravel().tolist())
    return f"const {ctype} {name}[{np.asarray(values).size}] = {{{vals}}};\n"


def program_sources() -> dict[str, str]:
    """Tables and glue of the f32 MFCC: ``g_frame`` (float32, ``fft`` samples) → ``g_mfcc`` (``n_mfcc``)."""
    import cmsisdsp.datatype as dt
    import cmsisdsp.mfcc as cmfcc

    fe = audio.CmsisMfcc("f32")
    flen, fpos, coefs = cmfcc.melFilterMatrix(dt.F32, fe.fmin, fe.fmax, fe.n_mels, fe.sample_rate, fe.fft)
    dct = cmfcc.dctMatrix(dt.F32, fe.n_mfcc, fe.n_mels)
    win = audio.window(fe.frame, fe.fft).astype(np.float32)
    f = "{!r}f"
    tables = ("#include <stdint.h>\n"
              + _c_array("uint32_t", "mfcc_filter_pos", np.asarray(fpos, np.uint32), "{}u")
              + _c_array("uint32_t", "mfcc_filter_len", np.asarray(flen, np.uint32), "{}u")
              + _c_array("float", "mfcc_filter_coefs", np.asarray(coefs, np.float32).astype(float), f)
              + _c_array("float", "mfcc_dct", np.asarray(dct, np.float32).astype(float), f)
              + _c_array("float", "mfcc_window", win.astype(float), f))
    glue = (toolchain.C_DIR / "mfcc_glue.c.in").read_text()
    for key, value in (("@FFT@", fe.fft), ("@N_MELS@", fe.n_mels), ("@N_MFCC@", fe.n_mfcc)):
        glue = glue.replace(key, str(value))
    return {"mfcc_tables.c": tables, "mfcc_glue.c": glue}


def build(core: str = "cortex-m4") -> toolchain.Firmware:
    """The MFCC program built for ``core`` with ``-O2`` (``-D__GNUC_PYTHON__`` skips headers the sdist lacks)."""
    if not toolchain.core(core).fpu:
        raise ValueError(f"{core} has no FPU: the f32 MFCC would run on soft-float; build it for cortex-m4")
    root = cmsis_root()
    return toolchain.build(program_sources(), core, "-O2", name="cmsis_mfcc",
                           extra_c=tuple(root / "Source" / s for s in CMSIS_SOURCES),
                           include_dirs=(root / "Include", root / "PrivateInclude"), defines=("__GNUC_PYTHON__",))
