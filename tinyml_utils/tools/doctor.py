"""``python -m tinyml_utils doctor``: is this environment the one the course was measured on?

Checks, each printed as ok / FAIL with what to do:
1. every pin in ``requirements/*.txt`` is installed at exactly that version;
2. ``pip check`` prints the known mismatches of the three ``--no-deps`` packages and nothing else;
3. the MediaPipe metadata-writer stand-in works (see :mod:`tinyml_utils.core.compat`);
4. this checkout's package is the one the chapters' kernel imports, and the one the JupyterLab
   kernel ``make kernel`` installed (``tinyml``) imports, when it is installed;
5. the offline datasets load without a network.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .. import data
from ..core import paths
from ..core.compat import mediapipe_metadata_writers
from .kernel import kernelspec_dir

# What `pip check` is expected to print after the --no-deps step (requirements/nodeps.txt explains why).
KNOWN_PIP_CHECK = [
    r"^aeon 1\.6\.0 requires numba, which is not installed\.$",
    r"^aeon 1\.6\.0 has requirement pandas<3\.1\.0,>=2\.0\.0, but you have pandas 3\.1\.1\.$",
    r"^tf-keras 2\.21\.0 requires tensorflow, which is not installed\.$",
    r"^tensorflow-model-optimization 0\.8\.1 has requirement absl-py~=1\.2, but you have absl-py 2\.5\.1\.$",
    r"^tosa-tools 2026\.8\.0 has requirement flatbuffers==25\.2\.10, but you have flatbuffers 25\.12\.19\.$",
    r"^tosa-tools 2026\.8\.0 has requirement ml-dtypes==0\.5\.3, but you have ml-dtypes [0-9.]+\.$",
    r"^tosa-tools 2026\.8\.0 has requirement numpy<2\.2,>=1\.26.*but you have numpy 2\.4\.6\.$",
]


def pinned() -> dict[str, str]:
    """``{distribution: version}`` for every ``name==version`` line in requirements/*.txt."""
    pins = {}
    for f in sorted((paths.REPO / "requirements").glob("*.txt")):
        for line in f.read_text().splitlines():
            m = re.match(r"^\s*([A-Za-z0-9_.\-\[\]]+)==([^\s#;]+)", line)
            if m:
                pins[re.sub(r"\[.*\]", "", m.group(1))] = m.group(2)
    return pins


def check_pins() -> list[str]:
    problems = []
    for name, want in pinned().items():
        try:
            have = version(name)
        except PackageNotFoundError:
            problems.append(f"{name}=={want} is not installed")
            continue
        if have.split("+")[0] != want:
            problems.append(f"{name} is {have}, the course pins {want}")
    return problems


def check_pip() -> list[str]:
    out = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True).stdout
    lines = [ln.strip() for ln in out.splitlines() if ln.strip() and not ln.startswith("No broken")]
    return [ln for ln in lines if not any(re.match(p, ln) for p in KNOWN_PIP_CHECK)]


def check_mediapipe() -> list[str]:
    try:
        mw = mediapipe_metadata_writers()
        from mediapipe.tasks.python.metadata import metadata
        from mediapipe.tasks.python.metadata.metadata_writers import image_classifier  # noqa: F401

        v = metadata._pywrap_metadata_version.GetMinimumMetadataParserVersion(b"", [])
        assert mw is not None and v == "1.0.0", v
    except Exception as e:  # report, don't crash
        return [f"MediaPipe metadata writers do not import: {type(e).__name__}: {e}"]
    return []


def check_package() -> list[str]:
    """The package this process and the chapters' kernel import is this checkout's.

    An editable install of *another* checkout, plus a kernel started in ``notebooks/``, would
    silently send results and artifacts to that other checkout."""
    import json

    here = paths.REPO / "tinyml_utils"
    problems = []
    mine = Path(__file__).resolve().parents[1]
    if mine != here.resolve():
        problems.append(f"this process imports tinyml_utils from {mine}, not {here}")
    spec = json.loads((kernelspec_dir() / "kernels" / "tinyml-course" / "kernel.json").read_text())
    return problems + _kernel_imports(spec, "the chapters' kernel")


def _kernel_imports(spec: dict, who: str) -> list[str]:
    """Start ``spec``'s interpreter with its env, in ``notebooks/`` as Jupyter does, and check which
    ``tinyml_utils`` it imports."""
    here = paths.REPO / "tinyml_utils"
    env = {**os.environ, **spec.get("env", {})}
    if "PYTHONPATH" not in spec.get("env", {}):
        env.pop("PYTHONPATH", None)   # what Jupyter's kernel gets: the server's env, not ours
    proc = subprocess.run([spec["argv"][0], "-c", "import tinyml_utils; print(tinyml_utils.__file__)"],
                          capture_output=True, text=True, env=env, cwd=paths.NOTEBOOKS)
    got = Path(proc.stdout.strip() or "?").resolve().parent
    if proc.returncode != 0 or got != here.resolve():
        return [f"{who} would import tinyml_utils from {got} ({proc.stderr.strip()[-200:] or 'not this checkout'})"]
    return []


def check_lab_kernel(spec_file: Path | None = None, name: str = "tinyml") -> list[str]:
    """The JupyterLab kernel ``make kernel`` installs (``tinyml``), when installed, pins this checkout:
    its kernelspec sets ``PYTHONPATH`` to this repository and the kernel imports this checkout's
    package. Without the pin, a clone beside another clone's venv imports the other checkout and a
    full-mode Run All writes *its* results/. Not installed: nothing to check."""
    import json

    if spec_file is None:
        try:
            from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

            spec_file = Path(KernelSpecManager().get_kernel_spec(name).resource_dir) / "kernel.json"
        except (ImportError, NoSuchKernel):
            return []
    spec = json.loads(Path(spec_file).read_text())
    pinned = spec.get("env", {}).get("PYTHONPATH", "")
    problems = []
    if str(paths.REPO.resolve()) not in [str(Path(p).resolve()) for p in pinned.split(os.pathsep) if p]:
        problems.append(f"kernelspec {spec_file} does not pin this checkout (env PYTHONPATH={pinned!r}, "
                        f"want {paths.REPO})")
    return problems + _kernel_imports(spec, f"the lab kernel {name!r}")


def check_data() -> list[str]:
    problems = []
    for name in ("vision", "motion"):
        try:
            ds = data.load(name, quick=True)
            assert len(ds.train) and len(ds.test)
        except Exception as e:
            problems.append(f"dataset {name!r} does not load: {type(e).__name__}: {e}")
    try:
        import espeakng_loader  # noqa: F401
    except Exception as e:
        problems.append(f"eSpeak NG (espeakng-loader) missing for the keywords set: {e}")
    return problems


def doctor() -> bool:
    """Run every check; print a line each; return True when all pass."""
    exe = Path(sys.executable)
    shown = exe.relative_to(paths.REPO) if exe.is_relative_to(paths.REPO) else exe   # no absolute repo paths
    print(f"Python {sys.version.split()[0]} at {shown}")
    checks = [
        ("pinned versions installed", check_pins, "pip install -r requirements/base.txt && "
         "pip install --no-deps -r requirements/nodeps.txt"),
        ("pip check shows only the known --no-deps lines", check_pip, "see requirements/nodeps.txt; "
         "a new line means a package changed version"),
        ("MediaPipe metadata stand-in", check_mediapipe, "see tinyml_utils/compat.py"),
        ("chapters import this checkout's tinyml_utils", check_package,
         "pip install --no-deps -e . from this checkout (another checkout's editable install is active)"),
        ("the lab kernel (make kernel) imports this checkout", check_lab_kernel,
         "run `make kernel` in this checkout (it pins PYTHONPATH to it)"),
        ("offline datasets", check_data, "pip install --force-reinstall the package named above"),
    ]
    ok = True
    for title, fn, fix in checks:
        problems = fn()
        print(f"[{'ok' if not problems else 'FAIL'}] {title}")
        for p in problems:
            print(f"       - {p}")
        if problems:
            print(f"       fix: {fix}")
            ok = False
    print("environment OK" if ok else "environment has problems (see above)")
    return ok
