"""Rewrite model_repository_examples/ from the current generator (see planner/emit/examples.py)."""

from planner.emit.examples import EXAMPLES_DIR, regenerate

if __name__ == "__main__":
    files = regenerate()
    print(f"wrote {len(files)} files under {EXAMPLES_DIR}")
