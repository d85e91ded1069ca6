"""Trains the runs of a JSON spec in one torchrun job (test_distributed_training.py).

One job trains several runs so the test pays the start-up of torch in two processes once::

    python -m torch.distributed.run --nproc-per-node 2 ... tests/distributed_worker.py SPEC

SPEC: {"data": twin folder, "store": StoreConfig fields, "stores_dir": ..., "split_dir": ...,
"runs": [{"config": TrainConfig fields, "out": run folder}, ...]} (random split).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from soilnet import distributed
from soilnet.config import StoreConfig, TrainConfig
from soilnet.splits import open_split
from soilnet.store import find_store
from soilnet.trainer import train


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    distributed.init_from_env("cpu")
    try:
        store = find_store(spec["data"], StoreConfig(**spec["store"]), spec["stores_dir"])
        split = open_split(spec["split_dir"], store, "random")
        for run in spec["runs"]:
            train(store, split, TrainConfig(**run["config"]), run["out"], progress=False)
    finally:
        distributed.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
