"""The CNN: the paper's shapes, He-normal init, named layers, eval-mode independence."""

import math

import torch

from lrrsa.model import Architecture, build_model, load_model, save_model


def test_paper_architecture_shapes():
    model = build_model(Architecture(), seed=0).eval()
    for size in (32, 224):
        feats = model.features(torch.rand(2, 3, size, size))
        assert list(feats) == ["conv1", "conv2", "conv3", "fc1", "fc2"]
        assert feats["conv1"].shape == (2, 32, size, size)
        assert feats["conv2"].shape == (2, 64, size // 2, size // 2)
        assert feats["conv3"].shape == (2, 128, size // 4, size // 4)
        assert feats["fc1"].shape == (2, 512) and feats["fc2"].shape == (2, 10)
    assert model.fc1.in_features == 128 * 4 * 4
    assert model.blocks[0].conv.bias is None


def test_he_normal_initialisation_variance():
    model = build_model(Architecture(widths=(64, 256)), seed=0)
    w = model.blocks[1].conv.weight
    fan_in = w.shape[1] * w.shape[2] * w.shape[3]
    # He-normal: std = sqrt(2 / fan_in); 147k samples give the std to within ~1 %.
    assert math.isclose(w.std().item(), math.sqrt(2 / fan_in), rel_tol=0.03)
    assert abs(w.mean().item()) < 0.01


def test_same_seed_same_weights_other_seed_other_weights():
    a, b, c = (build_model(Architecture(), seed=s) for s in (3, 3, 4))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.blocks[0].conv.weight, c.blocks[0].conv.weight)


def test_conv_layers_only_stop_early_and_match_full_pass():
    model = build_model(Architecture(), seed=0).eval()
    x = torch.rand(3, 3, 32, 32)
    assert torch.equal(model.features(x, ["conv2"])["conv2"], model.features(x)["conv2"])


def test_eval_mode_features_do_not_depend_on_batch_mates():
    model = build_model(Architecture(), seed=0)
    model.train()
    model(torch.rand(16, 3, 32, 32) * 3)  # move running statistics away from their init
    model.eval()
    x = torch.rand(4, 3, 64, 64)
    alone = model.features(x[:1])
    together = model.features(torch.cat([x[:1], torch.rand(7, 3, 64, 64)]))
    for name in alone:
        torch.testing.assert_close(alone[name], together[name][:1])


def test_save_and_load_round_trip(tmp_path):
    model = build_model(Architecture(widths=(8, 16), fc_width=32, n_classes=4), seed=1)
    model.set_input_normalisation([0.1, 0.2, 0.3], [0.5, 0.6, 0.7])
    save_model(tmp_path / "m.pt", model, condition="bp", seed=1)
    loaded, meta = load_model(tmp_path / "m.pt")
    assert meta == {"condition": "bp", "seed": 1}
    assert not loaded.training
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(loaded(x), model.eval()(x))
