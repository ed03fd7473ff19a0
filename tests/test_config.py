"""The typed config loader: unknown or mistyped keys are errors naming the key."""

import dataclasses

import pytest
import yaml

from df_policy.config import from_dict, load_section, parse_overrides, save_resolved
from df_policy.errors import ConfigError
from df_policy.policy.config import RuntimeConfig
from df_policy.sim.config import SimConfig


@dataclasses.dataclass
class Inner:
    size: int = 3


@dataclasses.dataclass
class Sample:
    rate: float = 1.0
    name: str = "x"
    flag: bool = False
    sizes: tuple[int, ...] = (1, 2)
    inner: Inner = dataclasses.field(default_factory=Inner)
    levels: dict[str, int] = dataclasses.field(default_factory=dict)


def test_values_are_coerced_and_checked():
    cfg = from_dict(Sample, {"rate": 2, "sizes": [4, 5], "inner": {"size": 7}, "levels": {"a": 1}})
    assert cfg.rate == 2.0 and isinstance(cfg.rate, float)
    assert cfg.sizes == (4, 5)
    assert cfg.inner.size == 7
    assert cfg.levels == {"a": 1}


@pytest.mark.parametrize(
    "values, key",
    [
        ({"rat": 1.0}, "rat"),
        ({"rate": "fast"}, "rate"),
        ({"flag": 1}, "flag"),
        ({"sizes": [1, "b"]}, "sizes"),
        ({"inner": {"size": 1.5}}, "inner.size"),
        ({"inner": {"bogus": 1}}, "inner.bogus"),
    ],
)
def test_bad_key_or_type_names_the_key(values, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        from_dict(Sample, values)


def test_post_init_validation_names_the_key():
    with pytest.raises(ConfigError, match="image_size"):
        from_dict(SimConfig, {"image_size": 2}, "sim")
    with pytest.raises(ConfigError, match="occluder_height"):
        from_dict(SimConfig, {"occluder": True, "occluder_height": -0.1}, "sim")


def test_runtime_yaml_matches_the_defaults_the_policy_node_uses():
    # df-policy eval reads config/runtime.yaml; the policy node runs RuntimeConfig's defaults.
    assert load_section("config/runtime.yaml", "runtime", RuntimeConfig) == RuntimeConfig()
    with pytest.raises(ConfigError, match="action_samples"):
        RuntimeConfig(action_samples=0)


def test_yaml_section_with_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"sim": {"image_size": 48, "control_hz": 12}}))
    cfg = load_section(path, "sim", SimConfig, ["image_size=32", "cameras=[front]"])
    assert cfg.image_size == 32
    assert cfg.control_hz == 12.0
    assert cfg.cameras == ("front",)


def test_exponent_without_a_dot_is_a_number(tmp_path):
    # YAML 1.1 reads 5e-4 as a string; `--set train.lr=5e-4` used to be rejected.
    path = tmp_path / "c.yaml"
    path.write_text("sim:\n  physics_dt: 2e-3\n")
    cfg = load_section(path, "sim", SimConfig, ["slot_jitter=1e-2"])
    assert cfg.physics_dt == 0.002 and cfg.slot_jitter == 0.01


def test_override_without_equals_is_an_error():
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["image_size"])


def test_missing_or_malformed_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_section(tmp_path / "nope.yaml", "sim", SimConfig)
    bad = tmp_path / "bad.yaml"
    bad.write_text("sim: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_section(bad, "sim", SimConfig)


def test_saved_config_round_trips(tmp_path):
    cfg = SimConfig(image_size=40, cameras=("front",))
    save_resolved(tmp_path / "resolved.yaml", sim=cfg)
    assert load_section(tmp_path / "resolved.yaml", "sim", SimConfig) == cfg
