"""The recurrent DF model: shapes, per-modality levels, masking, z0, learning."""

import dataclasses

import pytest
import torch

from df_policy.model.df_model import ACTION_KEY, DiffusionForcingModel, LevelSampling
from tests.helpers import tiny_model

TINY = tiny_model(chunk=2, sampling_steps=3)


def make_batch(batch=2, horizon=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    tokens = {cam: torch.rand((batch, horizon, 3, 16, 16), generator=g) * 2 - 1
              for cam in TINY.cameras}
    tokens[ACTION_KEY] = torch.rand((batch, horizon, TINY.action_size), generator=g) * 2 - 1
    return tokens, torch.ones(batch, horizon, dtype=torch.bool), torch.ones(
        batch, horizon, len(TINY.modalities), dtype=torch.bool)


def model(seed=0):
    torch.manual_seed(seed)
    return DiffusionForcingModel(TINY)


def test_step_shapes_and_initial_latent():
    m = model()
    z = m.initial_latent(3)
    assert z.shape == (3, 8, 4, 4)
    tokens, _, _ = make_batch(3, 1)
    levels = torch.zeros(3, 3, dtype=torch.long)
    z1, x0 = m.step(z, {k: v[:, 0] for k, v in tokens.items()}, levels)
    assert z1.shape == z.shape
    assert x0["front"].shape == (3, 3, 16, 16) and x0[ACTION_KEY].shape == (3, TINY.action_size)
    with torch.no_grad():
        m.z0.add_(1.0)
    assert torch.equal(m.initial_latent(1)[0], m.z0[0]), "z0 is the learned parameter"


def test_noising_one_modality_touches_only_that_input():
    m = model()
    tokens, _, _ = make_batch(1, 1)
    token = {k: v[:, 0] for k, v in tokens.items()}
    levels = torch.tensor([[0, 999, 0]])  # front clean, wrist pure noise, action clean
    noisy = m.noise_token(token, levels, torch.Generator().manual_seed(0))
    assert torch.allclose(noisy["front"], token["front"], atol=0.05)
    assert torch.allclose(noisy[ACTION_KEY], token[ACTION_KEY], atol=0.05)
    assert (noisy["wrist"] - token["wrist"]).abs().mean() > 0.5


def test_masked_loss_ignores_padding_and_missing_frames():
    m = model()
    tokens, token_mask, modality_mask = make_batch(2, 4)
    token_mask[1, 2:] = False
    modality_mask[0, 1, 1] = False  # a missing wrist frame
    loss_a, _ = m.loss(tokens, token_mask, modality_mask, torch.Generator().manual_seed(3))
    changed = {k: v.clone() for k, v in tokens.items()}
    for name in changed:
        changed[name][1, 2:] = 5.0  # garbage in the padding
    changed["wrist"][0, 1] = 5.0  # garbage in the missing frame
    loss_b, _ = m.loss(changed, token_mask, modality_mask, torch.Generator().manual_seed(3))
    assert torch.allclose(loss_a, loss_b)


def test_training_levels_include_the_policy_query():
    """Regression: the run-time query (cameras at the top level, action at any level) must be
    trained; with independent uniform levels it almost never was, and the shipped policy
    ignored which fruit was where."""
    m = model()
    _, _, modality_mask = make_batch(64, 20)
    top = TINY.num_levels - 1
    g = torch.Generator().manual_seed(0)
    levels = m.draw_levels(modality_mask, g, LevelSampling(0.0, first_clean_prob=0.0,
                                                             policy_query_prob=0.5))
    query = (levels[..., :2] == top).all(dim=-1)
    assert 0.45 < query.float().mean() < 0.55
    assert levels[..., 2][query].float().std() > 200, "the action keeps a random level"
    never = m.draw_levels(modality_mask, g, LevelSampling(0.0, 0.0, policy_query_prob=0.0))
    assert (never[..., :2] == top).all(dim=-1).float().mean() < 0.01
    modality_mask[0, 3, 1] = False
    first_clean = m.draw_levels(modality_mask, g, LevelSampling(0.0, first_clean_prob=1.0,
                                                                  policy_query_prob=1.0))
    assert (first_clean[:, 0] == 0).all()
    assert first_clean[0, 3, 1] == top, "a missing frame is always at the top level"


def test_clean_tokens_override_the_query_but_not_a_dead_camera():
    m = model()
    _, _, modality_mask = make_batch(64, 20)
    top = TINY.num_levels - 1
    g = torch.Generator().manual_seed(0)
    levels = m.draw_levels(modality_mask, g, LevelSampling(
        0.0, 0.0, policy_query_prob=1.0, clean_token_prob=0.5, camera_dropout_prob=0.5))
    dead = (levels[..., :2] == top).all(dim=1)  # (B, cameras): a camera dead all episode
    alive = ~dead.any(dim=1)
    clean = (levels[alive] == 0).all(dim=-1)
    assert 0.45 < clean.float().mean() < 0.55, "a clean token is clean in every modality"
    assert (levels[alive][~clean][..., :2] == top).all(), "the others are the policy query"
    front_dead = dead[:, 0]
    assert (levels[front_dead][..., 0] == top).all(), "a dead camera stays dead"
    assert ((levels[front_dead][..., 1:] == 0).all(dim=-1).float().mean() > 0.4)


def test_clean_tokens_absorb_the_executed_chunk_at_the_history_level():
    """The clean tokens imitate the runtime: the cameras at 0, the chunk executed since the
    last token at ``history_level``, token 0 included; other tokens keep drawn levels."""
    torch.manual_seed(0)
    m = DiffusionForcingModel(dataclasses.replace(TINY, history_level=600))
    _, _, modality_mask = make_batch(64, 20)
    g = torch.Generator().manual_seed(0)
    levels = m.draw_levels(modality_mask, g, LevelSampling(
        0.0, first_clean_prob=1.0, policy_query_prob=0.0, clean_token_prob=0.5))
    absorbed = (levels[..., :2] == 0).all(dim=-1) & (levels[..., 2] == 600)
    assert absorbed[:, 0].all()
    assert 0.45 < absorbed[:, 1:].float().mean() < 0.55
    assert (levels[..., :2] == 0).all(dim=-1).float().mean() < 0.55, "no other clean cameras"
    assert m.observation_levels(torch.tensor([[7, 999]])).tolist() == [[7, 999, 600]]
    assert m.observation_levels().tolist() == [[0, 0, 600]], "by default: cameras clean"


def test_the_gripper_opening_is_an_observation_absorbed_clean_and_unknown_when_queried():
    """``gripper_state``: the opening sits between the cameras and the action; the policy
    query holds it at the top level with the cameras (the next token's opening is unknown),
    clean tokens absorb it at 0; predict_next starts from noise for it and returns the
    action and the camera forecasts; the loss trains it."""
    torch.manual_seed(0)
    config = dataclasses.replace(TINY, gripper_state=True, history_level=600)
    m = DiffusionForcingModel(config)
    assert config.modalities == ("front", "wrist", "gripper", ACTION_KEY)
    top = TINY.num_levels - 1
    mask = torch.ones(64, 20, 4, dtype=torch.bool)
    g = torch.Generator().manual_seed(0)
    queried = m.draw_levels(mask, g, LevelSampling(0.0, 0.0, policy_query_prob=1.0))
    assert (queried[..., :3] == top).all()
    assert queried[..., 3].float().std() > 200, "the action keeps a random level"
    clean = m.draw_levels(mask, g, LevelSampling(0.0, 0.0, 0.0, clean_token_prob=1.0))
    assert (clean == torch.tensor([0, 0, 0, 600])).all()
    noise = m.prediction_noise(1, 2, g)
    assert list(noise) == ["front", "wrist", "gripper", ACTION_KEY]
    assert noise["gripper"].shape == (2, 1)
    prediction = m.predict_next(m.initial_latent(1), g, samples=2)
    assert set(prediction) == {"front", "wrist", ACTION_KEY}
    tokens, token_mask, _ = make_batch(2, 4)
    tokens["gripper"] = torch.rand((2, 4, 1), generator=g) * 2 - 1
    loss, info = m.loss(tokens, token_mask, torch.ones(2, 4, 4, dtype=torch.bool), g)
    loss.backward()
    assert info["loss/gripper"] > 0
    assert m.gripper_encoder.net[0].weight.grad.abs().sum() > 0
    assert m.gripper_head.mlp[-1].weight.grad.abs().sum() > 0


def test_camera_dropout_kills_one_camera_for_a_whole_episode():
    m = model()
    _, _, modality_mask = make_batch(400, 6)
    top = TINY.num_levels - 1
    g = torch.Generator().manual_seed(0)
    levels = m.draw_levels(modality_mask, g, LevelSampling(0.0, 1.0, 0.0, camera_dropout_prob=0.5))
    dead = (levels[..., :2] == top).all(dim=1)  # (B, cameras): top level at every token
    assert not dead.all(dim=1).any(), "one camera at a time"
    assert 0.2 < dead[:, 0].float().mean() < 0.3 and 0.2 < dead[:, 1].float().mean() < 0.3
    assert (levels[..., 2][dead.any(dim=1)] < top).any(), "the action is not dropped"
    alive = m.draw_levels(modality_mask, g, LevelSampling(0.0, 1.0, 0.0))
    assert (alive[:, 0] == 0).all(), "no dropout: the first token stays clean"


def test_camera_dropout_weights_choose_which_camera_dies():
    m = model()
    _, _, modality_mask = make_batch(800, 4)
    top = TINY.num_levels - 1
    g = torch.Generator().manual_seed(0)

    def dead_share(weights):
        levels = m.draw_levels(modality_mask, g, LevelSampling(
            0.0, 1.0, 0.0, camera_dropout_prob=1.0, camera_dropout_weights=weights))
        return (levels[..., :2] == top).all(dim=1).float().mean(dim=0)  # per camera

    assert dead_share((0.0, 1.0)).tolist() == [0.0, 1.0], "only the wrist dies"
    assert dead_share((1.0, 0.0)).tolist() == [1.0, 0.0], "only the front dies"
    front, wrist = dead_share((1.0, 3.0)).tolist()
    assert abs(front + wrist - 1) < 1e-6 and 0.7 < wrist < 0.8


def per_token_loss(m, tokens, token_mask, modality_mask, generator, sampling, burn_in,
                   image_loss_share, action_weight, query_weight=0.0):
    """The loss written plainly: :meth:`step` (transition and decoding) one token at a time
    over the padded batch, masks applied at the end; the runtime's query asked of each
    token's valid rows from the latent before it; the same random draws as ``loss``."""
    names = TINY.modalities
    batch, horizon = token_mask.shape
    levels = m.draw_levels(modality_mask, generator, sampling)
    noisy = m.noise_token({n: v.flatten(0, 1) for n, v in tokens.items()},
                          levels.flatten(0, 1), generator)
    decoded = torch.ones(horizon, dtype=torch.bool)
    if image_loss_share < 1:
        decoded = torch.rand((horizon,), generator=generator) < image_loss_share
    z, errors, asked = m.initial_latent(batch), {n: [] for n in names}, []
    for t in range(horizon):
        if t > burn_in:  # the query of token t from z_{t-1}, for its valid rows
            asked.append((t, token_mask[:, t].nonzero()[:, 0], z))
        token = {n: v.unflatten(0, (batch, horizon))[:, t] for n, v in noisy.items()}
        z, x0_hat = m.step(z, token, levels[:, t])
        for n in names:
            errors[n].append(((x0_hat[n] - tokens[n][:, t]) ** 2).flatten(1).mean(dim=1))
    total, weights = 0.0, {n: action_weight if n == ACTION_KEY else 1.0 for n in names}
    for index, n in enumerate(names):
        weight = (modality_mask[:, :, index] & token_mask).float()
        weight[:, :burn_in] = 0.0
        if n != ACTION_KEY:
            weight = weight * decoded
        total = total + weights[n] * (torch.stack(errors[n], 1) * weight).sum() / weight.sum()
    if query_weight == 0:
        return total / sum(weights.values())
    noise = m.prediction_noise(sum(len(rows) for _, rows, _ in asked), 1, generator)
    query_errors, start = [], 0
    for t, rows, z_prev in asked:
        part = {n: v[start:start + len(rows)] for n, v in noise.items()}
        action = m.query_action(z_prev[rows], part)
        query_errors.append(((action - tokens[ACTION_KEY][rows, t]) ** 2).mean(dim=1))
        start += len(rows)
    query = torch.cat(query_errors).mean()
    return (total + query_weight * query) / (sum(weights.values()) + query_weight)


@pytest.mark.parametrize(("burn_in", "image_loss_share", "query_weight"),
                         [(0, 1.0, 0.0), (0, 0.5, 0.0), (1, 0.5, 0.0), (0, 0.5, 3.0),
                          (1, 1.0, 3.0)])
def test_loss_equals_the_per_token_recurrence(burn_in, image_loss_share, query_weight):
    """Rows packed by length, encoders batched, decoding and the runtime's query batched
    after the recurrence give the loss (and, without burn-in, the gradients) of the plain
    per-token loop."""
    tokens, token_mask, modality_mask = make_batch(3, 5, seed=4)
    token_mask[1, 4:] = False  # rows already longest first: the loss keeps their order
    token_mask[2, 2:] = False
    modality_mask[0, 1, 0] = False  # a missing front frame
    sampling = LevelSampling(camera_dropout_prob=0.5)
    m = model(2)
    loss, _ = m.loss(tokens, token_mask, modality_mask, torch.Generator().manual_seed(9),
                     sampling, 4.0, burn_in=burn_in, image_loss_share=image_loss_share,
                     query_weight=query_weight)
    expected = per_token_loss(m, tokens, token_mask, modality_mask,
                              torch.Generator().manual_seed(9), sampling, burn_in,
                              image_loss_share, 4.0, query_weight)
    assert torch.allclose(loss, expected, rtol=1e-5, atol=1e-7)
    if burn_in == 0:
        grads = torch.autograd.grad(loss, list(m.parameters()))
        expected_grads = torch.autograd.grad(expected, list(m.parameters()))
        for grad, want in zip(grads, expected_grads, strict=True):
            assert torch.allclose(grad, want, rtol=1e-4, atol=1e-6)


def test_action_weight_is_a_weighted_mean_over_modalities():
    m = model()
    batch = make_batch(2, 3)
    plain, parts = m.loss(*batch, torch.Generator().manual_seed(1))
    weighted, same_parts = m.loss(*batch, torch.Generator().manual_seed(1), action_weight=4.0)
    assert parts == same_parts
    expected = (parts["loss/front"] + parts["loss/wrist"] + 4 * parts["loss/action"]) / 6
    assert abs(weighted.item() - expected) < 1e-5
    assert abs(plain.item() - sum(parts.values()) / 3) < 1e-5


def test_loss_backpropagates_through_the_whole_episode():
    m = model()
    tokens, token_mask, modality_mask = make_batch(1, 5)
    token_mask[:, :4] = False  # only the last token counts
    loss, _ = m.loss(tokens, token_mask, modality_mask, torch.Generator().manual_seed(0))
    loss.backward()
    assert m.z0.grad is not None and m.z0.grad.abs().sum() > 0, "gradient reaches z0 via z_1..z_4"


def test_overfits_one_batch():
    m = model()
    tokens, token_mask, modality_mask = make_batch(2, 3)
    optimizer = torch.optim.Adam(m.parameters(), lr=3e-3)
    losses = []
    for step in range(150):
        loss, _ = m.loss(tokens, token_mask, modality_mask, torch.Generator().manual_seed(step))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-10:]) / 10 < 0.5 * sum(losses[:10]) / 10


def test_predict_next_is_deterministic_with_a_seed():
    m = model().eval()
    z = m.initial_latent(1)
    a = m.predict_next(z, torch.Generator().manual_seed(5))
    b = m.predict_next(z, torch.Generator().manual_seed(5))
    for key in a:
        assert torch.equal(a[key], b[key])
    assert a[ACTION_KEY].shape == (1, TINY.action_size) and a["front"].shape == (1, 3, 16, 16)


def test_several_samples_return_the_mean_of_as_many_single_samples():
    m = model().eval()
    z = m.initial_latent(1)
    mean = m.predict_next(z, torch.Generator().manual_seed(5), samples=3)
    singles = m.predict_next(z.repeat_interleave(3, dim=0), torch.Generator().manual_seed(5))
    assert mean[ACTION_KEY].shape == (1, TINY.action_size) and mean["front"].shape == (1, 3, 16, 16)
    assert not torch.allclose(singles[ACTION_KEY][0], singles[ACTION_KEY][1])
    torch.testing.assert_close(mean[ACTION_KEY], singles[ACTION_KEY].mean(dim=0, keepdim=True))


def test_the_trained_query_is_the_runtime_s_one_step_prediction():
    # the query that training asks beside the recurrence must be what the policy runs
    m = model(3).eval()
    z = torch.randn(2, 8, 4, 4)
    noise = m.prediction_noise(2, 1, torch.Generator().manual_seed(4))
    ran = m.predict_next(z, steps=1, noise=noise)[ACTION_KEY]
    torch.testing.assert_close(m.query_action(z, noise), ran)


def test_the_query_is_asked_beside_the_recurrence_and_trains_the_memory():
    m = model()
    tokens, token_mask, modality_mask = make_batch(1, 3)
    chain, parts = m.loss(tokens, token_mask, modality_mask, torch.Generator().manual_seed(0))
    both, query_parts = m.loss(tokens, token_mask, modality_mask,
                               torch.Generator().manual_seed(0), query_weight=2.0)
    assert "loss/query" not in parts and query_parts["loss/query"] > 0
    query = (both * 5 - chain * 3) / 2  # the query's mean error alone
    assert abs(query.item() - query_parts["loss/query"]) < 1e-5
    assert all(chain_part == query_parts[key] for key, chain_part in parts.items()), (
        "the query's latent is not carried on: the recurrence's losses are unchanged")
    z0_grad, = torch.autograd.grad(query, [m.z0])
    assert z0_grad.abs().sum() > 0, "the query trains the latent z_{t-1} it is asked from"


def test_given_noise_is_what_the_generator_would_draw():
    # the exported graphs take their noise as inputs: drawn on the host in the model's order,
    # it must give the very numbers the generator path gives
    m = model().eval()
    z = m.initial_latent(1).detach()
    token = {"front": torch.rand(1, 3, 16, 16), "wrist": torch.rand(1, 3, 16, 16),
             ACTION_KEY: torch.rand(1, TINY.action_size)}
    levels = torch.tensor([[0, 500, 0]])
    with torch.no_grad():
        drawn = m.absorb(z, token, levels, torch.Generator().manual_seed(2))
        given = m.absorb(z, token, levels,
                         noise=m.draw_noise(token, torch.Generator().manual_seed(2)))
    assert torch.equal(drawn, given)
    a = m.predict_next(z, torch.Generator().manual_seed(5), samples=2)
    noise = m.prediction_noise(1, 2, torch.Generator().manual_seed(5))
    b = m.predict_next(z, samples=2, noise=noise)
    for key in a:
        assert torch.equal(a[key], b[key])
