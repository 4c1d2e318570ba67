"""The command lines the hardening suite drives, per tool, on bundled inputs."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class WriterCase:
    name: str
    tool: str
    argv: tuple[str, ...]          # `{repo}` = repository root; outputs are relative (cwd = a fresh directory)
    outputs: tuple[str, ...]       # files the run must produce
    kill_after: tuple[float, ...] = (0.3, 0.8)
    notes: str = field(default="", compare=False)


WRITER_CASES: list[WriterCase] = [
    WriterCase("convert-pytorch", "chakra-convert",
               ("pytorch", "{repo}/tests/data/transformer.et.json", "{repo}/tests/data/mlp.et.json",
                "--kineto", "{repo}/tests/data/transformer.kineto.json", "--kineto", "{repo}/tests/data/mlp.kineto.json",
                "-o", "t", "-q"),
               ("t.0.et", "t.1.et"), kill_after=(0.2, 0.4, 0.6, 0.9)),
    WriterCase("convert-gz", "chakra-convert",
               ("pytorch", "{repo}/tests/data/gloo.rank0.et.json", "{repo}/tests/data/gloo.rank1.et.json",
                "--gz", "-o", "g", "-q"), ("g.0.et.gz", "g.1.et.gz", "g.comm_groups.json"), kill_after=(0.3, 0.6)),
    WriterCase("convert-text", "chakra-convert",
               ("text", "{repo}/tests/data/hybrid.txt", "-o", "h", "--npus", "16", "--passes", "20", "-q"),
               tuple(f"h.{r}.et" for r in range(16)), kill_after=(0.3, 0.6)),
    WriterCase("astra-run", "astra-run",
               ("--workload", "{repo}/tests/data/et/hybrid", "--system", "{repo}/examples/configs/astra-run/ring_2d.json",
                "--network", "{repo}/examples/configs/astra-run/torus2d_4x4.yml", "-o", "r.json", "--timeline",
                "t.json", "-q"), ("r.json", "t.json"), kill_after=(0.4, 0.8)),
    WriterCase("astra-run-congestion", "astra-run",
               ("--workload", "{repo}/tests/data/et/gloo", "--system", "{repo}/examples/configs/astra-run/ring_1d.json",
                "--network", "{repo}/examples/configs/astra-run/ring2.yml", "--backend", "congestion", "-o", "r.json",
                "-q"), ("r.json",), kill_after=(0.4,)),
    # (the schedule JSON holds synthesis_seconds, a wall-clock figure, so only the ETs and XML are compared)
    WriterCase("tacos-synth", "tacos-synth",
               ("--topology", "{repo}/examples/configs/tacos-synth/torus4x4.yml", "--collective", "all-reduce",
                "--size", "64MiB", "--chunks", "auto", "--seed", "3", "--et-prefix", "ar", "--msccl-xml", "ar.xml",
                "-q"), tuple(f"ar.{r}.et" for r in range(16)) + ("ar.xml",), kill_after=(0.5, 0.9)),
    WriterCase("comet-eval-emit", "comet-sweep",
               ("eval", "--model", "megatron-1.7b", "--cluster", "a100-80gb", "--gpus", "16", "--tp", "4", "--pp",
                "2", "--batch", "32", "--emit-et", "it", "-o", "r.json", "-q"),
               ("r.json", "it.comm_groups.json") + tuple(f"it.{r}.et" for r in range(16)), kill_after=(0.6, 1.0)),
    WriterCase("xrbench-run", "xrbench-run",
               ("--scenario", "all", "--accelerators", "B_4K", "--accelerators", "J_4K", "--compat", "xrbench-v0.1",
                "--seed", "1", "-o", "s.csv", "--timeline", "t.csv", "--report", "r.json", "--layers", "l.csv", "-q"),
               ("s.csv", "t.csv", "r.json", "l.csv"), kill_after=(0.4, 0.8)),
    WriterCase("xrbench-run-costs", "xrbench-run",
               ("--scenarios-file", "{repo}/examples/configs/xrbench-run/my_scenarios.yml", "--scenario", "ar_gaming",
                "--costs", "{repo}/examples/configs/xrbench-run/costs.csv", "--seed", "2", "-o", "s.csv",
                "--timeline", "t.csv", "--report", "r.json", "-q"), ("s.csv", "t.csv", "r.json"), kill_after=(0.3,)),
    WriterCase("sushi-serve-trace", "sushi-serve",
               ("{repo}/tests/data/sushi/small_menu.yml", "--trace", "{repo}/tests/data/sushi/trace.csv",
                "-o", "r.json", "--queries-csv", "q.csv", "--layers-csv", "l.csv", "--plot", "p.png", "-q"),
               ("r.json", "q.csv", "l.csv", "p.png"), kill_after=(0.3, 0.7)),
    WriterCase("sushi-serve-default", "sushi-serve",
               ("--queries", "20000", "--seed", "1", "-o", "r.json", "--queries-csv", "q.csv", "--plot", "p.png", "-q"),
               ("r.json", "q.csv", "p.png"), kill_after=(0.5, 1.0)),
    WriterCase("vegeta-sim", "vegeta-sim",
               ("--layers", "bert-large", "--sparsity", "all", "-o", "l.csv", "--report", "r.json", "--plot", "p.png",
                "-q"), ("l.csv", "r.json", "p.png"), kill_after=(0.4, 0.9)),
    WriterCase("vegeta-sim-et", "vegeta-sim",
               ("--from-et", "{repo}/tests/data/vegeta/transformer", "--sparsity", "2:4", "--et-out", "v",
                "--report", "r.json", "-q"), ("v.0.et", "r.json"), kill_after=(0.3,)),
    WriterCase("synth-fit", "chakra-synth",
               ("fit", "{repo}/tests/data/synth/mlp_64x1", "{repo}/tests/data/synth/mlp_128x1",
                "{repo}/tests/data/synth/mlp_256x1", "{repo}/tests/data/synth/mlp_512x1", "-o", "m.json", "-q"),
               ("m.json",), kill_after=(0.2, 0.5)),
    WriterCase("synth-sample", "chakra-synth",
               ("sample", "{repo}/examples/configs/chakra-synth/mlp.model.json", "-o", "s", "--ranks", "8",
                "--nodes", "20000", "--param-bytes", "4MiB", "--seed", "3", "-q"),
               tuple(f"s.{r}.et" for r in range(8)), kill_after=(0.5, 1.2)),
    WriterCase("convert-to-json", "chakra-convert",
               ("to-json", "{repo}/tests/data/et/hybrid.0.et", "-o", "h.json", "-q"), ("h.json",), kill_after=(0.2,)),
    # (the SQLite result store is resumable by design — tested by tests/comet — so it is not in this list)
]
