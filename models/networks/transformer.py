"""Cross-attention-only spatial transformer of network A (Stable Diffusion v1 layout,
docs/networks.md#spatial-transformer).

Module and parameter names follow the official ones (``norm``, ``proj_in``, ``transformer_blocks.0.{ff,
attn2,norm2,norm3}``, ``proj_out``) so the released state dict loads strictly; the self-attention
``attn1``/``norm1`` of Stable Diffusion does not exist here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import TorchOps

HEADS = 8
CONTEXT_DIM = 768
CONTEXT_TOKENS = 77


class GEGLU(nn.Module):
    """Linear(C → 8C) split into value and gate halves: value · GELU(gate) (exact erf GELU)."""

    def __init__(self, dim: int, hidden: int, operations=TorchOps) -> None:
        super().__init__()
        self.proj = operations.Linear(dim, hidden * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.proj(x).chunk(2, dim=-1)
        return value * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim: int, operations=TorchOps) -> None:
        super().__init__()
        # index 1 was Dropout(0) in the official code; Identity keeps the key ``net.2`` in place.
        self.net = nn.Sequential(GEGLU(dim, dim * 4, operations), nn.Identity(), operations.Linear(dim * 4, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CrossAttention(nn.Module):
    """Image tokens attend to the 77 text tokens; 8 heads, softmax scale d^-0.5, no mask."""

    def __init__(self, dim: int, operations=TorchOps) -> None:
        super().__init__()
        self.to_q = operations.Linear(dim, dim, bias=False)
        self.to_k = operations.Linear(CONTEXT_DIM, dim, bias=False)
        self.to_v = operations.Linear(CONTEXT_DIM, dim, bias=False)
        self.to_out = nn.Sequential(operations.Linear(dim, dim))

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        return x.view(batch, tokens, HEADS, dim // HEADS).transpose(1, 2)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        query, key, value = self._heads(self.to_q(x)), self._heads(self.to_k(context)), self._heads(self.to_v(context))
        attended = F.scaled_dot_product_attention(query, key, value)
        batch, _, tokens, head_dim = attended.shape
        return self.to_out(attended.transpose(1, 2).reshape(batch, tokens, HEADS * head_dim))


class CrossAttentionBlock(nn.Module):
    def __init__(self, dim: int, operations=TorchOps) -> None:
        super().__init__()
        # registration order = official state-dict order (ff, attn2, norm2, norm3)
        self.ff = FeedForward(dim, operations)
        self.attn2 = CrossAttention(dim, operations)
        self.norm2 = operations.LayerNorm(dim)
        self.norm3 = operations.LayerNorm(dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        x = x + self.attn2(self.norm2(x), context)
        return x + self.ff(self.norm3(x))


class SpatialTransformer(nn.Module):
    """GroupNorm → 1×1 conv → one cross-attention block over the H·W tokens → 1×1 conv, plus the input."""

    def __init__(self, channels: int, operations=TorchOps) -> None:
        super().__init__()
        self.norm = operations.GroupNorm(32, channels, eps=1e-6)
        self.proj_in = operations.Conv2d(channels, channels, 1)
        self.transformer_blocks = nn.ModuleList([CrossAttentionBlock(channels, operations)])
        self.proj_out = operations.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        tokens = self.proj_in(self.norm(x)).flatten(2).transpose(1, 2)
        for block in self.transformer_blocks:
            tokens = block(tokens, context)
        spatial = tokens.transpose(1, 2).reshape(batch, channels, height, width)
        return self.proj_out(spatial) + x
