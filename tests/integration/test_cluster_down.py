"""`minipod cluster down` (kubeadm reset's role) goes on past a step that
fails: every other step still runs, the failure is said in one error with
exit code 125, and the cluster's files stay so that `cluster down` can be
run again once the cause is fixed. No Kubernetes component is needed: the
machine here is a control plane whose scheduler is a stand-in process and
whose user kubeconfig cannot be read."""

import json
import os
import subprocess

from minipod import procfs
from tests.conftest import TEST_ROOT
from tests.integration.conftest import mp


def test_down_runs_every_step_past_a_failing_one_and_can_be_run_again(tmp_path):
    data, run = TEST_ROOT / "lib" / "cluster", TEST_ROOT / "run" / "cluster"
    data.mkdir(parents=True)
    run.mkdir(parents=True)
    (data / "cluster.json").write_text(json.dumps({"roles": ["control-plane"]}))
    scheduler = subprocess.Popen(["sleep", "300"], start_new_session=True)
    (run / "kube-scheduler.json").write_text(json.dumps({
        "pid": scheduler.pid, "start": procfs.start_time(scheduler.pid), "boot": procfs.boot_id(),
        "argv": ["sleep", "300"]}))
    user_config = tmp_path / ".kube" / "config"
    user_config.parent.mkdir()
    user_config.write_text("clusters: [\n")  # not YAML: taking the cluster out of it fails
    env = {"HOME": str(tmp_path), "KUBECONFIG": ""}
    try:
        down = mp("cluster", "down", env=env, check=False)
        assert down.returncode == 125, down
        assert " ✓ stopped kube-scheduler" in down.stdout  # a step after the failing one ran
        assert "could not remove the cluster from the user's kubeconfig" in down.stderr
        error = [line for line in down.stderr.splitlines() if line.startswith("minipod:")]
        assert len(error) == 1 and "1 step(s) failed" in error[0] and "kept for another" in error[0], down.stderr
        assert scheduler.wait(10) == -15
        assert (data / "cluster.json").exists()  # kept: what runs is still named
        user_config.write_text("apiVersion: v1\nkind: Config\nclusters: []\n")
        again = mp("cluster", "down", env=env, check=False)
        assert again.returncode == 0, again
        assert not data.exists() and not run.exists()
    finally:
        scheduler.kill()
        scheduler.wait()
        for d in (data, run, TEST_ROOT / "etc" / "cluster"):
            subprocess.run(["rm", "-rf", str(d)])
    assert not os.path.exists(data)
