"""A schedule as MSCCL XML (the algorithm format the MSCCL runtime loads).

<algo name proto nchannels nchunksperloop ngpus coll inplace outofplace minBytes maxBytes>, per <gpu id i_chunks
o_chunks s_chunks> one threadblock per peer and direction (<tb id send recv chan>), and <step s type srcbuf srcoff
dstbuf dstoff cnt depid deps hasdep>. Sends wait for the step that brought their chunk in (extra waits become `nop`
steps, as msccl-tools emits them); reduce-scatter receives are `rrc` (receive, reduce, copy). Chunk k of the
synthesizer (source NPU k mod N, its (k div N)-th chunk) lives at offset (k mod N)·c + k div N.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import quoteattr

from chakra_tools.common import atomic_write
from tacos.schedule import Schedule

_COLL = {"all-gather": "allgather", "reduce-scatter": "reducescatter", "all-reduce": "allreduce"}


def to_xml(s: Schedule) -> str:
    n, c = s.topo.npus, s.chunks_per_npu
    total = n * c
    buf = "o" if s.collective == "all-gather" else "i"

    def off(k: int) -> int:
        return (k % n) * c + k // n

    order = sorted(range(len(s.transfers)), key=lambda i: (s.transfers[i].start, s.transfers[i].end, i))
    # threadblocks per gpu: ("s", peer) / ("r", peer)
    tbs: list[dict[tuple[str, int], list[dict]]] = [{} for _ in range(n)]
    where: dict[tuple[str, int], tuple[int, int]] = {}   # (kind, transfer) → (tb index, step index)
    tb_ids: list[dict[tuple[str, int], int]] = [{} for _ in range(n)]

    def tb(g: int, key: tuple[str, int]) -> list[dict]:
        if key not in tbs[g]:
            tbs[g][key] = []
            tb_ids[g][key] = len(tb_ids[g])
        return tbs[g][key]

    for i in order:
        x = s.transfers[i]
        steps = tb(x.dst, ("r", x.src))
        rtype = "rrc" if x.phase == "rs" else "r"
        steps.append({"type": rtype, "k": x.chunk, "deps": [], "i": i})
        where[("r", i)] = (tb_ids[x.dst][("r", x.src)], len(steps) - 1)
    for i in order:
        x = s.transfers[i]
        steps = tb(x.src, ("s", x.dst))
        waits = [d for d in s.deps[i] if s.transfers[d].dst == x.src]
        for d in waits[:-1]:
            steps.append({"type": "nop", "k": x.chunk, "deps": [where[("r", d)]], "i": -1})
        steps.append({"type": "s", "k": x.chunk, "deps": [where[("r", waits[-1])]] if waits else [], "i": i})
    has_dep: set[tuple[int, int, int]] = set()
    for g in range(n):
        for steps in tbs[g].values():
            for st in steps:
                for t, si in st["deps"]:
                    has_dep.add((g, t, si))
    lines = [f'<algo name={quoteattr("tacos_" + _COLL[s.collective])} proto="Simple" nchannels="1" '
             f'nchunksperloop="{total}" ngpus="{n}" coll="{_COLL[s.collective]}" inplace="1" outofplace="0" '
             f'minBytes="0" maxBytes="0">']
    for g in range(n):
        i_chunks = 0 if s.collective == "all-gather" else total
        o_chunks = total if s.collective == "all-gather" else 0
        lines.append(f'  <gpu id="{g}" i_chunks="{i_chunks}" o_chunks="{o_chunks}" s_chunks="0">')
        for key, steps in sorted(tbs[g].items(), key=lambda kv: tb_ids[g][kv[0]]):
            kind, peer = key
            t = tb_ids[g][key]
            send, recv = (peer, -1) if kind == "s" else (-1, peer)
            lines.append(f'    <tb id="{t}" send="{send}" recv="{recv}" chan="0">')
            for si, st in enumerate(steps):
                depid, dep = st["deps"][0] if st["deps"] else (-1, -1)
                o = off(st["k"])
                lines.append(f'      <step s="{si}" type="{st["type"]}" srcbuf="{buf}" srcoff="{o}" dstbuf="{buf}" '
                             f'dstoff="{o}" cnt="1" depid="{depid}" deps="{dep}" '
                             f'hasdep="{1 if (g, t, si) in has_dep else 0}"/>')
            lines.append("    </tb>")
        lines.append("  </gpu>")
    lines.append("</algo>")
    return "\n".join(lines) + "\n"


def write_xml(s: Schedule, path: str | Path) -> None:
    text = to_xml(s)
    with atomic_write(path) as fh:
        fh.write(text)
