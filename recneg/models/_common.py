"""Helpers shared by the models: argument checks, seeded initialisation, scorers."""

from __future__ import annotations

import torch
from torch import nn

from .._errors import RecnegError

__all__ = ["check_dropout", "check_item_ids", "init_parameters", "make_scorer", "score_against"]


def check_dropout(value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise RecnegError(f"dropout must be a number in [0, 1), got {value!r}") from None
    if not 0.0 <= value < 1.0:
        raise RecnegError(f"dropout must lie in [0, 1), got {value}")
    return value


def check_item_ids(items: torch.Tensor, n_items: int, name: str) -> None:
    if items.dtype.is_floating_point or items.dtype == torch.bool:
        raise RecnegError(f"{name} must hold integer item ids, got dtype {items.dtype}")
    if items.numel() and (int(items.min()) < 0 or int(items.max()) > n_items):
        raise RecnegError(
            f"{name} hold item ids in {int(items.min())}..{int(items.max())}, outside "
            f"0..{n_items} (0 = padding); build the model with the split's n_items"
        )


def init_parameters(module: nn.Module, random_state) -> None:
    """Xavier-normal weights and zero biases, drawn from ``random_state`` when given.

    Xavier-normal for every matrix follows the SASRec reference implementation; biases
    are zeroed so that the whole initialisation depends on ``random_state`` only.
    """
    with torch.random.fork_rng(devices=[]):
        if random_state is not None:
            torch.manual_seed(int(random_state))
        for name, param in module.named_parameters():
            if param.dim() >= 2:
                nn.init.xavier_normal_(param)
            elif name.endswith("bias") and not _is_norm(module, name):
                nn.init.zeros_(param)


def _is_norm(module: nn.Module, name: str) -> bool:
    owner = module.get_submodule(name.rsplit(".", 1)[0]) if "." in name else module
    return isinstance(owner, nn.LayerNorm)


def score_against(hidden: torch.Tensor, item_vectors: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """Dot products of hidden states with item vectors, broadcasting as documented.

    ``hidden`` (B, L, d) with items (B, L, k) -> (B, L, k); with items (B, k) -> (B, L, k)
    (shared by all positions). ``hidden`` (B, d) with items (B, k) -> (B, k); with items
    (B, L, k) -> (B, L, k).
    """
    if items.shape[0] != hidden.shape[0]:
        raise RecnegError(
            f"items have batch size {items.shape[0]} but the hidden states {hidden.shape[0]}; "
            "pass one row of candidates per sequence"
        )
    if hidden.dim() == 3 and items.dim() == 3:
        if items.shape[1] != hidden.shape[1]:
            raise RecnegError(
                f"per-position items have length {items.shape[1]} but the hidden states "
                f"{hidden.shape[1]}; pass items of shape (B, L, k) or (B, k)"
            )
        return (item_vectors @ hidden.unsqueeze(-1)).squeeze(-1)
    if hidden.dim() == 3 and items.dim() == 2:
        return hidden @ item_vectors.transpose(1, 2)
    if hidden.dim() == 2 and items.dim() == 2:
        return (item_vectors @ hidden.unsqueeze(-1)).squeeze(-1)
    if hidden.dim() == 2 and items.dim() == 3:
        return (item_vectors @ hidden[:, None, :, None]).squeeze(-1)
    raise RecnegError(
        f"cannot score items of shape {tuple(items.shape)} against hidden states of shape "
        f"{tuple(hidden.shape)}; items must be (B, k) or (B, L, k)"
    )


def make_scorer(hidden: torch.Tensor, item_embedding: nn.Embedding):
    """A closure ``candidates -> scores`` over fixed (detached) hidden states."""

    def scorer(candidates: torch.Tensor) -> torch.Tensor:
        candidates = torch.as_tensor(candidates)
        with torch.no_grad():
            on_model = candidates.to(hidden.device)
            if on_model.dim() == 2 and len(on_model) > 1 and on_model.stride(0) == 0:
                # Every row holds the same candidates (an expanded catalogue, as a rank band
                # scores): one matrix product instead of gathering a (B, P, d) tensor.
                scores = hidden @ item_embedding(on_model[0]).T
            else:
                scores = score_against(hidden, item_embedding(on_model), on_model)
        return scores.to(candidates.device)

    return scorer
