"""In-process runner and input mutators for the hardening (fuzz) suite.

A tool run is judged clean when it exits 0, 1 or 2 (usage), prints no traceback, raises no internal error,
and, on exit 1, says what is wrong in one `tool: error: ...` line.
"""

from __future__ import annotations

import copy
import importlib
import json
from collections.abc import Sequence
from glob import escape as glob_escape
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

TOOLS = {
    "chakra-convert": "chakra_tools.cli_convert",
    "chakra-synth": "chakra_tools.synth.cli",
    "tacos-synth": "tacos.cli",
    "astra-run": "astrasim_py.cli",
    "comet-sweep": "comet.cli",
    "sushi-serve": "sushi.cli",
    "vegeta-sim": "vegeta.cli",
    "xrbench-run": "xrbench.cli",
}


def tool_entry(tool: str):
    return importlib.import_module(TOOLS[tool]).main


def run_tool(tool: str, argv: list[str], capsys) -> tuple[int, str, str]:
    main = tool_entry(tool)
    capsys.readouterr()
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


def assert_clean(tool: str, code: int, err: str, context: str = "") -> None:
    where = f" [{context}]" if context else ""
    assert "Traceback" not in err, f"{tool}{where}: traceback on stderr:\n{err}"
    assert "internal error" not in err, f"{tool}{where}: internal error:\n{err}"
    assert code in (0, 1, 2), f"{tool}{where}: exit code {code}\n{err}"
    if code == 1:
        lines = [ln for ln in err.splitlines() if ln.startswith(f"{tool}: error:")]
        assert len(lines) == 1, f"{tool}{where}: expected one error line, got:\n{err}"



def run_clean(tool: str, argv: list[str], capsys, context: str = "", outputs: Sequence[Path] = ()) -> tuple[int, str]:
    """Run `tool` in-process and `assert_clean` it; when it failed, none of `outputs` may be left behind — neither
    the file, nor a sibling starting with its name, nor an atomic write's temp file `.<name>.*.tmp`."""
    code, _, err = run_tool(tool, argv, capsys)
    assert_clean(tool, code, err, context)
    if code != 0:
        for p in outputs:
            left = [*p.parent.glob(glob_escape(p.name) + "*"), *p.parent.glob(f".{glob_escape(p.name)}.*.tmp")]
            assert not left, f"{tool} [{context}]: partial output left: {left}"
    return code, err

# --------------------------------------------------------------------------- structure mutators
_junk = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                  st.text(max_size=12), st.lists(st.integers(-5, 5), max_size=3), st.dictionaries(st.text(max_size=4),
                                                                                                    st.integers(), max_size=2))


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.extend(_paths(v, prefix + (k,)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:6]):
            out.extend(_paths(v, prefix + (i,)))
    return out


@st.composite
def mutated(draw, base: Any, max_mutations: int = 3) -> Any:
    """A copy of `base` with a few values replaced by junk, keys deleted, or lists emptied."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, max_mutations))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "delete", "empty", "negate"]))
        if not path:
            if action == "replace":
                doc = draw(_junk)
            continue
        parent = doc
        try:
            for p in path[:-1]:
                parent = parent[p]
            key = path[-1]
            cur = parent[key]
        except (KeyError, IndexError, TypeError):
            continue
        if action == "delete":
            del parent[key]
        elif action == "empty" and isinstance(cur, (list, dict, str)):
            parent[key] = type(cur)()
        elif action == "negate" and isinstance(cur, (int, float)) and not isinstance(cur, bool):
            parent[key] = -cur if cur else -1
        else:
            parent[key] = draw(_junk)
    return doc


def dump_like(path: Path, doc: Any) -> str:
    """Serialise `doc` in the format `path`'s suffix implies."""
    if path.suffix == ".json":
        return json.dumps(doc, default=str)
    return yaml.safe_dump(doc, default_flow_style=None, allow_unicode=True)


@st.composite
def garbled_text(draw, base: str) -> str:
    """Truncations, byte flips and random text around a valid document."""
    kind = draw(st.sampled_from(["truncate", "splice", "random"]))
    if kind == "truncate" and base:
        return base[: draw(st.integers(0, len(base) - 1))]
    if kind == "splice" and base:
        i = draw(st.integers(0, len(base) - 1))
        return base[:i] + draw(st.text(min_size=1, max_size=8)) + base[i + 1:]
    return draw(st.text(max_size=200))


@st.composite
def garbled_bytes(draw, base: bytes) -> bytes:
    kind = draw(st.sampled_from(["truncate", "flip", "random", "append"]))
    if kind == "truncate" and base:
        return base[: draw(st.integers(0, len(base) - 1))]
    if kind == "flip" and base:
        b = bytearray(base)
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(b) - 1))
            b[i] = draw(st.integers(0, 255))
        return bytes(b)
    if kind == "append":
        return base + draw(st.binary(min_size=1, max_size=16))
    return draw(st.binary(max_size=300))


# CI runs a fixed, derandomized set of examples (a red run must mean a real regression, not a new random draw);
# FUZZ_RANDOM=1 FUZZ_EXAMPLES=2000 pytest tests/hardening explores further.
import os  # noqa: E402

from hypothesis import HealthCheck, settings  # noqa: E402

FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")), deadline=None,
                suppress_health_check=list(HealthCheck), derandomize=not os.environ.get("FUZZ_RANDOM"),
                database=None)
