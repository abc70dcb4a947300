"""A newcomer's first hour: a minipod root that starts empty, set up by the
very code the README's first command runs (scripts/setup), then the
README's three parts of the course, as written: a pod, a Service, and the
course's Ingress verbatim (`/` answered by web, Version 1.0.0; `/v2` by web2,
Version 2.0.0, through the rewrite; an unknown host 404).

Its root, network, bridge and ports are its own, so it never shares state
with the rest of the suite's; everything it made is gone when it ends."""

import contextlib
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests import docs_runner
from tests.conftest import REPO, TEST_ENV
from tests.integration.conftest import sh, wait_for

HTTP = 18481  # the ingress nginx's port on the node, for this root only


def fresh_env(root: Path) -> dict:
    return {**os.environ, **TEST_ENV, "MINIPOD_ROOT": str(root), "MINIPOD_CNI_CONF_DIR": str(root / "net.d"),
            "MINIPOD_DEFAULT_NETWORK": "mptfresh", "MINIPOD_DEFAULT_BRIDGE": "mptfresh0",
            "MINIPOD_DEFAULT_SUBNET": "10.231.64.0/24", "MINIPOD_NETNS_PREFIX": "mpt-fresh-",
            "MINIPOD_CGROUP_PARENT": TEST_ENV["MINIPOD_CGROUP_PARENT"] + "-fresh",
            "MINIPOD_INGRESS_HTTP_PORT": str(HTTP), "MINIPOD_INGRESS_HTTPS_PORT": "18444"}


# The README speaks of the node's real ports; this root publishes its own.
TRANSLATIONS = [
    (re.compile(r"-p 8080:80\b"), "-p 18097:80"),
    (re.compile(r"127\.0\.0\.1:8080/"), "127.0.0.1:18097/"),
    (re.compile(r"hello-world\.info:80:"), f"hello-world.info:{HTTP}:"),
    (re.compile(r"http://hello-world\.info/"), f"http://hello-world.info:{HTTP}/"),
]


def translate(text: str) -> str:
    for pattern, repl in TRANSLATIONS:
        text = pattern.sub(repl, text)
    return text


def readme_parts() -> str:
    """The README's console blocks (the three parts), as a document of their own."""
    text = (REPO / "README.md").read_text()
    blocks = [m.group(0) for m in docs_runner.BLOCK_RE.finditer(text)]  # with what each says varies
    assert len(blocks) == 3, "the README's first screen shows the course's three parts"
    cleanup = ("```console cleanup\n$ minipod pod rm -f web\n$ minipod delete -f docs/examples/web-service.yaml\n"
               "$ minipod delete -f docs/examples/hello-ingress.yaml\n```\n")
    return "\n".join(blocks) + "\n" + cleanup


def test_the_course_from_the_readme_on_an_empty_root(tmp_path):
    root = Path(tempfile.mkdtemp(prefix="mptfresh-"))
    env = fresh_env(root)
    mp = [sys.executable, "-m", "minipod"]

    def run(*args, check=True):
        proc = subprocess.run(mp + list(args), env=env, capture_output=True, text=True, cwd=REPO, timeout=120)
        assert not check or proc.returncode == 0, f"minipod {' '.join(args)}: {proc.stderr}"
        return proc
    try:
        assert not (root / "lib" / "images").exists()  # empty, as a newcomer's
        setup = subprocess.run([str(REPO / "scripts" / "setup")], env=env, capture_output=True, text=True,
                               cwd=REPO, timeout=600)
        assert setup.returncode == 0, setup.stderr
        images = [l.split()[0] for l in run("image", "ls").stdout.splitlines()[1:]]
        assert images == ["busybox", "nginx"], images
        doc = tmp_path / "readme-parts.md"
        doc.write_text(readme_parts())
        failures = docs_runner.check(doc, env=env, translate=translate)
        assert not failures, "\n\n".join(failures)
        # The course's Ingress once more, and a host it does not name.
        run("apply", "-f", "docs/examples/hello-ingress.yaml")
        curl = f"curl -s --resolve {{host}}:{HTTP}:127.0.0.1 http://{{host}}:{HTTP}{{path}}"
        wait_for(lambda: "Version: 2.0.0" in sh(curl.format(host="hello-world.info", path="/v2"), check=False).stdout,
                 timeout=60, interval=0.5, what="web2 through the rewrite")
        assert "Version: 1.0.0" in sh(curl.format(host="hello-world.info", path="/")).stdout
        code = sh(curl.format(host="nobody.example", path="/").replace("curl -s", "curl -s -o /dev/null -w '%{http_code}'"))
        assert code.stdout == "404"
        run("delete", "-f", "docs/examples/hello-ingress.yaml")
    finally:
        run("delete", "-f", "docs/examples/hello-ingress.yaml", check=False)
        # The agent removes what the last Service and Ingress needed (cluster
        # DNS, the service routes, nginx) in its next passes: read gc --dry-run
        # once it had the time, before anything else cleans up after the course.
        seen = []
        try:
            wait_for(lambda: seen.append(run("gc", "--dry-run", check=False).stdout) or not seen[-1],
                     timeout=30, interval=0.5, what="the agent to clean up after the last objects")
        except AssertionError:
            pass
        left = seen[-1] if seen else "gc --dry-run never ran"
        run("agent", "stop", check=False)
        pods = run("pod", "ls", "-q", check=False).stdout.split()
        for p in pods:
            run("pod", "rm", "-f", p, check=False)
        run("gc", check=False)
        run("network", "rm", "mptfresh", check=False)
        for top in {os.path.realpath(p) for p in glob.glob("/sys/fs/cgroup/*/")} | {"/sys/fs/cgroup"}:
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(top, env["MINIPOD_CGROUP_PARENT"]))
    assert not pods and not left, f"left in the fresh root: pods {pods}, gc: {left}"
    shutil.rmtree(root)
