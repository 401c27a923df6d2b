"""The painting itself: VGG19 weights and features, the objective (content, Gram style, TV), colour, tiling, L-BFGS, the loop, devices, memory footprint.

May import settings, images, errors below it; knows nothing of files or the run folder (hooks do the I/O).
"""
