"""Picture of the embedded instrument benchmark: scenes of performers drawn with PIL and
filmed by a shaky phone camera.

A video is 1-3 *shots*. Each shot is a still scene (background, lighting, players and
instruments at a random scale and position) rendered once at 1.3x the frame size; the
frames are cut out of it by a moving virtual camera (shake, slow zoom and pan), then
degraded (defocus/motion blur, sensor noise, down-scaling; the encoder adds compression).
Shot kinds: ``wide`` (players with instruments; a solo player in a medium shot with the camera
aimed at the instrument), ``closeup`` (the instrument fills the frame, no player for scale: a
violin and a cello look the same here), ``away`` (the camera points at the audience, a wall or
the floor: no instrument in view). Shots with the instrument are mostly filmed in the
category's typical venues (:data:`TYPICAL_VENUES`, share ``p_venue``): scene context, as in
real user-generated video, that tells a category apart only partly (venues are shared).

Visual confusions follow from these nuisances: violin vs cello at unknown scale, chamber
music vs orchestra in far shots, trumpet vs saxophone (both brass-coloured), guitar vs
bowed strings (wooden bodies) in blurry close-ups.

Public entry points: :func:`render_video_frames` and :func:`render_clean_image`.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

__all__ = ["render_video_frames", "render_clean_image", "render_scene", "choose_frame_size", "TYPICAL_VENUES",
           "WIDE_PLAYER_HEIGHT"]

WOODS = [(120, 55, 25), (150, 80, 35), (95, 45, 20), (170, 100, 50), (110, 40, 30), (70, 35, 20)]
BRASS = [(200, 160, 60), (215, 175, 80), (180, 140, 50), (225, 190, 110), (190, 190, 195)]
SILVER = [(200, 200, 205), (175, 178, 185), (220, 220, 225)]
SKIN = [(240, 200, 170), (225, 180, 140), (190, 140, 100), (150, 100, 70), (110, 75, 50), (255, 220, 195)]


def _c(rng, palette, jitter=18):
    base = np.array(palette[int(rng.integers(len(palette)))], float)
    return tuple(int(v) for v in np.clip(base + rng.normal(0, jitter, 3), 0, 255))


def _rand_colour(rng, lo=0, hi=255):
    return tuple(int(v) for v in rng.integers(lo, hi, 3))


def _xf(points, cx, cy, s, angle):
    """Scale by s, rotate by angle (radians) and translate local points."""
    ca, sa = math.cos(angle), math.sin(angle)
    return [(cx + s * (x * ca - y * sa), cy + s * (x * sa + y * ca)) for x, y in points]


def _ellipse_pts(x0, y0, rx, ry, n=20):
    return [(x0 + rx * math.cos(2 * math.pi * i / n), y0 + ry * math.sin(2 * math.pi * i / n)) for i in range(n)]


# ------------------------------------------------------------------ instruments
def draw_bowed(d, cx, cy, s, angle, rng, *, bow=True):
    """Violin family body (violin and cello share the drawing; only scale and pose differ)."""
    wood = _c(rng, WOODS)
    dark = tuple(max(0, v - 50) for v in wood)
    body = _ellipse_pts(0, -0.22, 0.2, 0.19) + _ellipse_pts(0, 0.2, 0.25, 0.23)
    d.polygon(_xf(_ellipse_pts(0, -0.22, 0.2, 0.19), cx, cy, s, angle), fill=wood, outline=dark)
    d.polygon(_xf(_ellipse_pts(0, 0.2, 0.25, 0.23), cx, cy, s, angle), fill=wood, outline=dark)
    d.polygon(_xf([(-0.15, -0.1), (0.15, -0.1), (0.15, 0.1), (-0.15, 0.1)], cx, cy, s, angle), fill=wood)
    del body
    d.polygon(_xf([(-0.035, 0.05), (0.035, 0.05), (0.03, -0.9), (-0.03, -0.9)], cx, cy, s, angle), fill=(25, 20, 20))
    d.ellipse([*(_xf([(0, -0.95)], cx, cy, s, angle)[0][i] - s * 0.04 for i in (0, 1)),
               *(_xf([(0, -0.95)], cx, cy, s, angle)[0][i] + s * 0.04 for i in (0, 1))], fill=dark)
    for side in (-1, 1):
        d.line(_xf([(side * 0.1, 0.05), (side * 0.1, 0.28)], cx, cy, s, angle), fill=(20, 10, 5), width=max(1, int(s * 0.015)))
    d.line(_xf([(-0.09, 0.16), (0.09, 0.16)], cx, cy, s, angle), fill=(230, 210, 170), width=max(1, int(s * 0.02)))
    if bow:
        a = rng.uniform(-0.3, 0.3)
        d.line(_xf([(-0.7, 0.1 + a), (0.7, 0.1 - a)], cx, cy, s, angle), fill=(80, 50, 30), width=max(1, int(s * 0.012)))


def draw_guitar(d, cx, cy, s, angle, rng, *, electric=False):
    col = _c(rng, WOODS + [(20, 20, 20), (170, 30, 30), (30, 60, 150), (230, 220, 200)], 25)
    edge = tuple(max(0, v - 60) for v in col)
    if electric:
        d.polygon(_xf([(-0.3, -0.05), (-0.15, -0.25), (0.05, -0.15), (0.3, -0.3), (0.3, 0.2), (0.1, 0.35), (-0.25, 0.3)],
                      cx, cy, s, angle), fill=col, outline=edge)
        for y in (0.0, 0.12):
            d.line(_xf([(-0.12, y), (0.12, y)], cx, cy, s, angle), fill=(230, 230, 230), width=max(1, int(s * 0.03)))
    else:
        d.polygon(_xf(_ellipse_pts(0, -0.15, 0.26, 0.22), cx, cy, s, angle), fill=col, outline=edge)
        d.polygon(_xf(_ellipse_pts(0, 0.22, 0.34, 0.28), cx, cy, s, angle), fill=col, outline=edge)
        p = _xf([(0, -0.02)], cx, cy, s, angle)[0]
        r = 0.09 * s
        d.ellipse([p[0] - r, p[1] - r, p[0] + r, p[1] + r], fill=(15, 10, 10))
    d.polygon(_xf([(-0.045, -0.2), (0.045, -0.2), (0.04, -1.15), (-0.04, -1.15)], cx, cy, s, angle), fill=(60, 40, 25))
    for k in range(1, 12):
        y = -0.25 - k * 0.075
        d.line(_xf([(-0.04, y), (0.04, y)], cx, cy, s, angle), fill=(200, 200, 200), width=1)
    d.polygon(_xf([(-0.06, -1.15), (0.06, -1.15), (0.07, -1.35), (-0.07, -1.35)], cx, cy, s, angle), fill=(40, 30, 20))


def draw_accordion(d, cx, cy, s, angle, rng):
    col = _c(rng, [(170, 20, 30), (20, 20, 25), (235, 235, 230), (30, 70, 140), (20, 110, 60)], 20)
    d.polygon(_xf([(-0.45, -0.35), (0.45, -0.35), (0.45, 0.35), (-0.45, 0.35)], cx, cy, s, angle), fill=col)
    for k in range(9):  # bellows pleats
        x = -0.2 + k * 0.05
        d.line(_xf([(x, -0.35), (x, 0.35)], cx, cy, s, angle), fill=(15, 15, 15) if k % 2 else (240, 240, 240),
               width=max(1, int(s * 0.012)))
    d.polygon(_xf([(0.3, -0.42), (0.5, -0.42), (0.5, 0.42), (0.3, 0.42)], cx, cy, s, angle), fill=(245, 245, 240))
    for k in range(8):  # black keys
        y = -0.38 + k * 0.1
        d.line(_xf([(0.3, y), (0.42, y)], cx, cy, s, angle), fill=(10, 10, 10), width=max(1, int(s * 0.03)))
    d.polygon(_xf([(-0.45, -0.3), (-0.32, -0.3), (-0.32, 0.3), (-0.45, 0.3)], cx, cy, s, angle), fill=_c(rng, SILVER))


def draw_harmonica(d, cx, cy, s, angle, rng, *, hands=True, skin=(220, 180, 140)):
    metal = _c(rng, SILVER)
    d.polygon(_xf([(-0.3, -0.07), (0.3, -0.07), (0.3, 0.07), (-0.3, 0.07)], cx, cy, s, angle), fill=metal, outline=(90, 90, 95))
    for k in range(10):
        x = -0.26 + k * 0.058
        p = _xf([(x, 0.0)], cx, cy, s, angle)[0]
        r = max(0.6, 0.015 * s)
        d.ellipse([p[0] - r, p[1] - r, p[0] + r, p[1] + r], fill=(30, 30, 30))
    if hands:
        for side in (-1, 1):
            p = _xf([(side * 0.33, 0.05)], cx, cy, s, angle)[0]
            r = 0.13 * s
            d.ellipse([p[0] - r, p[1] - r * 1.3, p[0] + r, p[1] + r * 1.3], fill=skin)


def draw_trumpet(d, cx, cy, s, angle, rng):
    col = _c(rng, BRASS)
    w = max(1, int(s * 0.04))
    d.line(_xf([(-0.5, 0), (0.35, 0)], cx, cy, s, angle), fill=col, width=w)
    d.line(_xf([(-0.25, 0.12), (0.15, 0.12)], cx, cy, s, angle), fill=col, width=w)
    for k in range(3):
        x = -0.1 + k * 0.08
        d.polygon(_xf([(x - 0.02, -0.12), (x + 0.02, -0.12), (x + 0.02, 0.16), (x - 0.02, 0.16)], cx, cy, s, angle), fill=col)
    d.polygon(_xf([(0.3, -0.03), (0.55, -0.14), (0.55, 0.14), (0.3, 0.03)], cx, cy, s, angle), fill=col)
    d.polygon(_xf(_ellipse_pts(0.56, 0, 0.03, 0.15, 12), cx, cy, s, angle), fill=tuple(max(0, v - 40) for v in col))


def draw_saxophone(d, cx, cy, s, angle, rng):
    col = _c(rng, BRASS)
    path = [(0.0, -0.6), (0.08, -0.55), (0.12, -0.4)] + [(0.1 + 0.01 * i, -0.4 + 0.09 * i) for i in range(8)]
    path += [(0.12 - 0.06 * math.sin(a), 0.32 + 0.1 * (1 - math.cos(a))) for a in np.linspace(0, math.pi, 7)]
    path += [(-0.05, 0.2), (-0.07, 0.05)]
    pts = _xf(path, cx, cy, s, angle)
    for i in range(len(pts) - 1):
        wdt = max(1, int(s * (0.03 + 0.05 * i / len(pts))))
        d.line([pts[i], pts[i + 1]], fill=col, width=wdt)
    d.polygon(_xf(_ellipse_pts(-0.07, 0.03, 0.09, 0.04, 12), cx, cy, s, angle), fill=tuple(max(0, v - 50) for v in col))
    for i in range(6):
        p = _xf([(0.1 + 0.01 * i, -0.3 + 0.09 * i)], cx, cy, s, angle)[0]
        r = max(0.7, 0.02 * s)
        d.ellipse([p[0] - r, p[1] - r, p[0] + r, p[1] + r], fill=(240, 230, 200))


def draw_flute(d, cx, cy, s, angle, rng):
    col = _c(rng, SILVER)
    d.line(_xf([(-0.15, 0), (0.85, 0)], cx, cy, s, angle), fill=col, width=max(1, int(s * 0.025)))
    for k in range(8):
        p = _xf([(0.15 + 0.08 * k, 0)], cx, cy, s, angle)[0]
        r = max(0.6, 0.012 * s)
        d.ellipse([p[0] - r, p[1] - r, p[0] + r, p[1] + r], fill=(120, 120, 125))


def draw_piano(d, cx, cy, s, rng, *, grand=None):
    col = _c(rng, [(15, 15, 18), (60, 35, 20), (240, 240, 240), (25, 25, 30)], 10)
    grand = rng.random() < 0.5 if grand is None else grand
    if grand:
        d.polygon([(cx - 0.6 * s, cy - 0.1 * s), (cx + 0.5 * s, cy - 0.1 * s), (cx + 0.7 * s, cy - 0.5 * s),
                   (cx + 0.2 * s, cy - 0.75 * s), (cx - 0.6 * s, cy - 0.6 * s)], fill=col)
        d.line([(cx - 0.55 * s, cy - 0.1 * s), (cx - 0.2 * s, cy - 1.0 * s)], fill=col, width=max(1, int(s * 0.02)))
    else:
        d.rectangle([cx - 0.6 * s, cy - 0.7 * s, cx + 0.6 * s, cy + 0.3 * s], fill=col)
    top = cy - 0.1 * s
    d.rectangle([cx - 0.6 * s, top, cx + 0.6 * s, top + 0.1 * s], fill=(245, 245, 240))
    n = 26
    for k in range(n):
        x = cx - 0.6 * s + (k + 0.5) * 1.2 * s / n
        if k % 7 not in (2, 6):
            d.line([(x, top), (x, top + 0.06 * s)], fill=(10, 10, 10), width=max(1, int(s * 0.015)))
    for side in (-1, 1):
        d.rectangle([cx + side * 0.55 * s - 0.03 * s, top, cx + side * 0.55 * s + 0.03 * s, cy + 0.5 * s], fill=col)


def draw_drums(d, cx, cy, s, rng):
    shell = _rand_colour(rng, 30, 230)
    d.ellipse([cx - 0.3 * s, cy - 0.3 * s, cx + 0.3 * s, cy + 0.3 * s], fill=shell, outline=(230, 230, 230), width=max(1, int(s * 0.03)))
    d.ellipse([cx - 0.2 * s, cy - 0.2 * s, cx + 0.2 * s, cy + 0.2 * s], fill=(235, 235, 225))
    for dx, dy, r in ((-0.35, -0.35, 0.13), (0.35, -0.35, 0.14), (0.55, 0.05, 0.16)):
        d.ellipse([cx + (dx - r) * s, cy + (dy - r * 0.6) * s, cx + (dx + r) * s, cy + (dy + r * 0.6) * s], fill=shell)
    for dx, dy in ((-0.65, -0.6), (0.7, -0.7)):
        d.ellipse([cx + (dx - 0.2) * s, cy + (dy - 0.04) * s, cx + (dx + 0.2) * s, cy + (dy + 0.04) * s], fill=_c(rng, BRASS))
        d.line([(cx + dx * s, cy + dy * s), (cx + dx * s, cy + 0.3 * s)], fill=(150, 150, 150), width=1)


def draw_person(d, cx, cy, h, rng, *, seated=False, skin=None, shirt=None):
    """A player: feet at (cx, cy), height h. Returns the skin colour and key points."""
    skin = skin or _c(rng, SKIN, 8)
    shirt = shirt or _rand_colour(rng, 10, 240)
    trousers = _rand_colour(rng, 10, 120)
    head_r = 0.075 * h
    top = cy - h if not seated else cy - 0.75 * h
    hip = top + 0.5 * h
    d.rectangle([cx - 0.13 * h, top + 2 * head_r, cx + 0.13 * h, hip], fill=shirt)
    if seated:
        d.rectangle([cx - 0.13 * h, hip - 0.05 * h, cx + 0.2 * h, hip + 0.08 * h], fill=trousers)
        d.rectangle([cx + 0.12 * h, hip, cx + 0.2 * h, cy], fill=trousers)
    else:
        d.rectangle([cx - 0.12 * h, hip, cx - 0.02 * h, cy], fill=trousers)
        d.rectangle([cx + 0.02 * h, hip, cx + 0.12 * h, cy], fill=trousers)
    d.ellipse([cx - head_r, top, cx + head_r, top + 2 * head_r], fill=skin)
    hair = _rand_colour(rng, 0, 120)
    d.chord([cx - head_r, top - 0.01 * h, cx + head_r, top + 1.2 * head_r], 180, 360, fill=hair)
    return {"skin": skin, "mouth": (cx, top + 1.5 * head_r), "chest": (cx, top + 0.3 * h),
            "shoulder": (cx + 0.1 * h, top + 0.22 * h), "lap": (cx + 0.1 * h, hip), "head_r": head_r}


# ------------------------------------------------------------------ backgrounds
#: Venues (:func:`draw_background` kinds) where each category is typically filmed: street musicians
#: outdoors, practice at home, concert halls, stages. A shot with the instrument in view is
#: set in one of its category's venues with probability ``p_venue`` (:func:`render_video_frames`),
#: otherwise in a venue drawn as for any category (solo: any of the five kinds; ensembles: stage, hall
#: or room; rock band: stage). The venue is the context a video model reads besides the instrument;
#: categories share venues (stage: trumpet, saxophone, rock band; hall: the strings, ensembles,
#: piano), so it narrows the category down without naming it. Shots "away" keep no context.
TYPICAL_VENUES = {
    "accordion": ("outdoor", "room"), "trumpet": ("stage", "outdoor"), "flute": ("room", "hall"),
    "chamberMusic": ("hall",), "symphonyOrchestra": ("hall",), "guitar": ("room", "studio"),
    "violin": ("room", "hall"), "saxophone": ("stage",), "harmonica": ("outdoor",), "rockBand": ("stage",),
    "cello": ("hall", "room"), "piano": ("room", "hall"),
}


def draw_background(img, rng, kind=None):
    W, H = img.size
    d = ImageDraw.Draw(img)
    kind = kind or str(rng.choice(["room", "stage", "outdoor", "hall", "studio"]))
    if kind == "room":
        wall, floor = _rand_colour(rng, 90, 245), _rand_colour(rng, 40, 160)
        d.rectangle([0, 0, W, H], fill=wall)
        fy = int(H * rng.uniform(0.6, 0.85))
        d.rectangle([0, fy, W, H], fill=floor)
        for _ in range(int(rng.integers(1, 4))):
            x, y = rng.uniform(0, W), rng.uniform(0, fy * 0.6)
            w, h = rng.uniform(0.08, 0.3) * W, rng.uniform(0.08, 0.3) * H
            d.rectangle([x, y, x + w, y + h], fill=_rand_colour(rng), outline=_rand_colour(rng, 0, 80), width=2)
        if rng.random() < 0.5:  # sofa / shelf
            x = rng.uniform(-0.2, 0.7) * W
            d.rectangle([x, fy - 0.2 * H, x + 0.4 * W, fy + 0.05 * H], fill=_rand_colour(rng, 20, 200))
    elif kind == "stage":
        d.rectangle([0, 0, W, H], fill=_rand_colour(rng, 0, 50))
        curtain = _rand_colour(rng, 40, 150)
        for k in range(0, W, max(4, W // 20)):
            d.line([(k, 0), (k, H)], fill=tuple(int(v * rng.uniform(0.6, 1.0)) for v in curtain), width=max(2, W // 40))
        d.rectangle([0, int(H * 0.75), W, H], fill=_rand_colour(rng, 30, 110))
    elif kind == "outdoor":
        sky = np.array(_rand_colour(rng, 100, 255))
        for y in range(0, H, 4):
            d.rectangle([0, y, W, y + 4], fill=tuple(int(v) for v in sky * (0.7 + 0.3 * y / H)))
        gy = int(H * rng.uniform(0.55, 0.8))
        d.rectangle([0, gy, W, H], fill=_rand_colour(rng, 40, 160))
        for _ in range(int(rng.integers(2, 7))):
            x, r = rng.uniform(0, W), rng.uniform(0.04, 0.12) * W
            d.rectangle([x - r * 0.15, gy - r * 2, x + r * 0.15, gy], fill=(90, 60, 30))
            d.ellipse([x - r, gy - r * 3.5, x + r, gy - r * 1.5], fill=_rand_colour(rng, 20, 140))
    elif kind == "hall":
        d.rectangle([0, 0, W, H], fill=_c(rng, WOODS, 30))
        for k in range(0, W, max(6, W // 12)):
            d.line([(k, 0), (k, H * 0.7)], fill=_c(rng, WOODS, 30), width=2)
        d.rectangle([0, int(H * 0.7), W, H], fill=_c(rng, WOODS, 30))
    else:  # studio: plain wall with acoustic foam
        d.rectangle([0, 0, W, H], fill=_rand_colour(rng, 20, 200))
        step = max(6, W // 16)
        tone = _rand_colour(rng, 10, 120)
        for x in range(0, W, step):
            for y in range(0, H, step):
                if (x // step + y // step) % 2:
                    d.rectangle([x, y, x + step - 1, y + step - 1], fill=tone)
    return kind


def _lights(img, rng, n):
    over = Image.new("RGB", img.size, (0, 0, 0))
    d = ImageDraw.Draw(over)
    W, H = img.size
    for _ in range(n):
        x = rng.uniform(0, W)
        col = _rand_colour(rng, 60, 255)
        d.polygon([(x - 0.03 * W, 0), (x + 0.03 * W, 0), (x + rng.uniform(0.1, 0.3) * W, H), (x - rng.uniform(0.1, 0.3) * W, H)], fill=col)
    return Image.blend(img, Image.fromarray(np.maximum(np.asarray(img), np.asarray(over))), 0.35)


def _audience(d, W, H, rng, rows=2, y0=None):
    y0 = H * 0.85 if y0 is None else y0
    for r in range(rows):
        y = y0 + r * H * 0.08
        x = rng.uniform(-0.05, 0.05) * W
        while x < W:
            r_ = rng.uniform(0.03, 0.05) * H * (1 + 0.3 * r)
            c = _rand_colour(rng, 0, 90)
            d.ellipse([x - r_, y - r_, x + r_, y + r_], fill=c)
            d.rectangle([x - 1.5 * r_, y + r_ * 0.8, x + 1.5 * r_, y + 4 * r_], fill=_rand_colour(rng, 0, 120))
            x += rng.uniform(2.2, 3.5) * r_


# ------------------------------------------------------------------ scenes
_SOLO_DRAW = {
    "accordion": "chest", "harmonica": "mouth", "trumpet": "mouth", "flute": "mouth",
    "saxophone": "mouth", "violin": "shoulder", "cello": "lap", "guitar": "lap",
}


#: Height of a solo player in a wide shot, in frame heights of the scene (uniform): medium shots, the
#: player fills most of the picture as in phone footage of a performer (generator 2.2; was 0.45-0.95).
WIDE_PLAYER_HEIGHT = (0.7, 1.2)
#: Height of each instrument anchor above the player's feet, in player heights (standing, seated);
#: from :func:`draw_person`'s proportions ("keys": the piano's keyboard).
_ANCHOR_DROP = {"mouth": (0.8875, 0.6375), "chest": (0.7, 0.45), "shoulder": (0.78, 0.53), "lap": (0.5, 0.25),
                "keys": (0.27, 0.27)}


def _draw_solo(d, cat, anchor, h, rng, person):
    x, y = anchor
    if cat == "violin":
        draw_bowed(d, x, y, 0.35 * h, rng.uniform(-2.4, -1.7), rng)
    elif cat == "cello":
        draw_bowed(d, x - 0.05 * h, y - 0.05 * h, 0.65 * h, rng.uniform(-0.25, 0.25), rng)
    elif cat == "guitar":
        draw_guitar(d, x - 0.05 * h, y - 0.1 * h, 0.42 * h, rng.uniform(-2.2, -1.7), rng)
    elif cat == "accordion":
        draw_accordion(d, x, y + 0.02 * h, 0.28 * h, rng.uniform(-0.15, 0.15), rng)
    elif cat == "harmonica":
        draw_harmonica(d, x, y, 0.17 * h, rng.uniform(-0.2, 0.2), rng, skin=person["skin"])
    elif cat == "trumpet":
        side = 1 if rng.random() < 0.5 else -1
        ang = rng.uniform(-0.4, 0.3) if side > 0 else math.pi + rng.uniform(-0.3, 0.4)
        draw_trumpet(d, x + side * 0.2 * h, y + 0.02 * h, 0.4 * h, ang, rng)
    elif cat == "saxophone":
        draw_saxophone(d, x + 0.03 * h, y + 0.35 * h, 0.55 * h, rng.uniform(-0.3, 0.2), rng)
    elif cat == "flute":
        side = 1 if rng.random() < 0.5 else -1
        draw_flute(d, x, y, 0.55 * h, rng.uniform(-0.1, 0.3) if side > 0 else math.pi + rng.uniform(-0.3, 0.1), rng)


def render_scene(category: str, size: tuple[int, int], rng, *, shot: str = "wide", clean: bool = False,
                 venue: str | None = None) -> Image.Image:
    """One still scene of ``category`` at ``size`` = (W, H).

    ``shot`` is "wide" (players and instruments), "closeup" (the instrument alone, scale
    unknown) or "away" (no instrument: audience, wall or floor). ``clean=True`` draws the
    instrument alone on a plain background (image bank). ``venue`` (a :func:`draw_background`
    kind) sets the background of a shot with the instrument; None draws it as for any category.
    """
    W, H = size
    img = Image.new("RGB", size, (255, 255, 255))
    d = ImageDraw.Draw(img)
    if clean:
        d.rectangle([0, 0, W, H], fill=tuple(int(v) for v in rng.integers(215, 256, 3)))
    if shot == "away":
        kind = str(rng.choice(["audience", "wall", "floor", "ceiling"]))
        draw_background(img, rng, "room" if kind != "audience" else str(rng.choice(["hall", "stage", "outdoor"])))
        if kind == "audience":
            _audience(d, W, H, rng, rows=3, y0=H * rng.uniform(0.4, 0.7))
        elif kind == "floor":
            d.rectangle([0, 0, W, H], fill=_rand_colour(rng, 30, 170))
        elif kind == "ceiling":
            d.rectangle([0, 0, W, H], fill=_rand_colour(rng, 150, 250))
            for _ in range(3):
                x, y = rng.uniform(0, W), rng.uniform(0, H)
                d.ellipse([x - 8, y - 8, x + 8, y + 8], fill=(255, 255, 230))
        return img
    L = min(W, H)
    if category in _SOLO_DRAW or category == "piano":
        if shot == "closeup" or clean:
            if not clean:
                draw_background(img, rng, venue)
            cx, cy = W * rng.uniform(0.35, 0.65), H * rng.uniform(0.35, 0.65)
            s = L * rng.uniform(0.5, 0.9) * (0.8 if clean else 1.0)
            if category in ("violin", "cello"):
                # the same body at an unknown scale: the two look alike in close-up
                draw_bowed(d, cx, cy + 0.3 * s, s, rng.uniform(-1.2, 0.6), rng, bow=rng.random() < 0.5)
            elif category == "guitar":
                draw_guitar(d, cx, cy + 0.4 * s, 0.8 * s, rng.uniform(-1.2, 0.3), rng)
            elif category == "piano":
                draw_piano(d, cx, cy + 0.2 * s, 0.9 * s, rng)
            else:
                person = {"skin": _c(rng, SKIN, 8)}
                fn = {"accordion": lambda: draw_accordion(d, cx, cy, 0.9 * s, rng.uniform(-0.4, 0.4), rng),
                      "harmonica": lambda: draw_harmonica(d, cx, cy, 0.9 * s, rng.uniform(-0.4, 0.4), rng,
                                                          hands=not clean and rng.random() < 0.7, skin=person["skin"]),
                      "trumpet": lambda: draw_trumpet(d, cx - 0.2 * s, cy, s, rng.uniform(-0.6, 0.6), rng),
                      "saxophone": lambda: draw_saxophone(d, cx, cy, 1.2 * s, rng.uniform(-0.5, 0.5), rng),
                      "flute": lambda: draw_flute(d, cx - 0.4 * s, cy, 1.1 * s, rng.uniform(-0.6, 0.6), rng)}[category]
                fn()
            return img
        kind = draw_background(img, rng, venue)
        h = H * rng.uniform(*WIDE_PLAYER_HEIGHT)
        seated = category == "piano" or (category in ("cello", "guitar") and rng.random() < 0.8)
        # the phone is aimed at the instrument: its anchor on the player lands in the middle band of
        # the visible frame (the camera sees about the central 1/1.3 of the scene); with a tall
        # player the feet (or the head, for a low instrument) leave the picture
        anchor = "keys" if category == "piano" else _SOLO_DRAW[category]
        cx = W * rng.uniform(0.3, 0.7)
        cy = H * rng.uniform(0.35, 0.65) + _ANCHOR_DROP[anchor][int(seated)] * h
        if category == "piano":
            draw_person(d, cx - 0.35 * h, cy, h, rng, seated=True)
            draw_piano(d, cx + 0.2 * h, cy - 0.2 * h, 0.7 * h, rng)
        else:
            person = draw_person(d, cx, cy, h, rng, seated=seated)
            _draw_solo(d, category, person[_SOLO_DRAW[category]], h, rng, person)
        if kind == "stage" and rng.random() < 0.5:
            img = _lights(img, rng, int(rng.integers(1, 4)))
        return img
    # ensembles
    if clean:
        kind = None
    else:
        kind = draw_background(img, rng, venue or (str(rng.choice(["stage", "hall", "room"])) if category != "rockBand"
                                                    else "stage"))
    d = ImageDraw.Draw(img)
    if category == "chamberMusic":
        n = int(rng.integers(2, 6))
        scale = rng.uniform(0.35, 0.7) if shot == "wide" else rng.uniform(0.7, 1.0)
        h = H * scale
        xs = np.linspace(0.15, 0.85, n) * W + rng.normal(0, 0.03 * W, n)
        piano = rng.random() < 0.3
        for i, x in enumerate(xs):
            y = H * rng.uniform(0.8, 0.95)
            d.line([(x - 0.25 * h, y - 0.05 * h), (x - 0.25 * h, y - 0.6 * h)], fill=(40, 40, 40), width=max(1, int(h * 0.015)))
            d.rectangle([x - 0.35 * h, y - 0.7 * h, x - 0.15 * h, y - 0.58 * h], fill=(235, 235, 225))  # music stand
            person = draw_person(d, x, y, h, rng, seated=True)
            if piano and i == 0:
                draw_piano(d, x + 0.25 * h, y - 0.2 * h, 0.5 * h, rng, grand=True)
            elif i == n - 1 and rng.random() < 0.7:
                draw_bowed(d, person["lap"][0] - 0.05 * h, person["lap"][1] - 0.05 * h, 0.6 * h, rng.uniform(-0.2, 0.2), rng)
            else:
                draw_bowed(d, *person["shoulder"], 0.32 * h, rng.uniform(-2.4, -1.7), rng)
    elif category == "symphonyOrchestra":
        rows = int(rng.integers(3, 6))
        base = H * rng.uniform(0.7, 0.9)
        for r in range(rows):
            y = base - r * H * 0.08
            h = H * rng.uniform(0.12, 0.2) * (1 - 0.1 * r)
            n = int(W / (0.35 * h)) if h > 0 else 0
            for k in range(n):
                x = (k + 0.5) * W / n + rng.normal(0, 0.01 * W)
                person = draw_person(d, x, y, h, rng, seated=True, shirt=(15, 15, 15) if rng.random() < 0.8 else None)
                if r < 2:
                    draw_bowed(d, *person["shoulder"], 0.3 * h, rng.uniform(-2.4, -1.7), rng, bow=False)
                elif rng.random() < 0.5:
                    draw_trumpet(d, person["mouth"][0], person["mouth"][1], 0.3 * h, 0.3, rng)
        ch = H * rng.uniform(0.25, 0.4)
        draw_person(d, W * rng.uniform(0.4, 0.6), H, ch, rng, shirt=(10, 10, 10))  # conductor
        if rng.random() < 0.6:
            _audience(d, W, H, rng, rows=1, y0=H * 0.93)
    elif category == "rockBand":
        scale = rng.uniform(0.4, 0.8)
        h = H * scale
        draw_drums(d, W * rng.uniform(0.4, 0.6), H * 0.7, 0.35 * h, rng)
        for _ in range(int(rng.integers(1, 4))):  # amplifiers
            x = rng.uniform(0, W)
            d.rectangle([x, H * 0.6, x + 0.25 * h, H * 0.6 + 0.3 * h], fill=(20, 20, 20), outline=(90, 90, 90))
        for k in range(int(rng.integers(2, 4))):
            x = W * (0.15 + 0.7 * k / 2) + rng.normal(0, 0.03 * W)
            person = draw_person(d, x, H * rng.uniform(0.9, 1.05), h, rng)
            draw_guitar(d, person["lap"][0] - 0.1 * h, person["lap"][1] - 0.05 * h, 0.38 * h, rng.uniform(-2.1, -1.6), rng,
                        electric=True)
            d.line([(x + 0.2 * h, person["mouth"][1]), (x + 0.2 * h, H)], fill=(120, 120, 120), width=max(1, int(h * 0.01)))
        if not clean:
            img = _lights(img, rng, int(rng.integers(2, 6)))
            d = ImageDraw.Draw(img)
            if rng.random() < 0.6:
                _audience(d, W, H, rng, rows=2, y0=H * 0.9)
    if shot == "closeup" and not clean:  # zoom into part of the ensemble
        z = rng.uniform(1.5, 2.5)
        cw, chh = W / z, H / z
        x0, y0 = rng.uniform(0, W - cw), rng.uniform(0.2 * H, H - chh)
        img = img.crop((int(x0), int(y0), int(x0 + cw), int(y0 + chh))).resize(size, Image.BILINEAR)
    return img


def choose_frame_size(rng, widths=(160, 192, 224, 256, 320), portrait_p=0.2) -> tuple[int, int]:
    """(W, H) like a phone upload: 4:3 or 16:9, sometimes portrait; even sizes."""
    w = int(rng.choice(widths))
    aspect = float(rng.choice([4 / 3, 16 / 9]))
    if rng.random() < portrait_p:
        W, H = int(w / aspect), w  # portrait: width is the short side
    else:
        W, H = w, int(w / aspect)
    return W - W % 2, H - H % 2


def _camera_path(rng, T, fps, margin):
    """Smooth shake (random walk, low-passed) + slow zoom; returns per-frame (dx, dy, zoom)."""
    shake = rng.uniform(0.2, 1.0) * margin
    steps = rng.normal(0, 1, (T + 8, 2))
    k = np.ones(8) / 8
    walk = np.stack([np.convolve(np.cumsum(steps[:, i]), k, "same")[:T] for i in range(2)], 1)
    walk -= walk.mean(0)
    walk /= np.abs(walk).max() + 1e-9
    jitter = rng.normal(0, 0.08, (T, 2))
    xy = (walk + jitter) * shake
    z0, z1 = rng.uniform(1.0, 1.15), rng.uniform(1.0, 1.25)
    zoom = np.linspace(z0, z1, T)
    return xy, zoom


def render_video_frames(category: str, rng, *, duration: float, fps: float, size: tuple[int, int],
                        p_away: float = 0.12, p_closeup: float = 0.3, p_venue: float = 0.0) -> tuple[np.ndarray, dict]:
    """Frames ``(T, H, W, 3) uint8`` of one performance video and a dict of nuisances.

    Each of the 1-3 shots is "away" with probability ``p_away``, "closeup" with probability
    ``p_closeup``, else "wide"; a shot with the instrument in view is set in one of the category's
    :data:`TYPICAL_VENUES` with probability ``p_venue`` (the info's ``venues``: the typical venue,
    or "any" when the venue is drawn as for any category, "-" for shots away).
    """
    import cv2

    W, H = size
    T = max(1, int(round(duration * fps)))
    n_shots = int(rng.choice([1, 1, 2, 2, 3]))
    cuts = np.sort(rng.uniform(0.2, 0.8, n_shots - 1)) if n_shots > 1 else np.array([])
    bounds = np.concatenate([[0], (cuts * T).astype(int), [T]])
    pad = 1.3
    SW, SH = int(W * pad), int(H * pad)
    frames = np.empty((T, H, W, 3), np.uint8)
    blur = float(rng.choice([0, 0, 0.6, 1.0, 1.6]))
    noise_sd = float(rng.uniform(0, 9))
    down = float(rng.choice([1.0, 1.0, 0.75, 0.5]))
    gain, gamma = rng.uniform(0.55, 1.35), rng.uniform(0.7, 1.4)
    tint = rng.uniform(0.85, 1.15, 3)
    noise_bank = rng.normal(0, noise_sd, (4, H, W, 1)).astype(np.float32) if noise_sd > 0.5 else None
    shots, venues = [], []
    for s in range(n_shots):
        r = rng.random()
        shot = "away" if r < p_away else ("closeup" if r < p_away + p_closeup else "wide")
        shots.append(shot)
        venue = None
        if p_venue > 0 and shot != "away" and rng.random() < p_venue:
            choices = TYPICAL_VENUES[category]
            venue = str(choices[int(rng.integers(len(choices)))])
        venues.append("-" if shot == "away" else (venue or "any"))
        scene = render_scene(category, (SW, SH), rng, shot=shot, venue=venue)
        if blur > 0:
            scene = scene.filter(ImageFilter.GaussianBlur(blur * pad))
        arr = np.asarray(scene, np.float32) / 255.0
        arr = np.clip(gain * arr ** gamma * tint, 0, 1) * 255.0
        arr = arr.astype(np.uint8)
        a, b = bounds[s], bounds[s + 1]
        n = b - a
        if n <= 0:
            continue
        xy, zoom = _camera_path(rng, n, fps, margin=(SW - W) / 2)
        flicker = 1 + rng.normal(0, 0.02, n)
        for j in range(n):
            z = zoom[j]
            # affine map from output frame to the scene: zoom about the centre + shake
            M = np.array([[1 / z, 0, (SW - W / z) / 2 + xy[j, 0]], [0, 1 / z, (SH - H / z) / 2 + xy[j, 1]]], np.float32)
            fr = cv2.warpAffine(arr, M, (W, H), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                borderMode=cv2.BORDER_REFLECT)
            if down < 1.0:
                small = cv2.resize(fr, (max(2, int(W * down)), max(2, int(H * down))), interpolation=cv2.INTER_AREA)
                fr = cv2.resize(small, (W, H), interpolation=cv2.INTER_NEAREST)
            if noise_bank is not None or abs(flicker[j] - 1) > 1e-3:
                f = fr.astype(np.float32) * flicker[j]
                if noise_bank is not None:
                    f += noise_bank[(a + j) % len(noise_bank)]
                fr = np.clip(f, 0, 255).astype(np.uint8)
            frames[a + j] = fr
    info = {"shots": shots, "venues": venues, "blur": blur, "noise_sd": round(noise_sd, 2), "downscale": down,
            "gain": round(float(gain), 3), "gamma": round(float(gamma), 3), "width": W, "height": H}
    return frames, info


def render_clean_image(category: str, rng, *, size: int = 128) -> np.ndarray:
    """A clean picture of the instrument (or ensemble) for the image bank: (size, size, 3) uint8."""
    img = render_scene(category, (size, size), rng, shot="closeup", clean=True)
    return np.asarray(img, np.uint8)
