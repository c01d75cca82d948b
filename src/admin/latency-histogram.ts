/**
 * The status page's fixed-size latency histogram: which bin a duration falls in, and a
 * quantile read back from the bins. Pure: no I/O, no clock. Histograms from several
 * workers are merged by adding their bins, bin by bin, and the quantile is read from the
 * sum; averaging the workers' quantiles would be wrong.
 *
 * Bin i holds (bound[i-1], bound[i]] with bound[i] = 0.01 ms × √2^i, so a quantile read from
 * it is off by at most a factor √2 and usually far less (linear interpolation inside the bin,
 * as Prometheus' histogram_quantile does). 48 bins reach 84 s; the last bin takes everything
 * above.
 */

/** Bins in a histogram. */
export const binCount = 48
const firstBoundMs = 0.01
const bounds = Array.from({ length: binCount }, (_, i) => firstBoundMs * Math.SQRT2 ** i)

/** The bin `ms` is counted in. */
export function binOf(ms: number): number {
  if (!(ms > firstBoundMs)) return 0
  // Rounding error can land a value on a bound one bin too high; the check pulls it back.
  let i = Math.ceil(Math.log2(ms / firstBoundMs) * 2)
  if (i > 0 && ms <= (bounds[i - 1] ?? Number.POSITIVE_INFINITY)) i--
  return Math.min(i, binCount - 1)
}

/** The `q` quantile of a histogram, in ms, or null when it is empty. */
export function quantile(bins: ArrayLike<number>, q: number): number | null {
  let total = 0
  for (let i = 0; i < bins.length; i++) total += bins[i] ?? 0
  if (total === 0) return null
  const rank = q * total
  let seen = 0
  for (let i = 0; i < binCount; i++) {
    const n = bins[i] ?? 0
    if (n === 0) continue
    if (seen + n >= rank) {
      const lower = i === 0 ? 0 : (bounds[i - 1] ?? 0)
      // The last bin has no upper bound: answer its lower one, as histogram_quantile does.
      if (i === binCount - 1) return roundMs(lower)
      const upper = bounds[i] ?? lower
      return roundMs(lower + ((upper - lower) * (rank - seen)) / n)
    }
    seen += n
  }
  return bounds[binCount - 2] ?? null
}

/** To the microsecond: finer digits would only be noise from the interpolation. */
function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000
}
