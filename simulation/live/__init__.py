"""Live front ends on a running simulation: `serve-dns` answers real DNS queries from the
simulated zone (`dns_server`, `wire`), with sim time frozen or replayed (`driver`).
See docs/live-dns.md."""
