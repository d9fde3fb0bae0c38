"""Resilience primitives: retry policies and budgets, throttles, leases, admission.

One concept per module, imported directly (`from simulation.primitives.resilience.retry import
RetryConfig`): `retry` (back-off policies, retry budgets, `call_with_retry`), `throttle` (token
bucket, concurrency limit), `lease` (a lease table with lazy expiry), `admission` (work queues
and admission policies). Nothing is imported eagerly here, so each module stands alone.
"""
