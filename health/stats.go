package health

import (
	"math"
	"sort"
)

// median of xs (xs is reordered); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// robust returns the median and the MAD scaled to a normal σ (×1.4826).
func robust(xs []float64) (med, sigma float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	c := append([]float64(nil), xs...)
	med = median(c)
	for i, x := range c {
		c[i] = math.Abs(x - med)
	}
	return med, 1.4826 * median(c)
}

// poissonTail is P(X >= k) for X ~ Poisson(lambda): how surprising k events
// are when lambda were expected. It sums the lower terms in log space, so
// large k and lambda do not overflow.
func poissonTail(k uint64, lambda float64) float64 {
	if k == 0 {
		return 1
	}
	if lambda <= 0 {
		return 0
	}
	if lambda > 200 { // normal approximation with continuity correction
		z := (float64(k) - 0.5 - lambda) / math.Sqrt(lambda)
		return 0.5 * math.Erfc(z/math.Sqrt2)
	}
	// P(X < k) = sum_{i<k} e^-λ λ^i / i!
	var cdf float64
	logTerm := -lambda // i = 0
	for i := uint64(0); i < k; i++ {
		if i > 0 {
			logTerm += math.Log(lambda) - math.Log(float64(i))
		}
		cdf += math.Exp(logTerm)
		if i > uint64(lambda) && math.Exp(logTerm) < 1e-18 {
			break
		}
	}
	return math.Max(0, 1-cdf)
}
