"""Vectorised drawing of procedural images: shapes as signed distances, textures, backgrounds.

Every image is a background plus a list of *objects*. An object is one row of an :class:`Objects`
table: which image it lands on, its shape family, pose (centre, scale, rotation, aspect), two
colours and a texture. :func:`paint` draws all objects of one family at once, for all images, so
generating ten thousand images is a handful of tensor operations per family, not a Python loop.

Coordinates: an image spans [-1, 1] × [-1, 1] (x right, y down). A shape is defined in its own
object frame, where it spans about [-1, 1]; the pose maps image to object coordinates.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import torch

Tensor = torch.Tensor

# ---------------------------------------------------------------------------------------------
# colours


def hsv(h: Tensor, s: Tensor, v: Tensor) -> Tensor:
    """HSV in [0, 1] (any shape) to RGB with a trailing axis of 3."""
    h = (h % 1.0) * 6.0
    k = torch.stack([(5 + h) % 6, (3 + h) % 6, (1 + h) % 6], -1)
    return v[..., None] - v[..., None] * s[..., None] * (torch.minimum(k, 4 - k).clamp(0, 1))


# ---------------------------------------------------------------------------------------------
# shapes: signed distance in object units (negative inside), from object coordinates u, v


def _box(u: Tensor, v: Tensor, cx: float, cy: float, hw: float, hh: float) -> Tensor:
    dx, dy = (u - cx).abs() - hw, (v - cy).abs() - hh
    return torch.hypot(dx.clamp(min=0), dy.clamp(min=0)) + torch.maximum(dx, dy).clamp(max=0)


def _disc(u: Tensor, v: Tensor, cx: float, cy: float, r: float) -> Tensor:
    return torch.hypot(u - cx, v - cy) - r


def _ellipse(u: Tensor, v: Tensor, cx: float, cy: float, a: float, b: float) -> Tensor:
    # not an exact distance, but exact on the boundary and monotone: enough for anti-aliasing
    return (torch.hypot((u - cx) / a, (v - cy) / b) - 1.0) * min(a, b)


def _polygon_star(u: Tensor, v: Tensor, points: float, depth: float, radius: float = 0.95) -> Tensor:
    r, phi = torch.hypot(u, v), torch.atan2(v, u)
    return r - radius * (1 - depth + depth * torch.cos(points * phi).abs() ** 0.7)


def _triangle(u: Tensor, v: Tensor) -> Tensor:
    k = math.sqrt(3.0)
    # equilateral triangle of side ~1.9 centred at the origin, pointing up (y down → flip v)
    v = -v - 0.25
    u = u.abs() - 0.95
    v = v + 0.95 / k
    swap = u + k * v > 0
    u2 = torch.where(swap, (u - k * v) / 2, u)
    v2 = torch.where(swap, (-k * u - v) / 2, v)
    u2 = u2 - u2.clamp(-1.9, 0.0)
    return -torch.hypot(u2, v2) * torch.sign(v2)


def _union(*d: Tensor) -> Tensor:
    out = d[0]
    for x in d[1:]:
        out = torch.minimum(out, x)
    return out


def _quadruped(u: Tensor, v: Tensor, p: Tensor, cat: bool) -> Tensor:
    """A four-legged animal facing right: body, head, legs, tail, ears (floppy dog, pointed cat).

    ``p`` (per object, in [0, 1]) varies the build: snout length for dogs, tail angle for cats.
    """
    p = p[:, None, None]
    body = _ellipse(u, v, -0.1, 0.05, 0.58, 0.26 if cat else 0.3)
    hx, hy, hr = 0.55, -0.3, 0.2 if cat else 0.24
    head = _disc(u, v, hx, hy, hr)
    legs = _union(*[_box(u, v, x, 0.55, 0.07, 0.28) for x in (-0.55, -0.35, 0.2, 0.4)])
    if cat:
        ears = _union(
            *[
                torch.maximum(
                    _box(u, v, hx + dx, hy - 0.25, 0.08, 0.12),
                    (u - hx - dx).abs() * 1.6 + (v - hy + 0.37) * -1 - 0.0,
                )
                for dx in (-0.1, 0.1)
            ]
        )
        tail = _box(u + 0.7, v + 0.2 + 0.25 * (p - 0.5), 0.0, 0.0, 0.06, 0.3)
        return _union(body, head, legs, ears, tail)
    snout = _box(u, v, hx + 0.2 + 0.1 * p, hy + 0.08, 0.12 + 0.08 * p, 0.08)
    ears = _ellipse(u, v, hx - 0.14, hy + 0.05, 0.08, 0.2)
    tail = _box(u, v, -0.78, -0.1, 0.14, 0.05)
    return _union(body, head, legs, snout, ears, tail)


def _person(u: Tensor, v: Tensor, p: Tensor) -> Tensor:
    head = _disc(u, v, 0.0, -0.72, 0.2)
    torso = _box(u, v, 0.0, -0.15, 0.24, 0.35)
    arms = _box(u, v, 0.0, -0.32, 0.5, 0.06)
    legs = _union(_box(u, v, -0.13, 0.55, 0.08, 0.38), _box(u, v, 0.13, 0.55, 0.08, 0.38))
    return _union(head, torso, arms, legs)


def _flower(u: Tensor, v: Tensor, p: Tensor) -> Tensor:
    """Petals around a centre; ``p`` is the petal count (4–9)."""
    r, phi = torch.hypot(u, v), torch.atan2(v, u)
    k = p[:, None, None]
    return r - (0.35 + 0.6 * torch.cos(k * phi / 2).abs() ** 1.5)


def _hat(u: Tensor, v: Tensor, p: Tensor) -> Tensor:
    brim = _ellipse(u, v, 0.0, 0.45, 0.95, 0.13)
    crown = _box(u, v, 0.0, 0.0, 0.5 - 0.1 * p[:, None, None], 0.42)
    band = _box(u, v, 0.0, 0.3, 0.52, 0.07)
    return _union(brim, crown, band)


def _arrow(u: Tensor, v: Tensor, p: Tensor) -> Tensor:
    shaft = _box(u, v, -0.3, 0.0, 0.6, 0.16)
    head = torch.maximum(u.neg() + 0.15, (v.abs() * 1.3 + u) - 0.95)
    return _union(shaft, head)


def _crescent(u: Tensor, v: Tensor, p: Tensor) -> Tensor:
    return torch.maximum(_disc(u, v, 0, 0, 0.9), -_disc(u, v, 0.4, -0.1, 0.72))


SHAPES: dict[str, Callable[[Tensor, Tensor, Tensor], Tensor]] = {
    "disc": lambda u, v, p: _disc(u, v, 0, 0, 0.9),
    "square": lambda u, v, p: _box(u, v, 0, 0, 0.78, 0.78),
    "triangle": lambda u, v, p: _triangle(u, v),
    "ring": lambda u, v, p: (torch.hypot(u, v) - 0.68).abs() - 0.26,
    "cross": lambda u, v, p: _union(_box(u, v, 0, 0, 0.9, 0.28), _box(u, v, 0, 0, 0.28, 0.9)),
    "star": lambda u, v, p: _polygon_star(u, v, 2.5, 0.55),
    "hexagon": lambda u, v, p: _polygon_star(u, v, 3.0, 0.12),
    "diamond": lambda u, v, p: (u.abs() + v.abs() - 0.95) / math.sqrt(2),
    "bar": lambda u, v, p: _ellipse(u, v, 0, 0, 0.95, 0.35),
    "crescent": _crescent,
    "arrow": _arrow,
    "heart": lambda u, v, p: _union(
        _disc(u, v, -0.38, -0.3, 0.42),
        _disc(u, v, 0.38, -0.3, 0.42),
        torch.maximum((1.6 * u.abs() + v - 0.9) / 1.887, -0.3 - v),
    ),
    "dog": lambda u, v, p: _quadruped(u, v, p, cat=False),
    "cat": lambda u, v, p: _quadruped(u, v, p, cat=True),
    "person": _person,
    "flower": _flower,
    "hat": _hat,
    "ball": lambda u, v, p: _disc(u, v, 0, 0, 0.9),
    # face parts (the faces analog composes these)
    "face": lambda u, v, p: _ellipse(u, v, 0, 0, 0.75, 0.95),
    "hair-long": lambda u, v, p: _union(_ellipse(u, v, 0, -0.05, 0.95, 1.0), _box(u, v, 0, 0.5, 0.95, 0.5)),
    "hair-short": lambda u, v, p: torch.maximum(_ellipse(u, v, 0, -0.15, 0.85, 0.95), v + 0.45),
    "beard": lambda u, v, p: torch.maximum(_ellipse(u, v, 0, 0.35, 0.7, 0.62), 0.2 - v),
    "dot": lambda u, v, p: _disc(u, v, 0, 0, 1.0),
    "line": lambda u, v, p: _box(u, v, 0, 0, 1.0, 0.12),
}

TEXTURES = ("solid", "stripes", "checker", "dots", "radial", "seam")


# ---------------------------------------------------------------------------------------------
# objects and painting


@dataclasses.dataclass
class Objects:
    """A table of objects, one row each (all fields are tensors with a leading axis of rows).

    image: image index; family: index into :data:`SHAPES` order; centre (x, y) and scale in image
    units; angle in radians; aspect stretches x; colour / colour2 RGB in [0, 1]; texture: index into
    :data:`TEXTURES`; freq and phase of the texture; param: a family parameter (petal count, ...).
    """

    image: Tensor
    family: Tensor
    centre: Tensor
    scale: Tensor
    angle: Tensor
    aspect: Tensor
    colour: Tensor
    colour2: Tensor
    texture: Tensor
    freq: Tensor
    phase: Tensor
    param: Tensor
    opacity: Tensor

    @classmethod
    def make(
        cls,
        image: Tensor,
        family: str | Tensor,
        centre: Tensor,
        scale: Tensor,
        colour: Tensor,
        *,
        angle: Tensor | None = None,
        aspect: Tensor | None = None,
        colour2: Tensor | None = None,
        texture: str | Tensor = "solid",
        freq: Tensor | None = None,
        phase: Tensor | None = None,
        param: Tensor | float = 0.0,
        opacity: Tensor | float = 1.0,
    ) -> Objects:
        """Objects on ``image`` (n,), broadcasting scalars and names to n rows."""
        n = len(image)

        def full(x, default=0.0, dtype=torch.float32):
            if x is None:
                x = default
            x = torch.as_tensor(x, dtype=dtype)
            return x.expand(n).clone() if x.ndim == 0 else x.to(dtype)

        fam = family if isinstance(family, Tensor) else FAMILY_INDEX[family]
        tex = texture if isinstance(texture, Tensor) else TEXTURES.index(texture)
        return cls(
            image=image.long(),
            family=full(fam, dtype=torch.long),
            centre=centre.float(),
            scale=full(scale),
            angle=full(angle),
            aspect=full(aspect, 1.0),
            colour=colour.float(),
            colour2=colour.float() if colour2 is None else colour2.float(),
            texture=full(tex, dtype=torch.long),
            freq=full(freq, 3.0),
            phase=full(phase),
            param=full(param),
            opacity=full(opacity, 1.0),
        )

    def __len__(self) -> int:
        return len(self.image)

    def select(self, index: Tensor) -> Objects:
        return Objects(**{f.name: getattr(self, f.name)[index] for f in dataclasses.fields(self)})

    @staticmethod
    def cat(parts: list[Objects]) -> Objects:
        """Rows of all ``parts``, in order (later rows paint over earlier ones)."""
        return Objects(
            **{f.name: torch.cat([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(Objects)}
        )


FAMILY_INDEX = {name: i for i, name in enumerate(SHAPES)}
# the generic shape families: the source's superclasses and the objects target's shapes
GENERIC = (
    "disc",
    "square",
    "triangle",
    "ring",
    "cross",
    "star",
    "hexagon",
    "diamond",
    "bar",
    "crescent",
    "arrow",
    "heart",
)


def random_generic(n: int, g: torch.Generator) -> Tensor:
    """Family indices of ``n`` shapes drawn uniformly from :data:`GENERIC`."""
    families = torch.tensor([FAMILY_INDEX[f] for f in GENERIC])
    return families[torch.randint(len(GENERIC), (n,), generator=g)]


def grid(size: int) -> tuple[Tensor, Tensor]:
    """Pixel-centre coordinates (x, y) of a size × size image in [-1, 1]."""
    t = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    y, x = torch.meshgrid(t, t, indexing="ij")
    return x, y


def _texture(kind: Tensor, u: Tensor, v: Tensor, freq: Tensor, phase: Tensor) -> Tensor:
    """Mixing weight in [0, 1] between colour and colour2 for each pixel of each object."""
    f, ph = freq[:, None, None], phase[:, None, None]
    out = torch.zeros_like(u)
    for i, name in enumerate(TEXTURES):
        rows = (kind == i).nonzero().flatten()
        if name == "solid" or len(rows) == 0:
            continue
        uu, vv, ff, pp = u[rows], v[rows], f[rows], ph[rows]
        if name == "stripes":
            w = torch.sin(ff * math.pi * (uu * torch.cos(pp) + vv * torch.sin(pp)))
        elif name == "checker":
            w = torch.sin(ff * math.pi * uu + pp) * torch.sin(ff * math.pi * vv + pp)
        elif name == "dots":
            w = torch.cos(ff * math.pi * uu + pp) * torch.cos(ff * math.pi * vv + pp) - 0.4
        elif name == "radial":
            w = torch.sin(ff * math.pi * torch.hypot(uu, vv) + pp)
        else:  # "seam": the curved seams of a tennis ball
            w = 0.2 - ((uu - 1.25).hypot(vv) - 0.95).abs().minimum(((uu + 1.25).hypot(vv) - 0.95).abs()) * 4
        out[rows] = (w * 4).clamp(-1, 1) * 0.5 + 0.5
    return out


def paint(canvas: Tensor, objects: Objects, chunk: int = 8192) -> Tensor:
    """Draw ``objects`` over ``canvas`` (N, 3, H, W float in [0, 1]) in row order, anti-aliased."""
    size = canvas.shape[-1]
    gx, gy = grid(size)
    px = 2.0 / size  # one pixel in image units
    for start in range(0, len(objects), chunk):
        part = objects.select(torch.arange(start, min(start + chunk, len(objects))))
        # Only the order of objects on the same image matters. Rows are split into layers (an
        # image's first object, its second, ...), each layer holds distinct images, and within a
        # layer every family is drawn in one call, whatever order the rows came in.
        for layer in _layers(part.image):
            fam = part.family[layer]
            for f in torch.unique(fam):
                _paint_family(canvas, part.select(layer[fam == f]), gx, gy, px)
    return canvas


def _paint_family(canvas: Tensor, o: Objects, gx: Tensor, gy: Tensor, px: float) -> None:
    name = list(SHAPES)[int(o.family[0])]
    dx, dy = gx[None] - o.centre[:, 0, None, None], gy[None] - o.centre[:, 1, None, None]
    c, s = torch.cos(o.angle)[:, None, None], torch.sin(o.angle)[:, None, None]
    sc = o.scale[:, None, None]
    u = (dx * c + dy * s) / (sc * o.aspect[:, None, None])
    v = (-dx * s + dy * c) / sc
    d = SHAPES[name](u, v, o.param) * sc  # back to image units (approximately, under aspect)
    alpha = (0.5 - d / px).clamp(0, 1) * o.opacity[:, None, None]
    w = _texture(o.texture, u, v, o.freq, o.phase)[:, None]
    colour = o.colour[:, :, None, None] * (1 - w) + o.colour2[:, :, None, None] * w
    alpha = alpha[:, None]
    i = o.image  # distinct images (see paint)
    canvas[i] = canvas[i] * (1 - alpha) + colour * alpha


def _layers(image: Tensor) -> list[Tensor]:
    """Split rows into groups with distinct images, keeping each image's row order across groups."""
    order = torch.argsort(image, stable=True)
    sorted_img = image[order]
    start = torch.ones_like(sorted_img, dtype=torch.bool)
    start[1:] = sorted_img[1:] != sorted_img[:-1]
    first = torch.cummax(torch.where(start, torch.arange(len(image)), 0), 0).values
    rank = torch.empty_like(image)
    rank[order] = torch.arange(len(image)) - first
    return [torch.nonzero(rank == r).flatten() for r in range(int(rank.max()) + 1)] if len(image) else []


def background(n: int, size: int, g: torch.Generator, *, clutter: float = 0.6) -> Tensor:
    """Varied backgrounds: a two-colour gradient, low-frequency blotches and soft clutter blobs."""
    h1, h2 = torch.rand(n, generator=g), torch.rand(n, generator=g)
    c1 = hsv(h1, 0.15 + 0.45 * torch.rand(n, generator=g), 0.25 + 0.6 * torch.rand(n, generator=g))
    c2 = hsv(h2, 0.15 + 0.45 * torch.rand(n, generator=g), 0.25 + 0.6 * torch.rand(n, generator=g))
    gx, gy = grid(size)
    a = torch.rand(n, generator=g) * 2 * math.pi
    t = (gx[None] * torch.cos(a)[:, None, None] + gy[None] * torch.sin(a)[:, None, None]) * 0.5 + 0.5
    img = c1[:, :, None, None] * (1 - t[:, None]) + c2[:, :, None, None] * t[:, None]
    blotch = torch.nn.functional.interpolate(
        torch.randn(n, 3, 4, 4, generator=g), size=(size, size), mode="bilinear", align_corners=False
    )
    img = img + 0.08 * blotch
    k = int(clutter * 3)
    if k:
        rows = torch.arange(n).repeat_interleave(k)
        m = len(rows)
        blobs = Objects.make(
            rows,
            "dot",
            torch.rand(m, 2, generator=g) * 2 - 1,
            0.1 + 0.25 * torch.rand(m, generator=g),
            hsv(
                torch.rand(m, generator=g),
                0.3 * torch.rand(m, generator=g),
                0.2 + 0.7 * torch.rand(m, generator=g),
            ),
            aspect=0.5 + torch.rand(m, generator=g),
            angle=torch.rand(m, generator=g) * math.pi,
            opacity=0.5,
        )
        img = paint(img.clamp(0, 1), blobs)
    return img.clamp(0, 1)


def finish(img: Tensor, g: torch.Generator, noise: float = 0.03) -> Tensor:
    """Add pixel noise and quantise to uint8."""
    img = img + noise * torch.randn(img.shape, generator=g)
    return (img.clamp(0, 1) * 255).round().to(torch.uint8)
