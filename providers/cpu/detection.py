"""Object-detection kernels: NonMaxSuppression."""

from __future__ import annotations

import numpy as np

from .registry import kernel


def _corners(boxes: np.ndarray, center_point_box: int) -> np.ndarray:
    """(..., 4) boxes as (y_min, x_min, y_max, x_max), from [y1, x1, y2, x2] (corners in any order)
    or, with center_point_box=1, [x_center, y_center, width, height]."""
    b = boxes.astype(np.float64)
    if center_point_box:
        xc, yc, w, h = b[..., 0], b[..., 1], b[..., 2] / 2, b[..., 3] / 2
        return np.stack([yc - h, xc - w, yc + h, xc + w], axis=-1)
    return np.stack([np.minimum(b[..., 0], b[..., 2]), np.minimum(b[..., 1], b[..., 3]),
                     np.maximum(b[..., 0], b[..., 2]), np.maximum(b[..., 1], b[..., 3])], axis=-1)


def _iou_exceeds(c: np.ndarray, threshold: float) -> np.ndarray:
    """(n, n) boolean: IoU of boxes i and j is above `threshold` (boxes without area never suppress)."""
    y0 = np.maximum(c[:, None, 0], c[None, :, 0])
    x0 = np.maximum(c[:, None, 1], c[None, :, 1])
    y1 = np.minimum(c[:, None, 2], c[None, :, 2])
    x1 = np.minimum(c[:, None, 3], c[None, :, 3])
    inter = np.clip(y1 - y0, 0, None) * np.clip(x1 - x0, 0, None)
    area = (c[:, 2] - c[:, 0]) * (c[:, 3] - c[:, 1])
    union = area[:, None] + area[None, :] - inter
    valid = (inter > 0) & (area[:, None] > 0) & (area[None, :] > 0) & (union > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(valid, inter / np.where(valid, union, 1), 0)
    return valid & (iou > threshold)


def _scalar(value: np.ndarray | None, default: float) -> float:
    if value is None or np.asarray(value).size == 0:
        return default
    return float(np.asarray(value).reshape(-1)[0])


@kernel("NonMaxSuppression", since=10)
def NonMaxSuppression(boxes: np.ndarray, scores: np.ndarray, max_output_boxes_per_class: np.ndarray | None = None,
                      iou_threshold: np.ndarray | None = None, score_threshold: np.ndarray | None = None, *,
                      center_point_box: int = 0) -> np.ndarray:
    """Greedy per (batch, class) selection by descending score (ties: lower box index first),
    dropping boxes whose IoU with a selected one exceeds iou_threshold. Rows [batch, class, box]."""
    if boxes.ndim != 3 or boxes.shape[2] != 4 or scores.ndim != 3 or scores.shape[0] != boxes.shape[0] \
            or scores.shape[2] != boxes.shape[1]:
        raise ValueError(f"NonMaxSuppression: boxes {boxes.shape} must be (batches, boxes, 4) and scores "
                         f"{scores.shape} (batches, classes, boxes)")
    limit = max(int(_scalar(max_output_boxes_per_class, 0)), 0)
    iou_thr = _scalar(iou_threshold, 0.0)
    score_thr = None if score_threshold is None or score_threshold.size == 0 else _scalar(score_threshold, 0.0)
    rows: list[tuple[int, int, int]] = []
    if limit == 0:
        return np.zeros((0, 3), dtype=np.int64)
    corners = _corners(boxes, center_point_box)
    for b in range(boxes.shape[0]):
        suppresses = _iou_exceeds(corners[b], iou_thr)
        for c in range(scores.shape[1]):
            s = scores[b, c]
            order = np.argsort(-s.astype(np.float64), kind="stable")
            if score_thr is not None:
                order = order[s[order] > score_thr]
            removed = np.zeros(s.shape[0], dtype=bool)
            picked = 0
            for i in order:
                if removed[i]:
                    continue
                rows.append((b, c, int(i)))
                picked += 1
                if picked >= limit:
                    break
                removed |= suppresses[i]
    return np.array(rows, dtype=np.int64).reshape(-1, 3)
