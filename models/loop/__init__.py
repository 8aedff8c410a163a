"""Stage 5, the loop: Euler integration, summation splatting and the pixel animator
(docs/pipeline.md#5-loop)."""
