"""Curvature of a training loss at fixed weights: the Hessian's top eigenpairs, trace and spectrum.

H is the Hessian of the mean loss over all samples of ``data`` with respect to the model's
trainable parameters, flattened into one vector of length n. It is never formed: every method
works through Hessian-vector products (HVPs) by double backward through a gradient graph that
is built once and kept (``keep_graph``): each HVP then costs about one backward pass over ``data``
(about two forward-backward passes when the graph is not kept).

- ``eigenvalues``: Lanczos with full reorthogonalization, stopped on Ritz residuals;
  m iterations cost m HVPs and O(m·n) memory for the Krylov basis.
- ``trace``: Hutchinson's (1989) estimator with Rademacher probes and its standard error;
  optionally the top-k eigenspace is deflated (its trace taken exactly, Hutchinson on the rest).
- ``adaptive_trace``: the same for tr(diag|w| · H · diag|w|), which rescaling a layer's weights
  cannot change; one HVP per probe.
- ``density``: stochastic Lanczos quadrature (Ubaru et al. 2017; Ghorbani et al. 2019; Yao et
  al. 2020), ``runs × iterations`` HVPs, with Gaussian broadening on a grid.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn as nn
from torch import Tensor

Batch = tuple[Tensor, Tensor]


class CurvatureError(ValueError):
    """Bad input to, or a non-finite value inside, a curvature computation."""


@dataclass
class Eigenpairs:
    """Top eigenvalues (descending; Ritz values, or Rayleigh quotients if verified) with flat
    unit eigenvectors."""

    values: list[float]
    vectors: list[Tensor] = field(repr=False)
    residuals: list[float]  # ||H v − λ v|| of each pair (Lanczos estimate, or true if verified)
    iterations: int
    converged: bool  # every residual ≤ tol·|λ|


@dataclass
class TraceEstimate:
    """A trace estimate with the standard error of its Monte-Carlo part."""

    value: float
    stderr: float
    probes: int
    matvecs: int  # HVPs spent, deflation included


@dataclass
class SpectralDensity:
    """Broadened eigenvalue density on ``grid``, with the raw quadrature nodes and weights."""

    grid: Tensor = field(repr=False)
    values: Tensor = field(repr=False)
    nodes: Tensor = field(repr=False)  # (runs, iterations) Ritz values
    weights: Tensor = field(repr=False)  # (runs, iterations), each row sums to 1
    sigma: float

    def moment(self, k: int) -> float:
        """Quadrature estimate of tr(H^k)/n (exact in expectation for k < 2·iterations)."""
        return float((self.weights * self.nodes**k).sum(1).mean())


def _same_device(a: torch.device, b: torch.device) -> bool:
    return a.type == b.type and (a.index is None or b.index is None or a.index == b.index)


def _batches(data: Batch | Iterable[Batch], device: torch.device) -> list[Batch]:
    """The batches of ``data`` on ``device``; rejects malformed or empty ones."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], Tensor):
        data = [data]
    batches = []
    for i, batch in enumerate(data):
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2
                and all(isinstance(t, Tensor) for t in batch)):
            raise CurvatureError(f"batch {i} is not an (inputs, targets) pair of tensors")
        x, y = batch
        if x.ndim == 0 or len(x) == 0:
            raise CurvatureError(f"batch {i} is empty: no samples in its inputs")
        if y.ndim == 0 or len(y) != len(x):
            raise CurvatureError(f"batch {i} has {len(x)} inputs but targets of shape "
                                 f"{tuple(y.shape)}")
        batches.append((x.to(device), y.to(device)))
    if not batches:
        raise CurvatureError("data holds no batches")
    return batches


def _tridiagonal_eigh(alpha: list[float], beta: list[float]) -> tuple[Tensor, Tensor]:
    """Eigenvalues (ascending) and eigenvectors of the Lanczos matrix T, in float64."""
    t = torch.diag(torch.tensor(alpha, dtype=torch.float64))
    if beta:
        b = torch.tensor(beta, dtype=torch.float64)
        t += torch.diag(b, 1) + torch.diag(b, -1)
    return torch.linalg.eigh(t)


def _orthogonalize(w: Tensor, basis: Tensor) -> Tensor:
    """w minus its projection on the orthonormal rows of ``basis``, twice for stability."""
    for _ in range(2):
        w = w - basis.T @ (basis @ w)
    return w


class Hessian:
    """Hessian of ``loss_fn(model(inputs), targets)``, averaged over the samples of ``data``.

    ``data`` is one ``(inputs, targets)`` batch or an iterable of them, held on ``device``;
    ``loss_fn`` must return the batch mean, and batches are weighted by their size. With
    ``bn_eval`` (default) the model is evaluated in eval mode (BatchNorm running statistics,
    no dropout); otherwise in the caller's mode, and buffers updated by the forward passes are
    restored. Modules' training flags and parameters' ``.grad`` and ``requires_grad`` are
    restored after every call. ``device`` and ``dtype`` default to the trainable parameters';
    given ones must match them, since the model is never moved or converted. With
    ``keep_graph`` (default) the gradient's graph is built once and kept, so each later
    Hessian-vector product costs one double-backward pass and no forward pass, for the memory
    of the activations of all of ``data``; the weights must not change meanwhile.
    """

    def __init__(self, model: nn.Module, loss_fn: Callable[[Tensor, Tensor], Tensor],
                 data: Batch | Iterable[Batch], *, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None, bn_eval: bool = True,
                 keep_graph: bool = True):
        self.params = [p for p in model.parameters() if p.requires_grad]
        if not self.params:
            raise CurvatureError("model has no trainable parameters (none with requires_grad)")
        devices = {p.device for p in self.params}
        dtypes = {p.dtype for p in self.params}
        if len(devices) > 1 or len(dtypes) > 1:
            raise CurvatureError(f"trainable parameters mix devices {devices} or dtypes {dtypes}")
        self.device, self.dtype = devices.pop(), dtypes.pop()
        if device is not None and not _same_device(torch.device(device), self.device):
            raise CurvatureError(f"device {device} differs from the model's {self.device}; "
                                 "move the model first")
        if dtype is not None and dtype != self.dtype:
            raise CurvatureError(f"dtype {dtype} differs from the model's {self.dtype}; "
                                 "convert the model first")
        self.model, self.loss_fn, self.bn_eval = model, loss_fn, bn_eval
        self.batches = _batches(data, self.device)
        self.samples = sum(len(x) for x, _ in self.batches)
        self.dim = sum(p.numel() for p in self.params)
        self.matvecs = 0
        self.keep_graph = keep_graph
        self._cached: list[Tensor | None] | None = None

    @contextmanager
    def _evaluation(self) -> Iterator[None]:
        """Set the evaluation mode; restore modes, grads, flags (and buffers) however it ends."""
        modes = [(m, m.training) for m in self.model.modules()]
        grads = [(p, p.grad, p.requires_grad) for p in self.model.parameters()]
        buffers = [] if self.bn_eval else [(b, b.clone()) for b in self.model.buffers()]
        try:
            if self.bn_eval:
                self.model.eval()
            with torch.enable_grad():
                yield
        finally:
            for m, training in modes:
                m.training = training
            for p, grad, flag in grads:
                p.grad = grad
                p.requires_grad_(flag)
            with torch.no_grad():
                for b, saved in buffers:
                    b.copy_(saved)

    def _gradients(self) -> list[Tensor | None]:
        """Per batch, the flat gradient of its share of the loss, with its graph (None where the
        gradient does not depend on the parameters). Cached when ``keep_graph``."""
        if self._cached is not None:
            return self._cached
        flats: list[Tensor | None] = []
        for i, (x, y) in enumerate(self.batches):
            loss = self.loss_fn(self.model(x), y)
            if loss.ndim != 0:
                raise CurvatureError("loss_fn must return a scalar (the batch mean)")
            if not torch.isfinite(loss):
                raise CurvatureError(f"loss is not finite ({loss.item()}) on batch {i}")
            grads = torch.autograd.grad(loss * (len(x) / self.samples), self.params,
                                        create_graph=True, allow_unused=True,
                                        materialize_grads=True)
            flat = torch.cat([g.reshape(-1) for g in grads])
            flats.append(flat if flat.requires_grad else None)  # None: constant gradient, H = 0
        if self.keep_graph:
            self._cached = flats
        return flats

    def hvp_many(self, vectors: Tensor) -> Tensor:
        """H @ v for each row v of ``vectors`` (k × n); one forward pass per batch for all
        (none at all once the gradient graph is kept)."""
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise CurvatureError(f"vectors must have shape (k, {self.dim}), got "
                                 f"{tuple(vectors.shape)}")
        vectors = vectors.to(self.device, self.dtype)
        out = torch.zeros_like(vectors)
        with self._evaluation():
            for flat in self._gradients():
                if flat is None:
                    continue
                for j, v in enumerate(vectors):
                    hv = torch.autograd.grad(flat, self.params, grad_outputs=v,
                                             retain_graph=self.keep_graph or j + 1 < len(vectors),
                                             allow_unused=True, materialize_grads=True)
                    out[j] += torch.cat([h.reshape(-1) for h in hv])
        if not torch.isfinite(out).all():
            raise CurvatureError("Hessian-vector product is not finite")
        self.matvecs += len(vectors)
        return out

    def hvp(self, v: Tensor) -> Tensor:
        """H @ v for one flat vector v of length ``dim``."""
        return self.hvp_many(v.reshape(1, -1))[0]

    def _random(self, gen: torch.Generator, k: int, rademacher: bool) -> Tensor:
        """k random vectors (drawn on the CPU, so seeds reproduce across devices)."""
        if rademacher:
            z = torch.randint(0, 2, (k, self.dim), generator=gen).to(self.dtype) * 2 - 1
        else:
            z = torch.randn(k, self.dim, generator=gen, dtype=self.dtype)
        return z.to(self.device)

    def _lanczos(self, start: Tensor, steps: int, gen: torch.Generator,
                 stop: Callable[[list[float], list[float], float], bool] | None = None,
                 ) -> tuple[list[float], list[float], Tensor, float]:
        """Lanczos with full reorthogonalization from ``start``: (alpha, beta, basis Q, and the
        norm of the last residual, which gives the Ritz pairs' residuals).

        ``stop(alpha, beta, next_beta)`` may end it early. On breakdown (an invariant Krylov
        space) it goes on from a random direction orthogonal to Q, with a zero in beta.
        """
        basis = start.new_zeros(steps, self.dim)
        alpha: list[float] = []
        beta: list[float] = []
        q = start / start.norm()
        eps = torch.finfo(self.dtype).eps
        for j in range(steps):
            basis[j] = q
            w = self.hvp(q)
            alpha.append(float(q @ w))
            w = _orthogonalize(w, basis[: j + 1])
            b = float(w.norm())
            if j + 1 == steps or (stop is not None and stop(alpha, beta, b)):
                break
            if b <= 100 * eps * max(max(map(abs, alpha)), max(beta, default=0.0)):
                w, b = _orthogonalize(self._random(gen, 1, False)[0], basis[: j + 1]), 0.0
            beta.append(b)
            q = w / w.norm()
        return alpha, beta, basis[: len(alpha)], b

    def eigenvalues(self, top_n: int = 1, max_iter: int = 100, tol: float = 1e-2,
                    seed: int = 0, verify: bool = False) -> Eigenpairs:
        """The ``top_n`` largest (algebraic) eigenpairs, by at most ``max_iter`` Lanczos steps.

        Stops once every wanted Ritz pair has residual ≤ ``tol``·|λ|. A Ritz value's error is
        about residual²/gap, so the default 1e-2 gives the eigenvalues to ~1e-4 relative where
        they are separated (PyHessian's defaults give ~1e-3; ``benchmarks/curvature.py``); lower
        it for clustered eigenvalues or for the eigenvectors' sake. ``max_iter`` is clamped
        to n, where the Krylov space is complete and the pairs exact up to rounding. Values and
        residuals come from the Lanczos matrix at no extra cost (exact in exact arithmetic);
        ``verify`` recomputes them as Rayleigh quotients and true residuals ‖Hv − λv‖ with
        ``top_n`` more HVPs.
        """
        if not 1 <= top_n <= self.dim:
            raise CurvatureError(f"top_n={top_n} must lie in [1, {self.dim}] (the parameters)")
        if max_iter < top_n:
            raise CurvatureError(f"max_iter={max_iter} is below top_n={top_n}")
        gen = torch.Generator().manual_seed(seed)

        def converged(alpha: list[float], beta: list[float], next_beta: float) -> bool:
            if len(alpha) < top_n:
                return False
            theta, s = _tridiagonal_eigh(alpha, beta)
            res = next_beta * s[-1, -top_n:].abs()
            return bool((res <= tol * theta[-top_n:].abs()).all())

        alpha, beta, basis, last = self._lanczos(self._random(gen, 1, False)[0],
                                                 min(max_iter, self.dim), gen, converged)
        if not verify:
            theta, s = _tridiagonal_eigh(alpha, beta)
            vectors = s[:, -top_n:].flip(1).T.to(basis) @ basis
            values = theta[-top_n:].flip(0)
            residuals = last * s[-1, -top_n:].flip(0).abs()
        else:
            _, s = _tridiagonal_eigh(alpha, beta)
            vectors = s[:, -top_n:].flip(1).T.to(basis) @ basis
            vectors = vectors / vectors.norm(dim=1, keepdim=True)
            hv = self.hvp_many(vectors)
            values = (vectors * hv).sum(1)
            residuals = (hv - values[:, None] * vectors).norm(dim=1)
        return Eigenpairs(values=values.tolist(), vectors=list(vectors),
                          residuals=residuals.tolist(), iterations=len(alpha),
                          converged=bool((residuals <= tol * values.abs()).all()))

    def trace(self, probes: int = 100, *, seed: int = 0, batch: int = 10, deflate: int = 0,
              rtol: float | None = None, max_iter: int = 100,
              eigenpairs: Eigenpairs | None = None) -> TraceEstimate:
        """Hutchinson's estimate of tr(H) from at most ``probes`` Rademacher probes.

        ``deflate=k`` takes the trace of the top-k eigenspace V exactly (k Lanczos pairs, up to
        ``max_iter`` extra HVPs) and applies Hutchinson to (I−VVᵀ)H(I−VVᵀ); the sum is unbiased
        for any orthonormal V, with less variance when V holds the dominant eigenvectors.
        ``batch`` probes share each forward pass; with ``rtol`` it stops once
        stderr ≤ rtol·|value|. Pass ``eigenpairs`` already computed to deflate their top
        ``deflate`` pairs without new HVPs.
        """
        _check_probes(probes, batch)
        start = self.matvecs
        exact, basis = 0.0, None
        if deflate:
            pairs = (eigenpairs if eigenpairs is not None and len(eigenpairs.values) >= deflate
                     else self.eigenvalues(deflate, max_iter=max(max_iter, deflate), seed=seed))
            exact = sum(pairs.values[:deflate])
            basis = torch.stack(pairs.vectors[:deflate]).to(self.device, self.dtype)

        def deflated(z: Tensor) -> Tensor:
            return z if basis is None else z - (z @ basis.T) @ basis

        return self._hutchinson(probes, seed, batch, deflated, exact, rtol, start)

    def _hutchinson(self, probes: int, seed: int, batch: int, probe: Callable[[Tensor], Tensor],
                    exact: float = 0.0, rtol: float | None = None,
                    start: int | None = None) -> TraceEstimate:
        """``exact`` plus the mean of zᵀHz over Rademacher vectors z passed through ``probe``
        (Hutchinson 1989), ``batch`` sharing each pass, until ``probes`` (or stderr ≤
        rtol·|value|); its HVPs are counted from ``start`` (now, if None)."""
        start = self.matvecs if start is None else start
        gen = torch.Generator().manual_seed(seed)
        samples = torch.empty(0, dtype=torch.float64)
        while len(samples) < probes:
            z = probe(self._random(gen, min(batch, probes - len(samples)), True))
            quad = (z * self.hvp_many(z)).sum(1).to("cpu", torch.float64)
            samples = torch.cat([samples, quad])
            value, stderr = exact + float(samples.mean()), _stderr(samples)
            if rtol is not None and stderr <= rtol * abs(value):
                break
        return TraceEstimate(value=value, stderr=stderr, probes=len(samples),
                             matvecs=self.matvecs - start)

    def adaptive_trace(self, probes: int = 30, *, seed: int = 0, batch: int = 10
                       ) -> TraceEstimate:
        """Hutchinson's estimate of tr(D H D) with D = diag(|w|), the weights' magnitudes: the
        trace of the Hessian in the coordinates u of w = |w₀| ⊙ u. Rescaling a layer's weights by
        c (say before BatchNorm, which undoes it) scales its Hessian block by 1/c² and D by c,
        so the measure does not change, where tr(H) does (Kwon et al. 2021's adaptive view of
        Dinh et al. 2017). ``probes`` HVPs, ``batch`` sharing each pass; no deflation."""
        _check_probes(probes, batch)
        scale = torch.cat([p.detach().abs().reshape(-1) for p in self.params])
        return self._hutchinson(probes, seed, batch, lambda z: z * scale)

    def density(self, iterations: int = 100, runs: int = 1, *, sigma: float | None = None,
                grid: int | Tensor = 1000, seed: int = 0) -> SpectralDensity:
        """Eigenvalue density by stochastic Lanczos quadrature.

        Each run starts Lanczos from a Rademacher vector; the tridiagonal matrix's eigenvalues
        are the nodes and the squared first components of its eigenvectors the weights.
        Runs are averaged and each node broadened into a Gaussian of width ``sigma`` (default
        1% of the nodes' span) on ``grid`` points (default 1000 spanning the nodes ± 5σ);
        the grid spacing must be well below σ for the density to integrate to 1.
        ``iterations`` is clamped to n.
        """
        if iterations < 1 or runs < 1:
            raise CurvatureError(f"iterations={iterations} and runs={runs} must be ≥ 1")
        gen = torch.Generator().manual_seed(seed)
        nodes, weights = [], []
        for _ in range(runs):
            alpha, beta, _, _ = self._lanczos(self._random(gen, 1, True)[0],
                                              min(iterations, self.dim), gen)
            theta, s = _tridiagonal_eigh(alpha, beta)
            nodes.append(theta)
            weights.append(s[0] ** 2)
        nodes_t, weights_t = torch.stack(nodes), torch.stack(weights)
        lo, hi = float(nodes_t.min()), float(nodes_t.max())
        if sigma is None:
            sigma = 0.01 * ((hi - lo) or max(abs(lo), abs(hi), 1.0))
        if sigma <= 0:
            raise CurvatureError(f"sigma={sigma} must be positive")
        if isinstance(grid, int):
            grid = torch.linspace(lo - 5 * sigma, hi + 5 * sigma, grid, dtype=torch.float64)
        grid = grid.to(torch.float64)
        z = (grid[:, None, None] - nodes_t) / sigma
        gauss = torch.exp(-0.5 * z**2) / (sigma * math.sqrt(2 * math.pi))
        values = (gauss * weights_t).sum((1, 2)) / runs
        return SpectralDensity(grid=grid, values=values, nodes=nodes_t, weights=weights_t,
                               sigma=sigma)


def _check_probes(probes: int, batch: int) -> None:
    """Refuse a probe budget that cannot give a trace with a standard error, before any HVP."""
    if probes < 2:
        raise CurvatureError(f"probes={probes}: a standard error needs at least 2")
    if batch < 1:
        raise CurvatureError(f"batch={batch} must be ≥ 1")


def _stderr(samples: Tensor) -> float:
    """Standard error of the mean of ``samples`` (sample standard deviation / √m)."""
    return float(samples.std() / math.sqrt(len(samples))) if len(samples) > 1 else math.inf
