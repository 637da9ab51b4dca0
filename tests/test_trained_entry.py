"""Which user registry entry trained feedback goes to (:mod:`pcbench.training.trained_entry`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pcbench.errors import PcbenchError
from pcbench.files import real_path
from pcbench.models.build import expected_weights_path
from pcbench.registry import get_model_spec
from pcbench.training.feedback import FeedbackSettings
from pcbench.training.trained_entry import trained_entry_name

SETTINGS = FeedbackSettings(dataset="digits", epochs=1, batch_size=8, optimizer="sgd", lr=0.1, weight_decay=0.0)


def test_a_zoo_model_trained_elsewhere_gets_an_entry_named_after_it(tmp_path):
    spec = get_model_spec("digits-pcnn")
    assert trained_entry_name(spec, tmp_path / "fb.pt", None, SETTINGS) == "digits-pcnn-trained"
    assert trained_entry_name(spec, tmp_path / "fb.pt", "mine", SETTINGS) == "mine"


def test_a_model_that_loads_the_file_gets_none_unless_hyperparameters_were_learned():
    spec = get_model_spec("digits-pcnn")
    expected = expected_weights_path(spec)
    assert expected is not None
    out = real_path(expected)
    assert trained_entry_name(spec, out, None, SETTINGS) is None
    learned = dataclasses.replace(SETTINGS, hyperparameter_epochs=1)
    assert trained_entry_name(spec, out, None, learned) == "digits-pcnn-trained"


def test_a_user_entry_is_updated_in_place_and_a_builtin_name_is_refused(tmp_path):
    spec = get_model_spec("digits-pcnn")
    assert trained_entry_name(dataclasses.replace(spec, source="user"), Path("x.pt"), None, SETTINGS) == "digits-pcnn"
    source = get_model_spec("digits-cnn").source
    message = f"model 'digits-cnn' is already registered (source: {source}); choose --name"
    with pytest.raises(PcbenchError, match=message.replace("(", r"\(").replace(")", r"\)")):
        trained_entry_name(spec, tmp_path / "fb.pt", "digits-cnn", SETTINGS)
