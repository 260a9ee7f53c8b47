"""Tests of tinyml_utils.course.federated: Flower's FedAvg against a hand-computed weighted mean, the int8
update codec, the non-IID partition, and one small simulation in Flower's Ray engine."""
from __future__ import annotations

import numpy as np
import pytest

from tinyml_utils.course import federated

flwr = pytest.importorskip("flwr")


def _reply(arrays: dict, n: int):
    from flwr.app import Array, ArrayRecord, Message, MessageType, MetricRecord, RecordDict

    content = RecordDict({"arrays": ArrayRecord({k: Array(v) for k, v in arrays.items()}),
                          "metrics": MetricRecord({"num-examples": n})})
    return Message(content, dst_node_id=1, message_type=MessageType.TRAIN)


def test_fedavg_aggregation_is_the_weighted_mean(monkeypatch):
    from flwr.serverapp.strategy import FedAvg
    from flwr.supercore.task_identity import TaskIdentity

    # a Message is normally built inside a running ServerApp, which sets these identities
    monkeypatch.setattr(TaskIdentity, "_run_id", 1)
    monkeypatch.setattr(TaskIdentity, "_node_id", 0)
    monkeypatch.setattr(TaskIdentity, "_task_id", 1)

    rng = np.random.default_rng(0)
    clients = [({"w": rng.normal(size=(3, 4)).astype(np.float32), "b": rng.normal(size=4).astype(np.float32)}, n)
               for n in (10, 30, 60)]
    arrays, metrics = FedAvg().aggregate_train(1, [_reply(a, n) for a, n in clients])
    total = sum(n for _, n in clients)
    for key in ("w", "b"):
        want = sum(a[key] * n for a, n in clients) / total
        np.testing.assert_allclose(arrays[key].numpy(), want, rtol=1e-6, atol=1e-7)


def test_int8_update_round_trip_within_half_a_step():
    rng = np.random.default_rng(1)
    glob = {"w": rng.normal(size=(16, 8)).astype(np.float32), "b": rng.normal(size=8).astype(np.float32)}
    local = {k: v + rng.normal(scale=0.01, size=v.shape).astype(np.float32) for k, v in glob.items()}
    q = federated.quantize_update(local, glob)
    assert q["int8-delta"].dtype == np.int8 and q["int8-delta"].size == 16 * 8 + 8
    back = federated.dequantize_update(q, glob)
    for i, k in enumerate(glob):
        assert back[k].shape == glob[k].shape
        assert np.abs(back[k] - local[k]).max() <= q["int8-scale"][i] / 2 + 1e-7


def test_partition_is_non_iid_disjoint_and_complete():
    y = np.repeat(np.arange(4), 8 * 8)           # 32 recordings of 8 windows, 8 a class
    parts = federated.partition(y, 8, num_clients=4, classes_per_client=2, seed=0)
    allidx = np.concatenate(parts)
    assert len(allidx) == len(y) and len(np.unique(allidx)) == len(y)
    for p in parts:
        assert len(np.unique(y[p])) <= 2
        assert all(len(np.unique(p[i:i + 8] // 8)) == 1 for i in range(0, len(p), 8))  # whole recordings


def test_config_round_trips_through_run_config():
    cfg = federated.FLConfig(num_clients=3, rounds=2, update="int8", lr=0.5)
    assert federated.FLConfig.from_run_config(cfg.run_config()) == cfg


def test_two_clients_one_round_in_the_simulation_engine(tmp_path):
    pytest.importorskip("ray")
    res = federated.simulate(federated.FLConfig(num_clients=2, rounds=1, out=str(tmp_path / "r.json")))
    rounds = res["rounds"]
    assert [r["round"] for r in rounds] == [0, 1]
    assert rounds[1]["clients"] == 2
    assert rounds[1]["up_bytes"] == rounds[1]["down_bytes"] > 0       # fp32 weights both ways
    assert 0.0 <= rounds[1]["accuracy"] <= 1.0


def test_local_sgd_is_plain_minibatch_sgd_with_momentum():
    """The client's local epochs (train.fit with an SGD optimizer, no schedule) against a hand loop."""
    import torch
    import torch.nn.functional as F

    from tinyml_utils.data.base import Split

    rng = np.random.default_rng(3)
    split = Split(rng.normal(size=(40, 6, 30)).astype(np.float32), rng.integers(0, 4, 40))
    got, want = federated.new_model(0, "group"), federated.new_model(0, "group")
    loss = federated.local_sgd(got, split, epochs=2, lr=0.02, momentum=0.9, batch_size=16, seed=7)
    gen = torch.Generator().manual_seed(7)
    x, y = torch.as_tensor(split.x), torch.as_tensor(split.y)
    opt = torch.optim.SGD(want.parameters(), lr=0.02, momentum=0.9)
    want.train()
    for _ in range(2):
        perm, total = torch.randperm(len(x), generator=gen), 0.0
        for i in range(0, len(x), 16):
            idx = perm[i:i + 16]
            step_loss = F.cross_entropy(want(x[idx]), y[idx])
            opt.zero_grad()
            step_loss.backward()
            opt.step()
            total += float(step_loss.detach()) * len(idx)
    assert loss == pytest.approx(total / len(x), abs=1e-7)
    for k, v in want.state_dict().items():
        torch.testing.assert_close(got.state_dict()[k], v, rtol=0, atol=1e-7)
