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


def test_client_update_trains_the_partition_and_replies_as_configured():
    """What the ClientApp's train handler sends: local_sgd from the global weights on this client's
    windows (same seed, same result), its number of examples, and an int8 delta that decodes to it."""
    cfg = federated.FLConfig(num_clients=4, seed=0)
    global_np = {k: v.numpy() for k, v in federated.float_state(federated.new_model(0, "group")).items()}
    w, n, loss = federated.client_update(global_np, 1, 4, server_round=1, cfg=cfg)
    assert n == len(federated.client_data(1, 4, cfg)) > 0 and np.isfinite(loss)
    assert set(w) == set(global_np) and any(np.abs(w[k] - global_np[k]).max() > 0 for k in w)
    again, _, _ = federated.client_update(global_np, 1, 4, server_round=1, cfg=cfg)
    assert all(np.array_equal(w[k], again[k]) for k in w)                        # regenerable
    q, n8, _ = federated.client_update(global_np, 1, 4, 1, federated.FLConfig(num_clients=4, seed=0, update="int8"))
    assert n8 == n and q["int8-delta"].dtype == np.int8
    back = federated.dequantize_update(q, global_np)
    for i, k in enumerate(global_np):
        assert np.abs(back[k] - w[k]).max() <= q["int8-scale"][i] / 2 + 1e-6


class _FakeGrid:
    """A grid of nodes with random Flower node ids, each answering the partition query."""

    def __init__(self, partitions: int, rng: np.random.Generator):
        ids = rng.choice(10**9, size=partitions, replace=False)
        self.partition = {int(n): p for p, n in enumerate(ids)}
        self.order = [int(n) for n in rng.permutation(ids)]

    def get_node_ids(self):
        return list(self.order)

    def send_and_receive(self, messages, timeout=None):
        from flwr.app import Message, MetricRecord, RecordDict

        return [Message(RecordDict({"metrics": MetricRecord({"partition-id": self.partition[m.metadata.dst_node_id]})}),
                        reply_to=m) for m in messages]


def _trained_partitions(cfg, grid, rounds):
    from flwr.app import Array, ArrayRecord, ConfigRecord

    from tinyml_utils.course.federated.strategy import counting_fedavg

    strategy = counting_fedavg(cfg, wait_s=1)
    arrays = ArrayRecord({"w": Array(np.zeros(3, np.float32))})
    out = []
    for rnd in range(1, rounds + 1):
        msgs = strategy.configure_train(rnd, arrays, ConfigRecord({}), grid)
        out.append(sorted(grid.partition[m.metadata.dst_node_id] for m in msgs))
        assert out[-1] == strategy.sampled[rnd] and strategy.bytes[rnd]["clients"] == len(msgs)
    return out


def test_half_participation_samples_the_same_partitions_from_the_seed(monkeypatch):
    """Issue 20 item 11: Flower samples node ids with the unseeded ``random`` module (and node ids are
    random), so a half-participation run trained different clients each time. The strategy now samples
    partitions from the run's seed: two grids with different node ids train the same clients."""
    from flwr.supercore.task_identity import TaskIdentity

    monkeypatch.setattr(TaskIdentity, "_run_id", 1)
    monkeypatch.setattr(TaskIdentity, "_node_id", 0)
    monkeypatch.setattr(TaskIdentity, "_task_id", 1)
    cfg = federated.FLConfig(num_clients=4, fraction_train=0.5, seed=0)
    first = _trained_partitions(cfg, _FakeGrid(4, np.random.default_rng(1)), 15)
    second = _trained_partitions(cfg, _FakeGrid(4, np.random.default_rng(2)), 15)
    assert first == second
    assert all(len(p) == 2 and len(set(p)) == 2 for p in first)
    assert len({tuple(p) for p in first}) > 1                          # not the same pair every round
    other = _trained_partitions(federated.FLConfig(num_clients=4, fraction_train=0.5, seed=1),
                                _FakeGrid(4, np.random.default_rng(1)), 15)
    assert other != first                                              # the seed decides


def test_a_dead_supernode_fails_the_localhost_federation_within_seconds(tmp_path):
    """Issue 20 item 2: ``kill -9`` SuperNode 1 during round 1. Flower waits for it to reconnect until the
    timeout (then a raw ``TimeoutExpired``); ``deploy_localhost`` now fails within seconds, naming the node
    and its log."""
    import threading
    import time

    psutil = pytest.importorskip("psutil")
    killed: list[float] = []

    def kill_supernode_1():
        t0 = time.monotonic()
        while time.monotonic() - t0 < 240:
            for c in psutil.Process().children(recursive=True):
                try:
                    cmd = " ".join(c.cmdline())
                except psutil.Error:
                    continue
                # a ClientApp under SuperNode 1 means round 1 has reached it
                if "flwr-clientapp" in cmd and any("partition-id=1" in " ".join(p.cmdline())
                                                   for p in c.parents() if p.is_running()):
                    sn = next(p for p in c.parents() if "partition-id=1" in " ".join(p.cmdline()))
                    sn.kill()
                    killed.append(time.monotonic())
                    return
            time.sleep(0.2)

    killer = threading.Thread(target=kill_supernode_1, daemon=True)
    killer.start()
    with pytest.raises(RuntimeError) as err:
        federated.deploy_localhost(federated.FLConfig(num_clients=2, rounds=2), workdir=tmp_path / "fl", timeout_s=200)
    failed_at = time.monotonic()
    assert killed, "the test never found SuperNode 1's ClientApp to kill"
    assert failed_at - killed[0] < 15
    msg = str(err.value)
    assert "supernode-1" in msg and str(tmp_path / "fl" / "supernode-1.log") in msg


def test_a_lost_reply_is_counted_and_the_others_are_averaged(monkeypatch):
    """A reply Flower turns into an error (seen: 'Reply message objects are unavailable' under load) is
    counted in ``bytes[round]['failed']``; FedAvg averages the replies that arrived."""
    from flwr.app import Error, Message, MessageType, RecordDict
    from flwr.supercore.task_identity import TaskIdentity

    from tinyml_utils.course.federated.strategy import counting_fedavg

    monkeypatch.setattr(TaskIdentity, "_run_id", 1)
    monkeypatch.setattr(TaskIdentity, "_node_id", 0)
    monkeypatch.setattr(TaskIdentity, "_task_id", 1)
    strategy = counting_fedavg(federated.FLConfig(num_clients=3))
    strategy.bytes[1] = {"clients": 3}
    ok = [_reply({"w": np.full(4, v, np.float32)}, n) for v, n in ((1.0, 10), (4.0, 30))]
    sent = Message(RecordDict(), dst_node_id=2, message_type=MessageType.TRAIN)
    lost = Message(Error(code=0, reason="lost in transit"), reply_to=sent)
    arrays, _ = strategy.aggregate_train(1, [*ok, lost])
    assert strategy.bytes[1]["failed"] == 1
    np.testing.assert_allclose(arrays["w"].numpy(), np.full(4, (1.0 * 10 + 4.0 * 30) / 40))
