"""Reference values for the observer tests of @razor/quant.

Run from the repository root with Debian's python3 (torch 1.13, numpy):

    /usr/bin/python3 packages/quant/src/__fixtures__/observers/make-observer-reference.py

Writes, next to this script:
- observer-data-<name>.npy: calibration batches, float32 [batches, 4, 8, 64];
- observer-reference.json: expected values, each computed by an implementation independent of razor:
  - quantParams: onnxruntime's quant_utils.compute_scale_zp and get_qmin_qmax_for_qType re-implemented in numpy
    (the version whose symmetric ranges are int8 [-127, 127] and int16 [-32767, 32767] only);
  - quantize: onnxruntime's quantize_nparray in numpy, and torch.quantize_per_tensor / quantize_per_channel with the
    same scale and zero point (torch multiplies by 1/scale where onnxruntime divides; the elements where the two round
    differently are listed);
  - torchQParams: PyTorch's MinMaxObserver.calculate_qparams, to document where its conventions differ;
  - minmax: PyTorch's MinMaxObserver, MovingAverageMinMaxObserver, PerChannelMinMaxObserver and
    MovingAveragePerChannelMinMaxObserver min_val / max_val after each batch;
  - percentile, entropy: onnxruntime's calibrate.py HistogramCollector (collect_value / collect_absolute_value,
    compute_percentile, get_entropy_threshold with smooth_distribution), ported step for step, run in one pass over all
    batches (what onnxruntime does when one collect_data call sees them all), per tensor and per channel.
"""

import json
import os

import numpy as np
import torch
from torch.ao.quantization import (
    MinMaxObserver,
    MovingAverageMinMaxObserver,
    MovingAveragePerChannelMinMaxObserver,
    PerChannelMinMaxObserver,
)

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20240611

# ---------------------------------------------------------------------------------------------------------------
# onnxruntime quant_utils (numpy)

INT_RANGE = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767), "uint16": (0, 65535)}
SYMMETRIC_RANGE = {"int8": (-127, 127), "int16": (-32767, 32767)}
REDUCED_RANGE = {"int8": (-64, 64), "uint8": (0, 127), "int16": (-16384, 16384), "uint16": (0, 32767)}
NP_TYPE = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16, "uint16": np.uint16}


def qmin_qmax(qtype, reduce_range, symmetric):
    if reduce_range:
        qmin, qmax = REDUCED_RANGE[qtype]
    elif symmetric and qtype in SYMMETRIC_RANGE:
        qmin, qmax = SYMMETRIC_RANGE[qtype]
    else:
        qmin, qmax = INT_RANGE[qtype]
    dtype = NP_TYPE[qtype]
    return np.array(qmin, dtype=dtype), np.array(qmax, dtype=dtype)


def compute_scale_zp(rmin, rmax, qmin, qmax, symmetric):
    rmin = np.minimum(rmin, np.array(0, dtype=rmin.dtype))
    rmax = np.maximum(rmax, np.array(0, dtype=rmax.dtype))
    if symmetric:
        absmax = np.maximum(np.abs(rmin), np.abs(rmax))
        rmin = -absmax
        rmax = +absmax
    dr = np.array(rmax - rmin, dtype=np.float64)
    dq = np.array(qmax, dtype=np.float64) - np.array(qmin, dtype=np.float64)
    scale = np.array(dr / dq)
    if scale < np.finfo(rmax.dtype).tiny:
        scale = np.array(1.0, dtype=rmax.dtype)
        zero_point = np.array(0, dtype=qmin.dtype)
    else:
        if symmetric:
            zero_point = np.array(np.round((qmin + qmax) / np.array(2.0, dtype=np.float64)), dtype=qmin.dtype)
        else:
            zero_point = np.array(np.round(qmin - rmin / scale), dtype=qmin.dtype)
        scale = scale.astype(rmax.dtype)
    return zero_point, scale


def quantize_nparray(qtype, arr, scale, zero_point):
    qmin, qmax = INT_RANGE[qtype]
    arr_fp32 = np.asarray((arr.astype(np.float32) / scale).round() + zero_point)
    np.clip(arr_fp32, qmin, qmax, out=arr_fp32)
    return arr_fp32.astype(NP_TYPE[qtype])


# ---------------------------------------------------------------------------------------------------------------
# onnxruntime calibrate.py HistogramCollector (numpy), one pass


def histogram_absolute(data, num_bins):
    data = data.flatten()
    min_value, max_value = np.min(data), np.max(data)
    absolute = np.absolute(data)
    hist, edges = np.histogram(absolute, bins=num_bins)
    edges = edges.astype(absolute.dtype)
    return hist, edges, min_value, max_value


def histogram_value(data, num_bins):
    data = data.flatten()
    min_value, max_value = np.min(data), np.max(data)
    threshold = np.array(max(abs(min_value), abs(max_value)), dtype=data.dtype)
    hist, edges = np.histogram(data, num_bins, range=(-threshold, threshold))
    return hist, edges, min_value, max_value


def compute_percentile(histogram, percentile, symmetric):
    hist, hist_edges, min_value, max_value = histogram
    total = hist.sum()
    cdf = np.cumsum(hist / total)
    if symmetric:
        idx_right = np.searchsorted(cdf, percentile / 100.0)
        threshold = (-np.array(hist_edges[idx_right], dtype=hist_edges.dtype), np.array(hist_edges[idx_right], dtype=hist_edges.dtype))
    else:
        percent_to_cut_one_side = (100.0 - percentile) / 200.0
        idx_right = np.searchsorted(cdf, 1.0 - percent_to_cut_one_side)
        idx_left = np.searchsorted(cdf, percent_to_cut_one_side)
        threshold = (np.array(hist_edges[idx_left], dtype=hist_edges.dtype), np.array(hist_edges[idx_right], dtype=hist_edges.dtype))
    if threshold[0] < min_value:
        threshold = (min_value, threshold[1])
    if threshold[1] > max_value:
        threshold = (threshold[0], max_value)
    return float(threshold[0]), float(threshold[1])


def smooth_distribution(p, eps=0.0001):
    is_zeros = (p == 0).astype(np.float32)
    is_nonzeros = (p != 0).astype(np.float32)
    n_zeros = is_zeros.sum()
    n_nonzeros = p.size - n_zeros
    if not n_nonzeros:
        return None
    eps1 = eps * float(n_zeros) / float(n_nonzeros)
    assert eps1 < 1.0
    hist = p.astype(np.float32)
    hist += eps * is_zeros + (-eps1) * is_nonzeros
    assert (hist <= 0).sum() == 0
    return hist


def entropy64(p, q):
    """scipy.stats.entropy(p, q) in float64."""
    p = p.astype(np.float64) / np.sum(p, dtype=np.float64)
    q = q.astype(np.float64) / np.sum(q, dtype=np.float64)
    return float(np.sum(p * np.log(p / q)))


def entropy32(p, q):
    """scipy.stats.entropy(p, q) as scipy computes it on float32 input."""
    p = p / np.sum(p)
    q = q / np.sum(q)
    return float(np.sum(p * np.log(p / q)))


def get_entropy_threshold(histogram, num_quantized_bins, entropy):
    hist, hist_edges, min_value, max_value = histogram
    num_bins = hist.size
    zero_bin_index = num_bins // 2
    num_half_quantized_bin = num_quantized_bins // 2
    kl_divergence = np.zeros(zero_bin_index - num_half_quantized_bin + 1)
    thresholds = [(0, 0) for _ in range(kl_divergence.size)]
    for i in range(num_half_quantized_bin, zero_bin_index + 1, 1):
        start_index = zero_bin_index - i
        end_index = min(zero_bin_index + i + 1, num_bins)
        thresholds[i - num_half_quantized_bin] = (hist_edges[start_index], hist_edges[end_index])
        sliced_distribution = hist[start_index:end_index].copy()
        p = sliced_distribution.copy()
        p[0] += sum(hist[:start_index])
        p[-1] += sum(hist[end_index:])
        nonzeros = (p != 0).astype(np.int64)
        quantized_bins = np.zeros(num_quantized_bins, dtype=np.int64)
        num_merged_bins = sliced_distribution.size // num_quantized_bins
        for index in range(num_quantized_bins):
            start = index * num_merged_bins
            end = start + num_merged_bins
            quantized_bins[index] = sum(sliced_distribution[start:end])
        quantized_bins[-1] += sum(sliced_distribution[num_quantized_bins * num_merged_bins :])
        q = np.zeros(p.size, dtype=np.int64)
        for index in range(num_quantized_bins):
            start = index * num_merged_bins
            end = start + num_merged_bins
            norm = sum(nonzeros[start:end])
            if norm != 0:
                q[start:end] = quantized_bins[index] / norm
        p = smooth_distribution(p)
        q = smooth_distribution(q)
        kl_divergence[i - num_half_quantized_bin] = np.inf if p is None or q is None else entropy(p, q)
    index = int(np.argmin(kl_divergence))
    optimal = thresholds[index]
    if optimal[0] < min_value:
        optimal = (min_value, optimal[1])
    if optimal[1] > max_value:
        optimal = (optimal[0], max_value)
    return (float(optimal[0]), float(optimal[1])), index


# ---------------------------------------------------------------------------------------------------------------


def f32(value):
    return float(np.float32(value))


def make_quant_params(rng):
    cases = []
    special = [(0.0, 0.0), (0.25, 3.5), (-7.0, -0.5), (-1e-39, 1e-39), (-1.0, 1.0), (-0.5, 0.25), (-3.0, 1.0), (-100.0, 0.001)]
    ranges = list(special)
    for _ in range(24):
        low = -abs(rng.standard_normal()) * 10 ** rng.uniform(-3, 3)
        high = abs(rng.standard_normal()) * 10 ** rng.uniform(-3, 3)
        ranges.append((low, high))
    for qtype in ["int8", "uint8", "int16", "uint16"]:
        for symmetric in [False, True]:
            for reduce_range in [False, True]:
                for low, high in ranges:
                    rmin, rmax = np.array(low, dtype=np.float32), np.array(high, dtype=np.float32)
                    qmin, qmax = qmin_qmax(qtype, reduce_range, symmetric)
                    zero_point, scale = compute_scale_zp(rmin, rmax, qmin, qmax, symmetric)
                    cases.append({
                        "min": float(rmin), "max": float(rmax), "type": qtype, "symmetric": symmetric,
                        "reduceRange": reduce_range, "scale": float(scale), "zeroPoint": int(zero_point),
                    })
    return cases


def torch_quantize(values, scale, zero_point, qtype, axis=None):
    dtype = {"int8": torch.qint8, "uint8": torch.quint8}[qtype]
    tensor = torch.from_numpy(values)
    if axis is None:
        quantized = torch.quantize_per_tensor(tensor, float(scale), int(zero_point), dtype)
    else:
        quantized = torch.quantize_per_channel(
            tensor, torch.tensor(scale, dtype=torch.float64), torch.tensor(zero_point, dtype=torch.int64), axis, dtype
        )
    return quantized.int_repr().numpy().astype(np.int64)


def make_quantize(rng):
    cases = []
    # Per tensor: values on and between the grid points, half-way points, beyond the range.
    for qtype, symmetric in [("int8", False), ("int8", True), ("uint8", False), ("uint8", True), ("int16", False)]:
        values = (rng.standard_normal((4, 6, 5)) * 2.0).astype(np.float32)
        rmin, rmax = np.array(-3.0, dtype=np.float32), np.array(2.5, dtype=np.float32)
        qmin, qmax = qmin_qmax(qtype, False, symmetric)
        zero_point, scale = compute_scale_zp(rmin, rmax, qmin, qmax, symmetric)
        grid = ((np.arange(-20, 20, dtype=np.float32) + np.float32(0.5)) * scale).astype(np.float32)
        values.reshape(-1)[: grid.size] = grid
        expected = quantize_nparray(qtype, values, scale, zero_point).astype(np.int64)
        case = {
            "type": qtype, "symmetric": symmetric, "shape": list(values.shape), "values": values.reshape(-1).tolist(),
            "scale": [float(scale)], "zeroPoint": [int(zero_point)], "expected": expected.reshape(-1).tolist(),
        }
        if qtype in ("int8", "uint8"):
            torch_values = torch_quantize(values, scale, zero_point, qtype).reshape(-1)
            case["torch"] = torch_values.tolist()
            case["torchDiffers"] = np.nonzero(torch_values != expected.reshape(-1))[0].tolist()
        cases.append(case)
    # Per channel along axis 1 (onnxruntime quantizes each channel with quantize_nparray).
    for qtype in ["int8", "uint8"]:
        values = (rng.standard_normal((3, 4, 5)) * np.array([0.1, 1.0, 3.0, 10.0])[None, :, None]).astype(np.float32)
        scales, zero_points, expected = [], [], np.zeros(values.shape, dtype=np.int64)
        for channel in range(values.shape[1]):
            data = values[:, channel, :]
            qmin, qmax = qmin_qmax(qtype, False, qtype == "int8")
            zero_point, scale = compute_scale_zp(np.float32(data.min()), np.float32(data.max()), qmin, qmax, qtype == "int8")
            scales.append(float(scale))
            zero_points.append(int(zero_point))
            expected[:, channel, :] = quantize_nparray(qtype, data, scale, zero_point)
        torch_values = torch_quantize(values, np.array(scales), np.array(zero_points), qtype, axis=1).reshape(-1)
        cases.append({
            "type": qtype, "symmetric": qtype == "int8", "axis": 1, "shape": list(values.shape), "values": values.reshape(-1).tolist(),
            "scale": scales, "zeroPoint": zero_points, "expected": expected.reshape(-1).tolist(),
            "torch": torch_values.tolist(), "torchDiffers": np.nonzero(torch_values != expected.reshape(-1))[0].tolist(),
        })
    return cases


def make_torch_qparams(batches):
    observer = MinMaxObserver(dtype=torch.quint8, qscheme=torch.per_tensor_affine)
    symmetric = MinMaxObserver(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric)
    for batch in batches:
        observer(torch.from_numpy(batch))
        symmetric(torch.from_numpy(batch))
    scale, zero_point = observer.calculate_qparams()
    symmetric_scale, symmetric_zero_point = symmetric.calculate_qparams()
    return {
        "affineUint8": {"min": float(observer.min_val), "max": float(observer.max_val), "scale": float(scale), "zeroPoint": int(zero_point)},
        "symmetricInt8": {
            "min": float(symmetric.min_val), "max": float(symmetric.max_val),
            "scale": float(symmetric_scale), "zeroPoint": int(symmetric_zero_point), "quantMin": -128, "quantMax": 127,
        },
    }


def make_minmax(batches):
    constant = 0.1
    observers = {
        "plain": MinMaxObserver(),
        "movingAverage": MovingAverageMinMaxObserver(averaging_constant=constant),
        "movingAverageDefault": MovingAverageMinMaxObserver(),
        "perChannel": PerChannelMinMaxObserver(ch_axis=1),
        "perChannelMovingAverage": MovingAveragePerChannelMinMaxObserver(averaging_constant=constant, ch_axis=1),
    }
    steps = {name: [] for name in observers}
    for batch in batches:
        for name, observer in observers.items():
            observer(torch.from_numpy(batch))
            steps[name].append({
                "min": observer.min_val.reshape(-1).tolist(),
                "max": observer.max_val.reshape(-1).tolist(),
            })
    return {"averagingConstant": constant, "axis": 1, "steps": steps}


def make_histogram_references(name, batches):
    flat = batches.reshape(-1)
    cases = []
    for bins, percentile, symmetric in [(2048, 99.999, True), (2048, 99.9, True), (2048, 99.99, False), (512, 99.0, False)]:
        cases.append({
            "method": "percentile", "bins": bins, "percentile": percentile, "symmetric": symmetric,
            "range": compute_percentile((histogram_absolute if symmetric else histogram_value)(flat, bins), percentile, symmetric),
        })
    for bins, quantized_bins in [(2048, 128), (512, 128)]:
        histogram = histogram_value(flat, bins)
        (low, high), index = get_entropy_threshold(histogram, quantized_bins, entropy64)
        (_, _), index32 = get_entropy_threshold(histogram, quantized_bins, entropy32)
        if index32 != index:
            print(f"note: {name} entropy bins={bins}: float32 KL picks candidate {index32}, float64 {index}")
        cases.append({"method": "entropy", "bins": bins, "quantizedBins": quantized_bins, "range": (low, high)})
    per_channel = []
    for channel in range(batches.shape[2]):
        data = batches[:, :, channel, :]
        per_channel.append({
            "percentile": compute_percentile(histogram_value(data, 512), 99.9, False),
            "entropy": get_entropy_threshold(histogram_value(data, 512), 128, entropy64)[0],
        })
    return {"name": name, "file": f"observer-data-{name}.npy", "cases": cases, "perChannel": {
        "axis": 1, "bins": 512, "percentile": 99.9, "quantizedBins": 128,
        "percentileRanges": [entry["percentile"] for entry in per_channel],
        "entropyRanges": [entry["entropy"] for entry in per_channel],
    }}


def make_datasets(rng):
    shape = (4, 8, 64)
    gaussian = np.stack([(rng.standard_normal(shape) * (1.0 + 0.5 * b) + 0.3) for b in range(3)]).astype(np.float32)
    laplace = np.stack([rng.laplace(0.0, 1.0, shape) * (1.0 + 0.25 * b) for b in range(3)]).astype(np.float32)
    relu = np.stack([np.maximum(rng.standard_normal(shape) * (2.0 - 0.5 * b), 0.0) for b in range(3)]).astype(np.float32)
    # Channels of very different scales, for per-channel observers.
    scales = np.array([0.05, 0.5, 1.0, 2.0, 4.0, 8.0, 0.2, 1.5])[None, None, :, None]
    channels = (np.stack([rng.standard_normal(shape) for _ in range(3)]) * scales).astype(np.float32)
    return {"gaussian": gaussian, "laplace": laplace, "relu": relu, "channels": channels}


def main():
    rng = np.random.default_rng(SEED)
    torch.manual_seed(SEED)
    datasets = make_datasets(rng)
    for name, data in datasets.items():
        np.save(os.path.join(HERE, f"observer-data-{name}.npy"), data)
    minmax_batches = [(rng.standard_normal((2, 3, 4, 4)) * (1.0 + b) + b * 0.5).astype(np.float32) for b in range(4)]
    reference = {
        "seed": SEED,
        "quantParams": make_quant_params(rng),
        "quantize": make_quantize(rng),
        "minmaxBatches": {"shape": [2, 3, 4, 4], "values": [batch.reshape(-1).tolist() for batch in minmax_batches]},
        "minmax": make_minmax(minmax_batches),
        "torchQParams": make_torch_qparams(minmax_batches),
        "histograms": [make_histogram_references(name, data) for name, data in datasets.items()],
    }
    with open(os.path.join(HERE, "observer-reference.json"), "w") as file:
        json.dump(reference, file, separators=(",", ":"))
        file.write("\n")
    for case in reference["quantize"]:
        if case.get("torchDiffers"):
            print(f"note: torch rounds {len(case['torchDiffers'])} element(s) differently ({case['type']})")


if __name__ == "__main__":
    main()
