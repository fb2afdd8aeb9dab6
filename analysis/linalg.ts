/**
 * Small dense linear algebra for the fitters (a handful of parameters, so plain loops).
 * Matrices are row-major Float64Arrays of size m×m.
 */

/** Cholesky factor of a symmetric positive-definite m×m matrix; null when it is not SPD. */
export function cholesky(a: Float64Array, m: number): Float64Array | null {
  const l = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * m + j];
      for (let k = 0; k < j; k++) s -= l[i * m + k] * l[j * m + k];
      if (i === j) {
        if (!(s > 0) || !Number.isFinite(s)) return null;
        l[i * m + i] = Math.sqrt(s);
      } else {
        l[i * m + j] = s / l[j * m + j];
      }
    }
  }
  return l;
}

/** Solves L·Lᵀ·x = b given the Cholesky factor L. */
export function choleskySolve(l: Float64Array, m: number, b: ArrayLike<number>): Float64Array {
  const y = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= l[i * m + k] * y[k];
    y[i] = s / l[i * m + i];
  }
  const x = new Float64Array(m);
  for (let i = m - 1; i >= 0; i--) {
    let s = y[i];
    for (let k = i + 1; k < m; k++) s -= l[k * m + i] * x[k];
    x[i] = s / l[i * m + i];
  }
  return x;
}

/** Inverse of an SPD matrix, or null when it is singular (relative to its diagonal). */
export function spdInverse(a: Float64Array, m: number): Float64Array | null {
  // Scale to unit diagonal first so that badly scaled parameters do not look singular.
  const d = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    if (!(a[i * m + i] > 0)) return null;
    d[i] = 1 / Math.sqrt(a[i * m + i]);
  }
  const s = new Float64Array(m * m);
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) s[i * m + j] = a[i * m + j] * d[i] * d[j];
  const l = cholesky(s, m);
  if (!l) return null;
  // Reject near-singular: tiny pivot relative to unit diagonal.
  for (let i = 0; i < m; i++) if (l[i * m + i] < 1e-7) return null;
  const inv = new Float64Array(m * m);
  const e = new Float64Array(m);
  for (let j = 0; j < m; j++) {
    e.fill(0);
    e[j] = 1;
    const col = choleskySolve(l, m, e);
    for (let i = 0; i < m; i++) inv[i * m + j] = col[i] * d[i] * d[j];
  }
  return inv;
}

/** Least squares y ≈ b0 + b1·u. Returns null when u is constant. */
export function simpleRegression(u: ArrayLike<number>, y: ArrayLike<number>): { b0: number; b1: number } | null {
  const n = u.length;
  let su = 0, sy = 0;
  for (let i = 0; i < n; i++) { su += u[i]; sy += y[i]; }
  const mu = su / n, my = sy / n;
  let suu = 0, suy = 0;
  for (let i = 0; i < n; i++) { const du = u[i] - mu; suu += du * du; suy += du * (y[i] - my); }
  if (!(suu > 0) || !Number.isFinite(suu)) return null;
  const b1 = suy / suu;
  return { b0: my - b1 * mu, b1 };
}

/** Eigen-decomposition of a small symmetric matrix (cyclic Jacobi). Returns values and column eigenvectors (row-major V, V[i*m+k] = component i of vector k). */
export function symmetricEigen(a: Float64Array, m: number): { values: Float64Array; vectors: Float64Array } {
  const A = Float64Array.from(a);
  const V = new Float64Array(m * m);
  for (let i = 0; i < m; i++) V[i * m + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < m; p++) for (let q = p + 1; q < m; q++) off += A[p * m + q] ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < m; p++) {
      for (let q = p + 1; q < m; q++) {
        const apq = A[p * m + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (A[q * m + q] - A[p * m + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < m; k++) {
          const akp = A[k * m + p], akq = A[k * m + q];
          A[k * m + p] = c * akp - s * akq;
          A[k * m + q] = s * akp + c * akq;
        }
        for (let k = 0; k < m; k++) {
          const apk = A[p * m + k], aqk = A[q * m + k];
          A[p * m + k] = c * apk - s * aqk;
          A[q * m + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < m; k++) {
          const vkp = V[k * m + p], vkq = V[k * m + q];
          V[k * m + p] = c * vkp - s * vkq;
          V[k * m + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(m);
  for (let i = 0; i < m; i++) values[i] = A[i * m + i];
  return { values, vectors: V };
}

/**
 * Pseudo-inverse of a symmetric PSD matrix after scaling to unit diagonal, plus which
 * coordinates are identified (orthogonal to the numerical null space). Diagonal entries of
 * unidentified coordinates are NaN.
 */
export function psdPseudoInverse(a: Float64Array, m: number, rcond = 1e-10): { inv: Float64Array; identified: boolean[] } {
  const d = new Float64Array(m);
  for (let i = 0; i < m; i++) d[i] = a[i * m + i] > 0 ? 1 / Math.sqrt(a[i * m + i]) : 0;
  const s = new Float64Array(m * m);
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) s[i * m + j] = a[i * m + j] * d[i] * d[j];
  const { values, vectors } = symmetricEigen(s, m);
  const vmax = Math.max(...values);
  const inv = new Float64Array(m * m);
  const identified = Array.from({ length: m }, (_, i) => d[i] > 0);
  for (let k = 0; k < m; k++) {
    if (values[k] > rcond * vmax) {
      for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) inv[i * m + j] += (vectors[i * m + k] * vectors[j * m + k]) / values[k];
    } else {
      for (let i = 0; i < m; i++) if (Math.abs(vectors[i * m + k]) > 1e-3) identified[i] = false;
    }
  }
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) inv[i * m + j] *= d[i] * d[j];
  for (let i = 0; i < m; i++) if (!identified[i]) inv[i * m + i] = NaN;
  return { inv, identified };
}
