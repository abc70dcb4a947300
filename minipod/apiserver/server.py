"""The Kubernetes API over HTTPS, served with aiohttp (HTTP/1.1, TLS from
the standard ssl module, WebSockets for exec, attach and port-forward).

Every request is authenticated first: a client certificate signed by
minipod's CA (the admin kubeconfig's), else 401 and no handler runs. Then
the path is routed as kube-apiserver routes it: /version, discovery
(/api, /apis, /api/v1, /apis/GROUP/VERSION, aggregated or legacy by the
Accept header), /openapi/v2 and /openapi/v3, and the resources, with
their namespaces, names and subresources. Bodies are JSON (or YAML) of at
most MAX_BODY bytes; every failure is a meta/v1 Status."""

import asyncio
import json
import ssl
import urllib.parse

from aiohttp import web

from minipod.apiserver import metrics, openapi, resources, rest, reviews, status as statusmod, streams, tables, watch
from minipod.apiserver.status import APIError
from minipod.objects import store

MAX_BODY = 3 << 20  # kube-apiserver's limit of a request body
WATCH_TIMEOUT = 1800
JSON = "application/json"
WRITE_TYPES = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf", "*/*", "")
PATCH_TYPES = ("application/strategic-merge-patch+json", "application/merge-patch+json",
               "application/json-patch+json")


def _json(body, code=200, headers=None, content_type=JSON) -> web.Response:
    return web.Response(body=json.dumps(body, separators=(",", ":")).encode(), status=code,
                        headers={**(headers or {}), "Content-Type": content_type})


def _failure(e: APIError) -> web.Response:
    return _json(statusmod.status(e.code, str(e), e.reason, e.details), e.code)


@web.middleware
async def authenticate(request, handler):
    """No handler runs without a client certificate that the CA signed (the
    TLS layer checks the signature; a request without one is 401 here)."""
    if not request.transport or not request.transport.get_extra_info("peercert"):
        return _json(statusmod.status(401, "Unauthorized"), 401)
    return await handler(request)


@web.middleware
async def statuses(request, handler):
    """Every failure as a Status; a bug as a 500 that says so."""
    try:
        return await handler(request)
    except APIError as e:
        return _failure(e)
    except web.HTTPRequestEntityTooLarge:
        return _failure(APIError(413, f"the request body is larger than {MAX_BODY} bytes"))
    except web.HTTPException:
        raise
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    except Exception as e:  # noqa: BLE001  (a bug: say so, and keep serving)
        import traceback
        traceback.print_exc()
        return _failure(statusmod.of_error(e))


def _segments(request) -> list:
    """The path's segments, each percent-decoded (so a name holding "/" or
    ".." stays one segment, which no object's name can match)."""
    raw = request.rel_url.raw_path
    return [urllib.parse.unquote(s) for s in raw.strip("/").split("/")] if raw.strip("/") else []


def _wants(request, what: str) -> bool:
    return what in request.headers.get("Accept", "")


def _aggregated_version(request):
    accept = request.headers.get("Accept", "")
    for part in accept.split(","):
        if "as=APIGroupDiscoveryList" in part and "g=apidiscovery.k8s.io" in part:
            for v in ("v2", "v2beta1"):
                if f"v={v};" in part + ";":
                    return v
    return None


async def handle(request) -> web.Response:
    parts = _segments(request)
    app = request.app
    if parts == ["version"]:
        return _json(app["version"])
    if parts in (["healthz"], ["livez"], ["readyz"]):
        return web.Response(text="ok")
    if parts and parts[0] == "openapi":
        return await openapi.serve(request, parts[1:])
    if parts in (["api"], ["apis"]):
        version = _aggregated_version(request)
        if version:
            ctype = f"application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"
            return _json(resources.aggregated(parts == ["api"], version), content_type=ctype)
        return _json(resources.api_versions(app["address"]) if parts == ["api"] else resources.group_list())
    if parts[:2] == ["api", "v1"]:
        group, version, rest_parts = "", "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest_parts = parts[1], parts[2], parts[3:]
    elif len(parts) == 2 and parts[0] == "apis":
        body = resources.group(parts[1])
        if body is None:
            raise APIError(404, "the server could not find the requested resource")
        return _json(body)
    else:
        raise APIError(404, "the server could not find the requested resource")
    if (group or "") not in resources.GROUPS or version not in resources.GROUPS[group]:
        raise APIError(404, "the server could not find the requested resource")
    if not rest_parts:
        return _json(resources.resource_list(group, version))
    return await _resource_request(request, group, version, rest_parts)


def _split_resource_path(group, version, parts):
    """(resource, namespace, name, subresource) of a resource path."""
    namespace = None
    if parts[0] == "namespaces" and len(parts) >= 3:
        candidate = resources.find(group, version, parts[2])
        if candidate is not None and candidate.namespaced:
            namespace, parts = parts[1], parts[2:]
    resource = resources.find(group, version, parts[0])
    if resource is None or len(parts) > 3:
        raise APIError(404, "the server could not find the requested resource")
    name = parts[1] if len(parts) > 1 else None
    sub = parts[2] if len(parts) > 2 else None
    if name == "":
        raise APIError(404, "the server could not find the requested resource")
    if resource.namespaced and name is not None and namespace is None:
        raise APIError(404, "the server could not find the requested resource")
    if sub is not None and sub not in {s[0] for s in resource.subresources}:
        raise APIError(404, "the server could not find the requested resource")
    return resource, namespace, name, sub


async def _body(request, allowed) -> object:
    ctype = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if ctype not in allowed:
        raise APIError(415, f'the body of the request was in an unknown format - accepted media types include: '
                            f'{", ".join(t for t in allowed if t not in ("*/*", ""))}')
    data = await request.read()
    return rest.decode(data, ctype), ctype


def _warned(response: web.Response, warnings) -> web.Response:
    for w in warnings:
        response.headers.add("Warning", '299 - "' + w.replace('"', "'").replace("\n", " ") + '"')
    return response


def _query_bool(request, name) -> bool:
    return request.query.get(name, "").lower() in ("1", "true")


async def _written(*call):
    """Run a write (in a thread, as every store access), then wake the
    watches so that they tell of it at once (watch.kick)."""
    try:
        return await asyncio.to_thread(*call)
    finally:
        watch.kick()


async def _resource_request(request, group, version, parts) -> web.StreamResponse:
    resource, namespace, name, sub = _split_resource_path(group, version, parts)
    method = request.method
    q = request.query
    dry_run = q.get("dryRun") == "All"
    if resource.kind in reviews.KINDS:  # asked, answered, never stored
        if method != "POST" or name is not None:
            raise APIError(405, f"{method} is not allowed on {resource.plural}", "MethodNotAllowed")
        doc, _ = await _body(request, WRITE_TYPES)
        return _json(reviews.review(resource.kind, doc), 201)
    if resource.kind in metrics.KINDS:  # sampled when asked, never stored
        if method != "GET" or sub is not None:
            raise APIError(405, f"{method} is not allowed on {resource.plural}.metrics.k8s.io", "MethodNotAllowed")
        items = await asyncio.to_thread(rest.metrics_of, resource, namespace, q.get("labelSelector"))
        if name is not None:
            return _json(metrics.one(items, resource.kind, name))
        return _json({"kind": f"{resource.kind}List", "apiVersion": resource.group_version, "metadata": {},
                      "items": items})
    if sub in ("exec", "attach", "portforward", "log"):
        if method not in ("GET", "POST"):
            raise APIError(405, f"{method} is not allowed on pods/{sub}", "MethodNotAllowed")
        return await streams.serve(request, sub, namespace, name)
    if method == "GET":
        if name is None:
            if _query_bool(request, "watch"):
                return await _watch(request, resource, namespace)
            revision = str(store.revision())  # before the list: what changes meanwhile is after it
            objs = await asyncio.to_thread(rest.list_objects, resource, namespace, q.get("labelSelector"),
                                           q.get("fieldSelector"))
            watch.RECORDER.touch(resource, objs)
            if _wants(request, "as=Table"):
                return _json(tables.table(resource.kind, resource.stored, objs, revision,
                                          q.get("includeObject", "Metadata")))
            return _json(rest.list_body(resource, objs, int(revision)))
        obj = await asyncio.to_thread(rest.read, resource, namespace, name)
        if sub == "scale":
            return _json(rest.scale_of(resource, obj))
        if _wants(request, "as=Table"):
            return _json(tables.table(resource.kind, resource.stored, [obj], obj["metadata"].get("resourceVersion", ""),
                                      q.get("includeObject", "Metadata")))
        return _json(obj)
    if method == "POST" and name is None:
        doc, _ = await _body(request, WRITE_TYPES)
        code, obj, warnings = await _written(rest.create, resource, namespace, doc, dry_run)
        return _warned(_json(obj, code), warnings)
    if method in ("PUT", "PATCH") and name is not None:
        doc, ctype = await _body(request, WRITE_TYPES if method == "PUT" else PATCH_TYPES)
        patch_type = ctype if method == "PATCH" else None
        if sub == "scale":
            call = (rest.write_scale, resource, namespace, name, patch_type, doc)
        elif sub is None and method == "PUT":
            call = (rest.replace, resource, namespace, name, doc, dry_run)
        elif sub is None:
            call = (rest.patch, resource, namespace, name, ctype, doc, dry_run)
        else:
            raise APIError(405, f"{resource.plural}/{sub} cannot be written here", "MethodNotAllowed")
        code, obj, warnings = await _written(*call)
        return _warned(_json(obj, code), warnings)
    if method == "DELETE" and sub is None:
        options = {}
        data = await request.read()
        if len(data) > MAX_BODY:
            raise APIError(413, f"the request body is larger than {MAX_BODY} bytes")
        if data:
            options = rest.decode(data, "application/json")
            if not isinstance(options, dict):
                raise APIError(400, "DeleteOptions must be a JSON object")
        for key in ("propagationPolicy", "gracePeriodSeconds"):
            if key in q:
                options[key] = q[key]
        if name is None:
            objs = await asyncio.to_thread(rest.list_objects, resource, namespace, q.get("labelSelector"),
                                           q.get("fieldSelector"))
            for o in objs:
                await _written(rest.delete, resource, o["metadata"].get("namespace"), o["metadata"]["name"], options)
            return _json(rest.list_body(resource, objs, store.revision()))
        code, obj, _ = await _written(rest.delete, resource, namespace, name, options)
        return _json(obj, code)
    raise APIError(405, f"{method} is not allowed here", "MethodNotAllowed")


async def _watch(request, resource, namespace) -> web.StreamResponse:
    q = request.query
    watch.parse_version(q.get("resourceVersion"))  # a garbage version is a 400 before the stream starts
    try:
        timeout = min(int(q.get("timeoutSeconds", WATCH_TIMEOUT)), WATCH_TIMEOUT)
    except ValueError:
        raise APIError(400, f"invalid timeoutSeconds {q.get('timeoutSeconds')!r}") from None
    as_table = _wants(request, "as=Table")
    response = web.StreamResponse(headers={"Content-Type": JSON, "Cache-Control": "no-cache"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    first = True
    async for event in watch.events(resource, namespace, q.get("labelSelector"), q.get("fieldSelector"),
                                    q.get("resourceVersion"), _query_bool(request, "allowWatchBookmarks"),
                                    loop.time() + timeout, _query_bool(request, "sendInitialEvents")):
        if as_table and event["type"] in ("ADDED", "MODIFIED", "DELETED"):
            obj = event["object"]
            event = {"type": event["type"], "object": tables.table(
                resource.kind, resource.stored, [obj], obj["metadata"].get("resourceVersion", ""),
                q.get("includeObject", "Metadata"), headers_too=first)}
            first = False
        try:
            await response.write(json.dumps(event, separators=(",", ":")).encode() + b"\n")
        except (ConnectionResetError, RuntimeError):
            break  # the client went away
    return response


def make_app(address: str, port: int) -> web.Application:
    from minipod import __version__
    app = web.Application(middlewares=[authenticate, statuses], client_max_size=MAX_BODY)
    app["address"] = f"{address}:{port}"
    app["version"] = {"major": "1", "minor": "32", "gitVersion": f"v1.32.0+minipod-{__version__}",
                      "gitCommit": "", "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
                      "goVersion": "python", "compiler": "cpython", "platform": "linux/amd64"}
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def tls_context(files: dict) -> ssl.SSLContext:
    """TLS 1.2+, our server certificate, and client certificates checked
    against our CA (optional at the TLS layer, so that a request without
    one is answered 401 as kube-apiserver answers it)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(files["apiserver.crt"], files["apiserver.key"])
    ctx.load_verify_locations(files["ca.crt"])
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


async def serve(address: str, port: int, files: dict, ready=None) -> None:
    app = make_app(address, port)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2)
    await runner.setup()
    site = web.TCPSite(runner, address, port, ssl_context=tls_context(files), reuse_address=True)
    await site.start()
    recorder = asyncio.ensure_future(watch.RECORDER.run())
    if ready:
        ready()
    try:
        await asyncio.Event().wait()
    finally:
        recorder.cancel()
        await runner.cleanup()
