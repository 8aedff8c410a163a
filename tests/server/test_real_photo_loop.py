"""A real photograph through the real server: LoadImage (region painted as alpha) → Text Flow (a drawn arrow) →
Animate (sharp loop) → Save. The picture is benchmarks/scenes/by_the_water.jpg (licence in that folder's README)."""

import cv2
import imageio.v3 as iio
import numpy as np
from comfy_server import REPO_ROOT

PHOTO = REPO_ROOT / "benchmarks" / "scenes" / "by_the_water.jpg"
LAKE = ((0, 0.27), (1, 0.27), (1, 0.355), (0, 0.455))  # the lake strip (benchmarks/loop_quality.py)
WIDTH, HEIGHT, FRAMES = 384, 240, 24


def _photo_with_painted_lake(path):
    """The photo at 384×240 with the lake painted as the mask-editor does: alpha 0 = masked (LoadImage's mask 1)."""
    rgb = cv2.resize(iio.imread(PHOTO), (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
    alpha = np.full((HEIGHT, WIDTH), 255, np.uint8)
    cv2.fillPoly(alpha, [np.round(np.array(LAKE) * [WIDTH, HEIGHT]).astype(np.int32)], 0)
    iio.imwrite(path, np.dstack((rgb, alpha)))
    return rgb, alpha == 0


def test_a_real_photo_loops_with_the_sharp_engine(comfy_server):
    rgb, lake = _photo_with_painted_lake(comfy_server.input_dir / "by_the_water_lake.png")
    prompt = {
        "load": {"class_type": "LoadImage", "inputs": {"image": "by_the_water_lake.png"}},
        "flow": {"class_type": "T2C_TextFlow", "inputs": {
            "image": ["load", 0], "mask": ["load", 1], "text": "a lake glittering in the sun",
            "direction": "auto (from text)", "angle": 0.0, "strength": 0.0, "seed": 0,
            "arrows": '{"version": 1, "arrows": [[0.1, 0.33, 0.3, 0.33]], "anchors": []}',
            "hint_px_per_frame": 64.0}},
        "animate": {"class_type": "T2C_Animate", "inputs": {
            "image": ["load", 0], "flow": ["flow", 0], "mask": ["load", 1], "frames": FRAMES, "speed": 1.0,
            "max_px_per_frame": 0.0, "integration": "round", "engine": "sharp loop"}},
        "save": {"class_type": "T2C_SaveCinemagraph", "inputs": {
            "frames": ["animate", 0], "filename_prefix": "photo/lake", "fps": 24.0, "format": "mp4",
            "quality": 95, "pingpong": False}},
    }
    entry = comfy_server.run_prompt(prompt, timeout=600)
    videos = [path for path in comfy_server.output_files(entry) if path.suffix == ".mp4"]
    assert len(videos) == 1
    frames = iio.imread(videos[0], plugin="pyav").astype(np.float32)
    assert frames.shape == (FRAMES, HEIGHT, WIDTH, 3)
    # H.264 is lossy (and subsamples colour): compare with margins far from what motion does.
    assert np.abs(frames[0] - rgb).mean() < 5.0, "frame 0 is the photo"
    far = cv2.dilate(lake.astype(np.uint8), np.ones((15, 15), np.uint8)) == 0
    middle = frames[FRAMES // 4]  # a two-cycle sharp loop is the still again at its middle
    still_change = np.abs(middle[far] - frames[0][far]).mean()
    assert still_change < 1.0, "the pier and the sky stay still"
    assert np.abs(middle[lake] - frames[0][lake]).mean() > 3 * still_change + 0.5, "the lake moves"
