"""What the components of a Kubernetes node and control plane do, played on
this host by minipod's own node agent:

  agent/        the agent: started on demand (the supervisor the CLI calls)
                and its reconcile pass over every role below (loop.py)
  kubelet/      Pod objects made real, restarts, probes, pod status
  controllers/  the controller manager's Deployments and Endpoints
  proxy/        kube-proxy: Service rules, iptables or nftables mode
  policy/       kube-router's policy controller: NetworkPolicy as kernel
                rules (chains and ipsets, or an nftables table)
  ingress/      ingress-nginx: a real nginx rendered from Ingresses
  clusterdns.py CoreDNS's job, by a real dnsmasq

Roles act through the core (minipod.core) and the object store
(minipod.objects); they never import a front end (CLI, API server, CRI)."""
