"""What the API key check and the rate limit cost per request, measured in-process.

The access middleware is called directly through ASGI in front of an app that answers 200 at
once, so nothing but the middleware is timed: no sockets, no model. Reported per request, as
the median over repeats of a timed loop: the bare app (reference), the middleware with auth
off (per-address request bucket), with auth on (HMAC-SHA256 + one constant-time compare per
stored key + request bucket), and with a wrong key (the 401 path).

    python bench/auth_overhead.py --keys 20 --calls 20000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from _machine import machine

from simplepose.serving.access import AccessMiddleware
from simplepose.serving.keyfile import KeyStore, create_key
from simplepose.serving.metrics import ServiceMetrics
from simplepose.serving.ratelimit import REQUESTS, BucketSpec, RateLimiter


async def _ok_app(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def _scope(key: str | None) -> dict:
    headers = [(b"host", b"127.0.0.1"), (b"user-agent", b"bench")]
    if key is not None:
        headers.append((b"authorization", f"Bearer {key}".encode()))
    return {"type": "http", "method": "GET", "path": "/v1/model", "headers": headers,
            "client": ("127.0.0.1", 50000), "query_string": b""}  # fmt: skip


async def _time_calls(app, scope: dict, calls: int) -> float:
    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        return None

    start = time.perf_counter()
    for _ in range(calls):
        await app(dict(scope), receive, send)
    return (time.perf_counter() - start) / calls * 1e6


def measure(keys: int = 20, calls: int = 20_000, repeats: int = 5) -> dict[str, float]:
    """Microseconds per request of each variant (median of ``repeats`` timed loops)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "api_keys"
        key = ""
        for i in range(keys):
            key = create_key(path, f"k{i}")
        unlimited = {REQUESTS: BucketSpec(rate=1e12, burst=1e12)}  # always has tokens
        metrics = ServiceMetrics()

        def middleware(store: KeyStore | None) -> AccessMiddleware:
            return AccessMiddleware(_ok_app, store, RateLimiter(unlimited), metrics, frozenset())

        variants = {
            "bare_app": (_ok_app, _scope(None)),
            "auth_off": (middleware(None), _scope(None)),
            "auth_on": (middleware(KeyStore(path)), _scope(key)),
        }
        auth_on = variants["auth_on"][0]
        variants["wrong_key_401"] = (auth_on, _scope("sp_" + "x" * 43))
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(repeats):  # interleaved, so load from other processes hits all alike
            for name, (app, scope) in variants.items():
                times[name].append(asyncio.run(_time_calls(app, scope, calls)))
    result = {f"{name}_us": round(statistics.median(t), 2) for name, t in times.items()}
    result["auth_overhead_us"] = round(result["auth_on_us"] - result["bare_app_us"], 2)
    result["auth_on_vs_off_us"] = round(result["auth_on_us"] - result["auth_off_us"], 2)
    result["keys_in_file"] = keys
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keys", type=int, default=20, help="keys in the file")
    parser.add_argument("--calls", type=int, default=20_000, help="requests per timed loop")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps({**measure(args.keys, args.calls, args.repeats), "machine": machine()}))


if __name__ == "__main__":
    main()
