"""Darcy flow, −∇·(a∇u) = 1 on the unit square with u = 0 on the boundary, by finite differences.

Coefficient fields are piecewise constant, as in the FNO benchmark: a Gaussian random field
``N(0, (−Δ + τ²)^(−α))`` thresholded at zero into two values (12 where positive, 3 elsewhere).
The solver uses the 5-point stencil on the ``n × n`` interior nodes (h = 1 / (n + 1)) with
harmonic means of ``a`` on cell faces, assembled as a scipy.sparse matrix.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from tqdm.auto import tqdm

from ..errors import InvalidInputError


def random_coefficients(n: int, count: int, rng: np.random.Generator, alpha: float = 2.0, tau: float = 3.0,
                        high: float = 12.0, low: float = 3.0) -> np.ndarray:
    """``count`` piecewise-constant fields ``(count, n, n)`` from thresholded Gaussian random fields."""
    k = np.fft.fftfreq(n, d=1.0 / n)
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    spectrum = (4 * np.pi**2 * k2 + tau**2) ** (-alpha / 2)
    spectrum[0, 0] = 0.0
    noise = rng.standard_normal((count, n, n)) + 1j * rng.standard_normal((count, n, n))
    field = np.real(np.fft.ifft2(noise * spectrum, axes=(1, 2)))
    return np.where(field > 0, high, low).astype(np.float64)


def _face(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return 2.0 * a * b / (a + b)


def solve_darcy(a: np.ndarray, forcing: float = 1.0) -> np.ndarray:
    """Solve −∇·(a∇u) = f on the interior nodes of an ``(n, n)`` coefficient grid; returns ``u`` ``(n, n)``."""
    if a.ndim != 2 or a.shape[0] != a.shape[1] or (a <= 0).any():
        raise InvalidInputError(f"a must be a positive square (n, n) array; got shape {a.shape}")
    n = a.shape[0]
    h = 1.0 / (n + 1)
    padded = np.pad(a, 1, mode="edge")  # boundary faces use the adjacent node's coefficient
    centre = padded[1:-1, 1:-1]
    east = _face(centre, padded[1:-1, 2:])
    west = _face(centre, padded[1:-1, :-2])
    north = _face(centre, padded[:-2, 1:-1])
    south = _face(centre, padded[2:, 1:-1])
    idx = np.arange(n * n).reshape(n, n)
    rows, cols, vals = [idx.ravel()], [idx.ravel()], [(east + west + north + south).ravel()]
    for coef, di, dj in ((east, 0, 1), (west, 0, -1), (north, -1, 0), (south, 1, 0)):
        i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        ni, nj = i + di, j + dj
        inside = (ni >= 0) & (ni < n) & (nj >= 0) & (nj < n)
        rows.append(idx[inside])
        cols.append(idx[ni[inside], nj[inside]])
        vals.append(-coef[inside])
    matrix = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n * n, n * n))
    u = spla.spsolve(matrix / h**2, np.full(n * n, forcing))
    return u.reshape(n, n)


def darcy_dataset(count: int, n: int = 24, seed: int = 0, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``count`` (coefficient, solution) pairs, each ``(count, n, n)`` float32."""
    rng = np.random.default_rng(seed)
    a = random_coefficients(n, count, rng)
    u = np.stack([solve_darcy(field) for field in tqdm(a, desc="darcy solves", disable=not progress, leave=False)])
    return a.astype(np.float32), u.astype(np.float32)
