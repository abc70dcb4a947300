"""Kubernetes objects as data: the kinds minipod knows (kinds.py), their
schemas (schema.py and one module per group of kinds), label selectors,
address allocation and the object store. Nothing here reaches up into the
runtime or the controllers: the verbs that do live in minipod.api.
"""
