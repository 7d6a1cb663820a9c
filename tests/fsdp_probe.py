"""Runs recipes/sft.py under `accelerate launch` with real FSDP2 sharding on CPU, and records the full weights
rank 0 holds after training, so a test can compare them with what the recipe saved.

accelerate 1.15 turns an FSDP config into plain multi-process DDP when the device is the CPU; this probe
switches the trainer back to FSDP right after it is built (the FSDP_* settings come from the launcher's
environment), which FSDP2 supports on CPU over gloo. Everything else is the recipe's own code.
"""

import importlib.util
import os
from pathlib import Path

import torch
from accelerate.state import AcceleratorState, PartialState
from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

spec = importlib.util.spec_from_file_location("sft", Path(__file__).resolve().parents[1] / "recipes" / "sft.py")
sft = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sft)


class ShardedOnCPU(sft.SFTTrainer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        PartialState._shared_state["distributed_type"] = DistributedType.FSDP
        AcceleratorState._shared_state["distributed_type"] = DistributedType.FSDP
        AcceleratorState._shared_state["fsdp_plugin"] = FullyShardedDataParallelPlugin()
        self.is_fsdp_enabled = True

    def train(self, *args, **kwargs):
        result = super().train(*args, **kwargs)
        plugin = self.accelerator.state.fsdp_plugin
        print(f"probe: fsdp_version={plugin.fsdp_version} sharded={type(self.model_wrapped).__name__}", flush=True)
        plugin.set_state_dict_type("FULL_STATE_DICT")
        state = self.accelerator.get_state_dict(self.model)  # a collective: every rank takes part
        if self.accelerator.is_main_process:
            torch.save({k: v.detach().clone() for k, v in state.items()}, os.environ["PROBE_STATE_DICT"])
        plugin.set_state_dict_type("SHARDED_STATE_DICT")
        return result


sft.SFTTrainer = ShardedOnCPU
if __name__ == "__main__":
    sft.training.run(sft.main, sft.CONFIG_CLASSES)
