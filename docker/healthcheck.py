"""Container health check: exit 0 when the service answers ``GET /readyz`` with 200, else 1.

Used by the images' ``HEALTHCHECK`` and by docker-compose.yml. The port comes from the same
``Settings`` the service reads (``SIMPLEPOSE_PORT``), so the check follows a changed port. Only
the standard library does the HTTP request: no curl in the images.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

from simplepose.serving.settings import Settings

READY_PATH = "/readyz"
TIMEOUT_S = 3.0


def check(port: int, timeout_s: float = TIMEOUT_S) -> tuple[bool, str]:
    """Whether the service on 127.0.0.1:``port`` is ready, with a one-line reason."""
    url = f"http://127.0.0.1:{port}{READY_PATH}"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status == 200, f"{url}: HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return False, f"{url}: HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return False, f"{url}: {exc}"


def main() -> int:
    ready, reason = check(Settings().port)
    if not ready:
        sys.stderr.write(reason + "\n")
    return 0 if ready else 1


if __name__ == "__main__":
    sys.exit(main())
