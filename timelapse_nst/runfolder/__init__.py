"""The run folder, a documented contract: its layout and manifest (render.yaml), the lock, log.jsonl.

May import errors and atomic only; never torch, so a run folder can be read anywhere.
"""
