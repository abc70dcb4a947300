"""Services without root: kube-proxy's chain names and rules, rendered;
what the API server allocates; strict validation with field paths."""

import copy

import pytest
import yaml

from minipod.api import manifests
from minipod.errors import InvalidArgument
from minipod.objects import allocations, services
from minipod.roles.proxy import rules
from minipod.roles.kubelet import service_env

SERVICE = yaml.safe_load("""
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8080}
""")


def _svc(**spec):
    obj = copy.deepcopy(SERVICE)
    obj["spec"].update(spec)
    return obj


def _eps(*ips, port=8080, name="http"):
    return {"subsets": [{"addresses": [{"ip": ip} for ip in ips], "ports": [{"name": name, "port": port}]}]}


def test_chain_names_are_kube_proxys():
    # names a real cluster shows for the kubernetes and kube-dns services
    assert rules.svc_chain("default/kubernetes:https", "tcp") == "KUBE-SVC-NPX46M4PTMTKRN6Y"
    assert rules.svc_chain("kube-system/kube-dns:dns", "UDP") == "KUBE-SVC-TCOU7JCQXEZGVUNU"
    assert rules.svc_chain("kube-system/kube-dns:dns-tcp", "tcp") == "KUBE-SVC-ERIFXISQEP7F7OF4"
    assert rules.probability(0, 2) == "0.50000000000" and rules.probability(0, 3) == "0.33333333333"


def test_two_endpoints_render_like_kube_proxy(monkeypatch):
    monkeypatch.delenv("MINIPOD_CHAIN_PREFIX", raising=False)
    svc = _svc(clusterIP="10.96.0.11")
    out = rules.render([svc], {("default", "web"): _eps("10.244.0.5", "10.244.0.6")}, "10.244.0.0/16")
    nat = "\n".join(out["nat"])
    svc_c = rules.svc_chain("default/web:http", "tcp")
    sep1 = rules.sep_chain("default/web:http", "tcp", "10.244.0.5:8080")
    sep2 = rules.sep_chain("default/web:http", "tcp", "10.244.0.6:8080")
    assert (f'-A KUBE-SERVICES -d 10.96.0.11/32 -p tcp -m comment --comment "default/web:http cluster IP" '
            f"-m tcp --dport 80 -j {svc_c}") in out["nat"]
    assert (f'-A {svc_c} ! -s 10.244.0.0/16 -d 10.96.0.11/32 -p tcp -m comment --comment '
            f'"default/web:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ') in out["nat"]
    assert (f'-A {svc_c} -m comment --comment "default/web:http -> 10.244.0.5:8080" -m statistic --mode random '
            f"--probability 0.50000000000 -j {sep1}") in out["nat"]
    assert f'-A {svc_c} -m comment --comment "default/web:http -> 10.244.0.6:8080" -j {sep2}' in out["nat"]
    assert f'-A {sep1} -s 10.244.0.5/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ' in out["nat"]
    assert (f'-A {sep1} -p tcp -m comment --comment "default/web:http" -m tcp '
            "-j DNAT --to-destination 10.244.0.5:8080") in out["nat"]
    assert "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000" in out["nat"]
    # the node-port jump is the last rule of KUBE-SERVICES
    services_chain = [r for r in out["nat"] if r.startswith("-A KUBE-SERVICES")]
    assert services_chain[-1].endswith("-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS")
    assert out["filter"] == [r for r in out["filter"] if "REJECT" not in r]
    assert set(out["chains"]["nat"]) >= {svc_c, sep1, sep2, "KUBE-SERVICES"} and "KUBE-EXT" not in nat


def test_no_endpoints_rejects_and_node_ports_and_lb(monkeypatch):
    monkeypatch.delenv("MINIPOD_CHAIN_PREFIX", raising=False)
    svc = _svc(clusterIP="10.96.0.12", type="LoadBalancer")
    svc["spec"]["ports"][0]["nodePort"] = 30080
    svc["status"] = {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}
    empty = rules.render([svc], {}, "10.244.0.0/16")
    assert any("-d 10.96.0.12/32" in r and "REJECT --reject-with icmp-port-unreachable" in r for r in empty["filter"])
    assert any("--dport 30080" in r and "REJECT" in r and "KUBE-EXTERNAL-SERVICES" in r for r in empty["filter"])
    assert not any("KUBE-SVC-" in r for r in empty["nat"])
    full = rules.render([svc], {("default", "web"): _eps("10.244.0.5")}, "10.244.0.0/16")
    ext = rules.ext_chain("default/web:http", "tcp")
    assert f'-A KUBE-NODEPORTS -p tcp -m comment --comment "default/web:http" -m tcp --dport 30080 -j {ext}' \
        in full["nat"]
    assert any(r.startswith("-A KUBE-SERVICES -d 192.0.2.1/32") and r.endswith(f"-j {ext}") for r in full["nat"])
    assert f"-A {ext} -j {rules.svc_chain('default/web:http', 'tcp')}" in full["nat"]


def test_client_ip_affinity_uses_recent(monkeypatch):
    monkeypatch.delenv("MINIPOD_CHAIN_PREFIX", raising=False)
    svc = _svc(clusterIP="10.96.0.13", sessionAffinity="ClientIP",
               sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}})
    out = rules.render([svc], {("default", "web"): _eps("10.244.0.5", "10.244.0.6")}, "10.244.0.0/16")
    assert sum("--rcheck --seconds 60 --reap" in r for r in out["nat"]) == 2
    assert sum("-m recent --set" in r for r in out["nat"]) == 2


def test_the_prefix_moves_every_chain(monkeypatch):
    monkeypatch.setenv("MINIPOD_CHAIN_PREFIX", "MPTK")
    out = rules.render([_svc(clusterIP="10.96.0.11")], {("default", "web"): _eps("10.244.0.5")}, "10.244.0.0/16")
    text = "\n".join(out["nat"] + out["filter"] + out["chains"]["nat"])
    assert "KUBE-" not in text and "MPTK-SVC-" in text and "MPTK-MARK-MASQ" in text


def _taken(*others):
    return allocations.Taken([allocations.summary(o) for o in others])


def test_allocation_like_the_api_server(monkeypatch):
    monkeypatch.delenv("MINIPOD_SERVICE_CIDR", raising=False)
    monkeypatch.delenv("MINIPOD_LB_POOL", raising=False)
    a = _svc(type="LoadBalancer")
    services.allocate(a, None, _taken())
    assert a["spec"]["clusterIP"] == "10.96.0.11" and a["spec"]["clusterIPs"] == ["10.96.0.11"]
    assert a["spec"]["ports"][0]["nodePort"] == 30000 and services.lb_ip(a) == "198.51.100.1"
    b = _svc()
    b["metadata"]["name"] = "b"
    services.allocate(b, None, _taken(a))
    assert b["spec"]["clusterIP"] == "10.96.0.12" and "nodePort" not in b["spec"]["ports"][0]
    again = _svc(type="LoadBalancer")  # the same manifest applied again keeps its assignments
    services.allocate(again, a, _taken(b))
    assert again["spec"] == a["spec"] and services.lb_ip(again) == "198.51.100.1"
    for bad, message in ((dict(clusterIP="10.96.0.12"), "already allocated"),
                         (dict(clusterIP="10.96.0.10"), "already allocated"),
                         (dict(clusterIP="10.97.0.1"), "immutable")):
        with pytest.raises(InvalidArgument, match=message):
            services.allocate(_svc(**bad), a if "immutable" in message else None, _taken(b))
    taken = _svc(type="NodePort")
    taken["spec"]["ports"][0]["nodePort"] = 30000
    with pytest.raises(InvalidArgument, match=r"spec.ports\[0\].nodePort: .*already allocated"):
        services.allocate(taken, None, _taken(a))


def test_service_environment_like_the_kubelet():
    svc = _svc(clusterIP="10.96.0.11")
    svc["metadata"]["name"] = "my-web"
    env = service_env.for_service(svc)
    assert env["MY_WEB_SERVICE_HOST"] == "10.96.0.11" and env["MY_WEB_SERVICE_PORT"] == "80"
    assert env["MY_WEB_SERVICE_PORT_HTTP"] == "80" and env["MY_WEB_PORT"] == "tcp://10.96.0.11:80"
    assert env["MY_WEB_PORT_80_TCP_ADDR"] == "10.96.0.11" and env["MY_WEB_PORT_80_TCP_PROTO"] == "tcp"
    assert service_env.for_service(_svc(clusterIP="None")) == {}


SVC_MISTAKES = [
    ({"type": "External"}, "spec.type: must be one of ClusterIP, NodePort, LoadBalancer"),
    ({"ports": [{"port": 0}]}, "spec.ports[0].port: must be 1-65535"),
    ({"ports": [{"port": 80, "protocol": "SCTP"}]}, "spec.ports[0].protocol: must be one of TCP, UDP"),
    ({"ports": [{"port": 80, "targetPort": 70000}]}, "spec.ports[0].targetPort: must be 1-65535"),
    ({"ports": [{"port": 80, "targetPort": "Web_Port"}]}, "spec.ports[0].targetPort: must be an IANA service name"),
    ({"ports": [{"port": 80, "nodePort": 80}], "type": "NodePort"}, "spec.ports[0].nodePort: must be 30000-32767"),
    ({"ports": [{"port": 80, "nodePort": 30001}]}, "spec.ports[0].nodePort: Forbidden"),
    ({"ports": [{"port": 80}, {"port": 81}]}, "spec.ports[0].name: Required value"),
    ({"ports": [{"name": "a", "port": 80}, {"name": "b", "port": 80}]}, "spec.ports[1]: Duplicate value"),
    ({"ports": []}, "spec.ports: Required value"),
    ({"clusterIP": "10.0.0.300"}, "spec.clusterIP: must be an IPv4 address"),
    ({"clusterIP": "172.16.0.1"}, "spec.clusterIP: Invalid value: '172.16.0.1': provided IP is not in the valid range"),
    ({"clusterIP": "None", "type": "NodePort"}, "spec.clusterIP: Invalid value"),
    ({"sessionAffinity": "Cookie"}, "spec.sessionAffinity: must be one of None, ClientIP"),
    ({"ipFamilies": ["IPv6"]}, "spec.ipFamilies: minipod serves IPv4 only"),
    ({"externalName": "example.com"}, "spec.externalName: unknown field"),
    ({"selector": {"app": "we b"}}, "spec.selector: invalid label value"),
]


@pytest.mark.parametrize("change,message", SVC_MISTAKES, ids=[m[1][:40] for m in SVC_MISTAKES])
def test_each_service_mistake_names_its_field(monkeypatch, change, message):
    monkeypatch.delenv("MINIPOD_SERVICE_CIDR", raising=False)
    obj = copy.deepcopy(SERVICE)
    obj["spec"].update(change)
    with pytest.raises(InvalidArgument) as err:
        manifests.check([("svc.yaml", obj)])
    assert message in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_kubectl_get_o_yaml_of_a_service_applies(monkeypatch):
    monkeypatch.delenv("MINIPOD_SERVICE_CIDR", raising=False)
    obj = _svc(clusterIP="10.96.0.20", clusterIPs=["10.96.0.20"], ipFamilies=["IPv4"], ipFamilyPolicy="SingleStack",
               internalTrafficPolicy="Cluster", sessionAffinity="None", type="ClusterIP")
    obj["spec"]["ports"][0]["protocol"] = "TCP"
    obj["metadata"].update(uid="x", resourceVersion="3", creationTimestamp="2026-01-01T00:00:00Z")
    obj["status"] = {"loadBalancer": {}}
    [(_k, checked)] = manifests.check([("svc.yaml", obj)])
    assert "status" not in checked
