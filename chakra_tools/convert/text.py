"""ASTRA-sim's legacy text workload format → Chakra ETs (one file per NPU).

Format: line 1 = parallelism (MICRO, DATA, MODEL, HYBRID_DATA_MODEL, HYBRID_MODEL_DATA), line 2 = layer count, then
one line per layer: `name reserved fwd_t fwd_comm fwd_size ig_t ig_comm ig_size wg_t wg_comm wg_size update_t`.
Communication names: ALLREDUCE, ALLTOALL, ALLGATHER, REDUCESCATTER (anything else, e.g. NONE, = ALL_REDUCE as in
MLCommons). The dependency structure per parallelism matches MLCommons' text converter, so either tool's output
simulates the same. Compute times go to `duration_micros` unchanged (MLCommons' behaviour) unless
`time_unit="cycles"`, which divides by 1000 (1 cycle = 1 ns in ASTRA-sim).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chakra_tools.common import MAX_SIZE, ToolError
from chakra_tools.et import CommType, NodeType, make_attr
from chakra_tools.schema import et_def_pb2 as pb

_COMM = {"ALLREDUCE": CommType.ALL_REDUCE, "ALLTOALL": CommType.ALL_TO_ALL, "ALLGATHER": CommType.ALL_GATHER,
         "REDUCESCATTER": CommType.REDUCE_SCATTER}
PARALLELISMS = ("MICRO", "DATA", "MODEL", "HYBRID_DATA_MODEL", "HYBRID_MODEL_DATA")


@dataclass(frozen=True)
class Layer:
    name: str
    fwd_t: int
    fwd_comm: str
    fwd_size: int
    ig_t: int
    ig_comm: str
    ig_size: int
    wg_t: int
    wg_comm: str
    wg_size: int


def parse_text(path: Path) -> tuple[str, list[Layer], str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ToolError(f"{path}: file not found") from None
    except (UnicodeDecodeError, IsADirectoryError):
        raise ToolError(f"{path}: not an ASTRA-sim text workload (not a text file)") from None
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) < 2:
        raise ToolError(f"{path}: not an ASTRA-sim text workload (needs a parallelism line and a layer count)")
    parallelism = lines[0].split()[0]
    if parallelism not in PARALLELISMS:
        if parallelism.startswith("HYBRID_DLRM"):
            raise ToolError(f"{path}: line 1: parallelism {parallelism} is not supported yet")
        raise ToolError(f"{path}: line 1: unknown parallelism {parallelism!r} (expected one of {', '.join(PARALLELISMS)})")
    try:
        count = int(lines[1].split()[0])
    except ValueError:
        raise ToolError(f"{path}: line 2: layer count must be an integer, got {lines[1]!r}") from None
    layers = []
    for i, ln in enumerate(lines[2:], start=3):
        col = ln.split()
        try:
            layers.append(Layer(col[0], int(col[2]), col[3], int(col[4]), int(col[5]), col[6], int(col[7]),
                                int(col[8]), col[9], int(col[10])))
        except (IndexError, ValueError):
            raise ToolError(f"{path}: line {i}: cannot parse layer (expected 12 columns: name reserved fwd_t "
                            f"fwd_comm fwd_size ig_t ig_comm ig_size wg_t wg_comm wg_size update_t)") from None
        lay = layers[-1]
        values = (lay.fwd_t, lay.ig_t, lay.wg_t, lay.fwd_size, lay.ig_size, lay.wg_size)
        if min(values) < 0:
            raise ToolError(f"{path}: line {i}: times and sizes must be >= 0")
        if max(values) > MAX_SIZE:  # ET durations and sizes are 64-bit integers
            raise ToolError(f"{path}: line {i}: a time or size is out of range (at most 2^63 - 1)")
    if count != len(layers):
        raise ToolError(f"{path}: line 2 says {count} layers but {len(layers)} layer lines follow")
    if not layers:
        raise ToolError(f"{path}: no layers")
    return parallelism, layers, text


class _Builder:
    """Appends nodes with ids from one counter shared by all NPU files (like MLCommons)."""

    def __init__(self, start_id: int, scale: float):
        self.next_id = start_id
        self.nodes: list[pb.Node] = []
        self.scale = scale

    def _node(self, name: str, ntype: int, deps: list[pb.Node | None]) -> pb.Node:
        n = pb.Node(id=self.next_id, name=name, type=ntype)
        self.next_id += 1
        n.data_deps.extend(d.id for d in deps if d is not None)
        self.nodes.append(n)
        return n

    def comp(self, layer: str, phase: str, t: int, *deps: pb.Node | None) -> pb.Node:
        n = self._node(f"COMP_NODE_{layer}_{phase}", NodeType.COMP_NODE, list(deps))
        n.duration_micros = int(t * self.scale)
        return n

    def coll(self, name: str, comm: str, size: int, *deps: pb.Node | None) -> pb.Node:
        n = self._node(f"COMM_COLL_NODE_{name}_{comm}", NodeType.COMM_COLL_NODE, list(deps))
        n.attr.append(make_attr("comm_type", int(_COMM.get(comm, CommType.ALL_REDUCE))))
        n.attr.append(make_attr("comm_size", size))
        return n


def _one_npu(b: _Builder, par: str, layers: list[Layer], passes: int) -> None:
    last = len(layers) - 1
    wg_comm: dict[int, pb.Node | None] = {}
    wg_comp: dict[int, pb.Node | None] = {}
    for _ in range(passes):
        if par == "MICRO":
            for L in layers:
                b.coll(L.name, L.wg_comm, L.wg_size)
            continue
        fwd: dict[int, pb.Node] = {}
        fwd_comm: dict[int, pb.Node] = {}
        ig_comp: dict[int, pb.Node] = {}
        ig_comm: dict[int, pb.Node] = {}
        for i, L in enumerate(layers):
            if par == "DATA":
                fwd[i] = b.comp(L.name, "FWD", L.fwd_t, fwd.get(i - 1), wg_comm.get(i))
            elif par == "MODEL":
                fwd[i] = b.comp(L.name, "FWD", L.fwd_t, fwd_comm.get(i - 1), wg_comp.get(i))
                fwd_comm[i] = b.coll(L.name, L.fwd_comm, L.fwd_size, fwd[i])
            else:  # hybrids
                fwd[i] = b.comp(L.name, "FWD", L.fwd_t, wg_comm.get(i), fwd_comm.get(i - 1))
                fwd_comm[i] = b.coll(L.name, L.fwd_comm, L.fwd_size, fwd[i])
        for k, i in enumerate(reversed(range(len(layers)))):
            L = layers[i]
            if par == "DATA":
                prev = fwd[last] if k == 0 else ig_comp[i + 1]
                wg_comp[i] = b.comp(L.name, "BWD_WG", L.wg_t, prev)
                wg_comm[i] = b.coll(L.name, L.wg_comm, L.wg_size, wg_comp[i])
                if k != last:
                    ig_comp[i] = b.comp(L.name, "BWD_IG", L.ig_t, wg_comp[i])
                continue
            deps = [fwd_comm[last]] if k == 0 else [wg_comp[i + 1], ig_comm.get(i + 1)]
            ig_comp[i] = b.comp(L.name, "BWD_IG", L.ig_t, *deps)
            if k != last:
                suffix = "_IG_COMM_" if par != "MODEL" else ""
                ig_comm[i] = b.coll(L.name + suffix, L.ig_comm, L.ig_size, ig_comp[i])
            wg_comp[i] = b.comp(L.name, "BWD_WG", L.wg_t, ig_comp[i])
            if par != "MODEL":
                wg_comm[i] = b.coll(L.name, L.wg_comm, L.wg_size, wg_comp[i])
        if par == "DATA":
            wg_comm = {}
        elif par == "MODEL":
            wg_comp = {}
        else:
            wg_comm = {}


def convert_text(path: str | Path, npus: int, passes: int = 1, time_unit: str = "micros"
                 ) -> list[tuple[pb.GlobalMetadata, list[pb.Node]]]:
    """One (metadata, nodes) pair per NPU."""
    path = Path(path)
    if npus < 1:
        raise ToolError(f"--npus must be >= 1, got {npus}")
    if passes < 1:
        raise ToolError(f"--passes must be >= 1, got {passes}")
    par, layers, text = parse_text(path)
    b = _Builder(0, 1.0 if time_unit == "micros" else 1e-3)
    out = []
    for _ in range(npus):
        start = len(b.nodes)
        _one_npu(b, par, layers, passes)
        meta = pb.GlobalMetadata()
        meta.attr.append(make_attr("schema", "1.0.2-chakra.1.0.0", "string_val"))
        meta.attr.append(make_attr("input_file", text, "string_val"))
        out.append((meta, b.nodes[start:]))
    return out
