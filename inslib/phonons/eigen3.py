"""Closed-form eigen-decomposition of real symmetric 3 x 3 matrices, vectorised (torch).

The dynamical matrix of a one-atom centrosymmetric crystal (fcc Al, bcc metals) is a real
symmetric 3 x 3 matrix at every q. LAPACK's batched eigh spends about 1.2 us on each; this
kernel works on the six independent components as flat tensors (elementwise operations only):

1. eigenvalues from the trigonometric solution of the characteristic cubic (Smith 1961);
2. the eigenvector of the most isolated eigenvalue from the largest cross product of two rows
   of A - lambda I (well conditioned: its gap is the largest of the three);
3. the other two inside the orthogonal plane, from the 2 x 2 restriction of A diagonalised by
   a Jacobi rotation (stable at degeneracy, where any basis of the plane is right);
4. eigenvalues as Rayleigh quotients of those vectors (accurate to rounding, unlike step 1
   near degeneracy), sorted ascending.

No gradient is defined here: :func:`inslib.phonons.model.eigh` uses it only where no gradient
is recorded (training data, simulations), and LAPACK otherwise.
"""

import math


def _cubic_roots(c):
    """Eigenvalues (3 tensors, unsorted) from the components (xx, yy, zz, xy, xz, yz)."""
    import torch

    xx, yy, zz, xy, xz, yz = c
    shift = (xx + yy + zz) / 3
    bx, by, bz = xx - shift, yy - shift, zz - shift
    scale = torch.sqrt((bx * bx + by * by + bz * bz + 2 * (xy * xy + xz * xz + yz * yz)) / 6)
    safe = torch.where(scale > 0, scale, 1.0)  # scale = 0: A = shift I, any angle will do
    bx, by, bz, nxy, nxz, nyz = (x / safe for x in (bx, by, bz, xy, xz, yz))  # no scale^3
    det = (bx * (by * bz - nyz * nyz) - nxy * (nxy * bz - nyz * nxz)
           + nxz * (nxy * nyz - by * nxz))
    angle = torch.acos((det / 2).clamp(-1.0, 1.0)) / 3
    top = shift + 2 * scale * torch.cos(angle)
    bottom = shift + 2 * scale * torch.cos(angle + 2 * math.pi / 3)
    return bottom, 3 * shift - top - bottom, top


def _cross(a, b):
    """Cross product of 3-tuples of tensors."""
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _isolated_vector(c, value):
    """Return the unit eigenvector (3, n) of the most isolated eigenvalue (best row cross)."""
    import torch

    xx, yy, zz, xy, xz, yz = c
    rows = ((xx - value, xy, xz), (xy, yy - value, yz), (xz, yz, zz - value))
    best = torch.stack(_cross(rows[0], rows[1]))
    size = _dot(best, best)
    for i, j in ((0, 2), (1, 2)):
        other = torch.stack(_cross(rows[i], rows[j]))
        other_size = _dot(other, other)
        larger = other_size > size
        best = torch.where(larger, other, best)
        size = torch.where(larger, other_size, size)
    # all three roots equal (A = lambda I): the rows of A - lambda I are rounding noise of
    # size ~ eps |A|, their cross products ~ (eps |A|)^2; every vector is an eigenvector: take z
    norm = xx.abs() + yy.abs() + zz.abs() + xy.abs() + xz.abs() + yz.abs()
    noise = (1e3 * torch.finfo(xx.dtype).eps * norm) ** 2
    degenerate = size <= noise**2
    fallback = torch.stack([torch.zeros_like(xx), torch.zeros_like(xx), torch.ones_like(xx)])
    best = torch.where(degenerate, fallback, best)
    return best / torch.sqrt(torch.where(degenerate, 1.0, size))


def _apply(c, v):
    """Return A v for components c and vectors v (3, n)."""
    xx, yy, zz, xy, xz, yz = c
    return (xx * v[0] + xy * v[1] + xz * v[2], xy * v[0] + yy * v[1] + yz * v[2],
            xz * v[0] + yz * v[1] + zz * v[2])


def _dot(a, b):
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _plane_vectors(c, v):
    """Eigenvectors (2 tensors (3, n)) of A restricted to the plane orthogonal to v."""
    import torch

    x, y, z = v.abs()
    zero = torch.zeros_like(x)
    use_x = (x <= y) & (x <= z)
    use_y = ~use_x & (y <= z)
    # v x e_k for the axis e_k least aligned with v
    u = torch.where(use_x, torch.stack([zero, v[2], -v[1]]),
                    torch.where(use_y, torch.stack([-v[2], zero, v[0]]),
                                torch.stack([v[1], -v[0], zero])))
    u = u / torch.sqrt((u**2).sum(0))
    w = torch.stack(_cross(v, u))
    au, aw = _apply(c, u), _apply(c, w)
    theta = 0.5 * torch.atan2(2 * _dot(u, aw), _dot(u, au) - _dot(w, aw))
    cos, sin = torch.cos(theta), torch.sin(theta)
    return cos * u + sin * w, cos * w - sin * u


def symmetric3_eigh(a):
    """Eigenvalues (ascending) and eigenvectors of real symmetric 3 x 3 matrices.

    Parameters
    ----------
    a : torch.Tensor, real, shape (..., 3, 3)
        Symmetric matrices (the upper triangle is used).

    Returns
    -------
    values : torch.Tensor, shape (..., 3)
        Ascending.
    vectors : torch.Tensor, shape (..., 3, 3)
        Orthonormal columns, one per eigenvalue.
    """
    import torch

    flat = a.reshape(-1, 9).T
    c = tuple(flat[k].contiguous() for k in (0, 4, 8, 1, 2, 5))
    low, mid, high = _cubic_roots(c)
    isolated = torch.where(mid - low > high - mid, low, high)
    v = _isolated_vector(c, isolated)
    p, r = _plane_vectors(c, v)
    vectors = torch.stack([v, p, r])  # (mode, component, n)
    values = torch.stack([_dot(x, _apply(c, x)) for x in vectors])
    order = values.argsort(0)
    values = torch.gather(values, 0, order)
    vectors = torch.gather(vectors, 0, order[:, None].expand(3, 3, -1))
    return (values.T.reshape(*a.shape[:-1]),
            vectors.permute(2, 1, 0).reshape(a.shape))
