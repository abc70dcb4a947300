"""Every output format in one place: tables, JSON, human durations."""

import json
import time


def ago(ts) -> str:
    if not ts:
        return ""
    secs = max(0, int(time.time() - ts))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if secs >= size:
            n = secs // size
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return f"{secs} second{'s' if secs != 1 else ''} ago"


def human_size(n) -> str:
    n = float(n or 0)
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.3g}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1000
    return f"{n}"


def container_status(rec: dict) -> str:
    st = rec["status"]
    if st == "running":
        return "Up " + ago(rec.get("started")).replace(" ago", "")
    if st == "exited":
        code = rec.get("exit_code")
        return f"Exited ({'unknown' if code is None else code}) {ago(rec.get('finished') or rec.get('started'))}".strip()
    return "Created"


def table(headers, rows) -> str:
    # None: a cell with no value, which kubectl prints empty
    rows = [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = ["   ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    for r in rows:
        lines.append("   ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return "\n".join(lines)


def to_json(data) -> str:
    return json.dumps(data, indent=2, sort_keys=True, default=str)


def ps_rows(records, pods_by_id) -> list:
    rows = []
    for r in records:
        p = pods_by_id.get(r.get("pod"), {})
        rows.append([r["id"][:12], r["image"], json.dumps(" ".join(r["command"]))[:24], ago(r["created"]),
                     container_status(r), p.get("name", ""), (p.get("ip") or "").split("/")[0],
                     ", ".join(_port_str(x) for x in p.get("ports", [])), r["name"]])
    return rows


PS_HEADERS = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "POD", "IP", "PORTS", "NAMES"]
POD_HEADERS = ["POD ID", "NAME", "STATUS", "CREATED", "CONTAINERS", "IP", "PORTS"]


def _port_str(p: dict) -> str:
    return f"{p.get('host_ip') or '0.0.0.0'}:{p['host_port']}->{p['container_port']}/{p['protocol']}"


def pod_ls_json(pods, counts) -> list:
    return [{"Id": p["id"], "Name": p["name"], "Status": p["status"], "Created": p["created"],
             "Containers": counts.get(p["id"], 0), "IP": (p.get("ip") or "").split("/")[0],
             "Ports": [_port_str(x) for x in p.get("ports", [])], "Network": p.get("network"),
             "Labels": p.get("labels", {})}  # podman's pod ps --format json has them too
            for p in pods]


NETWORK_HEADERS = ["NETWORK ID", "NAME", "PLUGINS", "SUBNET", "BRIDGE", "CONFIG"]


def network_rows(summaries) -> list:
    """`network ls` rows of network.summary()'s."""
    return [[s["id"][:12], s["name"], "/".join(s["plugins"]), ",".join(str(n) for n in s["subnets"]),
             s["bridge"] or "", s["path"]] for s in summaries]


def pod_rows(pods, counts) -> list:
    return [[p["id"][:12], p["name"], p["status"].capitalize(), ago(p["created"]),
             counts.get(p["id"], 0), (p.get("ip") or "").split("/")[0] if p["status"] == "running" else "",
             ", ".join(_port_str(x) for x in p.get("ports", []))] for p in pods]


def container_inspect(rec: dict, pod: dict) -> dict:
    return {
        "Id": rec["id"], "Name": rec["name"], "Image": rec["image"], "Command": rec["command"],
        "Created": rec["created"], "RestartCount": rec.get("restart_count", 0),
        "Mounts": [_mount_inspect(m) for m in rec.get("mounts", [])],
        "State": {"Status": rec["status"], "Running": rec["status"] == "running",
                  "Pid": rec.get("pid") if rec["status"] == "running" else 0,
                  "ExitCode": rec.get("exit_code"), "OOMKilled": bool(rec.get("oom_killed")),
                  "StartedAt": rec.get("started"),
                  "FinishedAt": rec.get("finished"), "Backoff": rec.get("backoff")},
        "Pod": {"Id": pod.get("id"), "Name": pod.get("name")},
        "Config": {"Env": rec.get("env", {}), "WorkingDir": rec.get("workdir"),
                   "User": ":".join(str(x) for x in rec.get("user", [0, 0])), "Tty": rec.get("tty"),
                   "Hostname": rec.get("hostname"), "Capabilities": rec.get("caps"),
                   "Labels": rec.get("labels", {})},
        "HostConfig": {**host_config(rec), "OomScoreAdj": rec.get("oom_score_adj", 0), "RestartPolicy": {
            "Name": (rec.get("restart_policy") or {}).get("name", "no"),
            "MaximumRetryCount": (rec.get("restart_policy") or {}).get("max", 0)}},
        "Rootfs": {"Image": rec.get("image"), "UpperDir": rec.get("upper"),
                   "MergedDir": rec.get("merged")},
        "LogPath": rec.get("log_path"),
        "Namespaces": rec.get("namespaces", {}),
        "NetworkSettings": {"IPAddress": (pod.get("ip") or "").split("/")[0],
                            "MacAddress": pod.get("mac"), "Gateway": pod.get("gateway"),
                            "Network": pod.get("network"), "Ports": pod.get("ports", [])},
    }


def _mount_inspect(m: dict) -> dict:
    """docker's Mounts entry."""
    out = {"Type": m["type"], "Destination": m["target"], "RW": not m.get("readonly")}
    if m["type"] == "volume":
        out.update(Name=m["source"], Source=m.get("host_source"), Driver="local")
    elif m["type"] == "bind":
        out["Source"] = m.get("host_source") or m["source"]
    if m.get("subpath"):
        out["SubPath"] = m["subpath"]
    return out


def host_config(rec: dict) -> dict:
    """docker's HostConfig resource fields (0 = unset), the cgroup and the
    seccomp profile of a container or pod record."""
    limits = rec.get("limits", {})
    quota = limits.get("cpu_quota_us")
    return {"Memory": limits.get("memory", 0), "MemorySwap": limits.get("memory_swap", 0),
            "NanoCpus": quota * 10_000 if quota else 0, "CpuShares": limits.get("cpu_shares", 0),
            "PidsLimit": limits.get("pids", 0),
            "CgroupParent": (rec.get("cgroup") or "").rpartition("/")[0],
            "SecurityOpt": [f"seccomp={rec['seccomp']}"] if rec.get("seccomp") else []}


def pod_inspect(pod: dict, containers: list, namespaces: dict) -> dict:
    pause = pod.get("pause") or {}
    return {
        "Id": pod["id"], "Name": pod["name"], "Hostname": pod["hostname"], "Created": pod["created"],
        "Labels": pod.get("labels", {}),
        "State": pod["status"], "PausePid": pause.get("pid") if pod["status"] == "running" else 0,
        "PauseMemoryKB": pod.get("pause_memory", {}),
        "PauseOOMScoreAdj": pod.get("pause_oom_score_adj"),
        "NetNS": pod.get("netns"), "Namespaces": namespaces, "Network": pod.get("network"),
        "SharedNamespaces": ["ipc", "net", "uts"] + (["pid"] if pod.get("share_pid", True) else []),
        "IPAddress": pod.get("ip"), "MacAddress": pod.get("mac"), "Gateway": pod.get("gateway"),
        "Ports": [_port_str(p) for p in pod.get("ports", [])],
        "Containers": [{"Id": c["id"], "Name": c["name"], "Status": c["status"]} for c in containers],
        "CNIAttachments": pod.get("attachments", []),
        "HostConfig": host_config(pod),
    }


STATS_HEADERS = ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS"]


def _iec(n) -> str:
    """docker stats' sizes: 1.5MiB, 23.4GiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.4g}{unit}" if unit != "B" else f"{n}B"
        n /= 1024


def stats_rows(rows) -> list:
    return [[r["id"][:12], r["name"], f"{r['cpu_percent']:.2f}%",
             f"{_iec(r['memory'])} / {_iec(r['memory_limit'])}", f"{r['memory_percent']:.2f}%",
             r["pids"]] for r in rows]


def stats_json(rows) -> list:
    """docker stats --format json's keys, one object per container."""
    return [{"ID": r["id"][:12], "Name": r["name"], "CPUPerc": f"{r['cpu_percent']:.2f}%",
             "MemUsage": f"{_iec(r['memory'])} / {_iec(r['memory_limit'])}",
             "MemPerc": f"{r['memory_percent']:.2f}%", "PIDs": str(r["pids"]),
             "MemUsageBytes": r["memory"], "MemLimitBytes": r["memory_limit"]} for r in rows]


IMAGE_HEADERS = ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "LAYERS", "SHARED"]


def image_rows(images, usage) -> list:
    """docker's rows, one per reference (an image no reference names:
    <none>), and minipod's: its layers, and how many of them other images
    share. ``images``: (record, [normalised references], display name)."""
    from minipod.image import reference
    rows = []
    for rec, refs, name in images:
        chains = rec.get("layers", [])
        shared = [c for c in chains if len(usage.get(c, [])) > 1]
        sharing = f"{len(shared)} layer(s) with {', '.join(sorted({n for c in shared for n in usage[c]} - {name}))}" \
            if shared else "-"
        for ref in refs or [None]:
            parsed = reference.parse(ref) if ref else None
            repo = reference.familiar_path(parsed) if parsed else "<none>"
            tag = (parsed.tag or "<none>") if parsed else "<none>"
            rows.append([repo, tag, rec.get("digest", "")[7:19], ago(rec["created"]), human_size(rec["size"]),
                         len(chains) or 1, sharing])
    return sorted(rows, key=lambda r: (r[0], r[1]))


def short_age(secs: float) -> str:
    secs = max(int(secs), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def event_age(first, last, count: int = 1) -> str:
    """kubectl describe's event Age: "5s", or "5s (x3 over 40s)"."""
    if last is None:
        return "<unknown>"
    text = short_age(time.time() - last)
    if count > 1 and first is not None:
        text += f" (x{count} over {short_age(time.time() - first)})"
    return text
