"""Our L-BFGS: it minimises, it keeps only pairs of positive curvature, and a level that is
handed a curvature scale makes a real first step (torch's first step moved no pixel)."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from pipeline.render.gatys.lbfgs import LBFGS  # noqa: E402
from pipeline.core.params import RenderParams  # noqa: E402
from pipeline.render.gatys.core import stylize  # noqa: E402
from tests.test_render import content_image, style_image  # noqa: E402


def ill_conditioned_quadratic(n=50):
    """f(x) = 1/2 sum a_i (x_i - 1)^2 with curvatures from 1 to 1000: its gradient and minimum."""
    a = torch.logspace(0, 3, n, dtype=torch.float64)
    return (lambda x: a * (x - 1)), torch.ones(n, dtype=torch.float64)


def test_it_solves_an_ill_conditioned_quadratic_with_unit_steps():
    grad, best = ill_conditioned_quadratic()
    x = torch.zeros_like(best)
    opt = LBFGS(history=50)
    for _ in range(100):
        opt.step(x, grad(x))
    assert float((x - best).abs().max()) < 0.01
    # plain gradient descent at its safe step (1 / max curvature) is nowhere near after as many
    y = torch.zeros_like(best)
    for _ in range(100):
        y -= grad(y) / 1000
    assert float((y - best).abs().max()) > 0.5


def test_its_first_step_is_torchs_short_one_unless_it_is_handed_a_curvature():
    grad, _ = ill_conditioned_quadratic()
    x = torch.zeros(50, dtype=torch.float64)
    g = grad(x)
    LBFGS(history=5).step(x, g)
    assert float(x.abs().sum()) == pytest.approx(1.0)  # |step|_1 = 1 / |g|_1 * |g|_1
    x = torch.zeros(50, dtype=torch.float64)
    LBFGS(history=5, gamma=0.5).step(x, g)
    assert torch.equal(x, -0.5 * g)


def test_pairs_without_positive_curvature_are_dropped_and_history_is_bounded():
    opt = LBFGS(history=3)
    x = torch.zeros(4, dtype=torch.float64)
    opt.step(x, torch.tensor([1.0, 0, 0, 0], dtype=torch.float64))
    opt.step(x, torch.tensor([2.0, 0, 0, 0], dtype=torch.float64))  # the gradient grew along -g: s.y < 0
    assert opt.pairs == [] and opt.gamma is None
    grad, _ = ill_conditioned_quadratic(4)
    for _ in range(10):
        opt.step(x, grad(x))
    assert len(opt.pairs) == 3 and opt.gamma > 0


def test_every_level_after_the_first_gains_from_its_first_iteration():
    """The trace holds the objective before each step: with the curvature handed on, the second
    entry of every later level is already lower than the first."""
    r = stylize(content_image((96, 64)), style_image(),
                RenderParams(size=96, min_size=48, iterations=(6, 4, 4)), progress=False)
    first, *later = r.record["levels"]
    assert first["trace"][1]["total"] == pytest.approx(first["trace"][0]["total"], rel=1e-3)
    for level in later:
        t = level["trace"]
        assert t[1]["total"] < t[0]["total"] * 0.99, level["size"]
