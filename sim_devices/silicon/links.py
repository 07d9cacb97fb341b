"""Builds each chip's PCIe endpoint, mesh ports and HBM stacks from the sled description.

The link and memory models live in pcie.py, mesh.py and hbm.py; this is the only place the sled
names their classes, so a different model is a one-line change here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bringup.sim_devices.world.config import SledConfig


class LinkFactory:
    """One PcieEndpoint, `mesh_ports` MeshPorts and `hbm_stacks` HbmStacks per chip."""

    def __init__(self, cfg: SledConfig) -> None:
        from bringup.sim_devices.silicon.hbm import HbmConfig
        from bringup.sim_devices.links.mesh import MeshConfig
        from bringup.sim_devices.links.pcie_config import PcieConfig

        self.cfg = cfg
        self.pcie_cfg = _build(PcieConfig, cfg.pcie)
        self.mesh_cfg = _build(MeshConfig, cfg.mesh)
        self.hbm_cfg = _build(HbmConfig, cfg.hbm)

    def make(self, chip: int, rng: np.random.Generator) -> tuple[Any, list[Any], list[Any]]:
        from bringup.sim_devices.silicon.hbm import HbmStack
        from bringup.sim_devices.links.mesh import MeshPort
        from bringup.sim_devices.links.pcie import PcieEndpoint

        seeds = rng.integers(0, 2**63 - 1, size=1 + self.cfg.mesh_ports + self.cfg.hbm_stacks)
        gen = lambda k: np.random.default_rng(int(seeds[k]))
        pcie = PcieEndpoint(self.pcie_cfg, gen(0))
        mesh = [MeshPort(self.mesh_cfg, gen(1 + p)) for p in range(self.cfg.mesh_ports)]
        base = 1 + self.cfg.mesh_ports
        hbm = [HbmStack(self.hbm_cfg, gen(base + s)) for s in range(self.cfg.hbm_stacks)]
        return pcie, mesh, hbm


def _build(cls: Any, overrides: dict[str, Any]) -> Any:
    try:
        if hasattr(cls, "from_dict"):
            return cls.from_dict(overrides)
        return cls(**overrides)
    except TypeError as exc:
        raise ValueError(f"invalid {cls.__name__} settings {overrides}: {exc}") from None
