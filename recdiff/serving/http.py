"""The HTTP JSON API of `recdiff serve`: FastAPI routes over a micro-batched predictor.

Routes: ``POST /recommend`` (a history in the data's own item ids, and k), ``GET /health`` and
``GET /metadata``. Requests are validated before they reach the model (ids, k and history length
within the server's limits), and every refusal is a 4xx whose body is ``{"error": paragraph}``,
like the CLI's messages. Concurrent requests share forward passes through `MicroBatcher`.

FastAPI is an optional extra (``pip install -e ".[serve]"``): this module imports it, and
nothing else in recdiff imports this module until `recdiff serve` runs.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from recdiff.serving.batcher import MicroBatcher
from recdiff.version import __version__


class Ranked(Protocol):
    """One user's recommendations: item ids best first, their scores, and how many history ids were unknown."""

    @property
    def items(self) -> list[str]: ...

    @property
    def scores(self) -> list[float]: ...

    @property
    def unknown(self) -> int: ...


class Recommends(Protocol):
    """What the server needs of a predictor: top-k item ids for histories given in the data's own ids."""

    def recommend(self, histories: Sequence[Sequence[str]], k: int = 10, exclude_seen: bool = True) -> Sequence[Ranked]: ...


@dataclass(frozen=True)
class Limits:
    """Bounds on a request, so one client cannot make the server rank a huge history or return the whole catalogue."""

    max_history: int = 1000
    max_k: int = 100
    max_batch: int = 64
    max_wait_ms: float = 2.0


class RecommendRequest(BaseModel):
    """The body of ``POST /recommend``."""

    model_config = ConfigDict(extra="forbid")

    history: list[str | int] = Field(description="The user's items, oldest first, in the data's own item ids.")
    k: int = Field(10, ge=1, description="How many items to recommend.")
    exclude_seen: bool = Field(True, description="Never recommend an item of the history.")
    user: str | int | None = Field(None, description="Echoed back, for the caller's bookkeeping.")

    @field_validator("history", mode="before")
    @classmethod
    def _tokens(cls, history: Any) -> Any:
        if isinstance(history, list) and any(isinstance(item, bool) for item in history):
            raise ValueError("item ids must be strings or integers, not true/false")
        return history


class RecommendResponse(BaseModel):
    """The body of a ``POST /recommend`` answer."""

    user: str | int | None
    items: list[str]
    scores: list[float]
    unknown: int = Field(description="History ids not in the model's vocabulary; they were skipped.")


def answer_batch(predictor: Recommends, requests: Sequence[RecommendRequest]) -> list[RecommendResponse]:
    """Answer requests with as few forward passes as they allow: one per `exclude_seen` value, at their largest k."""
    answers: dict[int, RecommendResponse] = {}
    for exclude in (True, False):
        group = [(index, request) for index, request in enumerate(requests) if request.exclude_seen is exclude]
        if not group:
            continue
        histories = [[str(item) for item in request.history] for _, request in group]
        ranked = predictor.recommend(histories, k=max(request.k for _, request in group), exclude_seen=exclude)
        for (index, request), result in zip(group, ranked, strict=True):
            answers[index] = RecommendResponse(
                user=request.user, items=list(result.items[: request.k]), scores=list(result.scores[: request.k]),
                unknown=result.unknown,
            )
    return [answers[index] for index in range(len(requests))]


def _refusal(status: int, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": message})


def _describe_invalid(error: RequestValidationError) -> str:
    """One paragraph from pydantic's list of errors: where each problem is and what it is."""
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item.get("loc", ()) if part != "body") or "body"
        problems.append(f"{where}: {item.get('msg', 'invalid')}")
    return (
        f"The request is not a valid recommendation request ({'; '.join(problems)}). Send JSON like "
        f'{{"history": ["item-a", "item-b"], "k": 10}}; optional fields: exclude_seen (true/false), user.'
    )


def create_app(
    predictor: Recommends, metadata: dict[str, Any], limits: Limits = Limits(), freeze_heap: bool = True
) -> FastAPI:
    """The FastAPI application serving ``predictor``; ``metadata`` is what ``GET /metadata`` reports.

    ``freeze_heap`` moves every object alive at start-up out of the garbage collector's reach
    (`gc.freeze`), for a process that does nothing but serve; leave it off inside a process
    that goes on to do other work.
    """
    batcher: MicroBatcher[RecommendRequest, RecommendResponse] = MicroBatcher(
        lambda requests: answer_batch(predictor, requests), limits.max_batch, limits.max_wait_ms / 1000
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The model, its vocabulary and the libraries are hundreds of thousands of objects that live as long as the
        # server: frozen, they leave the collector's full passes, which otherwise stall every request in flight.
        if freeze_heap:
            gc.collect()
            gc.freeze()
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    app = FastAPI(title="recdiff", version=__version__, lifespan=lifespan)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return _refusal(422, _describe_invalid(error))

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metadata")
    async def describe() -> dict[str, Any]:
        stats = batcher.stats
        return {
            **metadata,
            "limits": {"max_history": limits.max_history, "max_k": limits.max_k, "max_batch": limits.max_batch},
            "batches": {"count": stats.batches, "requests": stats.requests, "largest": stats.largest},
        }

    @app.post("/recommend", response_model=RecommendResponse)
    async def recommend(body: RecommendRequest) -> RecommendResponse | JSONResponse:
        if len(body.history) > limits.max_history:
            return _refusal(
                413, f"The history has {len(body.history)} items; this server takes at most {limits.max_history}. "
                f"Send the most recent {limits.max_history} (the model reads only the latest ones anyway)."
            )
        if body.k > limits.max_k:
            return _refusal(422, f"k={body.k} is more than this server returns (at most {limits.max_k}); ask for fewer.")
        return await batcher.submit(body)

    return app
