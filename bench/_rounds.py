"""Interleaved measurements across processes: a worker process keeps its model loaded and
measures one round each time the bench asks, so rounds of different runtimes (PyTorch, ours,
MindSpore) alternate on the shared machine while each lives in its own process and environment.

Protocol, one JSON object a line: the bench writes ``{"seconds": S}`` (or ``{"steps": N}``) to
the worker's stdin, the worker answers one JSON line on stdout; EOF ends the worker. Standard
library only: PyTorch peers import this next to torch and nothing of simplepose.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

READY = {"ready": True}


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without ``ONEDNN_MAX_CPU_ISA`` (which ``import simplepose``
    sets for MindSpore) and without ``SIMPLEPOSE_*`` settings, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "ONEDNN_MAX_CPU_ISA" and not k.startswith("SIMPLEPOSE_")
    }
    return {**env, **(extra or {})}


def serve_rounds(measure: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Worker side: announce readiness, then answer each request line with ``measure(request)``.
    Output of libraries goes to stderr so stdout carries only the protocol."""
    out: IO[str] = sys.stdout
    sys.stdout = sys.stderr
    print(json.dumps(READY), file=out, flush=True)
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(measure(json.loads(line))), file=out, flush=True)


class Worker:
    """Bench side: one worker subprocess; ``ask`` sends a request and returns the answer."""

    def __init__(self, name: str, cmd: Sequence[str], env: Mapping[str, str]):
        self.name = name
        self.proc = subprocess.Popen(
            list(cmd), env=dict(env), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.ready = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            raise RuntimeError(f"worker {self.name} exited with code {code}")
        return json.loads(line)

    def ask(self, **request: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
