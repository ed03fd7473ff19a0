"""ament_python package df_policy; `pip install .` also installs what `ros2 launch` looks for."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "df_policy"
NODES = ["policy_node", "sim_node", "recorder_node"]
EXECUTABLES = ["df-policy", *NODES]

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    python_requires=">=3.10",
    # ROS wheels and torch are installed from requirements.txt, not here (ament_python convention:
    # an apt-installed ROS must not get pip wheels layered on it).
    install_requires=["numpy", "pyyaml", "mujoco", "gymnasium", "zarr", "safetensors", "tqdm"],
    extras_require={"test": ["pytest"]},  # also what tells `colcon test` to run pytest
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.py")),
        (f"share/{PACKAGE}/config", glob("config/*")),
        (f"share/{PACKAGE}/sim", glob("sim/*.xml")),
        (f"share/{PACKAGE}/sim/assets/panda", glob("sim/assets/panda/*.*") + glob("sim/assets/panda/[A-Z]*")),
        (f"share/{PACKAGE}/sim/assets/panda/meshes", glob("sim/assets/panda/meshes/*")),
        (f"share/{PACKAGE}/checkpoints/df_fruit_swap", glob("data/checkpoints/df_fruit_swap/*")),
        (f"lib/{PACKAGE}", [f"scripts/lib_shims/{name}" for name in EXECUTABLES]),
    ],
    entry_points={
        "console_scripts": [
            "df-policy = df_policy.cli:main",
            *[f"{node} = df_policy.ros.{node}:main" for node in NODES],
        ],
    },
)
