"""A version's parent is set only when it is known: given, or the model object came from that version
(loaded from it, or registered as it and trained further), in the Platform and through the magics."""

from __future__ import annotations

import numpy as np
import pytest
from IPython.core.error import UsageError

from maas_jupyter.errors import NotFound
from maas_jupyter.training.register import register_trained

pytestmark = pytest.mark.slow


def test_a_fresh_model_under_an_existing_name_has_no_parent(platform, tiny_data, make_classifier):
    x, y = tiny_data
    assert platform.register("clf", make_classifier())["parent_version"] is None
    assert platform.register("clf", make_classifier(units=3))["parent_version"] is None
    trained = platform.train(make_classifier(), x, y, epochs=1)
    assert register_trained(platform, "clf", trained)["parent_version"] is None


def test_a_model_trained_on_from_a_version_descends_from_it(platform, tiny_data, make_classifier):
    x, y = tiny_data
    model = make_classifier()
    assert platform.register("clf", model)["version"] == 1
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    assert platform.register("clf", model)["parent_version"] == 1
    again = register_trained(platform, "clf", platform.train(model, x, y, epochs=1))
    assert (again["version"], again["parent_version"]) == (3, 2)
    # Under another name the numbers mean nothing: no parent there.
    assert platform.register("other", model)["parent_version"] is None
    # Given explicitly, the caller's word stands.
    assert platform.register("clf", make_classifier(), parent_version=1)["parent_version"] == 1


def test_a_loaded_version_is_the_parent_of_what_is_made_from_it(platform, tiny_data, make_classifier):
    x, y = tiny_data
    original = make_classifier()
    platform.register("clf", original)
    platform.register("clf", make_classifier(units=3))
    loaded = platform.load_keras("clf", 1)
    np.testing.assert_allclose(loaded.predict(x[:8], verbose=0), original.predict(x[:8], verbose=0), atol=1e-6)
    result = platform.train(loaded, x, y, epochs=1)
    version = register_trained(platform, "clf", result)
    assert (version["version"], version["parent_version"], version["run_id"]) == (3, 1, result.run_id)


def test_loading_what_has_no_keras_file_says_so(platform, make_onnx):
    platform.register("onnx-only", make_onnx())
    with pytest.raises(NotFound, match="registered from ONNX"):
        platform.load_keras("onnx-only")
    with pytest.raises(NotFound):
        platform.load_keras("no-such-model")


def test_load_and_register_through_the_magics(shell, body, tiny_data, make_classifier, capsys):
    x, y = tiny_data
    name = f"lin-{np.random.default_rng().integers(10**8)}"
    shell.user_ns.update(x=x, y=y, first=make_classifier())
    shell.run_line_magic("maas", f"register first --name {name}")
    shell.run_line_magic("maas", f"load {name}@1 --as tuned")
    assert f"tuned = {name}@1 (Keras)" in capsys.readouterr().out
    np.testing.assert_allclose(
        shell.user_ns["tuned"].predict(x[:4], verbose=0), shell.user_ns["first"].predict(x[:4], verbose=0), atol=1e-6
    )
    shell.run_line_magic("maas", "train tuned --data x,y --epochs 1")
    shell.run_line_magic("maas", f"register tuned --name {name}")
    assert "parent v1" in capsys.readouterr().out
    versions = shell.run_line_magic("maas", f"versions {name}")
    assert versions.loc[2, "parent_version"] == 1
    shell.user_ns["fresh"] = make_classifier()
    shell.run_line_magic("maas", f"register fresh --name {name}")
    assert "parent" not in capsys.readouterr().out
    with pytest.raises(UsageError, match="not a Python variable name"):
        shell.run_line_magic("maas", f"load {name}@1 --as 9lives")
    with pytest.raises(UsageError, match="no version 7"):
        shell.run_line_magic("maas", f"load {name}@7")
    assert "9lives" not in shell.user_ns
