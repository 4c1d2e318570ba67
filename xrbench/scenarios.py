"""Usage scenarios: models at target FPS, cascades with trigger probability (reference/xrbench.md §2)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from chakra_tools.common import ConfigError, load_mapping

from .models import MODELS

# At most one frame per millisecond: the reference's integer period 1000 // fps is 0 above it, and a 700 ms
# window then holds at most 700 frames per model (an unbounded rate would allocate frames until memory runs out).
MAX_FPS = 1000.0
MODEL_KEYS = ("id", "fps", "upstream", "probability")

@dataclass(frozen=True)
class ScenarioModel:
    id: str
    fps: float
    upstream: str | None = None
    probability: float = 1.0


@dataclass(frozen=True)
class Scenario:
    name: str
    models: tuple[ScenarioModel, ...] = field(default_factory=tuple)

    def model(self, mid: str) -> ScenarioModel:
        return next(m for m in self.models if m.id == mid)


def _sc(name, *models) -> Scenario:
    return Scenario(name, tuple(ScenarioModel(*m) for m in models))


BUILTIN: dict[str, Scenario] = {s.name: s for s in [
    _sc("social_interaction_a", ("ES", 60), ("GE", 60, "ES"), ("DR", 30), ("HT", 30)),
    _sc("social_interaction_b", ("ES", 60), ("GE", 60, "ES"), ("AS", 30)),
    _sc("outdoor_activity_a", ("KD", 3), ("ASR", 3, "KD", 0.2), ("SS", 10), ("OD", 30)),
    _sc("outdoor_activity_b", ("KD", 3), ("ASR", 3, "KD", 0.2), ("OD", 30)),
    _sc("ar_assistant", ("KD", 3), ("ASR", 3, "KD", 0.5), ("SS", 10), ("DE", 30), ("PD", 15), ("OD", 10)),
    _sc("ar_gaming", ("HT", 45), ("DE", 30), ("PD", 15)),
    _sc("vr_gaming", ("ES", 60), ("GE", 60, "ES"), ("HT", 45)),
]}
SCENARIO_ORDER = list(BUILTIN)
# Fig. 7 probability sweep: VR gaming with the ES->GE trigger probability varied.
for _p in (25, 50, 75, 100):
    BUILTIN[f"vr_gaming_{_p}p"] = _sc(f"vr_gaming_{_p}p", ("ES", 60), ("GE", 60, "ES", _p / 100), ("HT", 45))


def validate(sc: Scenario, file=None) -> Scenario:
    ids = [m.id for m in sc.models]
    if not ids:
        raise ConfigError(file, f"{sc.name}.models", "scenario has no models")
    if len(set(ids)) != len(ids):
        raise ConfigError(file, f"{sc.name}.models", "a model appears twice")
    for i, m in enumerate(sc.models):
        key = f"{sc.name}.models[{i}]"
        if m.id not in MODELS:
            raise ConfigError(file, key, f"unknown model {m.id!r} (known: {' '.join(MODELS)})")
        if not 0 < m.fps <= MAX_FPS:       # NaN fails here too
            raise ConfigError(file, key + ".fps", f"must be > 0 and <= {MAX_FPS:g}, got {m.fps:g}")
        if not (0.0 <= m.probability <= 1.0):
            raise ConfigError(file, key, f"probability must be in [0, 1], got {m.probability}")
        if m.upstream is not None and m.upstream not in ids:
            raise ConfigError(file, key, f"upstream {m.upstream!r} is not a model of this scenario")
    up = {m.id: m.upstream for m in sc.models}
    for start in ids:
        seen, cur = set(), start
        while cur is not None:
            if cur in seen:
                raise ConfigError(file, sc.name, f"cascade cycle through {cur}")
            seen.add(cur)
            cur = up[cur]
    return sc


def load_scenarios(path: str | Path) -> dict[str, Scenario]:
    """YAML: `{name: {models: [{id: HT, fps: 45, upstream: ES, probability: 0.5}, ...]}}`."""
    data = load_mapping(path)
    out = {}
    for name, body in data.items():
        if not isinstance(body, dict) or not isinstance(body.get("models"), list):
            raise ConfigError(path, str(name), "expected a mapping with a 'models' list")
        for k in body:
            if k != "models":
                raise ConfigError(path, f"{name}.{k}", "unknown key (known keys: models)")
        ms = []
        for i, m in enumerate(body["models"]):
            key = f"{name}.models[{i}]"
            if not isinstance(m, dict) or "id" not in m or "fps" not in m:
                raise ConfigError(path, key, "expected a mapping with 'id' and 'fps'")
            for k in m:
                if k not in MODEL_KEYS:
                    raise ConfigError(path, f"{key}.{k}", f"unknown key (known keys: {', '.join(MODEL_KEYS)})")
            fps, prob = m["fps"], m.get("probability", 1.0)
            if isinstance(fps, bool) or not isinstance(fps, (int, float)):
                raise ConfigError(path, key + ".fps", f"expected a number, got {fps!r}")
            if isinstance(prob, bool) or not isinstance(prob, (int, float)):
                raise ConfigError(path, key + ".probability", f"expected a number, got {prob!r}")
            ms.append(ScenarioModel(str(m["id"]), float(fps), m.get("upstream"), float(prob)))
        out[str(name)] = validate(Scenario(str(name), tuple(ms)), path)
    return out
