"""Fixtures for core tests: a word counter, a fixed clock and random source, a persona."""

import random

import pytest

from galatea.core.personas import Persona
from galatea.core.prompting import PromptEnvironment
from tests.core.factories import NOW, WordCounter


@pytest.fixture
def counter() -> WordCounter:
    """A fresh word counter."""
    return WordCounter()


@pytest.fixture
def environment() -> PromptEnvironment:
    """A fixed clock and a seeded random source."""
    return PromptEnvironment(clock=lambda: NOW, rng=random.Random(7))


@pytest.fixture
def persona() -> Persona:
    """Sam, a botanist."""
    return Persona(name="Sam", description="{{user}} is a travelling botanist.")
