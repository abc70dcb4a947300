"""The environment variables the kubelet gives a container for every
service of its namespace that exists when the container starts:
NGINX_SERVICE_HOST, NGINX_SERVICE_PORT(_<NAME>), and the docker-link style
NGINX_PORT, NGINX_PORT_8080_TCP(_PROTO|_PORT|_ADDR)."""

from minipod.objects import kinds, store


def for_service(svc: dict) -> dict:
    spec = svc["spec"]
    ip = spec.get("clusterIP")
    ports = spec.get("ports") or []
    if not ip or ip == "None" or not ports:
        return {}
    name = svc["metadata"]["name"].upper().replace("-", "_")
    env = {f"{name}_SERVICE_HOST": ip, f"{name}_SERVICE_PORT": str(ports[0]["port"])}
    first = ports[0]
    env[f"{name}_PORT"] = f"{first.get('protocol', 'TCP').lower()}://{ip}:{first['port']}"
    for p in ports:
        proto = p.get("protocol", "TCP")
        if p.get("name"):
            env[f"{name}_SERVICE_PORT_{p['name'].upper().replace('-', '_')}"] = str(p["port"])
        base = f"{name}_PORT_{p['port']}_{proto}"
        env[base] = f"{proto.lower()}://{ip}:{p['port']}"
        env[f"{base}_PROTO"] = proto.lower()
        env[f"{base}_PORT"] = str(p["port"])
        env[f"{base}_ADDR"] = ip
    return env


def for_namespace(namespace: str) -> dict:
    env = {}
    for svc in store.list_objects(kinds.SERVICE, namespace):
        env.update(for_service(svc))
    return env
