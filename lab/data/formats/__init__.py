"""Readers and writers for the real benchmark formats: 300W `.pts`, WFLW lists, COFW `.mat`, AFLW-19 lists.

Every reader returns `FaceRecord`s (lab/data/record.py): points (K, 2) float64 in the lab's 0-based
pixel-centre convention, visible (K,) bool, box (4,) x_min, y_min, x_max, y_max, attributes, and
`source` = "file:line" (or "file:face N" for `.mat` files). Every malformed input raises `FormatError`
(a ValueError) whose message starts with "file:line:" and says what is wrong. Coordinate bases are
converted on read and restored on write; each format's layout is described in its module:

  pts    300W / iBUG `.pts` files and folders of images + `.pts` (300-W, LFPW, HELEN, AFW, iBUG)
  wflw   WFLW list files (98 points, box, 6 attribute flags, image path)
  cofw   COFW `.mat` files (29 points + occlusion flags, images inside the file)
  aflw   AFLW-19 list files (19 points, visibility mask, box)
  common FormatError, the image loader and the parsing / writing helpers the formats share
"""
from lab.data.formats.aflw import read_aflw_list, write_aflw_list
from lab.data.formats.cofw import COFW_KEYS, read_cofw_mat, write_cofw_mat
from lab.data.formats.common import FormatError, load_image
from lab.data.formats.pts import IMAGE_SUFFIXES, find_image_beside, find_pts_faces, parse_pts, read_pts, write_pts
from lab.data.formats.wflw import WFLW_ATTRIBUTES, read_wflw_list, write_wflw_list

__all__ = ["COFW_KEYS", "IMAGE_SUFFIXES", "WFLW_ATTRIBUTES", "FormatError", "find_image_beside", "find_pts_faces",
           "load_image", "parse_pts", "read_aflw_list", "read_cofw_mat", "read_pts", "read_wflw_list",
           "write_aflw_list", "write_cofw_mat", "write_pts", "write_wflw_list"]
