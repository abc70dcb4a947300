"""minipod as a CNI runtime (the role of libcni): config building, plugin
execution, ADD/DEL/CHECK over a plugin list, a result cache and GC."""
