"""The reference Primo task API: the system under test of Primo Capacity.

Start it as the stack does::

    python -m uvicorn --factory reference_api.main:create_app --host H --port P \
        --loop uvloop --http reference_api.wire:CoalescingHttpProtocol \
        --timeout-keep-alive 75 --no-access-log

or ``python -m reference_api`` (same, on ``PORT``, without the ``Server`` header).

Settings (environment; docs/architecture.md) and the few this package adds:
``MONGODB_TIMEOUT_MS`` (2000: server selection and connect timeout, and the deadline of each
repository call's database work, so a lost or frozen database is a quick 503),
``MONGODB_BREAKER_FAILURES`` (5) and ``MONGODB_BREAKER_COOLDOWN`` (2 s: the database circuit
breaker), ``REDIS_TIMEOUT`` (0.1 s socket timeouts), ``REDIS_BREAKER_FAILURES`` (3) and
``REDIS_BREAKER_COOLDOWN`` (2 s), ``MAX_BODY_BYTES`` (65536), ``ADMISSION_MAX_LATENCY_MS`` (500;
0 off) and ``ADMISSION_MIN_IN_FLIGHT`` (16: admission control, reference_api/admission.py).
The client address used for
per-IP rate limits is uvicorn's: it trusts ``X-Forwarded-For`` only from
``FORWARDED_ALLOW_IPS`` (uvicorn's own setting, default 127.0.0.1, i.e. nginx on the host).

Choices worth knowing: ``PATCH`` with an empty body is a 422, as is ``null`` for any field but
``dueDate`` (where it clears the date); ``sort=priority`` orders by rank (low < medium < high);
a malformed id is a 404 and a forged cursor a 400; cached stats may show an ``overdue`` count up
to ``CACHE_TTL`` old; JWTs are stateless (a valid token for a deleted user still passes the
auth check; ``/api/auth/me`` then answers 404).
"""
