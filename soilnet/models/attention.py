"""GLAM: global-local, spatial-channel attention (Song et al. 2022), as the paper defines it.

SoilNet inserts one GLAM block after ResNet ``layer2`` (8x8x512 for a 64x64 patch and
ResNet-101). This module follows the equations of the GLAM paper, not the SoilNet authors'
code; :class:`GLAM` lists where the two differ.

Reference:
    Song, C. H., Han, H. J., Avrithis, Y. (2022). All the attention you need: global-local,
    spatial-channel attention for image retrieval. WACV 2022, 2754-2763.
    https://doi.org/10.1109/WACV51458.2022.00281
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["GLAM"]


def _conv1d_same(kernel_size: int, bias: bool = False) -> nn.Conv1d:
    """1D conv over the channel axis of a pooled descriptor, length-preserving."""
    return nn.Conv1d(1, 1, kernel_size, padding=kernel_size // 2, bias=bias)


class GLAM(nn.Module):
    """Global-local, spatial-channel attention block; keeps the input shape.

    Four attention maps are computed from the input ``x`` (B, C, H, W):

    * local channel ``a_lc`` (B, C, 1, 1): ECA, ``sigmoid(Conv1d_k(GAP(x)))``;
    * local spatial ``a_ls`` (B, 1, H, W): 1x1 conv C -> C', three 3x3 convs with
      dilations 1, 2, 3 on that map, the four maps concatenated (4C'), 1x1 conv -> 1,
      ``sigmoid``;
    * global channel ``A_gc`` (B, C, C): ``q = sigmoid(Conv1d_q(GAP(x)))``,
      ``k = sigmoid(Conv1d_k(GAP(x)))``, ``A_gc[j, i] = softmax_i(q_j k_i)``; the map applied
      to ``x`` is ``g_c[j] = sum_i A_gc[j, i] x[i]`` (the paper's ``V_c A_c`` with the softmax
      over the axis the product sums), so every output channel is a convex combination of the
      input channels;
    * global spatial ``A_gs`` (B, HW, HW): ``Q, K, V`` = 1x1 convs C -> C',
      ``A_gs[p, m] = softmax_m(Q_p . K_m)``; the map is ``g_s = 1x1(C' -> C)(A_gs V)``, each
      position a convex combination of all positions' values.

    They are combined with residuals as in the paper's equations::

        local_c  = x ⊙ a_lc + x            local  = local_c ⊙ a_ls + local_c
        global_c = x ⊙ g_c + x             global = global_c ⊙ g_s + global_c
        w = softmax(fusion_logits)         y = w0 * local + w1 * x + w2 * global

    Both maps are stored row-stochastic (row = output channel or position, summing to one over
    the axis the product sums); :meth:`attention_maps` returns them for inspection. Nothing depends on H and W, so any spatial size works.

    Where the SoilNet authors' code (``submodules/glam``) deviates, and this class does not:

    * ``conv_k`` of the global channel attention exists but is unused (``conv_q`` makes
      both query and key);
    * both global softmaxes run over the flattened C x C and HW x HW matrices instead of
      row-wise;
    * the local spatial map has no sigmoid;
    * global average pooling is ``AvgPool2d(8)``, so only 8x8 feature maps (64x64 patches)
      work;
    * the global channel branch has no residual (``global_c = x ⊙ g_c``).

    Args:
        channels: C, channels of the input feature map (512 after ResNet-50/101 ``layer2``,
            128 after ResNet-18/34).
        reduced_channels: C', channels of the local and global spatial branches.
        kernel_size: odd kernel size of the Conv1d over the channel descriptor.
        dilations: dilation factors of the three 3x3 local spatial convs.

    Shape:
        - Input: float (B, C, H, W), any H, W >= 1.
        - Output: float (B, C, H, W).
    """

    def __init__(
        self,
        channels: int,
        reduced_channels: int = 32,
        kernel_size: int = 5,
        dilations: Sequence[int] = (1, 2, 3),
    ) -> None:
        super().__init__()
        if channels < 1 or reduced_channels < 1:
            raise ValueError(
                f"GLAM needs channels >= 1 and reduced_channels >= 1; "
                f"got channels={channels}, reduced_channels={reduced_channels}."
            )
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"GLAM kernel_size must be odd and positive; got {kernel_size}.")
        self.channels = channels
        self.reduced_channels = reduced_channels
        self.kernel_size = kernel_size
        self.dilations = tuple(dilations)

        # Local channel (ECA).
        self.local_channel_conv = _conv1d_same(kernel_size)
        # Local spatial: multi-scale context from dilated convs, padding keeps H x W.
        self.local_spatial_reduce = nn.Conv2d(channels, reduced_channels, 1)
        self.local_spatial_dilated = nn.ModuleList(
            nn.Conv2d(reduced_channels, reduced_channels, 3, padding=d, dilation=d)
            for d in self.dilations
        )
        self.local_spatial_out = nn.Conv2d(reduced_channels * (len(self.dilations) + 1), 1, 1)
        # Global channel: separate query and key convs (both used).
        self.global_channel_q = _conv1d_same(kernel_size)
        self.global_channel_k = _conv1d_same(kernel_size)
        # Global spatial. The key bias is dropped: it adds q_p . b_k to every logit of row p, and
        # a softmax over a row is invariant to that, so it would never receive a gradient. The
        # query bias is not invariant (it adds b_q . K_m, which varies with m); it is dropped
        # for symmetry with the key, a choice, not an equivalence.
        self.global_spatial_q = nn.Conv2d(channels, reduced_channels, 1, bias=False)
        self.global_spatial_k = nn.Conv2d(channels, reduced_channels, 1, bias=False)
        self.global_spatial_v = nn.Conv2d(channels, reduced_channels, 1)
        self.global_spatial_out = nn.Conv2d(reduced_channels, channels, 1)
        # Fusion logits; equal init gives weights 1/3 each after softmax.
        self.fusion_logits = nn.Parameter(torch.zeros(3))

    @property
    def fusion_weights(self) -> Tensor:
        """Softmax-normalised fusion weights (local, input, global), shape (3,), sum 1."""
        return torch.softmax(self.fusion_logits, dim=0)

    def _local_channel(self, pooled: Tensor) -> Tensor:
        # pooled (B, 1, C) -> (B, C, 1, 1)
        a = torch.sigmoid(self.local_channel_conv(pooled))
        return a.transpose(1, 2).unsqueeze(-1)

    def _local_spatial(self, x: Tensor) -> Tensor:
        r = self.local_spatial_reduce(x)
        maps = [r, *(conv(r) for conv in self.local_spatial_dilated)]
        return torch.sigmoid(self.local_spatial_out(torch.cat(maps, dim=1)))  # (B, 1, H, W)

    def _global_channel(self, pooled: Tensor) -> Tensor:
        q = torch.sigmoid(self.global_channel_q(pooled))  # (B, 1, C)
        k = torch.sigmoid(self.global_channel_k(pooled))  # (B, 1, C)
        # Entry [j, i] = q_j k_i: output (query) channel j attends to input (key) channel i.
        # The softmax runs over the key axis i, the axis the map then sums over, so each output
        # channel is a convex combination of the input channels (rows sum to 1).
        return torch.softmax(q.transpose(1, 2) @ k, dim=-1)  # (B, C, C)

    def _global_spatial(self, x: Tensor) -> tuple[Tensor, Tensor]:
        q = self.global_spatial_q(x).flatten(2).transpose(1, 2)  # (B, HW, C')
        k = self.global_spatial_k(x).flatten(2)  # (B, C', HW)
        v = self.global_spatial_v(x).flatten(2).transpose(1, 2)  # (B, HW, C')
        attn = torch.softmax(q @ k, dim=-1)  # (B, HW, HW), rows sum to 1
        b, _, h, w = x.shape
        context = (attn @ v).transpose(1, 2).reshape(b, self.reduced_channels, h, w)
        return attn, self.global_spatial_out(context)  # (B, HW, HW), (B, C, H, W)

    def attention_maps(self, x: Tensor) -> dict[str, Tensor]:
        """Compute the block's output together with every attention map.

        Args:
            x: float (B, C, H, W) feature map.

        Returns:
            Dict with ``output`` (B, C, H, W), ``local_channel`` (B, C, 1, 1),
            ``local_spatial`` (B, 1, H, W), ``global_channel`` (B, C, C) and
            ``global_spatial`` (B, HW, HW) (both row-stochastic), and ``fusion_weights`` (3,).
        """
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(
                f"GLAM expects a (B, {self.channels}, H, W) feature map; "
                f"got shape {tuple(x.shape)}."
            )
        b, c, h, w = x.shape
        pooled = x.mean(dim=(2, 3)).unsqueeze(1)  # GAP at any size, (B, 1, C)

        a_lc = self._local_channel(pooled)
        a_ls = self._local_spatial(x)
        local_c = x * a_lc + x
        local = local_c * a_ls + local_c

        a_gc = self._global_channel(pooled)
        g_c = (a_gc @ x.flatten(2)).reshape(b, c, h, w)  # g_c[j] = sum_i A[j, i] x[i]
        a_gs, g_s = self._global_spatial(x)
        global_c = x * g_c + x
        global_ = global_c * g_s + global_c

        weights = self.fusion_weights
        output = weights[0] * local + weights[1] * x + weights[2] * global_
        return {
            "output": output,
            "local_channel": a_lc,
            "local_spatial": a_ls,
            "global_channel": a_gc,
            "global_spatial": a_gs,
            "fusion_weights": weights,
        }

    def forward(self, x: Tensor) -> Tensor:
        """Apply GLAM.

        Args:
            x: float (B, C, H, W) feature map.

        Returns:
            float (B, C, H, W), same shape as ``x``.
        """
        return self.attention_maps(x)["output"]

    def extra_repr(self) -> str:
        return (
            f"channels={self.channels}, reduced_channels={self.reduced_channels}, "
            f"kernel_size={self.kernel_size}, dilations={self.dilations}"
        )
