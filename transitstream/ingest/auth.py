"""Device authentication: `Authorization: Bearer <token>`, tokens from Settings."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from transitstream.ingest import metrics

bearer = HTTPBearer(auto_error=False, description="a device token (TRANSITSTREAM_INGEST_TOKENS)")


def device_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    tokens: frozenset[str] = request.app.state.settings.ingest.token_set()
    given = credentials.credentials if credentials else ""
    if not any(hmac.compare_digest(given, t) for t in tokens):
        metrics.UNAUTHORIZED.inc()
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or unknown device token: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return given


Device = Annotated[str, Depends(device_token)]
