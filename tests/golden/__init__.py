"""Golden prompt files: the exact prompt text of every template for one card and chat.

`scenario` names the inputs; `<template>.txt` holds the expected prompt. The core test and
the `galatea prompt render` test both compare against these files. Regenerate them on
purpose with `GALATEA_UPDATE_GOLDEN=1 .venv/bin/pytest tests/core/prompting/test_golden.py`,
then read the diff before committing; the test fails while regenerating so it never passes
silently.
"""
