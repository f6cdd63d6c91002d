"""Procedural faces with exact 68-point ground truth: the lab's embedded default data set.

    faces = SyntheticFaces("challenge", n=600, size=128, seed=0)
    rec = faces[3]               # FaceRecord: image (128, 128, 3) uint8 RGB, points (68, 2), visible, box
    faces.params(3).yaw          # pose and everything else that drew face 3

Face i of a split is a pure function of (seed, split, i): its parameters come from
`numpy.random.default_rng([seed, split_id, i])`, rendering uses no randomness of its own, and textures come
from banks built from fixed seeds. So every process (DataLoader workers included) sees the same faces.

Splits mirror 300W: "common" (mild pose, no occluders, light degradations), "challenge" (large pose,
occluders, sunglasses, heavy blur/noise/JPEG, harsh light), "train" and "val" (a mixture covering both),
"unlabeled" (drawn like train; its labels are not meant to be used: the pool for the adversarial branch).
Label noise (isotropic or tangential, in pixels) can be added to the "train" split only; the images and
boxes do not change with it (boxes come from the exact points). Every record carries WFLW-style 0/1
attributes: pose, expression, illumination, make_up, occlusion, blur.

Modules:
  faces        SyntheticFaces, the splits, render_face, attributes, sequence (smooth videos)
  params       FaceParams and the appearance, glasses, occluder and degradation parameters
  sampling     per-split difficulty ranges and sample_params
  geometry     the 3D template and the extra head points
  shape        identity and expression bases, eyelids and gaze
  pose         rotation, projection, contour marching and self-occlusion
  render       the drawing pipeline: curves, banks, background, features, occluders, degrade
  label_noise  isotropic and tangential label noise
  sheet        PNGs of faces with their points and contact sheets (`python -m lab synth`)
"""
from lab.data.synthetic.faces import ATTRIBUTES, SPLITS, SyntheticFaces, attributes, render_face, sequence
from lab.data.synthetic.label_noise import NOISE_KINDS, LabelNoise, apply_label_noise, as_label_noise, contour_tangents
from lab.data.synthetic.params import Appearance, Degradation, FaceParams, Glasses, Occluder
from lab.data.synthetic.sampling import DIFFICULTIES, Difficulty, sample_params

_SHEET = ("contact_sheet", "docs_sheet", "draw_face", "write_synth_sheet")

__all__ = ["ATTRIBUTES", "DIFFICULTIES", "NOISE_KINDS", "SPLITS", "Appearance", "Degradation", "Difficulty",
           "FaceParams", "Glasses", "LabelNoise", "Occluder", "SyntheticFaces", "apply_label_noise",
           "as_label_noise", "attributes", "contour_tangents", "render_face", "sample_params", "sequence", *_SHEET]


def __getattr__(name: str):
    """The sheet's functions, imported on first use (so `python -m lab.data.synthetic.sheet` runs cleanly)."""
    if name in _SHEET:
        from lab.data.synthetic import sheet

        return getattr(sheet, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
