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


WRITER_CASES: list[WriterCase] = []
