"""The HTTP API: FastAPI routers that parse, authorize, call one service, shape the answer."""
