"""A video clip as content: decode it, measure its motion, paint it frame by frame.

``source`` decodes the clip (trim, frame rate, size, rotation) into the run folder's ``source/``;
``flow`` measures the motion between input frames (OpenCV's DIS) and which pixels it can be
trusted on (Ruder et al.'s consistency check); ``warping_error`` scores a painted clip's stability
(Lai et al.); ``session`` paints the frames one after another, each started from the previous one
carried along the flow, resumable frame by frame.
"""
