"""The user's own kubeconfig (KUBECONFIG's first file, else ~/.kube/config),
as `kind` and `minikube` change it: a cluster, user and context of ours put
in (others left alone) and made current; taken out again when that cluster
goes."""

import os


def user_path() -> str:
    return os.path.expanduser(os.environ.get("KUBECONFIG", "").split(":")[0] or "~/.kube/config")


def merge(user_config: dict, ours: dict) -> dict:
    """``user_config`` with our cluster, user and context put in (replacing
    only entries of the same names) and made current: kubectl config's rule."""
    out = dict(user_config or {})
    out.setdefault("apiVersion", "v1")
    out.setdefault("kind", "Config")
    for section in ("clusters", "users", "contexts"):
        mine = {e["name"]: e for e in ours[section]}
        kept = [e for e in (out.get(section) or []) if e.get("name") not in mine]
        out[section] = kept + list(mine.values())
    out["current-context"] = ours["current-context"]
    return out


def without(user_config: dict, ours: dict) -> dict:
    """``user_config`` without our cluster, user and context (no current context if it was ours)."""
    out = dict(user_config or {})
    for section in ("clusters", "users", "contexts"):
        names = {e["name"] for e in ours[section]}
        out[section] = [e for e in (out.get(section) or []) if e.get("name") not in names]
    if out.get("current-context") == ours["current-context"]:
        out["current-context"] = ""
    return out


def _read(path: str) -> dict:
    import yaml
    try:
        with open(path) as f:
            return yaml.safe_load(f) or {}
    except FileNotFoundError:
        return {}


def _write(path: str, config: dict) -> None:
    import yaml
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(config, f, sort_keys=False)
    os.replace(tmp, path)


def add_to_user(ours: dict) -> str:
    """Merge ``ours`` into the user's kubeconfig; return its path."""
    path = user_path()
    _write(path, merge(_read(path), ours))
    return path


def remove_from_user(ours: dict) -> None:
    path = user_path()
    if os.path.exists(path):
        _write(path, without(_read(path), ours))
