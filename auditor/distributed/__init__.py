"""Units of work through a broker (Celery on Redis): `auditor worker` runs them where it stands, `auditor scan
--broker` sends them and gathers one audit (docs/distributed.md). Nothing here is imported without --broker:
the in-process scan and `auditor demo` need neither Celery nor Redis."""
