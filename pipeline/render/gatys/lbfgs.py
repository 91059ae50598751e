"""L-BFGS with a unit step and one evaluation per iteration, whose curvature scale carries
from one pyramid level to the next.

Why our own: torch's LBFGS makes its first step 1/|g|_1 long, which in the 0-255 pixel space
moves no pixel at all (pearl x gogh: the objective after it differed in the 6th digit), and it
starts over at every level. So every level spent its first iteration, a whole forward and
backward pass, on nothing: at the 512 px level of a draft that is one iteration in six.
Here a level's first step is scaled by the curvature the previous level ended with (the
objective is scaled by the number of pixel values, so that scale is about the same at every
size); only the very first level starts with torch's short step. Otherwise this is the
textbook two-loop recursion (Nocedal & Wright, algorithm 7.4) with torch's choices: the
initial inverse Hessian is gamma * I with gamma = s.y / y.y of the newest pair, and a pair
is kept only while s.y > 1e-10.
"""
from __future__ import annotations

import torch


class LBFGS:
    """Minimise by x <- x + d, d = -H g: call `step(x, g)` once per evaluated gradient."""

    def __init__(self, history: int, gamma: float | None = None, first_step_rms: float | None = None):
        self.history = history
        self.gamma = gamma  # the initial inverse Hessian's scale; None: not known yet
        # With no gamma: None takes torch's cautious first step; a number scales the first step
        # to that root-mean-square per value (a start near the optimum, see stylize's init).
        self.first_step_rms = first_step_rms
        self.pairs: list[tuple[torch.Tensor, torch.Tensor, float]] = []  # (s, y, 1 / s.y)
        self._last_step: torch.Tensor | None = None
        self._last_grad: torch.Tensor | None = None

    def step(self, x: torch.Tensor, grad: torch.Tensor) -> None:
        """Move x (in place) along the quasi-Newton direction for the gradient at x."""
        g = grad.reshape(-1)
        if self._last_step is not None:
            self._remember(self._last_step, g - self._last_grad)
        d = self._direction(g)
        x.view(-1).add_(d)
        self._last_step, self._last_grad = d, g.clone()

    def _remember(self, s: torch.Tensor, y: torch.Tensor) -> None:
        ys = float(y.dot(s))
        if ys <= 1e-10:  # no positive curvature along s: the pair would spoil H
            return
        if len(self.pairs) == self.history:
            self.pairs.pop(0)
        self.pairs.append((s, y, 1.0 / ys))
        self.gamma = ys / float(y.dot(y))

    def _direction(self, g: torch.Tensor) -> torch.Tensor:
        if self.gamma is None and self.first_step_rms is not None:
            rms = float(g.pow(2).mean().sqrt())
            if rms > 0:
                self.gamma = self.first_step_rms / rms
        if self.gamma is None:  # nothing known of the curvature: torch's cautious first step
            return g.neg().mul_(min(1.0, 1.0 / float(g.abs().sum())))
        q = g.neg()
        alphas = []
        for s, y, rho in reversed(self.pairs):
            a = rho * float(s.dot(q))
            q.add_(y, alpha=-a)
            alphas.append(a)
        q.mul_(self.gamma)
        for (s, y, rho), a in zip(self.pairs, reversed(alphas)):
            q.add_(s, alpha=a - rho * float(y.dot(q)))
        return q
