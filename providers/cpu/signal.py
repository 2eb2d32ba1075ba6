"""Signal processing: DFT, STFT, the Hann / Hamming / Blackman windows and MelWeightMatrix.

Complex tensors follow the ONNX convention: a trailing axis of size 2 holds (real, imaginary),
size 1 a real signal. Transforms use numpy's FFT.
"""

from __future__ import annotations

import numpy as np
from onnx.helper import tensor_dtype_to_np_dtype

from ep_runtime.op_shapes import normalize_axis

from .registry import kernel


def _complex(x: np.ndarray, op: str) -> np.ndarray:
    """The signal without its trailing real/imaginary axis, as complex (or real) values."""
    if x.ndim < 2 or x.shape[-1] not in (1, 2):
        raise ValueError(f"{op}: the last axis must have size 1 (real) or 2 (complex), got shape {x.shape}")
    if x.shape[-1] == 1:
        return x[..., 0]
    return x[..., 0] + 1j * x[..., 1]


def _stack_complex(z: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return np.stack([z.real, z.imag], axis=-1).astype(dtype)


def dft(x: np.ndarray, length: int | None, axis: int, inverse: int, onesided: int) -> np.ndarray:
    """DFT along `axis` (an axis of the signal, not the trailing complex axis).

    Forward: the full spectrum, or the first n//2+1 bins with `onesided`. Inverse: the
    1/n-normalized inverse; with `onesided` the input is a half spectrum and the output is real.
    """
    if inverse and onesided:
        if x.ndim < 2 or x.shape[-1] != 2:
            raise ValueError(f"DFT: an inverse onesided DFT needs complex input (last axis 2), got {x.shape}")
        n = 2 * (x.shape[axis] - 1) if length is None else length
        return np.fft.irfft(_complex(x, "DFT"), n=n, axis=axis)[..., None].astype(x.dtype)
    signal = _complex(x, "DFT")
    n = signal.shape[axis] if length is None else length
    if n < 1:
        raise ValueError(f"DFT: dft_length must be positive, got {n}")
    z = np.fft.ifft(signal, n=n, axis=axis) if inverse else np.fft.fft(signal, n=n, axis=axis)
    if onesided:
        z = np.take(z, np.arange(n // 2 + 1), axis=axis)
    return _stack_complex(z, x.dtype)


def _scalar(value: np.ndarray | None, name: str, op: str) -> int | None:
    if value is None:
        return None
    value = np.asarray(value)
    if value.size != 1:
        raise ValueError(f"{op}: {name} must be a scalar, got shape {value.shape}")
    return int(value.reshape(-1)[0])


def _signal_axis(axis: int, x: np.ndarray) -> int:
    """The DFT axis, negative values counting on the full rank (the complex axis included)."""
    ax = normalize_axis(axis, x.ndim, "DFT")
    if ax == x.ndim - 1:
        raise ValueError(f"DFT: axis {axis} is the trailing real/imaginary axis")
    return ax


@kernel("DFT", since=17, until=19)
def DFT_17(x: np.ndarray, dft_length: np.ndarray | None = None, *, axis: int = 1, inverse: int = 0,
           onesided: int = 0) -> np.ndarray:
    return dft(x, _scalar(dft_length, "dft_length", "DFT"), _signal_axis(axis, x), inverse, onesided)


@kernel("DFT", since=20)
def DFT(x: np.ndarray, dft_length: np.ndarray | None = None, axis: np.ndarray | None = None, *,
        inverse: int = 0, onesided: int = 0) -> np.ndarray:
    """DFT-20: `axis` is an input (default -2), counted on the full rank including the complex axis."""
    a = _scalar(axis, "axis", "DFT")
    return dft(x, _scalar(dft_length, "dft_length", "DFT"), _signal_axis(-2 if a is None else a, x), inverse,
               onesided)


@kernel("STFT", since=17)
def STFT(signal: np.ndarray, frame_step: np.ndarray, window: np.ndarray | None = None,
         frame_length: np.ndarray | None = None, *, onesided: int = 1) -> np.ndarray:
    """Short-time Fourier transform: (batch, frames, bins, 2) from a (batch, length, 1|2) signal."""
    step = _scalar(frame_step, "frame_step", "STFT")
    length = _scalar(frame_length, "frame_length", "STFT")
    if window is not None:
        window = np.asarray(window).reshape(-1)
        if length is None:
            length = window.size
        elif window.size != length:
            raise ValueError(f"STFT: window has {window.size} values but frame_length is {length}")
    if signal.ndim != 3:
        raise ValueError(f"STFT: signal must have shape (batch, length, 1|2), got {signal.shape}")
    if length is None:
        length = signal.shape[1]
    if step is None or step < 1 or not 1 <= length <= signal.shape[1]:
        raise ValueError(f"STFT: need frame_step >= 1 and 1 <= frame_length <= {signal.shape[1]}, "
                         f"got frame_step={step}, frame_length={length}")
    z = _complex(signal, "STFT")  # (batch, length)
    frames = 1 + (signal.shape[1] - length) // step
    idx = np.arange(frames)[:, None] * step + np.arange(length)[None, :]
    framed = z[:, idx]  # (batch, frames, length)
    if window is not None:
        framed = framed * window.astype(np.float64)
    spec = np.fft.fft(framed, n=length, axis=-1)
    if onesided:
        spec = spec[..., : length // 2 + 1]
    return _stack_complex(spec, signal.dtype)


# --------------------------------------------------------------------------- windows


def _window(size: np.ndarray, periodic: int, output_datatype: int, op: str, *coeffs: float) -> np.ndarray:
    """Generalized cosine window: sum_k (-1)^k coeffs[k] cos(2 pi k n / N), N = size (periodic) or size-1."""
    n = _scalar(size, "size", op)
    if n is None or n < 0:
        raise ValueError(f"{op}: size must be a non-negative scalar, got {size}")
    dtype = tensor_dtype_to_np_dtype(output_datatype)
    denom = n if periodic else n - 1
    if denom <= 0:  # a one-point symmetric window
        return np.ones(n, dtype=dtype)
    phase = 2 * np.pi * np.arange(n, dtype=np.float64) / denom
    w = np.zeros(n, dtype=np.float64)
    for j, c in enumerate(coeffs):
        w += (-1) ** j * c * np.cos(j * phase)
    return w.astype(dtype)


@kernel("HannWindow", since=17)
def HannWindow(size: np.ndarray, *, output_datatype: int = 1, periodic: int = 1) -> np.ndarray:
    return _window(size, periodic, output_datatype, "HannWindow", 0.5, 0.5)


@kernel("HammingWindow", since=17)
def HammingWindow(size: np.ndarray, *, output_datatype: int = 1, periodic: int = 1) -> np.ndarray:
    alpha = 25.0 / 46.0
    return _window(size, periodic, output_datatype, "HammingWindow", alpha, 1 - alpha)


@kernel("BlackmanWindow", since=17)
def BlackmanWindow(size: np.ndarray, *, output_datatype: int = 1, periodic: int = 1) -> np.ndarray:
    return _window(size, periodic, output_datatype, "BlackmanWindow", 0.42, 0.5, 0.08)


@kernel("MelWeightMatrix", since=17)
def MelWeightMatrix(num_mel_bins: np.ndarray, dft_length: np.ndarray, sample_rate: np.ndarray,
                    lower_edge_hertz: np.ndarray, upper_edge_hertz: np.ndarray, *,
                    output_datatype: int = 1) -> np.ndarray:
    """(dft_length//2 + 1, num_mel_bins) triangular filters equally spaced on the mel scale."""
    bins = _scalar(num_mel_bins, "num_mel_bins", "MelWeightMatrix")
    n_fft = _scalar(dft_length, "dft_length", "MelWeightMatrix")
    rate = _scalar(sample_rate, "sample_rate", "MelWeightMatrix")
    if bins < 1 or n_fft < 1 or rate < 1:
        raise ValueError(f"MelWeightMatrix: num_mel_bins, dft_length and sample_rate must be positive, "
                         f"got {bins}, {n_fft}, {rate}")
    lo, hi = np.asarray(lower_edge_hertz).reshape(()), np.asarray(upper_edge_hertz).reshape(())
    mel_lo = 2595 * np.log1p(lo / 700) / np.log(10)
    mel_hi = 2595 * np.log1p(hi / 700) / np.log(10)
    step = (mel_hi - mel_lo) / (bins + 2)
    hz = 700 * np.expm1((np.arange(bins + 2) * step + mel_lo) / 2595 * np.log(10))
    edges = (((n_fft + 1) * hz) // rate).astype(np.int64)
    left, center, right = edges[:-2], edges[1:-1], edges[2:]
    j = np.arange(n_fft // 2 + 1)[:, None]
    rise = np.where(center == left, (j == center).astype(np.float64),
                    (j - left) / np.maximum(center - left, 1))
    rise = np.where((j >= left) & (j <= center), rise, 0.0)
    fall = (right - j) / np.maximum(right - center, 1)
    out = np.where((j >= center) & (j < right), fall, rise)
    return out.astype(tensor_dtype_to_np_dtype(output_datatype))
