"""GEMM workloads: built-in presets and custom YAML.

Every GEMM is C[M x N] = A[M x K] B[K x N] with A = the weights (pruned, compressed along K), B = activations:
  linear / FC layer      M = output features, K = input features, N = tokens (batch x sequence)
  convolution (im2col)   M = output channels, K = input channels x kh x kw, N = output pixels (batch x H x W)
Presets (batch 1; only weight GEMMs - attention score/context products have no weights to prune):
  resnet50    He et al., "Deep Residual Learning for Image Recognition", CVPR 2016, Table 1 (50-layer), in the
              torchvision layout (stride on the 3x3 conv of each first bottleneck), 224x224 input: 53 convs + fc
  bert-base   Devlin et al., "BERT", NAACL 2019: L=12, H=768, FFN 3072; sequence length 512
  bert-large  same paper: L=24, H=1024, FFN 4096; sequence length 512
  gpt3        Brown et al., "Language Models are Few-Shot Learners", 2020, Table 2.1 (GPT-3 175B): 96 layers,
              d_model 12288, FFN 4 x 12288; context 2048 tokens
Custom YAML:
  name: my-model
  layers:
    - {name: fc1, m: 4096, k: 1024, n: 512, count: 24}     # count = identical repeats (default 1)
    - {name: scores, m: 512, k: 64, n: 512, sparse: false} # sparse: false = not a weight GEMM, runs dense
"""
from __future__ import annotations

from dataclasses import dataclass, field

from chakra_tools.common import ToolError, load_config

from .model import Gemm


@dataclass
class LayerSpec:
    name: str
    m: int
    k: int
    n: int
    count: int = 1
    sparse: bool = True

    def validate(self) -> None:
        for key in ("m", "k", "n", "count"):
            v = getattr(self, key)
            if v < 1:
                raise ValueError(f"{key} must be >= 1 (got {v})")
            if v > 1 << 40:
                raise ValueError(f"{key} = {v} is unreasonably large")


@dataclass
class WorkloadFile:
    layers: list[LayerSpec]
    name: str = ""

    def validate(self) -> None:
        if not self.layers:
            raise ValueError("layers: the list is empty")
        names = [x.name for x in self.layers]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"layers: duplicate layer name(s) {', '.join(dup)}")


def _resnet50() -> list[Gemm]:
    def conv(name, c_out, c_in, r, res_in, res_out):
        # im2col GEMM; distinct B bytes in memory = the BF16 input feature map (the 9x/49x expansion is cache reuse)
        return Gemm(name, c_out, c_in * r * r, res_out * res_out, b_unique_bytes=c_in * res_in * res_in * 2)

    out = [conv("conv1", 64, 3, 7, 224, 112)]
    c_in, res = 64, 56                       # after the 3x3/2 max-pool
    for stage, (width, blocks) in enumerate(((64, 3), (128, 4), (256, 6), (512, 3)), start=2):
        c_out = 4 * width
        for b in range(blocks):
            first = b == 0
            stride = 2 if first and stage > 2 else 1
            res_out = res // stride
            tag = f"conv{stage}_{b + 1}"
            out.append(conv(f"{tag}.reduce", width, c_in, 1, res, res))          # 1x1 at the input resolution
            out.append(conv(f"{tag}.3x3", width, width, 3, res, res_out))        # 3x3, carries the stride
            out.append(conv(f"{tag}.expand", c_out, width, 1, res_out, res_out))
            if first:                                                             # projection shortcut (1x1/s)
                out.append(conv(f"{tag}.shortcut", c_out, c_in, 1, res, res_out))
            c_in, res = c_out, res_out
    out.append(Gemm("fc", 1000, 2048, 1))
    return out


def _transformer(prefix: str, layers: int, d: int, ffn: int, tokens: int) -> list[Gemm]:
    rows = [Gemm(f"{prefix}.{p}", d, d, tokens, count=layers) for p in ("q", "k", "v", "attn_out")]
    rows.append(Gemm(f"{prefix}.ffn1", ffn, d, tokens, count=layers))
    rows.append(Gemm(f"{prefix}.ffn2", d, ffn, tokens, count=layers))
    return rows


PRESETS = {
    "resnet50": ("ResNet-50 (He et al. 2016), 224x224, batch 1", _resnet50),
    "bert-base": ("BERT-base (Devlin et al. 2019), seq 512, batch 1",
                  lambda: _transformer("bert-base", 12, 768, 3072, 512)),
    "bert-large": ("BERT-large (Devlin et al. 2019), seq 512, batch 1",
                   lambda: _transformer("bert-large", 24, 1024, 4096, 512)),
    "gpt3": ("GPT-3 175B (Brown et al. 2020), 2048 tokens, batch 1",
             lambda: _transformer("gpt3", 96, 12288, 4 * 12288, 2048)),
}


@dataclass
class Workload:
    name: str
    description: str
    gemms: list[Gemm] = field(default_factory=list)
    source: str | None = None          # file it came from (for provenance)


def preset(name: str) -> Workload:
    if name not in PRESETS:
        raise ToolError(f"unknown layer preset {name!r} (presets: {', '.join(PRESETS)}; or a YAML file)")
    desc, make = PRESETS[name]
    return Workload(name, desc, make())


def load_workload(path: str) -> Workload:
    """A custom layer YAML/JSON (see module docstring)."""
    wf = load_config(WorkloadFile, path)
    gemms = [Gemm(x.name, x.m, x.k, x.n, x.count, x.sparse) for x in wf.layers]
    return Workload(wf.name or str(path), f"{len(gemms)} layer(s) from {path}", gemms, str(path))


def resolve_layers(spec: str) -> Workload:
    """--layers value: a preset name, or a path to a YAML/JSON file."""
    if spec in PRESETS:
        return preset(spec)
    if spec.endswith((".yml", ".yaml", ".json")) or "/" in spec:
        return load_workload(spec)
    raise ToolError(f"unknown layer preset {spec!r} (presets: {', '.join(PRESETS)}; or a .yml/.json file)")
