"""vegeta: VEGETA sparse/dense GEMM tile engines for CPUs - functional and timing model (`vegeta-sim`)."""
from .api import PUBLISHED, run, validation
from .engines import BASELINE_ENGINE, DEFAULT_ENGINE, CoreConfig, Engine, parse_engine
from .formats import RowwiseTile, bf16, compress_nm, decompress_nm, rowwise_tiles
from .functional import Machine
from .model import Gemm, GemmTiming, gemm_timing
from .prune import prune_nm, prune_row_wise, prune_unstructured, rowwise_cover
from .sparsity import Pattern, parse_pattern
from .timing import Core, time_stream
from .workloads import PRESETS, Workload, load_workload, preset, resolve_layers

__all__ = ["PUBLISHED", "run", "validation", "BASELINE_ENGINE", "DEFAULT_ENGINE", "CoreConfig", "Engine",
           "parse_engine", "RowwiseTile", "bf16", "compress_nm", "decompress_nm", "rowwise_tiles", "Machine", "Gemm",
           "GemmTiming", "gemm_timing", "prune_nm", "prune_row_wise", "prune_unstructured", "rowwise_cover",
           "Pattern", "parse_pattern", "Core", "time_stream", "PRESETS", "Workload", "load_workload", "preset",
           "resolve_layers"]
