"""Stage 6, the file: encoding frames as a looping MP4, GIF or WebP (docs/pipeline.md#6-file)."""
