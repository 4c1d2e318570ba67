"""Checking a chakra-synth model document (model.json) before it is sampled: one-line errors, never a traceback."""

from __future__ import annotations

from chakra_tools.common import ToolError
from chakra_tools.synth.arch import check_architecture
from chakra_tools.synth.groups import parse_role, split_kind
from chakra_tools.synth.model import FORMAT, VERSION
from chakra_tools.synth.programs import PROGRAMS_VERSION
from chakra_tools.synth.scaling import check_scaling, numbers

MAX_DESCRIBED_NODES = 1 << 24
MAX_THREADS = 1 << 10
_REQUIRED_KEYS = ("order", "kinds", "kind_stats", "markov", "nodes_per_rank")
_TABLES = ("duration_us", "num_ops", "tensor_size", "comm_size", "data_distance", "ctrl_distance",
           "data_cross_distance", "ctrl_cross_distance")


def _digits(key: object) -> bool:
    """A JSON object key that is a non-negative integer in ASCII digits ("²".isdigit() is true too)."""
    return isinstance(key, str) and key.isascii() and key.isdigit()


def _numbers(values: object, hi: float = 1e18) -> bool:
    """A list of finite numbers in [0, hi] (what every quantile table of a model is)."""
    return numbers(values, lo=0, hi=hi)


def _sorted_table(values: object) -> bool:
    """A quantile table: a non-decreasing list of finite numbers in [0, 1e18] (empty: nothing observed)."""
    return _numbers(values) and all(a <= b for a, b in zip(values, values[1:]))


def _check_chain(markov: object, size: int, name: str, what: str, source: str) -> None:
    if not isinstance(markov, dict) or "" not in markov:
        raise ToolError(f"{source}: model has no {what} statistics ('{name}' lacks the empty context)")
    for ctx, nxt in markov.items():
        ok = isinstance(nxt, dict) and nxt and all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 and _digits(k) and int(k) < size
            for k, v in nxt.items())
        if not ok:
            raise ToolError(f"{source}: {name}['{ctx}'] must map {what} indices (< {size}) to positive counts")


def check_model(model: object, source: str = "model") -> dict:
    """Raise a one-line ToolError unless `model` looks like a chakra-synth model."""
    if not isinstance(model, dict) or model.get("format") != FORMAT:
        raise ToolError(f"{source}: not a chakra-synth model (expected \"format\": \"{FORMAT}\")")
    if model.get("version") == PROGRAMS_VERSION:
        from chakra_tools.synth.programs import check_programs
        check_programs(model, source)
        return model
    if model.get("version") not in (1, 2, VERSION):
        raise ToolError(f"{source}: model version {model.get('version')!r} is not supported (expected {VERSION})")
    for key in _REQUIRED_KEYS:
        if key not in model:
            raise ToolError(f"{source}: model lacks key '{key}'")
    if model["version"] != VERSION and isinstance(model["kind_stats"], dict) and any(
            isinstance(st, dict) and numbers(st.get("group_fraction") or [1], lo=0, hi=1)
            and min(st.get("group_fraction") or [1]) < 1 for st in model["kind_stats"].values()):
        raise ToolError(f"{source}: a version {model['version']} model holds sub-world groups as fractions of the "
                        "world; refit it with this chakra-synth (groups are process-group roles now)")
    order = model["order"]
    if not isinstance(order, int) or isinstance(order, bool) or not 0 <= order <= 8:
        raise ToolError(f"{source}: 'order' must be an integer 0..8, got {order!r}")
    for key, default in (("position_bins", 0), ("channel_block", 0)):
        v = model.get(key, default)
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 1024:
            raise ToolError(f"{source}: '{key}' must be an integer 0..1024, got {v!r}")
    kinds, stats, markov = model["kinds"], model["kind_stats"], model["markov"]
    if not isinstance(kinds, list) or not kinds or not all(isinstance(k, str) for k in kinds):
        raise ToolError(f"{source}: 'kinds' must be a non-empty list of kind names")
    if len(set(kinds)) != len(kinds):
        raise ToolError(f"{source}: 'kinds' names a kind twice: {sorted({k for k in kinds if kinds.count(k) > 1})[0]}")
    for k in kinds:
        base, role = split_kind(k)
        if role:
            if not base.startswith("COLL:"):
                raise ToolError(f"{source}: kind '{k}': only collectives run on a process-group role")
            try:
                parse_role(role)
            except ToolError as e:
                raise ToolError(f"{source}: kind '{k}': {e}") from None
    if not isinstance(stats, dict) or any(not isinstance(stats.get(k), dict) for k in kinds):
        raise ToolError(f"{source}: 'kind_stats' must hold an object for every kind")
    _check_chain(markov, len(kinds), "markov", "kind", source)
    chain = model.get("thread_chain")
    if chain is not None:
        tokens = chain.get("tokens") if isinstance(chain, dict) else None
        if not (isinstance(tokens, list) and tokens and all(
                isinstance(t, list) and len(t) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in t)
                and 0 <= t[0] < len(kinds) and 0 <= t[1] < MAX_THREADS for t in tokens)):
            raise ToolError(f"{source}: thread_chain.tokens must be a list of [kind index, thread slot] pairs")
        _check_chain(chain.get("markov"), len(tokens), "thread_chain.markov", "token", source)
    if not (_sorted_table(model["nodes_per_rank"]) and model["nodes_per_rank"] and all(1 <= v <= MAX_DESCRIBED_NODES
                                                           for v in model["nodes_per_rank"])):
        raise ToolError(f"{source}: 'nodes_per_rank' must be a sorted list of numbers 1..{MAX_DESCRIBED_NODES}")
    for k in kinds:
        st = stats[k]
        for key in _TABLES:
            if key in st and not _sorted_table(st[key]):
                raise ToolError(f"{source}: kind_stats['{k}'].{key} must be a list of non-negative numbers in "
                                "ascending order")
        c = st.get("count")
        if not (isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 1 << 40):
            raise ToolError(f"{source}: kind_stats['{k}'].count must be a non-negative integer, got {c!r}")
        for key in ("data_cross_fraction", "ctrl_cross_fraction", "data_up_fraction", "ctrl_up_fraction"):
            if key in st and not _numbers([st[key]], hi=1.0):
                raise ToolError(f"{source}: kind_stats['{k}'].{key} must be a fraction 0..1")
        for key in ("data_fanin", "ctrl_fanin", "thread_slots", "num_ops_atoms", "tensor_size_atoms", "comm_size_atoms", "data_up", "ctrl_up"):
            tab = st.get(key, {})
            top = 1 << (63 if key.endswith("_atoms") else 6 if key.endswith("_up") else 16)
            if not isinstance(tab, dict) or not all(_digits(a) and int(a) < top and isinstance(b, int)
                                                    and not isinstance(b, bool) and b >= 0 for a, b in tab.items()):
                raise ToolError(f"{source}: kind_stats['{k}'].{key} must map counts to non-negative integers")
            if tab and sum(tab.values()) <= 0:
                raise ToolError(f"{source}: kind_stats['{k}'].{key} has no observations")
            if key.endswith("_atoms") and [int(a) for a in tab] != sorted(int(a) for a in tab):
                raise ToolError(f"{source}: kind_stats['{k}'].{key} must list its values in ascending order")
        for key in ("data_cross_fraction_by_slot", "ctrl_cross_fraction_by_slot", "chained_by_slot"):
            tab = st.get(key, {})
            if not isinstance(tab, dict) or not all(_digits(o) and int(o) < MAX_THREADS and _numbers([v], hi=1.0)
                                                    for o, v in tab.items()):
                raise ToolError(f"{source}: kind_stats['{k}'].{key} must map thread slots 0..{MAX_THREADS - 1} to "
                                "fractions 0..1")
        for key in ("data_cross_slots", "ctrl_cross_slots"):
            tabs = st.get(key, {})
            if not isinstance(tabs, dict) or not all(
                    _digits(o) and int(o) < MAX_THREADS and isinstance(t, dict) and t and all(
                        _digits(a) and int(a) < MAX_THREADS and isinstance(c, int) and not isinstance(c, bool)
                        and c > 0 for a, c in t.items()) for o, t in tabs.items()):
                raise ToolError(f"{source}: kind_stats['{k}'].{key} must map thread slots to tables of the slots "
                                f"0..{MAX_THREADS - 1} they wait on")
        for key in ("data_up_after", "ctrl_up_after"):
            tabs = st.get(key, {})
            if not isinstance(tabs, dict) or not all(
                    isinstance(b, str) and isinstance(t, dict) and t and all(
                        _digits(a) and int(a) < 64 and isinstance(c, int) and not isinstance(c, bool) and c > 0
                        for a, c in t.items()) for b, t in tabs.items()):
                raise ToolError(f"{source}: kind_stats['{k}'].{key} must map kinds to tables of levels 0..63")
        for key in ("comm_size_order", "duration_us_order", "data_fanin_order", "ctrl_fanin_order"):
            order = st.get(key)
            if order is not None and not (_numbers(order, hi=1.0) and 1 <= len(order) <= 1024):
                raise ToolError(f"{source}: kind_stats['{k}'].{key} must be a list of 1..1024 fractions 0..1")
        for key in ("data_free_after",):
            tabs = st.get(key, {})
            if not isinstance(tabs, dict) or not all(
                    isinstance(b, str) and isinstance(z, list) and len(z) == 2
                    and all(isinstance(c, int) and not isinstance(c, bool) for c in z) and 0 <= z[0] <= z[1] <= 1 << 40
                    for b, z in tabs.items()):
                raise ToolError(f"{source}: kind_stats['{k}'].{key} must map kinds to [free nodes, nodes] counts")
        for key in ("work", "work_blocked"):
            wm = st.get(key)
            if wm is not None and not (isinstance(wm, dict) and _numbers([wm.get("overhead_us")], hi=1e9)
                                       and _numbers([wm.get("us_per_op")], hi=1e9)
                                       and numbers(wm.get("log_residual"), lo=-50.0, hi=50.0)):
                raise ToolError(f"{source}: kind_stats['{k}'].{key} must hold overhead_us, us_per_op, log_residual")
        frac = st.get("attr_fraction", {})
        if not isinstance(frac, dict) or not set(frac) <= set(_TABLES) or not _numbers(list(frac.values()), hi=1.0):
            raise ToolError(f"{source}: kind_stats['{k}'].attr_fraction must map attributes to fractions 0..1")
        if not _numbers([st.get("is_cpu_op", 0)]):
            raise ToolError(f"{source}: kind_stats['{k}'].is_cpu_op must be a number")
    if not _numbers([model.get("compute_us_per_node", 0)]):
        raise ToolError(f"{source}: 'compute_us_per_node' must be a non-negative number")
    threads = model.get("threads", {"1": 1})
    if not (isinstance(threads, dict) and threads and all(_digits(a) and 1 <= int(a) <= MAX_THREADS
                                                          and isinstance(b, int) and not isinstance(b, bool)
                                                          and b > 0 for a, b in threads.items())):
        raise ToolError(f"{source}: 'threads' must map thread counts 1..{MAX_THREADS} to positive counts")
    if any(int(a) >= MAX_THREADS for st in stats.values() for a in st.get("thread_slots", {})):
        raise ToolError(f"{source}: a kind's thread_slots name a slot beyond {MAX_THREADS - 1}")
    streams = model.get("stream_slots", [])
    if not (isinstance(streams, list) and all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < MAX_THREADS
                                              for s in streams)):
        raise ToolError(f"{source}: 'stream_slots' must list thread slots 0..{MAX_THREADS - 1}")
    cross = model.get("cross_rank", {})
    for key in ("duration_log_sd", "rank_log_sd", "segment_log_sd"):
        if not isinstance(cross, dict) or not _numbers([cross.get(key, 0)], hi=5.0):
            raise ToolError(f"{source}: 'cross_rank.{key}' must be a number in 0..5")
    for key in ("barrier_before", "barrier_after", "thread_descent"):
        if key in cross and not _numbers([cross[key]], hi=1.0):
            raise ToolError(f"{source}: 'cross_rank.{key}' must be a fraction 0..1")
    if "scaling" in model:
        bad = check_scaling(model["scaling"], kinds)
        if bad is not None:
            raise ToolError(f"{source}: malformed size laws at '{bad}'")
    if "architecture" in model:
        bad = check_architecture(model["architecture"], kinds)
        if bad is not None:
            raise ToolError(f"{source}: malformed architecture laws at '{bad}'")
    return model
