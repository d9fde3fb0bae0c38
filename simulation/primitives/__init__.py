"""Primitives every subsystem is assembled from: servers, connections, memory, DNS, resilience."""
