"""Stage 3, the region that moves: the ``T2C_ATTENTION`` contract, attention clusters, the CLIP and ODISE coarse
masks and the grammar of Region Mask's ``words`` (docs/pipeline.md#3-region-mask)."""
