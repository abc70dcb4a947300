"""The minipod command line: thin click commands over the core modules.

Each command parses its flags, calls one core function and prints. Every
MinipodError becomes one line on stderr and its exit code (125 unless the
error says otherwise); click's usage errors become exit code 125 as well.
"""

import os
import sys

import click

from minipod.cli.base import cli, echo_json
from minipod.errors import MinipodError

# Each noun's commands register themselves on the group as their module loads;
# the older modules register theirs when asked.
from minipod.cli import containers, gc, images, networks, pods  # noqa: F401  (registration)
from minipod.cli import agent as _agent, api as _api, cluster as _cluster, cri as _cri
from minipod.cli import objects as _objects, trace as _trace, ui as _ui, volumes as _volumes

_objects.register(cli, echo_json)
_volumes.register(cli, echo_json)
_agent.register(cli)
_api.register(cli)
_cri.register(cli)
_cluster.register(cli)
_trace.register(cli, echo_json)
_ui.register(cli)


def _ensure_std_fds():
    """Open /dev/null on any of fds 0-2 that is closed (CI may start us with
    no stdin): otherwise the next file minipod opens would become "stdin"."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.open("/dev/null", os.O_RDWR)  # takes the lowest free number: fd


def main():
    _ensure_std_fds()
    try:
        code = cli.main(prog_name="minipod", standalone_mode=False)
    except MinipodError as e:
        # One line, always: plugin and library messages may span several.
        click.echo("minipod: " + " ".join(str(e).split()), err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("minipod: aborted", err=True)
        sys.exit(125)
    except click.ClickException as e:
        click.echo(f"minipod: {e.format_message()}", err=True)
        sys.exit(125)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:  # a bug or an unexpected OS error: still one line
        if os.environ.get("MINIPOD_DEBUG"):
            raise
        click.echo(f"minipod: internal error: {type(e).__name__}: {' '.join(str(e).split())} "
                   "(MINIPOD_DEBUG=1 shows the traceback)", err=True)
        sys.exit(125)
    sys.exit(code if isinstance(code, int) else 0)
