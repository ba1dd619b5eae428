"""`recdiff serve`: the micro-batcher, request validation, and answers equal to `recdiff.recommend`."""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest
from conftest import assert_clean_failure, invoke
from fastapi.testclient import TestClient

import recdiff
from recdiff.serving.batcher import MicroBatcher
from recdiff.serving.http import Limits, RecommendRequest, answer_batch, create_app
from recdiff.serving.predictor import Predictor


@dataclass
class Ranked:
    items: list[str]
    scores: list[float]
    unknown: int


class Echo:
    """A predictor whose answer is computable by hand: the catalogue "a".."j" minus (optionally) the history."""

    catalogue = [chr(ord("a") + i) for i in range(10)]

    def __init__(self) -> None:
        self.calls: list[tuple[int, int, bool]] = []

    def recommend(self, histories: Sequence[Sequence[str]], k: int = 10, exclude_seen: bool = True) -> list[Ranked]:
        self.calls.append((len(histories), k, exclude_seen))
        answers = []
        for history in histories:
            known = [item for item in history if item in self.catalogue]
            items = [item for item in self.catalogue if not (exclude_seen and item in known)][:k]
            answers.append(Ranked(items, [float(-rank) for rank in range(len(items))], len(history) - len(known)))
        return answers


def test_concurrent_requests_share_batches_and_each_gets_its_own_answer() -> None:
    sizes: list[int] = []

    def run(batch: Sequence[int]) -> list[int]:
        sizes.append(len(batch))
        time.sleep(0.01)
        return [2 * value for value in batch]

    async def main() -> list[int]:
        batcher: MicroBatcher[int, int] = MicroBatcher(run, max_batch=16, max_wait=0.05)
        await batcher.start()
        try:
            return list(await asyncio.gather(*(batcher.submit(value) for value in range(40))))
        finally:
            await batcher.stop()

    assert asyncio.run(main()) == [2 * value for value in range(40)]
    assert sum(sizes) == 40 and max(sizes) == 16 and len(sizes) == 3


def test_a_failing_batch_fails_its_requests_and_the_batcher_goes_on() -> None:
    def run(batch: Sequence[int]) -> list[int]:
        if -1 in batch:
            raise ValueError("bad batch")
        return list(batch)

    async def main() -> tuple[BaseException | int, int]:
        batcher: MicroBatcher[int, int] = MicroBatcher(run, max_batch=4, max_wait=0.0)
        await batcher.start()
        try:
            failed = (await asyncio.gather(batcher.submit(-1), return_exceptions=True))[0]
            return failed, await batcher.submit(5)
        finally:
            await batcher.stop()

    failed, later = asyncio.run(main())
    assert isinstance(failed, ValueError) and later == 5


def test_answer_batch_runs_one_pass_per_exclusion_at_the_largest_k() -> None:
    echo = Echo()
    requests = [
        RecommendRequest(history=["a", "zz"], k=2),
        RecommendRequest(history=["b"], k=4, exclude_seen=False, user=7),
        RecommendRequest(history=["c"], k=3),
    ]
    answers = answer_batch(echo, requests)
    assert sorted(echo.calls) == [(1, 4, False), (2, 3, True)]
    assert [answer.items for answer in answers] == [["b", "c"], ["a", "b", "c", "d"], ["a", "b", "d"]]
    assert answers[0].unknown == 1 and answers[1].user == 7


def test_the_app_validates_requests_with_clear_4xx_errors() -> None:
    with TestClient(create_app(Echo(), {"run": "echo"}, Limits(max_history=5, max_k=3), freeze_heap=False)) as client:
        assert client.get("/health").json() == {"status": "ok"}
        ok = client.post("/recommend", json={"history": ["a", 3], "k": 2, "user": "u1"})
        assert ok.status_code == 200 and ok.json() == {"user": "u1", "items": ["b", "c"], "scores": [0.0, -1.0], "unknown": 1}
        refusals = {
            "missing history": ({"k": 2}, 422, "history: Field required"),
            "k of zero": ({"history": ["a"], "k": 0}, 422, "k: Input should be greater than or equal to 1"),
            "k over the limit": ({"history": ["a"], "k": 4}, 422, "at most 3"),
            "a boolean id": ({"history": [True], "k": 1}, 422, "not true/false"),
            "an unknown field": ({"history": ["a"], "k": 1, "top": 3}, 422, "top: Extra inputs are not permitted"),
            "a long history": ({"history": ["a"] * 6, "k": 1}, 413, "at most 5"),
        }
        for case, (body, status, says) in refusals.items():
            response = client.post("/recommend", json=body)
            assert response.status_code == status, case
            assert says in response.json()["error"], (case, response.json())
        malformed = client.post("/recommend", content=b"{not json", headers={"content-type": "application/json"})
        assert malformed.status_code == 422 and "JSON" in malformed.json()["error"]
        metadata = client.get("/metadata").json()
        assert metadata["run"] == "echo" and metadata["limits"]["max_k"] == 3 and metadata["batches"]["requests"] == 1


def test_requests_from_many_threads_are_batched_and_answered_correctly() -> None:
    echo = Echo()
    with TestClient(create_app(echo, {}, Limits(max_batch=8, max_wait_ms=30), freeze_heap=False)) as client:
        results: dict[int, list[str]] = {}

        def ask(user: int) -> None:
            history = [Echo.catalogue[user % 10]]
            results[user] = client.post("/recommend", json={"history": history, "k": 3}).json()["items"]

        threads = [threading.Thread(target=ask, args=(user,)) for user in range(24)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        largest = client.get("/metadata").json()["batches"]["largest"]
    expected = {user: [item for item in Echo.catalogue if item != Echo.catalogue[user % 10]][:3] for user in range(24)}
    assert results == expected
    assert largest > 1 and len(echo.calls) < 24


@pytest.fixture(scope="module")
def served(trained_run: tuple[Path, object]) -> Iterator[tuple[str, Predictor]]:
    """The shared tiny run served by uvicorn on a free loopback port, in a thread, with its predictor."""
    import uvicorn

    predictor = Predictor.from_run(trained_run[0])
    app = create_app(predictor, {"run": str(trained_run[0])}, Limits(max_batch=16, max_wait_ms=20), freeze_heap=False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", predictor
    server.should_exit = True
    thread.join(timeout=10)


def test_a_served_run_answers_what_recdiff_recommend_answers(served: tuple[str, Predictor]) -> None:
    base, predictor = served
    items = list(predictor.vocab.items)
    histories = [items[i : i + 1 + i % 7] for i in range(0, 40, 2)] + [["not-an-item", items[3]], []]
    expected = {
        exclude: recdiff.recommend(predictor, histories, k=5, exclude_seen=exclude) for exclude in (True, False)
    }

    def ask(index: int, exclude: bool) -> tuple[int, bool, dict[str, object]]:
        body = {"history": histories[index], "k": 5, "exclude_seen": exclude, "user": index}
        return index, exclude, httpx2.post(f"{base}/recommend", json=body, timeout=30).json()

    with ThreadPoolExecutor(max_workers=16) as pool:  # concurrent requests, so they share forward passes
        answers = list(pool.map(lambda job: ask(*job), [(i, e) for i in range(len(histories)) for e in (True, False)]))
    for index, exclude, answer in answers:
        wanted = expected[exclude][index]
        assert answer["user"] == index and answer["items"] == wanted.items and answer["unknown"] == wanted.unknown
        assert answer["scores"] == pytest.approx(wanted.scores, rel=1e-5, abs=1e-6)
    metadata = httpx2.get(f"{base}/metadata", timeout=5).json()
    assert metadata["batches"]["requests"] == 2 * len(histories) and metadata["batches"]["largest"] > 1


def test_serve_without_the_extra_says_how_to_install_it(
    trained_run: tuple[Path, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if the serve extra were not installed
    output = assert_clean_failure(invoke("serve", trained_run[0]))
    assert 'pip install -e ".[serve]"' in output and "uvicorn" in output
