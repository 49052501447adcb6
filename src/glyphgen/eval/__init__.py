"""Offline evaluation of glyph models with glyphgen's own recogniser (no downloaded weights).

recognizer  training data, training loop, held-out accuracy and loading of the glyph recogniser
features    the recogniser's embedding as torchmetrics' `feature=` module
metrics     FGD, KID, precision/recall, novelty, conditional accuracy
evaluate    `glyphgen eval MODEL`: samples, scores against the reference and the real-data band
report      metrics.json, markdown/HTML pages, plots and grids
compare     `glyphgen compare`: several models side by side
"""
