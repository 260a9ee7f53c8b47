"""The catalogue on the store: a file a chapter hands over with ``catalogue.save`` is what the builder
returns (same key, one ``Artifact`` type), and a changed source makes it stale. No training: an
untrained baseline is sealed into a temporary store first."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tinyml_utils.compress import prune
from tinyml_utils.core import io
from tinyml_utils.core.context import Context
from tinyml_utils.course import catalogue, store
from tinyml_utils.models import vision_cnn

CTX = Context(quick=True, seed=0)


@pytest.fixture
def baseline(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYML_BUILD", str(tmp_path))
    torch.manual_seed(0)
    model = vision_cnn(16).eval()
    spec = catalogue._vision_spec(CTX, "baseline")
    store.save(spec, lambda p: io.torch_save(model.state_dict(), p), {"test_accuracy": 0.5})
    return model


def test_builder_returns_the_saved_baseline_without_training(baseline):
    art = catalogue.vision_model(CTX)
    assert isinstance(art, catalogue.Artifact) and art.info == {"test_accuracy": 0.5}
    assert art.path.parent == CTX.store and art.name == art.path.stem
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(art.model(x), baseline(x))


def test_saved_pruned_model_is_what_the_builder_returns_until_its_source_changes(baseline, capsys):
    narrow = prune.prune_channels(baseline, torch.zeros(1, 1, 28, 28), 0.5).eval()
    info = {"test_accuracy": 0.4}
    saved = catalogue.save("vision_pruned_structured.pt", CTX, lambda p: prune.save_pruned(narrow, p, info), info)
    got = catalogue.pruned(CTX, "structured")
    assert isinstance(got, catalogue.Artifact) and got.path == saved.path and got.info == info
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        np.testing.assert_array_equal(got.model(x).numpy(), narrow(x).numpy())
        np.testing.assert_array_equal(saved.model(x).numpy(), narrow(x).numpy())   # read back at save
    # its source (the baseline's bytes) is part of the key: a retrained baseline makes it stale
    base = catalogue.vision_model(CTX)
    with torch.no_grad():
        base.model.features[0].weight.add_(1.0)
    store.save(catalogue._vision_spec(CTX, "baseline"), lambda p: io.torch_save(base.model.state_dict(), p), {})
    info_now, why = store.staleness(catalogue._pruned_spec(CTX, "structured"))
    assert info_now is None and "changed" in why


def test_save_refuses_a_name_the_catalogue_does_not_build(baseline):
    with pytest.raises(ValueError, match="unknown artifact"):
        catalogue.save("mystery.pte", CTX, lambda p: None)


def test_only_the_store_names_its_folder():
    """Nothing is written into the store's folder without a key: outside core.paths and core.context, no
    module or chapter names ``paths.artifacts_dir`` (a chapter's own files go to ``ctx.scratch``)."""
    from tinyml_utils.core import paths

    allowed = {paths.REPO / "tinyml_utils" / "core" / "paths.py", paths.REPO / "tinyml_utils" / "core" / "context.py"}
    files = [*(paths.REPO / "tinyml_utils").rglob("*.py"), *paths.NOTEBOOKS.glob("*.ipynb")]
    named = [f.name for f in files if f not in allowed and "artifacts_dir(" in f.read_text(encoding="utf-8")]
    assert len(files) > 20 and named == []
