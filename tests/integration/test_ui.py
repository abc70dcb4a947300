"""`minipod ui` in a real browser: Debian's chromium, headless, driven by
selenium through Debian's chromedriver. The page shows every pod with its
address and every Service with its ClusterIP and arrows to its endpoints;
a pod that comes appears without a reload and one that goes disappears;
clicking a Service runs a trace and highlights its way on the picture
(the Service, the arrow to the endpoint that answered, that pod and its
veth); a trace a policy refused is drawn in red at the pod whose rule
refused it, with the rule's words. Without the page's token, nothing is served. Screenshots are kept
in build/test-artifacts/."""

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from tests.conftest import REPO, TEST_ENV
from tests.integration.conftest import mp, sh, wait_for
from tests.integration.test_services import WEB, apply, ready_endpoints, routed_locally, svc

ARTIFACTS = REPO / "build" / "test-artifacts"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1300,1000"]


@pytest.fixture
def ui():
    """The UI server (any free port) and its URL with the token."""
    proc = subprocess.Popen([sys.executable, "-m", "minipod", "ui", "--port", "0"], env={**os.environ, **TEST_ENV},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline()
    url = re.search(r"http://127\.0\.0\.1:\d+/\?token=\S+", line)
    assert url, line
    yield url.group(0)
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in FLAGS + [f"--user-data-dir={tmp_path / 'profile'}"]:
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    yield driver
    driver.quit()


def shot(driver, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"ui-{name}.png"))


def js(driver, expression):
    """What ``expression`` is in the page now, in one step (the picture is
    replaced as the node changes: elements found earlier may be gone)."""
    return driver.execute_script(f"return {expression}")


def pods_shown(driver) -> dict:
    return dict(js(driver, "[...document.querySelectorAll('g.pod')].map(e => [e.dataset.name, e.dataset.ip])"))


def test_without_the_token_nothing_is_served(ui):
    bare = ui.split("?")[0]
    for path in ("", "picture.svg", "model", "events"):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(bare + path, timeout=10)
        assert e.value.code == 401


def test_the_node_live_and_a_trace_drawn_on_it(ui, browser, tmp_path):
    from selenium.webdriver.common.by import By
    apply(tmp_path, WEB, "web.yaml")
    endpoint_ips = ready_endpoints("web", 2)
    ip = svc("web")["spec"]["clusterIP"]
    routed_locally(ip)
    browser.get(ui)
    pods = wait_for(lambda: pods_shown(browser) if len(pods_shown(browser)) >= 2 else None, timeout=20,
                    what="the pods on the page")
    assert sorted(pods.values()) == sorted(endpoint_ips)  # every pod, with its address
    service = js(browser, "document.getElementById('svc-default-web').textContent")
    assert ip in service and "80/tcp" in service
    edges = js(browser, "[...document.querySelectorAll('line.edge')].map(e => e.id)")
    assert len([e for e in edges if e.startswith("edge-svc-default-web-")]) == 2  # an arrow to each endpoint
    assert "bridge mptest0" in js(browser, "document.getElementById('bridge').textContent")
    shot(browser, "picture")

    # a new pod appears without a reload, and goes the same way
    mp("pod", "create", "--name", "newcomer")
    mp("run", "-d", "--pod", "newcomer", "--name", "newcomerc", "busybox", "sleep", "3600")
    wait_for(lambda: "newcomer" in pods_shown(browser), timeout=20, what="the new pod on the page, no reload")
    shot(browser, "newcomer")
    mp("pod", "rm", "-f", "newcomer")
    wait_for(lambda: "newcomer" not in pods_shown(browser), timeout=20, what="the pod gone from the page")

    # a click on the Service: one real connection from the host, its way drawn
    wait_for(lambda: sh(f"curl -s --max-time 2 http://{ip}/", check=False).stdout, what="the service's rules")
    browser.find_element(By.ID, "svc-default-web").click()
    text = wait_for(lambda: (lambda t: t if "answered by" in t or "refused" in t else None)(
        browser.find_element(By.ID, "trace").text), timeout=60, interval=0.5, what="the trace on the page")
    assert "DNAT: sent to" in text and '"default/web cluster IP"' in text, text
    answered = re.search(r"answered by: pod default/(\S+) \((\S+)\)", text)
    hot = set(js(browser, "[...document.querySelectorAll('.hot')].map(e => e.id)"))
    endpoint = js(browser, f"[...document.querySelectorAll('g.pod')].find(e => e.dataset.ip == '{answered.group(2)}').id")
    assert {"svc-default-web", endpoint, "bridge", f"edge-svc-default-web-{endpoint}"} <= hot, hot
    shot(browser, "trace")
    assert "minipod-trace" not in sh("nft list tables").stdout


def test_who_may_talk_to_whom(ui, browser):
    """The shop of docs/networkpolicy.md: the matrix from the rules and from
    real probes agrees cell by cell, a refused cell says which default deny."""
    from selenium.webdriver.common.by import By
    mp("apply", "-f", REPO / "docs" / "examples" / "shop.yaml")
    mp("wait", "--for=condition=Ready", "pods", "--all", "-n", "shop", "--timeout", "60s")
    mp("apply", "-f", REPO / "docs" / "examples" / "shop-policies.yaml")
    browser.get(ui)
    field = browser.find_element(By.ID, "ns")
    field.clear()
    field.send_keys("shop")

    def matrix():
        rows = js(browser, "[...document.querySelectorAll('#matrix tr')].map(r => [...r.children]"
                           ".map(c => [c.textContent, c.className, c.title || '']))")
        return rows if len(rows) == 4 else None
    expected = {("client", "web"): True, ("client", "db"): False, ("web", "db"): True, ("db", "web"): False}

    def agrees():  # the agent writes the rules on its next pass: probe until the kernel has them
        browser.find_element(By.ID, "probe").click()
        rows = wait_for(matrix, timeout=30, what="the matrix")
        names = [c[0].split(":")[0] for c in rows[0][1:]]
        cells = {(row[0][0], names[j]): c for row in rows[1:] for j, c in enumerate(row[1:])}
        return cells if all(cells[k][0] == ("✓ ✓" if v else "✗ ✗") for k, v in expected.items()) else None

    cells = wait_for(agrees, timeout=30, interval=1, what="the probes agreeing with the rules")
    assert cells[("web", "client")][0] == "✗", cells  # the client declares no port: read for 80, not probed
    assert all("odd" not in c[1] for c in cells.values()), {k: c for k, c in cells.items() if "odd" in c[1]}
    assert "default deny of ingress of shop/db (policies selecting it: shop/db-from-web, shop/default-deny)" \
        in cells[("client", "db")][2], cells[("client", "db")]
    assert "shop/db-from-web ingress rule 1" in cells[("web", "db")][2]
    shot(browser, "reachability")


def test_a_refused_trace_is_drawn_in_red_at_the_rule_that_refused_it(ui, browser):
    """The shop's client to the database through its Service: the way to the
    Service in green, the database pod (and its veth) in red with the default
    deny's words beside it, as the trace's text says."""
    from selenium.webdriver.common.by import By
    mp("apply", "-f", REPO / "docs" / "examples" / "shop.yaml")
    mp("wait", "--for=condition=Ready", "pods", "--all", "-n", "shop", "--timeout", "60s")
    mp("apply", "-f", REPO / "docs" / "examples" / "shop-policies.yaml")
    routed_locally(json.loads(mp("get", "svc", "db", "-n", "shop", "-o", "json").stdout)["spec"]["clusterIP"])
    browser.get(ui)
    client = '{"ns":"shop","pod":"client"}'
    wait_for(lambda: js(browser, f"[...document.getElementById('from').options].some(o => o.value == '{client}')"),
             timeout=20, what="the shop's client among the trace's sources")
    browser.execute_script(f"document.getElementById('from').value = '{client}'")
    browser.find_element(By.ID, "dest").send_keys("svc/db.shop")

    def refused():  # the agent writes the rules on its next pass: trace until the kernel has them
        browser.find_element(By.ID, "go").click()
        text = wait_for(lambda: (lambda t: t if "refused by" in t or "answered by" in t or "refused:" in t
                                 else None)(browser.find_element(By.ID, "trace").text),
                        timeout=60, interval=0.5, what="the trace on the page")
        return text if "refused by" in text else None
    text = wait_for(refused, timeout=60, interval=1, what="a trace the policy refused")
    assert "policy: dropped by default deny of ingress of shop/db" in text, text
    db = js(browser, "[...document.querySelectorAll('g.pod')].find(e => e.dataset.name == 'shop/db').id")
    client_id = js(browser, "[...document.querySelectorAll('g.pod')].find(e => e.dataset.name == 'shop/client').id")
    dropped = set(js(browser, "[...document.querySelectorAll('.dropped')].map(e => e.id)"))
    hot = set(js(browser, "[...document.querySelectorAll('.hot')].map(e => e.id)"))
    assert dropped == {db, "veth-" + db.removeprefix("pod-")}, dropped
    assert {client_id, "svc-shop-db", f"edge-svc-shop-db-{db}"} <= hot and db not in hot, hot
    label = js(browser, "document.querySelector('.droplabel').textContent")
    assert label == "✗ dropped by default deny of ingress of shop/db", label
    assert js(browser, "getComputedStyle(document.querySelector('.dropped rect')).stroke") == "rgb(214, 40, 40)"
    shot(browser, "trace-refused")


def test_a_gateway_its_routes_and_their_backends_on_the_picture(ui, browser, tmp_path):
    from tests.integration.test_gateway import GATEWAY, HELLO_ROUTE, echo
    from tests.integration.test_image_formats import _built
    mp("image", "import", _built("nginx"))
    apply(tmp_path, GATEWAY + echo("web", "1") + echo("web2", "2") + HELLO_ROUTE, "gateway.yaml")
    try:
        mp("wait", "--for=condition=Programmed", "gateway/gw", "--timeout", "120")
        address = json.loads(mp("get", "gateway", "gw", "-o", "json").stdout)["status"]["addresses"][0]["value"]
        browser.get(ui)
        shown = wait_for(lambda: js(browser, "(e => e && e.textContent)(document.getElementById('gw-default-gw'))"),
                         timeout=30, what="the Gateway on the page")
        assert f"gateway default/gw  {address}" in shown and "hello-world.info/v2  (hello)" in shown, shown
        edges = js(browser, "[...document.querySelectorAll('line.edge')].map(e => e.id)")
        assert {"gwedge-gw-default-gw-svc-default-web", "gwedge-gw-default-gw-svc-default-web2"} <= set(edges), edges
        shot(browser, "gateway")
    finally:
        mp("delete", "-f", tmp_path / "gateway.yaml", check=False)
        wait_for(lambda: "gw-minipod" not in mp("get", "pods", check=False).stdout, timeout=60,
                 what="the Gateway's nginx to go")
        wait_for(lambda: mp("image", "rm", "nginx", check=False).returncode == 0, timeout=60, interval=0.5,
                 what="the nginx image to be free")
