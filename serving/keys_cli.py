"""``simplepose keys create|list|revoke``: manage the service's API key file."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from simplepose.commandline.options import ENV_PREFIX
from simplepose.serving.keyfile import KeyFileError, create_key, read_keyfile, revoke_key

KEYS_FILE_ENV = ENV_PREFIX + "API_KEYS_FILE"  # Settings.api_keys_file
EPILOG = f"""\
The file holds one HMAC-SHA256 digest per key (salted per file), never a key: a new key is
printed once, on stdout, and cannot be shown again. --file defaults to ${KEYS_FILE_ENV}, the
variable the service reads. A running service picks up changes within a second, except where
the file is bind-mounted as a single file (docker compose secrets): restart the service there.

examples:
  simplepose keys create alice --file secrets/api_keys
  KEY=$(simplepose keys create ci --file secrets/api_keys)
  curl -H "Authorization: Bearer $KEY" http://HOST:8000/v1/model
  simplepose keys list --file secrets/api_keys
  simplepose keys revoke alice --file secrets/api_keys
"""


def _path(args: argparse.Namespace) -> Path:
    if args.file is not None:
        return args.file
    if os.environ.get(KEYS_FILE_ENV):
        return Path(os.environ[KEYS_FILE_ENV])
    raise KeyFileError(f"say which key file: --file PATH or {KEYS_FILE_ENV}=PATH")


def _create(args: argparse.Namespace) -> int:
    path = _path(args)
    key = create_key(path, args.name)
    print(key)
    print(
        f"key {args.name!r} added to {path}; store it now, it is not shown again",
        file=sys.stderr,
    )
    return 0


def _list(args: argparse.Namespace) -> int:
    path = _path(args)
    ring = read_keyfile(path)
    if not ring.records:
        print(f"no keys in {path}", file=sys.stderr)
    for record in ring.records:
        print(f"{record.name}\t{record.created}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    path = _path(args)
    revoke_key(path, args.name)
    print(f"key {args.name!r} removed from {path}", file=sys.stderr)
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    keys = sub.add_parser(
        "keys",
        help="create, list and revoke the service's API keys",
        description="Manage the API key file of `simplepose serve` (docs/access.md).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)

    def action(name: str, help_: str, func, with_name: bool) -> None:
        p = actions.add_parser(name, help=help_, description=help_[0].upper() + help_[1:] + ".")
        if with_name:
            p.add_argument("name", metavar="NAME", help="key name (letters, digits, _ . @ -)")
        p.add_argument("--file", type=Path, help=f"key file (default: ${KEYS_FILE_ENV})")
        p.set_defaults(func=func)

    action("create", "add a new random key called NAME and print it once", _create, True)
    action("list", "list key names and creation times (never keys)", _list, False)
    action("revoke", "remove the key called NAME", _revoke, True)
