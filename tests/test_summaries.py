"""A chapter's Summary quotes no number that a run did not print.

Quick and full mode print different numbers, so a Summary markdown cell states the lesson in words;
where it quotes a measured number, the number stands in square brackets, the cell says that
bracketed numbers are the committed full-mode run, and the number equals a value recorded in
``results/NN_slug.json`` (a record's field or a number printed in a claim) to the digits it shows.
This run's own numbers are printed by a code cell ("This run: ...") from the chapter's variables.
Every other number must be a constant named below with the reason it is not a measurement.
Reads the notebooks and the committed results; executes nothing."""
from __future__ import annotations

import json
import math
import re

import pytest

from tinyml_utils.core import paths

NOTEBOOKS = sorted(paths.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
#: how a Summary says that its bracketed numbers are the committed full-mode run
BRACKET_NOTE = re.compile(r"[Nn]umbers in \[?brackets\]? are (?:the )?committed full[- ]mode")

#: numbers that are not measurements, as (pattern, reason); a pattern covers the number it contains
ANY_CHAPTER: list[tuple[str, str]] = [
    (r"chapters? \d\d(?:\s*[–-]\s*\d\d)?(?:'s)?|chapter-\d\d|\(\d\d\)|\d\d[–-]\d\d", "chapter numbers"),
    (r"\b(?:int|uint|fp|f|q|float)\d+\b|\b\d+-bit\b|\b\d+ bits\b|\b8da[48]w\b", "number formats"),
    (r"Cortex-M\d+[+F]?|\bM\d+[+F]?(?=\W)|Ethos-U\d+(?:-\d+)?|\bU\d\d(?:-\d+)?\b|Armv8\.1-M",
     "device names"),
    (r"\b\d-D\b|\b2-D\b", "dimensions in a name (1-D, 2-D convolutions)"),
    (r"\bL2\b|\bDS-CNN\b|\bMLPerf\b", "names"),
    (r"\bsections? \d+|\bexercises? \d+|\bseeds? \d+\b", "section, exercise and seed numbers"),
    (r"\b[Bb]atch[- ]1\b|\bone thread\b", "the batch size and thread count a latency is measured at"),
]
PER_CHAPTER: dict[str, list[tuple[str, str]]] = {
    "00": [],
    "01": [(r"\b30 ms frame \(one every 20 ms\)", "the front end's frame length and hop, design parameters")],
    "02": [(r"1,000-digit test set", "the data set's size (data.load)")],
    "03": [(r"\b(?:50|80|90) ?%(?= sparsity| of the MACs| zeros|\))|(?:at|to) 90%",
            "target sparsities and MAC ratios the recipes ask for, not results"),
           (r"width 32, batch 32", "the compute-bound setting the claim names")],
    "04": [(r"1,000 test digits", "the data set's size"),
           (r"\b8 bits\b|\b[34]-bit weights", "bit widths")],
    "05": [(r"\b5 labelled digits a class|5 paired seeds|\b5 seeds", "the few-label recipe's constants"),
           (r"\b15-point\s+bound", "quick mode's asserted bound (a code constant)")],
    "08": [(r"500 training clips a class|30 clips a class", "the data recipe of each mode"),
           (r"≥ 90 % hits at ≤ 1 false accept per hour|≤ 1 false accept per hour|1 false accept per hour",
            "the goal and the false-accept budget, set before the run"),
           (r"\b40 ms\b|\b1 s refractory|\b80 MHz|\b500 MHz|\bat an \*assumed\* 1 cycle|0\.1 per hour",
            "design parameters and assumed clocks (the device table)"),
           (r"\b25 isolated words|threshold 0\.5\b|\b2 × |≤ 1 FA/h",
            "the evaluation's fixed settings (training words, threshold, budget, two MFCC frames a hop)"),
           (r"480 samples \+ 32 zeros", "the MFCC frame layout, a design constant"),
           (r"3\.4× the parameters", "the teacher's parameters over the student's, fixed by the two widths"),
           (r"\b95 % interval", "the confidence level"),
           (r"\b70 minutes of training-voice\s+streams", "full mode's training-stream length (data recipe)"),
           (r"\b10 minutes of\s+audio|\b60 FA/h budget|\b10 h of validation", "quick mode's stream length and "
            "budget, and the hours a rate of 0.1 per hour needs (the recipe's and the chapter's constants)")],
    "09": [(r"6 × 30 window|\b78 features|\b10 Hz|\b100 Hz", "the window shape, the DSP block's fixed "
            "feature count and the sample rates (design, not results)"),
           (r"1 pt in full mode = 3 test windows|2 pt in quick mode|≥ 0\.85", "asserted bounds (code constants)"),
           (r"three in full mode, one in quick mode", "seed counts of the recipe")],
    "10": [(r"\b32 labelled windows|\b15 rounds|\b5 rounds|2 points in full mode|15-point bound",
            "the recipe's sizes and the asserted bounds (code constants)")],
    "11": [(r"\b512-token|ln 512 = 6\.24|128-token|\b1 MB SRAM|\b2 MB\b|1 MiB|\b15 %|\b50 %|2 of the 4 layers|2-layer"
            r"|1,000 tokens/s",
            "vocabulary and context sizes, ln of the vocabulary, device SRAM, asserted bounds, quick mode's layers")],
    "12": [(r"\b1 KB\b|\b40 ms hop|80 MHz|\bCPI 1\b",
            "the asserted stack bound, the hop and the assumed clock and CPI"),
           (r"\b80 % zeros", "the sparsity chapter 03's recipe asks for")],
}
NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?e[-−]?\d+"            # 1.1e-06
                    r"|(?<![\w.])[-−]?\d{1,3}(?:,\d{3})+(?:\.\d+)?"   # 23,180
                    r"|(?<![\w.])[-−]?\d+(?:\.\d+)?")
#: the unit written after a number -> the factors from a recorded value to the printed one
UNITS: list[tuple[str, tuple[float, ...]]] = [
    (r"\s?(?:%|pt\b|points?\b)", (1, 100)),            # a fraction printed as a percentage, or points
    (r"\s?M\b", (1, 1e-6)), (r"\s?k\b", (1, 1e-3)),      # 12.96 M instructions, 465 k characters
    (r"\s?(?:KB|KiB|kB)\b", (1, 1 / 1024, 1e-3)), (r"\s?(?:MB|MiB)\b", (1, 1e-6, 1 / 2 ** 20)),
    (r"\s?h\b", (1, 1 / 60, 1 / 3600)), (r"(?:\s|-)min(?:ute)?s?\b", (1, 1 / 60)),
    (r"\s?s\b", (1, 1e-3)), (r"\s?ms\b", (1, 1e3)),
]


def _summary(nb_path) -> str:
    """The Summary cells' text up to the next heading, without code spans, math and links' targets."""
    cells = json.loads(nb_path.read_text(encoding="utf-8"))["cells"]
    out = []
    for c in cells:
        src = "".join(c["source"])
        if c["cell_type"] == "markdown" and src.lstrip().startswith("## Summary"):
            body = src.lstrip().split("\n", 1)[1] if "\n" in src.strip() else ""
            body = re.split(r"^#{1,3} ", body, flags=re.M)[0]
            out.append(body)
    text = "\n".join(out)
    text = re.sub(r"`[^`]*`", "", text)
    text = re.sub(r"\$[^$]*\$", "", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    return re.sub(r"\s+", " ", text)   # a phrase wrapped over two lines reads as one


def _recorded(chapter: str) -> list[float]:
    path = next(iter(sorted((paths.REPO / "results").glob(f"{chapter}_*.json"))), None)
    if path is None:
        return []
    found: list[float] = []

    def walk(v):
        if isinstance(v, bool):
            return
        if isinstance(v, (int, float)):
            found.append(float(v))
        elif isinstance(v, str):
            found.extend(_value(m.group()) for m in NUMBER.finditer(v))
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(json.loads(path.read_text(encoding="utf-8")))
    return found


def _value(s: str) -> float:
    return float(s.replace(",", "").replace("−", "-"))


def _scales(after: str) -> tuple[float, ...]:
    """Factors from a recorded value to a number printed with the unit that follows it (none: 1);
    a spread in between is skipped ("88.9 ± 1.0 %" is in %)."""
    after = re.sub(r"^\s?±\s?[\d.]+", "", after)
    for pattern, factors in UNITS:
        if re.match(pattern, after):
            return factors
    return (1,)


def _matches(token: str, recorded: list[float], after: str = "") -> bool:
    """The token equals a recorded value, in the unit written after it, to the digits it shows."""
    x = abs(_value(token))
    if "e" in token:   # 1.1e-06: compare mantissas at the token's exponent
        mantissa, exponent = token.replace("−", "-").split("e")
        return _matches(mantissa, [v * 10 ** -int(exponent) for v in recorded])
    decimals = len(token.split(".")[1]) if "." in token else 0
    half = 0.5 * 10 ** -decimals + 1e-9
    for v in recorded:
        for s in _scales(after):
            y = abs(v * s)
            if abs(y - x) <= half or (decimals == 0 and x >= 1000 and math.isclose(x, y, rel_tol=5e-3)):
                return True
    return False


def _brackets(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"\[[^\[\]]*\]", text)]


def unexplained(chapter: str, text: str, recorded: list[float]) -> list[str]:
    """Numbers of a Summary that are neither full-mode values in the results file nor named constants."""
    covered: list[tuple[int, int]] = []
    for pattern, _reason in ANY_CHAPTER + PER_CHAPTER.get(chapter, []):
        covered += [(m.start(), m.end()) for m in re.finditer(pattern, text)]
    bracketed = _brackets(text) if BRACKET_NOTE.search(text) else []
    bad = []
    for m in NUMBER.finditer(text):
        a, b = m.span()
        if any(s <= a and b <= e for s, e in covered):
            continue
        context = text[max(0, a - 40):b + 30].replace("\n", " ")
        if any(s < a and b < e for s, e in bracketed):
            if not _matches(m.group(), recorded, text[b:b + 16]):
                bad.append(f"[{m.group()}] is marked full mode but is in no record of results/{chapter}_*.json: "
                           f"…{context}…")
            continue
        bad.append(f"{m.group()} is neither a bracketed full-mode value nor a named constant: …{context}…")
    return bad


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=[p.name[:2] for p in NOTEBOOKS])
def test_every_number_in_a_summary_is_full_mode_or_a_constant(nb_path):
    chapter = nb_path.name[:2]
    text = _summary(nb_path)
    assert text.strip(), f"chapter {chapter} has a Summary"
    bad = unexplained(chapter, text, _recorded(chapter))
    assert not bad, f"chapter {chapter}'s Summary:\n" + "\n".join(bad)


def test_the_check_catches_a_quick_mode_number_and_a_wrong_full_mode_one():
    recorded = [0.981, 0.976]
    note = "Numbers in brackets are the committed full-mode run.\n"
    assert unexplained("03", note + "reaches 90% sparsity within 1 point of the baseline", recorded)
    assert unexplained("03", note + "at 90% sparsity [97.9 %] against [98.1 %]", recorded)
    assert not unexplained("03", note + "at 90% sparsity [97.6 %] against [98.1 %]", recorded)
    assert unexplained("03", "at 90% sparsity [97.6 %]", recorded), "brackets count only under the note"
