"""Capture-to-mask time of the attention region mask (32×32 grid, R = 16 rows per token, 512² output).

Compares spectral clustering, k-means on principal coordinates (default 16, 64, and all 1024 = exact distances), and
k-means on the raw 16384-d rows as the official code does. The capture is planted (5 known regions), so each run
also reports the adjusted Rand index against the truth (1.0 = the planted regions exactly).

    .venv/bin/python benchmarks/region_mask.py [--repeats 3] [--seeds 3] [--noise 1.5]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "fixtures")]  # models/, and planted attention (a test fixture)

from models.region.attention_mask import MaskParams, mask_from_attention, upsample_labels  # noqa: E402
from planted_attention import planted_capture  # noqa: E402


def planted_regions(size: int = 32) -> torch.Tensor:
    """Five regions: two vertical strips, a horizontal band, a disc and the rest."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    regions = torch.zeros(size, size, dtype=torch.int64)
    regions[xx < 10] = 1
    regions[(xx >= 10) & (xx < 18)] = 2
    regions[(yy - 24).abs() < 4] = 3
    regions[(yy - 9) ** 2 + (xx - 25) ** 2 < 36] = 4
    return regions


def official_kmeans(capture, seed: int):
    """k-means++ (n_init 5) on the raw per-token rows [1024, 16384], as the official code clusters
    (single-threaded like ours, for a fair comparison on a shared 2-core machine)."""
    rows = capture.self_attn[0].permute(1, 0, 2).reshape(1024, -1).numpy()
    with threadpool_limits(limits=1):
        return KMeans(5, init="k-means++", n_init=5, random_state=seed).fit_predict(rows)


def time_call(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--noise", type=float, default=1.5, help="std of the planted attention-logit noise")
    args = parser.parse_args()
    regions = planted_regions()
    truth = regions.reshape(-1).numpy()
    capture = planted_capture(regions, (512, 512), rows=16, noise=args.noise, seed=0)
    coarse = upsample_labels(regions == 4, (512, 512)).float()
    print(f"torch threads: {torch.get_num_threads()}, capture {tuple(capture.self_attn.shape)}")
    print(f"{'variant':<34}{'seed':>5}{'median s':>10}{'ARI':>7}")
    variants = {
        "spectral (n_init 100)": MaskParams(method="spectral"),
        "kmeans, PCA 16 (default)": MaskParams(method="kmeans", pca_dims=16),
        "kmeans, PCA 64": MaskParams(method="kmeans", pca_dims=64),
        "kmeans, all 1024 coords (exact)": MaskParams(method="kmeans", pca_dims=None),
    }
    for seed in range(args.seeds):
        for name, params in variants.items():
            params = MaskParams(**{**params.__dict__, "seed": seed})
            seconds, result = time_call(lambda p=params: mask_from_attention(capture, coarse, p), args.repeats)
            ari = adjusted_rand_score(truth, result.clusters.reshape(-1).numpy())
            print(f"{name:<34}{seed:>5}{seconds:>10.3f}{ari:>7.3f}")
        seconds, labels = time_call(lambda s=seed: official_kmeans(capture, s), 1)
        print(f"{'kmeans, raw 16384-d rows (official)':<34}{seed:>5}{seconds:>10.3f}"
              f"{adjusted_rand_score(truth, labels):>7.3f}")


if __name__ == "__main__":
    main()
