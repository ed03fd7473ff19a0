"""The long-context rivals' model: windows, black frames, the context, the ptp loss."""

import pytest
import torch

from df_policy.model.config import LongContextConfig
from df_policy.model.df_model import LevelSampling
from df_policy.model.dp_long import BLACK, LongContextModel, history_windows
from tests.helpers import tiny_model

TINY = tiny_model()
CONTEXT = LongContextConfig(history_tokens=3, width=32, depth=1, heads=2)


def make_batch(batch=2, horizon=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    tokens = {cam: torch.rand((batch, horizon, 3, 16, 16), generator=g) * 2 - 1
              for cam in TINY.cameras}
    tokens["action"] = torch.randn((batch, horizon, TINY.action_size), generator=g)
    tokens["action"][:, 0] = 0.0  # token 0 carries no executed chunk
    token_mask = torch.ones((batch, horizon), dtype=torch.bool)
    token_mask[1:, 4:] = False  # shorter episodes after the first
    modality_mask = torch.ones((batch, horizon, 3), dtype=torch.bool)
    return tokens, token_mask, modality_mask


def model(predicts_past=False, context=CONTEXT):
    torch.manual_seed(0)
    return LongContextModel(TINY, context, predicts_past)


@pytest.mark.parametrize("horizon, length, expected", [
    (3, 2, [[0, 1], [1, 2], [2, 3]]),             # episode start padded with 0
    (2, 4, [[0, 0, 0, 1], [0, 0, 1, 2]]),         # episode shorter than the window
    (4, 1, [[1], [2], [3], [4]]),                 # a window of the current token only
])
def test_history_windows_pad_the_episode_start(horizon, length, expected):
    sequence = torch.arange(1, horizon + 1).view(1, horizon)
    assert history_windows(sequence, length)[0].tolist() == expected


def test_missing_frames_and_a_dead_camera_are_black():
    m = model()
    tokens, _, modality_mask = make_batch(batch=40)
    modality_mask[0, 2, 1] = False
    frames = m.blacken(tokens, modality_mask, None, None)
    assert (frames["wrist"][0, 2] == BLACK).all() and (frames["front"][0, 2] != BLACK).any()
    dead = m.blacken(tokens, modality_mask, torch.Generator().manual_seed(0),
                     LevelSampling(camera_dropout_prob=1.0))
    black = torch.stack([(dead[cam] == BLACK).flatten(2).all(2).all(1)
                         for cam in TINY.cameras], dim=1)  # (B, cameras): black all episode
    assert (black.sum(dim=1) == 1).all(), "exactly one camera dies per episode"
    assert 0.2 < black[:, 0].float().mean() < 0.8


def test_the_context_reaches_back_h_tokens_and_only_dp_long_reads_actions():
    tokens, token_mask, modality_mask = make_batch(batch=1, horizon=6)
    for predicts_past in (False, True):
        m = model(predicts_past).eval()
        features = m.encode_images({cam: tokens[cam][0] for cam in TINY.cameras})[None]
        windows = [history_windows(x, CONTEXT.history_tokens)[:, -1]
                   for x in (features, tokens["action"], token_mask)]
        memory = m.read_context(*windows)
        older = tokens["action"].clone()
        older[:, 2] += 1.0  # token 2 is outside the last 3 of 6 tokens
        assert torch.equal(m.read_context(windows[0], history_windows(
            older, CONTEXT.history_tokens)[:, -1], windows[2]), memory)
        newer = tokens["action"].clone()
        newer[:, 4] += 1.0
        changed = m.read_context(windows[0], history_windows(
            newer, CONTEXT.history_tokens)[:, -1], windows[2])
        assert torch.equal(changed, memory) == predicts_past, "ptp conditions on images only"


def test_ptp_loss_includes_the_past_actions():
    batch = make_batch()
    losses = {}
    for weight in (0.0, 1.0):
        m = model(True, LongContextConfig(**{**vars(CONTEXT), "ptp_weight": weight}))
        losses[weight] = m.loss(*batch, torch.Generator().manual_seed(0))
    (off, off_info), (on, on_info) = losses[0.0], losses[1.0]
    assert set(on_info) == {"loss/action", "loss/past"}
    assert off.item() == pytest.approx(off_info["loss/action"])
    assert on.item() == pytest.approx((on_info["loss/action"] + on_info["loss/past"]) / 2)
    assert on.item() != pytest.approx(off.item())
    plain, info = model().loss(*batch, torch.Generator().manual_seed(0))
    assert set(info) == {"loss/action"} and torch.isfinite(plain)


def test_burn_in_tokens_are_context_only():
    tokens, token_mask, modality_mask = make_batch(batch=1, horizon=6)
    m = model()

    def loss_with_action_moved(t):  # burn-in 4: the one sample is token 4 (context 2..4)
        actions = tokens["action"].clone()
        if t is not None:
            actions[:, t] += 1.0
        return m.loss({**tokens, "action": actions}, token_mask, modality_mask,
                      torch.Generator().manual_seed(0), None, burn_in=4)[0].item()

    base = loss_with_action_moved(None)
    assert loss_with_action_moved(1) == base, "before the burn-in and the context"
    assert loss_with_action_moved(2) != base, "in the context"
    assert loss_with_action_moved(5) != base, "the target"


def test_overfits_one_batch():
    batch = make_batch()
    for predicts_past in (False, True):
        m = model(predicts_past)
        optimizer = torch.optim.Adam(m.parameters(), lr=3e-3)
        losses = []
        for step in range(60):
            loss, _ = m.loss(*batch, torch.Generator().manual_seed(step % 4))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        assert sum(losses[-5:]) < 0.5 * sum(losses[:5])


def test_sampling_is_deterministic_with_a_seed():
    for predicts_past in (False, True):
        m = model(predicts_past).eval()
        memory = torch.randn((1, 3, CONTEXT.width))
        present = torch.tensor([[False, True, True]])
        known = torch.tensor([[False, False, True]])
        first, again = (m.sample(memory, present, known, torch.Generator().manual_seed(3))
                        for _ in range(2))
        assert first.shape == (1, TINY.action_size) and torch.equal(first, again)


def test_config_is_checked():
    with pytest.raises(ValueError, match="heads"):
        LongContextConfig(width=30, heads=4)
    with pytest.raises(ValueError, match="history_tokens"):
        LongContextConfig(history_tokens=1)
