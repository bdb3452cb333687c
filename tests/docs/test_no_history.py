"""The docs describe the system as it is: no narration of how it got there ("the earlier
recipe", "cache entries made before this", "the old behaviour", "before this change").

A reader wants to know what simplepose does and what its numbers are, not what a previous
version did. Each pattern below is a phrase that only narrates history; words with everyday
present-tense uses ("before", "previous", "old", "later", "used to") are matched only in the
combinations that narrate. A hit names file:line so the sentence can be rewritten as a
statement of today.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

HISTORY_PATTERNS: dict[str, str] = {
    # "earlier" in these docs only ever dated a recipe, a run or a version. A temporal use
    # inside the system ("an earlier frame") reads as well with "previous", which is allowed.
    "earlier": r"\bearlier\b(?! than)",
    # "previous frame", "the old id", "the old file" (a key file replaced on disk) describe
    # today's behaviour; these nouns after "previous/old/former/original" narrate versions.
    "an old version": r"\b(previous|old|older|former|original)\s+(recipe|behaviou?r|version|"
    r"release|session|code|design|implementation|default|demo|layout|approach|export)s?\b",
    "a session": r"\b(this|that|the|a|last|previous|earlier)\s+session\b",
    "no longer": r"\bno longer\b|\bany ?more\b",
    # "a key used to sign" is a present-tense use; "it used to be" / "used to run" narrate.
    "used to": r"(?<!is )(?<!are )(?<!be )(?<!been )(?<!was )(?<!were )\bused to "
    r"(be|run|take|give|have|say|return|live|sit|hold|keep|need|fail|work)\b",
    "was changed": r"\b(was|were|has been|have been|got)\s+(changed|replaced|removed|renamed|"
    r"moved|rewritten|reverted|dropped|fixed)\b",
    "before/after a change": r"\b(before|after|since|until)\s+(this|that|the|these|those)\s+"
    r"(change|changes|fix|fixes|commit|rewrite|regroup|refactor|session)\b",
    "this change": r"\bthis change\b",
    "made before this": r"\b(made|written|created|exported|built)\s+(before|by older|with older|"
    r"by earlier|by a previous)\b",
    # A table cell or sentence opening with "Before:" / "Before," / "| before" compares with a
    # past state; "Before quantization each deconv is rewritten" (no punctuation) is a step.
    "Before: as a label": r"(^|[.;|]\s*)before\s*[:,]|\|\s*before\b",
    "tried and reverted": r"\b(tried and reverted|(was|were) tried|a trial change)\b",
    "goals of an issue": r"\b(goals? of|from|since|in)\s+issue\s+#\d+",
}
COMPILED = {name: re.compile(p, re.IGNORECASE) for name, p in HISTORY_PATTERNS.items()}


def doc_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def history_hits(text: str) -> list[tuple[int, str, str]]:
    """(line number, pattern name, line) for every line that narrates history."""
    hits = []
    for number, line in enumerate(text.splitlines(), 1):
        for name, pattern in COMPILED.items():
            if pattern.search(line):
                hits.append((number, name, line.strip()))
    return hits


def test_no_doc_page_narrates_history() -> None:
    found = [
        f"{path.relative_to(REPO)}:{number}: [{name}] {line[:120]}"
        for path in doc_files()
        for number, name, line in history_hits(path.read_text())
    ]
    assert not found, "rewrite as a statement of today:\n" + "\n".join(found)


def test_the_patterns_catch_narration_and_spare_present_tense() -> None:
    narration = [
        "280 s with the earlier demo recipe",
        "**Cache entries made before this** (MindIR only) get the missing buckets",
        "no detection: the whole image is one person (the old behaviour)",
        "It used to be the lowest float32, which kept the stem in float",
        "Runs of the previous session at load 9-50",
        "| before: float deconvs and stem pool | final | 0.9478 |",
        "Before, the INT8 graph ran the three deconvolutions in float",
        "measured after the change; the other two are from before it.",
        "The option was changed to default to DARK.",
        "MindSpore is no longer needed on CPU.",
        "Against the goals of issue #16 (the run of 22:13):",
        "tried and reverted: a call after a busy one waiting to fill",
    ]
    present = [
        "keypoints of every person seen in the previous frame are moved into the new frame",
        "a person who leaves the view and comes back gets the old id",
        "the container keeps seeing the old file until it is recreated",
        "Before quantization each one is rewritten as its four output phases",
        "checked from Content-Length before reading, and while reading chunked bodies",
        "the key is used to sign every request",
        "a legacy (pre-zip) format is read too",
        "a wrong key is refused and not kept; the right one is kept in sessionStorage",
        "A route added later is protected without doing anything.",
    ]
    assert all(history_hits(line) for line in narration), [
        line for line in narration if not history_hits(line)
    ]
    assert not any(history_hits(line) for line in present), [
        (line, history_hits(line)) for line in present if history_hits(line)
    ]
