"""Stage 1, the prompt: direction phrases → an angle, the realistic twin's prompt, and the one vocabulary of
things that move (docs/pipeline.md#1-prompt)."""
