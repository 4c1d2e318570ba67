"""COMET: cluster design-space exploration for large-model training.

    from comet import evaluate, load_model, load_cluster
    r = evaluate(load_model("megatron-1t"), load_cluster("a100-80gb"), gpus=3072, tp=8, pp=64, batch=3072)
    float(r["tflops_per_gpu"])
"""

from comet.model import Cluster, TransformerModel, load_cluster, load_model
from comet.perf import Calibration, evaluate

__all__ = ["evaluate", "Calibration", "load_model", "load_cluster", "TransformerModel", "Cluster"]
