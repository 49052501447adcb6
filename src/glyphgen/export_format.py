"""The files of an exported model folder and their format version (no torch here, so listing models stays fast)."""

FORMAT_VERSION = 1
WEIGHTS, CONFIG = "model.safetensors", "config.json"
EVAL = "eval.json"  # metrics written by `glyphgen eval`; travels with the weights
