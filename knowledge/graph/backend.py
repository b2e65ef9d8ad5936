"""One workspace's view of the knowledge graph, and nothing wider.

``WorkspaceGraph`` is the only way this package reaches Graphiti. It is
built for one workspace and carries that workspace's ``group_id``; every
read and write it offers uses that group and takes no group argument, so no
caller can search or write "all groups" (Graphiti's ``group_ids=None``,
which on Neo4j returned every tenant's facts).

- **FalkorDB** (default): the driver is bound to a graph named after the
  group, so each workspace lives in its own graph (physical isolation);
  queries filter on ``group_id`` as well.
- **Neo4j**: one database, the group is a property every query filters on.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from graphiti_core import Graphiti
from graphiti_core.driver.driver import GraphDriver
from graphiti_core.edges import EntityEdge, EpisodicEdge
from graphiti_core.graphiti import AddEpisodeResults, AddTripletResults
from graphiti_core.llm_client import LLMClient
from graphiti_core.llm_client.config import LLMConfig
from graphiti_core.nodes import EntityNode, EpisodeType, EpisodicNode
from graphiti_core.search.search_config import (
    EdgeReranker,
    EdgeSearchConfig,
    EdgeSearchMethod,
    SearchConfig,
)
from graphiti_core.search.search_filters import SearchFilters

from knowledge.graph.clients import (
    AtriumEmbedder,
    BoundedOpenAIClient,
    LocalReranker,
    OfflineLLMClient,
    cosine,
)
from tenancy.models import Workspace

logger = logging.getLogger(__name__)

BACKENDS = ("falkordb", "neo4j", "off")
T = TypeVar("T")

# Groups whose indexes this process has built, per backend address.
_indexed: set[tuple[str, str]] = set()
_indexed_lock = threading.Lock()


class GraphUnavailable(RuntimeError):
    """The graph backend is off or cannot be reached."""


def backend() -> str:
    """The configured backend: ``falkordb``, ``neo4j`` or ``off``."""
    kind = settings.ATRIUM_GRAPH_BACKEND
    if kind not in BACKENDS:
        raise ImproperlyConfigured(
            f"ATRIUM_GRAPH_BACKEND must be one of {', '.join(BACKENDS)}, not {kind!r}"
        )
    return str(kind)


def extractor() -> str:
    """``openai`` (Graphiti's episode extraction) or ``local`` (offline)."""
    kind = settings.ATRIUM_GRAPH_EXTRACTOR
    if kind == "auto":
        return "openai" if settings.OPENAI_API_KEY else "local"
    if kind not in ("openai", "local"):
        raise ImproperlyConfigured(
            f"ATRIUM_GRAPH_EXTRACTOR must be auto, openai or local, not {kind!r}"
        )
    return str(kind)


def _driver(group_id: str) -> GraphDriver:
    kind = backend()
    if kind == "falkordb":
        from graphiti_core.driver.falkordb_driver import FalkorDriver

        return FalkorDriver(
            host=settings.ATRIUM_GRAPH_HOST,
            port=settings.ATRIUM_GRAPH_PORT,
            username=settings.ATRIUM_GRAPH_USERNAME or None,
            password=settings.ATRIUM_GRAPH_PASSWORD or None,
            database=group_id,
        )
    if kind == "neo4j":
        from graphiti_core.driver.neo4j_driver import Neo4jDriver

        return Neo4jDriver(
            settings.ATRIUM_GRAPH_URL,
            settings.ATRIUM_GRAPH_USERNAME,
            settings.ATRIUM_GRAPH_PASSWORD,
            database=settings.ATRIUM_GRAPH_NEO4J_DATABASE,
        )
    raise GraphUnavailable("the knowledge graph is off (ATRIUM_GRAPH_BACKEND=off)")


def _llm_client() -> LLMClient:
    if extractor() == "local":
        return OfflineLLMClient()
    config = LLMConfig(
        api_key=settings.OPENAI_API_KEY or "none",
        base_url=settings.OPENAI_BASE_URL,
        model=settings.ATRIUM_GRAPH_LLM_MODEL,
        small_model=settings.ATRIUM_GRAPH_LLM_MODEL,
    )
    from openai import AsyncOpenAI

    sdk = AsyncOpenAI(
        api_key=config.api_key,
        base_url=config.base_url,
        timeout=settings.ATRIUM_PROVIDER_TIMEOUT,
        max_retries=1,
    )
    return BoundedOpenAIClient(
        config,
        client=sdk,
        max_attempts=settings.ATRIUM_GRAPH_LLM_MAX_ATTEMPTS,
        retry_seconds=settings.ATRIUM_GRAPH_LLM_RETRY_SECONDS,
    )


@dataclass
class WorkspaceGraph:
    """Graphiti bound to one workspace's group; see the module docstring."""

    group_id: str
    graphiti: Graphiti

    @property
    def driver(self) -> GraphDriver:
        return self.graphiti.driver

    async def query(self, cypher: str, **params: Any) -> list[dict[str, Any]]:
        """Run Cypher with ``$group_id`` bound to this workspace's group.

        Every query here must filter on ``$group_id``; it is always bound,
        and a caller cannot pass another one.
        """
        if "$group_id" not in cypher:
            raise ValueError("graph queries must filter on $group_id")
        if "group_id" in params:
            raise ValueError("the group is the workspace's; it cannot be passed")
        records, _, _ = await self.driver.execute_query(
            cypher, group_id=self.group_id, **params
        )
        return [dict(record) for record in records or []]

    async def add_episode(
        self,
        *,
        name: str,
        body: str,
        source_description: str,
        reference_time: datetime,
    ) -> AddEpisodeResults:
        """Extract an episode with Graphiti's temporal extraction (needs a model)."""
        return await self.graphiti.add_episode(
            name=name,
            episode_body=body,
            source_description=source_description,
            reference_time=reference_time,
            source=EpisodeType.text,
            group_id=self.group_id,
        )

    async def add_triplet(
        self,
        source: EntityNode,
        edge: EntityEdge,
        target: EntityNode,
        episode: EpisodicNode,
    ) -> AddTripletResults:
        """Write one fact between two entities, cited by ``episode``."""
        for item in (source, edge, target, episode):
            if item.group_id != self.group_id:
                raise ValueError("a triplet is written into its own workspace only")
        return await self.graphiti.add_triplet(source, edge, target, episode=episode)

    async def save(self, item: EntityNode | EpisodicNode | EpisodicEdge) -> None:
        """Save a node or mention edge of this workspace."""
        if item.group_id != self.group_id:
            raise ValueError("a graph item is saved into its own workspace only")
        await item.save(self.driver)

    async def search(
        self, query: str, *, limit: int, search_filter: SearchFilters
    ) -> list[tuple[EntityEdge, float]]:
        """Facts of this group for ``query`` with a 0-1 relevance, best first.

        Graphiti's hybrid search (BM25 and cosine, fused by reciprocal rank)
        finds the candidates; each is then scored by the cosine similarity of
        the query to the fact's stored embedding. Graphiti's cross-encoder
        slot would embed every candidate again on each search (measured: 1.7
        s against 0.1-0.2 s for this on a loaded 2-core machine).
        """
        vector = await self.graphiti.embedder.create(query)
        config = SearchConfig(
            edge_config=EdgeSearchConfig(
                search_methods=[
                    EdgeSearchMethod.bm25,
                    EdgeSearchMethod.cosine_similarity,
                ],
                reranker=EdgeReranker.rrf,
            ),
            limit=limit,
        )
        results = await self.graphiti.search_(
            query,
            config=config,
            group_ids=[self.group_id],
            search_filter=search_filter,
            query_vector=vector,
        )
        if not results.edges:
            return []
        stored = {
            row["uuid"]: row["embedding"]
            for row in await self.query(
                "MATCH (:Entity)-[r:RELATES_TO]->(:Entity)"
                " WHERE r.group_id = $group_id AND r.uuid IN $uuids"
                " RETURN r.uuid AS uuid, r.fact_embedding AS embedding",
                uuids=[edge.uuid for edge in results.edges],
            )
        }
        scored = [
            (edge, max(0.0, min(1.0, cosine(vector, stored.get(edge.uuid) or []))))
            for edge in results.edges
        ]
        return sorted(scored, key=lambda pair: pair[1], reverse=True)


@asynccontextmanager
async def workspace_graph(workspace: Workspace) -> AsyncIterator[WorkspaceGraph]:
    """Open the workspace's graph: its group, and on FalkorDB its own graph.

    Takes the workspace itself, not a group name, so no caller can open a
    group that is not a workspace's.
    """
    if not isinstance(workspace, Workspace):
        raise TypeError("a graph is opened for a workspace only")
    group_id = workspace.graph_group_id
    driver = _driver(group_id)
    embedder = AtriumEmbedder()
    graphiti = Graphiti(
        graph_driver=driver,
        llm_client=_llm_client(),
        embedder=embedder,
        cross_encoder=LocalReranker(embedder),
        max_coroutines=4,
    )
    try:
        key = (backend(), group_id if backend() == "falkordb" else "*")
        if key not in _indexed:
            await graphiti.build_indices_and_constraints()
            with _indexed_lock:
                _indexed.add(key)
        yield WorkspaceGraph(group_id=group_id, graphiti=graphiti)
    finally:
        await graphiti.close()


def _unreachable(error: BaseException) -> bool:
    """Whether ``error`` means the graph server could not be reached."""
    from neo4j.exceptions import ServiceUnavailable
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return isinstance(
        error, OSError | RedisConnectionError | RedisTimeoutError | ServiceUnavailable
    )


def run(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine from synchronous code (a task, a view, a tool).

    Inside a running event loop (an async view) it runs on a fresh loop in
    a worker thread, since Graphiti's connections belong to one loop. A
    server that cannot be reached raises :class:`GraphUnavailable`.
    """
    try:
        return _run(factory)
    except GraphUnavailable:
        raise
    except Exception as error:
        if _unreachable(error):
            raise GraphUnavailable("the knowledge graph cannot be reached") from error
        raise


def _run(factory: Callable[[], Awaitable[T]]) -> T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_awaited(factory))
    result: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(_awaited(factory)))
        except BaseException as error:  # re-raised in the caller's thread
            errors.append(error)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


async def _awaited(factory: Callable[[], Awaitable[T]]) -> T:
    return await factory()
