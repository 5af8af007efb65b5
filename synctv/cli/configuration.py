"""``synctv config check``: validate the config and print the effective values."""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from typing import Any

from synctv.cli.common import EXIT_OK, add_config_option, group_help


def add_commands(commands: Any) -> None:
    config = commands.add_parser("config", help="configuration tools")
    config.set_defaults(handler=partial(group_help, config))
    config_commands = config.add_subparsers(title="config commands", metavar="COMMAND")
    check = config_commands.add_parser(
        "check", help="validate the config and print the effective values (secrets redacted)"
    )
    add_config_option(check)
    check.set_defaults(handler=_config_check)


def _config_check(args: argparse.Namespace) -> int:
    from synctv.config import load_config

    config = load_config(args.config)
    print(json.dumps(config.redacted(), indent=2, default=str))
    print("config ok", file=sys.stderr)
    return EXIT_OK
