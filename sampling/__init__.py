"""The twin sampler's ComfyUI-coupled machinery: conditioning checks, the step schedule, the shared-attention
patches, the CFG guider, the inversion of a painting, and the sampling run that ties them together
(docs/pipeline.md#2-twin-sampler). Unlike ``models/``, this package imports ComfyUI; the node in ``nodes/twin.py``
only declares inputs and outputs.
"""
