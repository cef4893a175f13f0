/**
 * Human-readable numbers for the terminal: counts with SI suffixes (11.69M parameters,
 * 1.82G MACs), bytes in decimal units (44.6 MB), durations and shares.
 */

const countSuffixes = [
  { value: 1e12, suffix: 'T' },
  { value: 1e9, suffix: 'G' },
  { value: 1e6, suffix: 'M' },
  { value: 1e3, suffix: 'K' },
];

/** 11689512 → '11.69M', 1818558976 → '1.82G', 512 → '512'. Two decimals above a thousand. */
export function formatCount(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const magnitude = Math.abs(value);
  for (const { value: unit, suffix } of countSuffixes) {
    // Round first so 999_999 shows as 1.00M rather than 1000.00K.
    if (magnitude >= unit * 0.999995) return `${(value / unit).toFixed(2)}${suffix}`;
  }
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}

const byteUnits = ['B', 'kB', 'MB', 'GB', 'TB'];

/** Decimal (SI) units, as file managers and `du --si` show them: 44_600_000 → '44.6 MB'. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 999.95 && unit < byteUnits.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${byteUnits[unit]}`;
}

/** Milliseconds with precision that suits the size: '0.042 ms', '3.61 ms', '152.3 ms', '2.41 s'. */
export function formatMilliseconds(milliseconds: number): string {
  if (!Number.isFinite(milliseconds)) return String(milliseconds);
  if (milliseconds >= 1000) return `${(milliseconds / 1000).toFixed(2)} s`;
  if (milliseconds >= 100) return `${milliseconds.toFixed(1)} ms`;
  if (milliseconds >= 1) return `${milliseconds.toFixed(2)} ms`;
  return `${milliseconds.toFixed(3)} ms`;
}

/** Seconds as 'm:ss' or 'h:mm:ss' (for ETAs and elapsed time). */
export function formatClock(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const total = Math.round(seconds);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const rest = String(total % 60).padStart(2, '0');
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${rest}` : `${minutes}:${rest}`;
}

/** A share in percent with one decimal: 0.1234 → '12.3%'. */
export function formatPercent(fraction: number): string {
  if (!Number.isFinite(fraction)) return '-';
  return `${(fraction * 100).toFixed(1)}%`;
}

/** A shape as written in messages: [1, 3, 224, 224], with symbolic dims by name and unknown ones as '?'. */
export function formatShape(shape: readonly (number | string | null)[] | undefined): string {
  if (shape === undefined) return '?';
  return `[${shape.map((dim) => (dim === null ? '?' : String(dim))).join(', ')}]`;
}
