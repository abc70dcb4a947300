"""The ingress controller (ingress-nginx's role): a real nginx in a pod of
namespace ingress-nginx, its configuration rendered from Ingresses,
Services and Endpoints (render.py) and kept in step by the agent
(controller.py)."""
