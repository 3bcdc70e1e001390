"""The docstring examples of the model modules run and print what they show."""

import doctest
import importlib

import pytest
import torch

MODULES = ["codec", "semblock", "mobilesc", "classifier", "registry"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"sionna_semcomm.models.{name}")
    torch.manual_seed(0)
    result = doctest.testmod(module, extraglobs={"torch": torch}, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
