"""The render's validated configuration: schema, presets and overrides, schedules, scales, credits, video settings.

May import errors and atomic only; never torch (a contract in pyproject.toml).
"""
