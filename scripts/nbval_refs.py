"""Regenerate the nbval reference executions in tests/nbval/ (quick mode).

    .venv/bin/python scripts/nbval_refs.py [CHAPTERS...]     # default: 00 01

Each chapter is executed twice with papermill (QUICK=True) in one fresh build and data-cache
folder. A code cell's outputs are checked by nbval only if they were identical in both runs after
the sanitizers of tests/nbval/sanitize.cfg (absolute paths, durations, addresses) and it wrote
nothing to stderr; every other cell is tagged ``nbval-ignore-output`` (it must still run). Images
are dropped (nbval does not compare them). Run it again after changing a chapter or the package,
then `pytest --runslow tests/test_nbval.py`.
"""
from __future__ import annotations

import configparser
import os
import re
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "nbval"
TEXT_KEYS = ("text/plain", "text/html", "text/markdown")


def sanitizers() -> list[tuple[re.Pattern, str]]:
    cfg = configparser.ConfigParser()
    cfg.read(OUT / "sanitize.cfg")
    return [(re.compile(cfg[s]["regex"]), cfg[s]["replace"]) for s in cfg.sections()]


def signature(cell, subs) -> tuple[str, bool]:
    """Sanitized text of a cell's outputs, and whether it wrote to stderr."""
    parts, stderr = [], False
    for o in cell.get("outputs", []):
        if o["output_type"] == "stream":
            stderr |= o["name"] == "stderr"
            parts.append(f"{o['name']}:{o['text']}")
        elif o["output_type"] == "error":
            parts.append(f"error:{o['ename']}")
        else:
            parts += [f"{k}:{''.join(o['data'][k])}" for k in TEXT_KEYS if k in o.get("data", {})]
    text = "\n".join(parts)
    for rx, rep in subs:
        text = rx.sub(rep, text)
    return text, stderr


def main(chapters: list[str]) -> int:
    import nbformat
    import papermill as pm

    from tinyml_utils.tools.kernel import KERNEL_NAME, kernelspec_dir

    # the chapters name the course kernel; its spec (this checkout's interpreter) is the package's own
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        [str(kernelspec_dir())] + [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p])
    subs = sanitizers()
    tmp = Path(tempfile.mkdtemp(prefix="nbval_refs_"))
    os.environ.update(TINYML_BUILD=str(tmp / "build"), TINYML_DATA_CACHE=str(tmp / "cache"), TINYML_QUIET="1")
    for ch in chapters:
        src = next((REPO / "notebooks").glob(f"{ch}_*.ipynb"))
        runs = []
        for k in (1, 2):
            out = tmp / f"{src.stem}.{k}.ipynb"
            pm.execute_notebook(str(src), str(out), parameters={"QUICK": True}, kernel_name=KERNEL_NAME,
                                cwd=str(src.parent),
                                progress_bar=False, log_output=False)
            runs.append(nbformat.read(out, as_version=4))
        ref, again = runs
        checked = ignored = 0
        for c1, c2 in zip(ref.cells, again.cells):
            if c1.cell_type != "code":
                continue
            s1, err1 = signature(c1, subs)
            s2, err2 = signature(c2, subs)
            tags = [t for t in c1.metadata.get("tags", []) if t != "nbval-ignore-output"]
            if s1 != s2 or err1 or err2:
                tags.append("nbval-ignore-output")
                ignored += 1
            elif c1.outputs:
                checked += 1
            c1.metadata["tags"] = tags
            for o in c1.outputs:
                if "data" in o:
                    for key in [k for k in o["data"] if k.startswith("image/")]:
                        del o["data"][key]
                    o["data"].setdefault("text/plain", "")
        ref.metadata.pop("widgets", None)
        nbformat.write(ref, OUT / src.name)
        print(f"{src.name}: {checked} cells with deterministic outputs checked, {ignored} ignored -> {OUT / src.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["00", "01"]))
