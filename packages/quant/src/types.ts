/** The integer types razor quantizes to (ONNX dtype names). int16/uint16 need QDQ and opset 21. */
export type QuantType = 'int8' | 'uint8' | 'int16' | 'uint16';

/** How a tensor's real range maps to integers. */
export interface QuantScheme {
  /** The integer type. */
  type: QuantType;
  /**
   * Symmetric: zero point 0 (signed) or the middle of the range (unsigned, 128 for uint8), and the
   * range [−max|x|, max|x|]. Asymmetric: the range [min(x, 0), max(x, 0)] with a zero point.
   */
  symmetric: boolean;
  /** Use one bit less (int8 [−64, 64], uint8 [0, 127]): avoids U8S8 saturation on CPUs without VNNI. */
  reduceRange?: boolean;
}

/** A real range: per tensor (length 1) or per channel (one entry per channel along `axis`). */
export interface TensorRange {
  min: Float32Array;
  max: Float32Array;
  /** The channel axis when per channel. */
  axis?: number;
}

/** Scale and zero point: length 1 per tensor, one per channel along `axis` otherwise. */
export interface QuantParams {
  scale: Float32Array;
  zeroPoint: Int32Array;
  type: QuantType;
  axis?: number;
}
