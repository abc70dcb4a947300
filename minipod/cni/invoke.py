"""The single place that executes a CNI plugin (libcni's pkg/invoke)."""

import json
import os
import time
from pathlib import Path

from minipod import hostcmd
from minipod.errors import CNIError


def timeout() -> float:
    """Read when used: a worker of the node process has its caller's environment, not the agent's."""
    return float(os.environ.get("MINIPOD_CNI_TIMEOUT", "60"))


TRY_AGAIN_CODE = 11
RETRIES = 3


def find_plugin(plugin_type: str, search_path) -> Path:
    for d in search_path:
        candidate = Path(d) / plugin_type
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    err = CNIError(f"CNI plugin {plugin_type!r} not found in {':'.join(str(p) for p in search_path)}")
    err.not_found = True
    raise err


def _error_message(plugin_type, command, stdout, stderr, returncode):
    try:
        err = json.loads(stdout)
        code, msg, details = err.get("code"), err.get("msg", ""), err.get("details", "")
    except (ValueError, AttributeError):
        code, msg, details = None, "", ""
    if not msg:
        msg = (stderr.decode(errors="replace").strip().splitlines() or [f"exit status {returncode}"])[-1]
    text = f"CNI plugin {plugin_type} {command} failed: {msg}"
    if details:
        text += f": {details}"
    if code is not None:
        text += f" (code {code})"
    return code, text, details


def exec_plugin(plugin_type: str, command: str, config: bytes, *, container_id: str,
                netns: str, ifname: str, args: str, search_path) -> dict:
    """Run one plugin; return its parsed result ({} for DEL/CHECK).

    Error JSON becomes a CNIError carrying its code; code 11 ("try again
    later") is retried a few times.
    """
    path = find_plugin(plugin_type, search_path)
    env = {
        "CNI_COMMAND": command, "CNI_CONTAINERID": container_id, "CNI_NETNS": netns,
        "CNI_IFNAME": ifname, "CNI_ARGS": args, "CNI_PATH": ":".join(str(p) for p in search_path),
        # Plugins call iptables and friends.
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
    }
    limit = timeout()
    for attempt in range(RETRIES):
        try:
            proc = hostcmd.run([str(path)], input=config, env=env, timeout=limit)
        except hostcmd.Timeout:
            raise CNIError(f"CNI plugin {plugin_type} {command} timed out after {limit:g}s (killed)") from None
        if proc.returncode == 0:
            if not proc.stdout.strip():
                return {}
            try:
                return json.loads(proc.stdout)
            except ValueError:
                raise CNIError(f"CNI plugin {plugin_type} {command} printed invalid JSON") from None
        code, text, details = _error_message(plugin_type, command, proc.stdout, proc.stderr, proc.returncode)
        if code == TRY_AGAIN_CODE and attempt + 1 < RETRIES:
            time.sleep(0.1 * (attempt + 1))
            continue
        raise CNIError(text, code=code, details=details)
    raise AssertionError("unreachable")


def plugin_versions(plugin_type: str, search_path) -> list:
    """The spec versions a plugin supports (CNI_COMMAND=VERSION)."""
    result = exec_plugin(plugin_type, "VERSION", b'{"cniVersion":"1.0.0"}', container_id="",
                         netns="", ifname="", args="", search_path=search_path)
    return result.get("supportedVersions", [])
