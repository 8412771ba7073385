"""Builders for live tests: a tiny tokenizer, and deployments the planner generates."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from planner.api import make_plan
from planner.emit import write_all
from planner.plan import Plan
from planner.serving import ServingInfo

WORDS = "hello world the quick brown fox jumps over lazy dog a an is of to and in".split()  # noqa: SIM905
SPECIAL = {"pad": "<pad>", "bos": "<s>", "eos": "</s>", "unk": "<unk>"}


def build_tokenizer(directory: Path) -> Path:
    """A word-level tokenizer that AutoTokenizer loads as a fast tokenizer; it prepends <s> like Llama."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    vocab = {token: i for i, token in enumerate([*SPECIAL.values(), *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=SPECIAL["unk"]))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.WordPiece(prefix="##")
    bos = SPECIAL["bos"]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, vocab[bos])]
    )
    directory.mkdir(parents=True, exist_ok=True)
    tok.save(str(directory / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": SPECIAL["bos"],
        "eos_token": SPECIAL["eos"],
        "pad_token": SPECIAL["pad"],
        "unk_token": SPECIAL["unk"],
        "model_max_length": 512,
    }
    (directory / "tokenizer_config.json").write_text(json.dumps(config))
    return directory


@functools.cache
def _plan(decoupled: bool, max_batch_size: int, bls: bool, flow: str = "engine") -> Plan:
    serving = ServingInfo(decoupled=decoupled, bls=bls, tokenizer_dir="./tokenizer")
    return make_plan("llama-3.1-8b", "l40sx1", max_batch_size=max_batch_size, serving=serving, flow=flow)


def plan_dict(decoupled: bool, max_batch_size: int = 8, bls: bool = False, flow: str = "engine") -> dict:
    """A real plan (llama-3.1-8b on one L40S) as plan.json holds it."""
    return json.loads(_plan(decoupled, max_batch_size, bls, flow).to_json())


def make_deployment(directory: Path, *, decoupled: bool, max_batch_size: int = 8, bls: bool = False,
                    flow: str = "engine") -> Path:
    """What `planner plan llama-3.1-8b --gpus l40sx1 --flow FLOW --out DIRECTORY` writes for these options."""
    write_all(_plan(decoupled, max_batch_size, bls, flow), directory)
    return directory
