import { ErrorCodes, fail } from '../errors.js';
import { shapeSize } from '../ir/tensor.js';

/** A source of uniform numbers in [0, 1); the DataLoader passes a seeded one. */
export type RandomSource = () => number;

/**
 * A per-sample image transform on float32 [C, H, W] images. It reads `input` from `inputOffset`
 * and writes its result into `output` from `outputOffset` (never the same memory), drawing any
 * randomness from `random` so that a seeded source gives reproducible augmentation.
 */
export interface Transform {
  /** A short description, for logs. */
  readonly name: string;
  /** The [C, H, W] shape of the output for an input of `inputShape`; throws on shapes it cannot take. */
  outputShape(inputShape: readonly number[]): number[];
  /** Writes the transformed image of `input` (of `inputShape`) into `output`. */
  apply(input: Float32Array, inputOffset: number, inputShape: readonly number[], output: Float32Array, outputOffset: number, random: RandomSource): void;
}

function imageShape(shape: readonly number[], transform: string): [number, number, number] {
  if (shape.length !== 3 || shape.some((dim) => !Number.isInteger(dim) || dim <= 0)) {
    fail(ErrorCodes.SHAPE_MISMATCH, `${transform} takes [channels, height, width] images, got shape [${shape.join(', ')}]`);
  }
  return shape as [number, number, number];
}

function sizePair(size: number | readonly [number, number], what: string): [number, number] {
  const pair: [number, number] = typeof size === 'number' ? [size, size] : [size[0], size[1]];
  if (!pair.every((dim) => Number.isInteger(dim) && dim > 0)) fail(ErrorCodes.INVALID_ARGUMENT, `${what} size must be positive integers, got [${pair.join(', ')}]`);
  return pair;
}

/** Normalizes each channel: (x − mean[c]) / std[c] (one value each broadcasts to every channel). */
export function normalize(mean: number | readonly number[], std: number | readonly number[]): Transform {
  const means = typeof mean === 'number' ? [mean] : [...mean];
  const stds = typeof std === 'number' ? [std] : [...std];
  if (stds.some((value) => !(value > 0) || !Number.isFinite(value))) fail(ErrorCodes.INVALID_ARGUMENT, `normalize needs positive finite std values, got [${stds.join(', ')}]`);
  const perChannel = (values: number[], channels: number, what: string): number[] => {
    if (values.length === 1) return new Array<number>(channels).fill(values[0]!);
    if (values.length !== channels) fail(ErrorCodes.SHAPE_MISMATCH, `normalize has ${values.length} ${what} values for images of ${channels} channels; give one or ${channels}`);
    return values;
  };
  return {
    name: `normalize(mean=[${means.join(', ')}], std=[${stds.join(', ')}])`,
    outputShape(inputShape) {
      const [channels] = imageShape(inputShape, 'normalize');
      perChannel(means, channels, 'mean');
      perChannel(stds, channels, 'std');
      return [...inputShape];
    },
    apply(input, inputOffset, inputShape, output, outputOffset) {
      const [channels, height, width] = imageShape(inputShape, 'normalize');
      const plane = height * width;
      const channelMeans = perChannel(means, channels, 'mean');
      const channelStds = perChannel(stds, channels, 'std');
      for (let channel = 0; channel < channels; channel++) {
        const shift = channelMeans[channel]!;
        const inverse = 1 / channelStds[channel]!;
        const from = inputOffset + channel * plane;
        const to = outputOffset + channel * plane;
        for (let index = 0; index < plane; index++) output[to + index] = (input[from + index]! - shift) * inverse;
      }
    },
  };
}

/** Options of pad. */
export interface PadOptions {
  /** Pixels added on every side, or [top, right, bottom, left]. */
  padding?: number | readonly [number, number, number, number];
  /** Pad (centred; an odd remainder goes to the bottom and right) up to this [height, width] instead; images larger than it are an error. */
  size?: number | readonly [number, number];
  /** The value of added pixels (default 0). */
  fill?: number;
}

function padImage(
  input: Float32Array,
  inputOffset: number,
  [channels, height, width]: readonly [number, number, number],
  output: Float32Array,
  outputOffset: number,
  outputHeight: number,
  outputWidth: number,
  top: number,
  left: number,
  fill: number,
): void {
  // Copies the window of the input that lands inside the output; everything else is `fill`.
  // `top`/`left` may be negative (the output starts inside the input, as a crop does).
  for (let channel = 0; channel < channels; channel++) {
    const inputPlane = inputOffset + channel * height * width;
    const outputPlane = outputOffset + channel * outputHeight * outputWidth;
    for (let row = 0; row < outputHeight; row++) {
      const sourceRow = row - top;
      const target = outputPlane + row * outputWidth;
      if (sourceRow < 0 || sourceRow >= height) {
        output.fill(fill, target, target + outputWidth);
        continue;
      }
      const firstColumn = Math.max(0, left);
      const endColumn = Math.min(outputWidth, left + width);
      if (firstColumn > 0) output.fill(fill, target, target + Math.min(firstColumn, outputWidth));
      if (endColumn > firstColumn) {
        const source = inputPlane + sourceRow * width + (firstColumn - left);
        output.set(input.subarray(source, source + endColumn - firstColumn), target + firstColumn);
      }
      if (endColumn < outputWidth) output.fill(fill, target + Math.max(endColumn, 0), target + outputWidth);
    }
  }
}

/** Pads an image with `fill` by fixed `padding` or up to a `size`. */
export function pad(options: PadOptions): Transform {
  const fill = options.fill ?? 0;
  if ((options.padding === undefined) === (options.size === undefined)) fail(ErrorCodes.INVALID_ARGUMENT, 'pad takes exactly one of padding or size');
  const padding = options.padding === undefined ? undefined : typeof options.padding === 'number' ? [options.padding, options.padding, options.padding, options.padding] : [...options.padding];
  if (padding !== undefined && !padding.every((value) => Number.isInteger(value) && value >= 0)) fail(ErrorCodes.INVALID_ARGUMENT, `pad padding must be non-negative integers, got [${padding.join(', ')}]`);
  const size = options.size === undefined ? undefined : sizePair(options.size, 'pad');
  const layout = (inputShape: readonly number[]): { shape: [number, number, number]; top: number; left: number; height: number; width: number } => {
    const shape = imageShape(inputShape, 'pad');
    const [, height, width] = shape;
    if (padding !== undefined) {
      const [top, right, bottom, left] = padding as [number, number, number, number];
      return { shape, top, left, height: height + top + bottom, width: width + left + right };
    }
    const [targetHeight, targetWidth] = size!;
    if (height > targetHeight || width > targetWidth) fail(ErrorCodes.SHAPE_MISMATCH, `pad to ${targetHeight}x${targetWidth} got a larger ${height}x${width} image; resize it instead`);
    return { shape, top: Math.floor((targetHeight - height) / 2), left: Math.floor((targetWidth - width) / 2), height: targetHeight, width: targetWidth };
  };
  return {
    name: padding !== undefined ? `pad(${padding.join(', ')})` : `pad(size=${size!.join('x')})`,
    outputShape(inputShape) {
      const { shape, height, width } = layout(inputShape);
      return [shape[0], height, width];
    },
    apply(input, inputOffset, inputShape, output, outputOffset) {
      const { shape, top, left, height, width } = layout(inputShape);
      padImage(input, inputOffset, shape, output, outputOffset, height, width, top, left, fill);
    },
  };
}

/** Options of randomCrop. */
export interface RandomCropOptions {
  /** Output [height, width] (default: the input's). */
  size?: number | readonly [number, number];
  /** Pixels of `fill` added on every side before cropping (default 0). */
  padding?: number;
  /** The value of padded pixels (default 0). */
  fill?: number;
}

/**
 * Pads by `padding` on every side, then crops a `size` window at a uniformly random position,
 * as torchvision's RandomCrop(size, padding): top = floor(random × (H + 2·padding − height + 1)),
 * then left likewise.
 */
export function randomCrop(options: RandomCropOptions = {}): Transform {
  const padding = options.padding ?? 0;
  const fill = options.fill ?? 0;
  if (!Number.isInteger(padding) || padding < 0) fail(ErrorCodes.INVALID_ARGUMENT, `randomCrop padding must be a non-negative integer, got ${padding}`);
  const size = options.size === undefined ? undefined : sizePair(options.size, 'randomCrop');
  const outputSize = (inputShape: readonly number[]): [number, number, number] => {
    const [channels, height, width] = imageShape(inputShape, 'randomCrop');
    const [cropHeight, cropWidth] = size ?? [height, width];
    if (cropHeight > height + 2 * padding || cropWidth > width + 2 * padding) {
      fail(ErrorCodes.SHAPE_MISMATCH, `randomCrop of ${cropHeight}x${cropWidth} does not fit a ${height}x${width} image padded by ${padding}`);
    }
    return [channels, cropHeight, cropWidth];
  };
  return {
    name: `randomCrop(${size === undefined ? 'same size' : size.join('x')}, padding=${padding})`,
    outputShape: (inputShape) => outputSize(inputShape),
    apply(input, inputOffset, inputShape, output, outputOffset, random) {
      const shape = imageShape(inputShape, 'randomCrop');
      const [, cropHeight, cropWidth] = outputSize(inputShape);
      const top = Math.floor(random() * (shape[1] + 2 * padding - cropHeight + 1));
      const left = Math.floor(random() * (shape[2] + 2 * padding - cropWidth + 1));
      // The crop window starts at (top, left) of the padded image, that is (top − padding, left − padding) of the input.
      padImage(input, inputOffset, shape, output, outputOffset, cropHeight, cropWidth, padding - top, padding - left, fill);
    },
  };
}

/** Mirrors the image left to right with probability `probability` (default 0.5): flipped when random() < probability. */
export function randomHorizontalFlip(probability = 0.5): Transform {
  if (!(probability >= 0 && probability <= 1)) fail(ErrorCodes.INVALID_ARGUMENT, `randomHorizontalFlip probability must be in [0, 1], got ${probability}`);
  return {
    name: `randomHorizontalFlip(${probability})`,
    outputShape: (inputShape) => [...imageShape(inputShape, 'randomHorizontalFlip')],
    apply(input, inputOffset, inputShape, output, outputOffset, random) {
      const [channels, height, width] = imageShape(inputShape, 'randomHorizontalFlip');
      const size = channels * height * width;
      // Always draw, so the random stream does not depend on earlier outcomes' branches.
      if (!(random() < probability)) {
        output.set(input.subarray(inputOffset, inputOffset + size), outputOffset);
        return;
      }
      for (let line = 0; line < channels * height; line++) {
        const from = inputOffset + line * width;
        const to = outputOffset + line * width + width - 1;
        for (let column = 0; column < width; column++) output[to - column] = input[from + column]!;
      }
    },
  };
}

/** Interpolation of resize. */
export type ResizeMode = 'nearest' | 'bilinear';

/**
 * Resizes to [height, width], matching PyTorch's `F.interpolate` without align_corners:
 * `nearest` takes source index floor(i × in / out); `bilinear` samples at (i + 0.5) × in / out − 0.5,
 * clamped at 0, between the two nearest source pixels.
 */
export function resize(size: number | readonly [number, number], mode: ResizeMode = 'bilinear'): Transform {
  const [targetHeight, targetWidth] = sizePair(size, 'resize');
  if (mode !== 'nearest' && mode !== 'bilinear') fail(ErrorCodes.INVALID_ARGUMENT, `resize mode must be 'nearest' or 'bilinear', got '${String(mode)}'`);
  return {
    name: `resize(${targetHeight}x${targetWidth}, ${mode})`,
    outputShape(inputShape) {
      const [channels] = imageShape(inputShape, 'resize');
      return [channels, targetHeight, targetWidth];
    },
    apply(input, inputOffset, inputShape, output, outputOffset) {
      const [channels, height, width] = imageShape(inputShape, 'resize');
      const rowScale = height / targetHeight;
      const columnScale = width / targetWidth;
      for (let channel = 0; channel < channels; channel++) {
        const inputPlane = inputOffset + channel * height * width;
        const outputPlane = outputOffset + channel * targetHeight * targetWidth;
        for (let row = 0; row < targetHeight; row++) {
          if (mode === 'nearest') {
            const sourceRow = Math.min(Math.floor(row * rowScale), height - 1);
            for (let column = 0; column < targetWidth; column++) {
              const sourceColumn = Math.min(Math.floor(column * columnScale), width - 1);
              output[outputPlane + row * targetWidth + column] = input[inputPlane + sourceRow * width + sourceColumn]!;
            }
            continue;
          }
          const sourceRow = Math.max((row + 0.5) * rowScale - 0.5, 0);
          const row0 = Math.min(Math.floor(sourceRow), height - 1);
          const row1 = Math.min(row0 + 1, height - 1);
          const rowWeight = sourceRow - row0;
          for (let column = 0; column < targetWidth; column++) {
            const sourceColumn = Math.max((column + 0.5) * columnScale - 0.5, 0);
            const column0 = Math.min(Math.floor(sourceColumn), width - 1);
            const column1 = Math.min(column0 + 1, width - 1);
            const columnWeight = sourceColumn - column0;
            const top = input[inputPlane + row0 * width + column0]! * (1 - columnWeight) + input[inputPlane + row0 * width + column1]! * columnWeight;
            const bottom = input[inputPlane + row1 * width + column0]! * (1 - columnWeight) + input[inputPlane + row1 * width + column1]! * columnWeight;
            output[outputPlane + row * targetWidth + column] = top * (1 - rowWeight) + bottom * rowWeight;
          }
        }
      }
    },
  };
}

/** Applies `transforms` in order, through scratch buffers sized once per input shape. */
export function compose(transforms: readonly Transform[]): Transform {
  const stages = [...transforms];
  let cachedKey = '';
  let cached: { shapes: number[][]; buffers: Float32Array[] } | undefined;
  const plan = (inputShape: readonly number[]): { shapes: number[][]; buffers: Float32Array[] } => {
    const key = inputShape.join(',');
    if (cached !== undefined && key === cachedKey) return cached;
    const shapes: number[][] = [[...inputShape]];
    for (const stage of stages) shapes.push(stage.outputShape(shapes[shapes.length - 1]!));
    // Intermediate results (all but the last stage's) live in their own buffers.
    const buffers = shapes.slice(1, -1).map((shape) => new Float32Array(shapeSize(shape)));
    cachedKey = key;
    cached = { shapes, buffers };
    return cached;
  };
  return {
    name: `compose(${stages.map((stage) => stage.name).join(', ')})`,
    outputShape: (inputShape) => [...plan(inputShape).shapes[stages.length]!],
    apply(input, inputOffset, inputShape, output, outputOffset, random) {
      if (stages.length === 0) {
        output.set(input.subarray(inputOffset, inputOffset + shapeSize(inputShape)), outputOffset);
        return;
      }
      const { shapes, buffers } = plan(inputShape);
      let source = input;
      let sourceOffset = inputOffset;
      for (let index = 0; index < stages.length; index++) {
        const last = index === stages.length - 1;
        const target = last ? output : buffers[index]!;
        stages[index]!.apply(source, sourceOffset, shapes[index]!, target, last ? outputOffset : 0, random);
        source = target;
        sourceOffset = 0;
      }
    },
  };
}

/** Runs `transform` on one [C, H, W] image outside a DataLoader; returns the new image and its shape. */
export function applyTransform(transform: Transform, image: Float32Array, shape: readonly number[], random: RandomSource): { image: Float32Array; shape: number[] } {
  if (image.length !== shapeSize(shape)) fail(ErrorCodes.SHAPE_MISMATCH, `an image of shape [${shape.join(', ')}] needs ${shapeSize(shape)} values, got ${image.length}`);
  const outputShape = transform.outputShape(shape);
  const output = new Float32Array(shapeSize(outputShape));
  transform.apply(image, 0, shape, output, 0, random);
  return { image: output, shape: outputShape };
}
