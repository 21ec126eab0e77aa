"""Desired state, pure: the lab's topology, pod placement, IPAM and the workload controllers.

Nothing here touches the machine: given the applied objects and what the lab already has, it
computes what the lab should have. netlab.lab carries that out through netlab.dataplane.
"""
