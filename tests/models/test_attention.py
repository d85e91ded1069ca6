"""Tests for soilnet.models.attention (GLAM as Song et al. 2022 define it)."""

from __future__ import annotations

import pytest
import torch

from soilnet.models.attention import GLAM

C = 16


@pytest.fixture
def glam() -> GLAM:
    torch.manual_seed(0)
    return GLAM(C, reduced_channels=4, kernel_size=5)


@pytest.mark.parametrize("size", [(8, 8), (5, 7), (1, 1), (16, 16)])
def test_shape_kept(glam: GLAM, size: tuple[int, int]) -> None:
    x = torch.randn(2, C, *size)
    y = glam(x)
    assert y.shape == (2, C, *size)
    assert torch.isfinite(y).all()


def test_attention_maps_shapes_and_row_softmax(glam: GLAM) -> None:
    h, w = 5, 7
    maps = glam.attention_maps(torch.randn(3, C, h, w))
    assert maps["local_channel"].shape == (3, C, 1, 1)
    assert maps["local_spatial"].shape == (3, 1, h, w)
    assert maps["global_channel"].shape == (3, C, C)
    assert maps["global_spatial"].shape == (3, h * w, h * w)
    for key in ("global_channel", "global_spatial"):
        rows = maps[key].sum(dim=-1)
        torch.testing.assert_close(rows, torch.ones_like(rows))
        # Row-wise, not over the flattened matrix: the whole matrix sums to its row count.
        torch.testing.assert_close(
            maps[key].sum(dim=(1, 2)), torch.full((3,), float(rows.shape[1]))
        )
    # Both local maps are sigmoids.
    for key in ("local_channel", "local_spatial"):
        assert ((maps[key] > 0) & (maps[key] < 1)).all()


def test_fusion_weights_sum_to_one_and_start_equal(glam: GLAM) -> None:
    w = glam.fusion_weights
    assert w.shape == (3,)
    torch.testing.assert_close(w, torch.full((3,), 1 / 3))
    with torch.no_grad():
        glam.fusion_logits.copy_(torch.tensor([0.3, -1.2, 2.0]))
    torch.testing.assert_close(glam.fusion_weights.sum(), torch.tensor(1.0))


def test_fusion_on_input_only_returns_input(glam: GLAM) -> None:
    with torch.no_grad():
        glam.fusion_logits.copy_(torch.tensor([-50.0, 50.0, -50.0]))
    x = torch.randn(2, C, 6, 6)
    torch.testing.assert_close(glam(x), x)


def test_output_is_documented_combination(glam: GLAM) -> None:
    x = torch.randn(2, C, 4, 6)
    maps = glam.attention_maps(x)
    local_c = x * maps["local_channel"] + x
    local = local_c * maps["local_spatial"] + local_c
    # With the global weight at ~0 the output is the local/input mix of the paper.
    with torch.no_grad():
        glam.fusion_logits.copy_(torch.tensor([0.0, 0.0, -60.0]))
    expected = 0.5 * local + 0.5 * x
    torch.testing.assert_close(glam(x), expected, rtol=1e-5, atol=1e-5)


def test_every_parameter_gets_gradient(glam: GLAM) -> None:
    glam(torch.randn(2, C, 5, 7)).square().sum().backward()
    for name, p in glam.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name  # includes global_channel_k, unused upstream


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="odd"):
        GLAM(8, kernel_size=4)
    with pytest.raises(ValueError, match="channels"):
        GLAM(0)
    with pytest.raises(ValueError, match=r"\(B, 8, H, W\)"):
        GLAM(8, reduced_channels=2)(torch.randn(1, 6, 4, 4))


def test_global_branches_apply_their_maps_as_convex_combinations() -> None:
    """The applied maps, checked against explicit loops over the axis each product sums.

    With the softmax over the wrong axis (the bug this guards against) an output channel is
    not a convex combination of the input channels, and a channel-constant input is not kept.
    """
    torch.manual_seed(1)
    glam = GLAM(channels=6, reduced_channels=3, kernel_size=3).eval()
    x = torch.randn(2, 6, 4, 5)
    b, c, h, w = x.shape
    pooled = x.mean(dim=(2, 3)).unsqueeze(1)
    q = torch.sigmoid(glam.global_channel_q(pooled))[:, 0]  # (B, C)
    k = torch.sigmoid(glam.global_channel_k(pooled))[:, 0]
    a_gc = glam._global_channel(pooled)
    expected = torch.zeros(b, c, h * w)
    for bb in range(b):
        for j in range(c):  # output channel j: weights over input channels i sum to one
            weights = torch.softmax(torch.stack([q[bb, j] * k[bb, i] for i in range(c)]), dim=0)
            torch.testing.assert_close(a_gc[bb, j], weights)
            for i in range(c):
                expected[bb, j] += weights[i] * x[bb, i].flatten()
    g_c = (a_gc @ x.flatten(2)).reshape(b, c, h, w)
    torch.testing.assert_close(g_c, expected.reshape(b, c, h, w))
    # A channel-constant input is a fixed point of a convex combination over channels.
    const = torch.randn(2, 1, 4, 5).expand(2, 6, 4, 5)
    torch.testing.assert_close(
        (glam._global_channel(const.mean(dim=(2, 3)).unsqueeze(1)) @ const.flatten(2)).reshape(
            2, 6, 4, 5
        ),
        const,
    )
    # Global spatial: each position's context is a convex combination of all positions' values.
    attn, _ = glam._global_spatial(x)
    v = glam.global_spatial_v(x).flatten(2)  # (B, C', HW)
    for bb in range(b):
        for p in range(h * w):
            qp = glam.global_spatial_q(x)[bb].flatten(1)[:, p]
            logits = torch.stack(
                [qp @ glam.global_spatial_k(x)[bb].flatten(1)[:, m] for m in range(h * w)]
            )
            torch.testing.assert_close(attn[bb, p], torch.softmax(logits, dim=0))
            context = sum(attn[bb, p, m] * v[bb, :, m] for m in range(h * w))
            torch.testing.assert_close(context, (attn[bb] @ v[bb].T)[p])
