"""The HTTP edge of wio: an ASGI app (Starlette, served by uvicorn). It holds no state and no domain
rules: it checks who calls, hands the request to a service or to NATS, and answers."""
